"""CAR-T toxicity grades derived from SDTM: hand-made frames, findings, and the virtual site end to end.

Expected grades: ASTCT 2019 consensus tables (Lee DW et al., Biol Blood Marrow Transplant
2019;25:625-638): CRS grade 1 = fever >= 38.0 C; grade 2 = fever with hypotension not needing
vasopressors and/or low-flow nasal cannula (<= 6 L/min) or blow-by; grade 3 = one vasopressor with
or without vasopressin and/or high-flow cannula (> 6 L/min), facemask, non-rebreather, Venturi;
grade 4 = multiple vasopressors (excluding vasopressin) and/or positive pressure; "in patients who
have CRS then receive antipyretic or anticytokine therapy ..., fever is no longer required to grade
subsequent CRS severity". ICANS: ICE 7-9 -> 1, 3-6 -> 2, 0-2 -> 3, 0 and unarousable -> 4;
consciousness awakens spontaneously 1, to voice 2, only to tactile stimulus 3, unarousable 4.
CTCAE v5.0: neutrophils <LLN-1.5 / <1.5-1.0 / <1.0-0.5 / <0.5 x10^9/L grades 1-4; platelets
<LLN-75 / <75-50 / <50-25 / <25; anaemia Hb <LLN-10 / <10-8 / <8 g/dL grades 1-3. Early ICAHT
(Rejeski K et al., Blood 2023;142:865): ANC <= 500/uL for 7-13 days -> grade 2; <= 100/uL for
7-13 days -> grade 3.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cartlab.instruments import toxicity_episodes
from cartlab.instruments._derive_tox import (
    ICE_TESTCD,
    derive_crs_astct,
    derive_ctcae_haem,
    derive_icaht_early,
    derive_icans_astct,
)

VS_S = {"USUBJID": pl.String, "VSTESTCD": pl.String, "VSSTRESN": pl.Float64, "VSDY": pl.Int64}
PR_S = {"USUBJID": pl.String, "PRTRT": pl.String, "PRCAT": pl.String, "PRDOSE": pl.Float64, "PRDOSU": pl.String,
        "PRSTDY": pl.Int64}
CM_S = {"USUBJID": pl.String, "CMTRT": pl.String, "CMCAT": pl.String, "CMSTDY": pl.Int64, "CMENDY": pl.Int64}


def _vs(days: dict[int, tuple[float | None, float | None]], subj: str = "S1") -> pl.DataFrame:
    rows = []
    for dy, (t, s) in days.items():
        if t is not None:
            rows.append((subj, "TEMP", t, dy))
        if s is not None:
            rows.append((subj, "SYSBP", s, dy))
    return pl.DataFrame(rows, schema=VS_S, orient="row")


def _pr(rows=()) -> pl.DataFrame:
    return pl.DataFrame([("S1", "OXYGEN THERAPY", cat, dose, "L/min", dy) for dy, cat, dose in rows], schema=PR_S,
                        orient="row")


def _cm(rows=()) -> pl.DataFrame:
    return pl.DataFrame([("S1", trt, cat, st, en) for trt, cat, st, en in rows], schema=CM_S, orient="row")


def _crs(vs, pr=None, cm=None, **kw):
    res, f = derive_crs_astct(vs, _pr() if pr is None else pr, _cm() if cm is None else cm, **kw)
    return dict(zip(res["DY"].to_list(), res["CRSGR"].to_list())), f


# ---------------------------------------------------------------------------------------- CRS
def test_crs_fever_and_hypotension_grades() -> None:
    # Lee 2019 CRS table: fever >= 38.0 -> 1 (37.9 is no fever); fever + hypotension without vasopressor -> 2
    g, f = _crs(_vs({1: (38.0, 120.0), 2: (37.9, 85.0), 3: (38.6, 85.0), 4: (38.6, 90.0)}))
    assert g == {1: 1, 2: 0, 3: 2, 4: 1} and f.height == 0


def test_crs_vasopressors_cover_their_days_and_vasopressin_is_not_counted() -> None:
    vs = _vs({d: (38.5, 80.0) for d in range(1, 6)})
    cm = _cm([("NOREPINEPHRINE", "VASOPRESSOR", 2, 4), ("PHENYLEPHRINE", "VASOPRESSOR", 3, 3),
              ("VASOPRESSIN", "VASOPRESSOR", 4, 5)])
    g, f = _crs(vs, cm=cm)
    # day 1 hypotension only -> 2; one vasopressor -> 3; two (excluding vasopressin) -> 4; one + vasopressin -> 3;
    # vasopressin alone -> 3
    assert g == {1: 2, 2: 3, 3: 4, 4: 3, 5: 3} and f.height == 0


def test_crs_oxygen_devices_and_flow() -> None:
    vs = _vs({d: (38.5, 120.0) for d in range(1, 6)})
    pr = _pr([(1, "LOW-FLOW NASAL CANNULA", 3.0), (2, "LOW-FLOW NASAL CANNULA", 8.0),
              (3, "HIGH-FLOW NASAL CANNULA", 30.0), (4, "NON-INVASIVE POSITIVE PRESSURE", None),
              (5, "LOW-FLOW NASAL CANNULA", 2.0), (5, "HIGH-FLOW NASAL CANNULA", 40.0)])
    g, f = _crs(vs, pr=pr)
    # <= 6 L/min -> 2; nasal cannula > 6 L/min -> 3; high-flow -> 3; positive pressure -> 4; worst device of the day
    assert g == {1: 2, 2: 3, 3: 3, 4: 4, 5: 3} and f.height == 0


def test_crs_fever_masking_needs_diagnosis_and_earlier_anti_cytokine() -> None:
    # fever on day 2 (CRS diagnosed), tocilizumab on day 3: from day 4 fever is no longer required
    vs = _vs({1: (37.0, 120.0), 2: (38.8, 120.0), 3: (37.2, 85.0), 4: (37.2, 85.0), 5: (37.0, 120.0)})
    cm = _cm([("TOCILIZUMAB", "CRS/ICANS RESCUE", 3, 3)])
    res, f = derive_crs_astct(vs, _pr(), cm)
    assert res["FEVMASK"].to_list() == [False, False, False, True, True]
    # day 5: masked fever with neither hypotension nor hypoxia is no longer CRS (Lee 2019: after
    # anti-cytokine therapy grading is driven by hypotension and/or hypoxia)
    assert res["CRSGR"].to_list() == [0, 1, 0, 2, 0] and f.height == 0
    # tocilizumab without a recorded fever before (e.g. pre-emptive): no masking
    g, _ = _crs(_vs({1: (37.0, 120.0), 2: (37.0, 85.0)}), cm=_cm([("TOCILIZUMAB", "CRS/ICANS RESCUE", 1, 1)]))
    assert g == {1: 0, 2: 0}


def test_crs_pre_infusion_days_are_not_graded_nor_diagnose_crs() -> None:
    vs = _vs({-3: (38.5, 120.0), 2: (37.0, 85.0)})
    cm = _cm([("TOCILIZUMAB", "CRS/ICANS RESCUE", 1, 1)])
    g, f = _crs(vs, cm=cm)
    assert g == {2: 0} and f.height == 0
    g, _ = _crs(vs, cm=cm, first_day=-10)
    assert g == {-3: 1, 2: 2}


def test_crs_findings_null_the_day() -> None:
    vs = _vs({1: (None, 85.0), 2: (38.5, None), 3: (38.5, 120.0), 4: (37.0, None)})
    pr = _pr([(3, "TRANSTRACHEAL CATHETER", 2.0)])
    res, f = derive_crs_astct(vs, pr, _cm([("NOREPINEPHRINE", "VASOPRESSOR", 4, None)]))
    # day 1 signs but no temperature; day 2 febrile without SBP; day 3 unknown device; day 4 open vasopressor
    assert res["CRSGR"].to_list() == [None, None, None, None]
    assert f.sort("DY")["TESTCD"].to_list() == ["TEMP", "SYSBP", "O2", "VASOPRESSOR"]
    # an afebrile day without SBP is graded (0: no fever, nothing masked)
    g, f = _crs(_vs({1: (37.0, None)}))
    assert g == {1: 0} and f.height == 0


# -------------------------------------------------------------------------------------- ICANS
def _ice_qs(days: dict[int, tuple[int, ...]], subj: str = "S1") -> pl.DataFrame:
    return pl.DataFrame([{"USUBJID": subj, "QSCAT": "ICE", "QSTESTCD": c, "QSSTRESN": float(v), "QSDY": d}
                         for d, items in days.items() for c, v in zip(ICE_TESTCD, items) if v is not None],
                        schema={"USUBJID": pl.String, "QSCAT": pl.String, "QSTESTCD": pl.String,
                                "QSSTRESN": pl.Float64, "QSDY": pl.Int64})


def _loc(days: dict[int, str], subj: str = "S1") -> pl.DataFrame:
    return pl.DataFrame([{"USUBJID": subj, "FATESTCD": "LOC", "FASTRESC": t, "FADY": d} for d, t in days.items()],
                        schema={"USUBJID": pl.String, "FATESTCD": pl.String, "FASTRESC": pl.String, "FADY": pl.Int64})


def test_icans_from_ice_items_and_consciousness() -> None:
    items = {1: (4, 3, 1, 1, 1), 2: (4, 3, 1, 0, 0), 3: (2, 2, 1, 0, 0), 4: (1, 0, 1, 0, 0), 5: (0, 0, 0, 0, 0),
             6: (4, 3, 1, 1, 1), 7: (4, 3, 1, 1, 1), 8: (4, 3, 1, 1, 1)}
    loc = {1: "ALERT", 2: "ALERT", 3: "ALERT", 4: "ALERT", 5: "UNAROUSABLE", 6: "AWAKENS SPONTANEOUSLY",
           7: "AWAKENS TO VOICE", 8: "AWAKENS TO TACTILE STIMULUS"}
    res, f = derive_icans_astct(_ice_qs(items), _loc(loc))
    assert res["ICE"].to_list() == [10, 8, 5, 2, 0, 10, 10, 10]
    # ICE 10 -> 0, 8 -> 1, 5 -> 2, 2 -> 3, 0 and unarousable -> 4; awakens spontaneously 1, to voice 2, tactile 3
    assert res["ICANSGR"].to_list() == [0, 1, 2, 3, 4, 1, 2, 3] and f.height == 0


def test_icans_findings() -> None:
    items = {1: (4, 3, None, 1, 1), 2: (4, 3, 1, 1, 1), 3: (4, 3, 1, 1, 1), 4: (5, 3, 1, 1, 1)}
    res, f = derive_icans_astct(_ice_qs(items), _loc({1: "ALERT", 2: "DROWSY", 4: "ALERT"}))
    assert res["ICANSGR"].to_list() == [None, None, None, None]
    assert dict(zip(f["DY"].to_list(), f["TESTCD"].to_list())) == {1: "ICE03", 2: "LOC", 3: "LOC", 4: "ICE01"}


# -------------------------------------------------------------------------------------- CTCAE
LB_S = {"USUBJID": pl.String, "LBTESTCD": pl.String, "LBSTRESN": pl.Float64, "LBSTRESU": pl.String,
        "LBDY": pl.Int64}


def test_ctcae_haem_with_site_lln_and_given_lln() -> None:
    neut = [1.8, 1.5, 1.49, 1.0, 0.5, 0.49]
    lb = pl.DataFrame([("S1", "NEUT", v, "10^9/L", k + 1, 1.8) for k, v in enumerate(neut)],
                      schema={**LB_S, "LBSTNRLO": pl.Float64}, orient="row")
    res, f = derive_ctcae_haem(lb)
    assert res["GRADE"].to_list() == [0, 1, 2, 2, 3, 4] and f.height == 0  # CTCAE v5.0 neutrophil count decreased
    lb = pl.DataFrame([("S1", "PLAT", 140.0, "10^9/L", 1), ("S1", "PLAT", 74.0, "10^9/L", 2),
                       ("S1", "PLAT", 49.0, "10^9/L", 3), ("S1", "PLAT", 24.0, "10^9/L", 4),
                       ("S1", "HGB", 95.0, "g/L", 1), ("S1", "NEUT", 400.0, "cells/uL", 1)], schema=LB_S, orient="row")
    res, f = derive_ctcae_haem(lb, {"PLAT": 150.0, "HGB": 12.0, "NEUT": 1800.0})
    # platelets 1-4; Hb 9.5 g/dL -> anaemia 2; ANC 400/uL -> 4
    assert res["GRADE"].to_list() == [1, 2, 3, 4, 2, 4] and f.height == 0


def test_ctcae_haem_findings() -> None:
    lb = pl.DataFrame([("S1", "PLAT", 140.0, "10^9/L", 1), ("S1", "PLAT", 40.0, "10^9/L", 2),
                       ("S1", "NEUT", None, "10^9/L", 3), ("S1", "NEUT", 1.0, "mmol/L", 4),
                       ("S1", "CRP", 40.0, "mg/L", 4)], schema=LB_S, orient="row")
    res, f = derive_ctcae_haem(lb)
    assert res["GRADE"].to_list() == [None, 3, None, None]  # no LLN: 140 is grade 0 or 1; CRP not graded
    assert f["DY"].to_list() == [1, 3, 4]


# -------------------------------------------------------------------------------------- ICAHT
def _anc(values, unit="10^9/L", subj="S1", first_dy=1):
    return pl.DataFrame([(subj, "NEUT", v, unit, first_dy + k) for k, v in enumerate(values)], schema=LB_S,
                        orient="row")


def test_icaht_early_from_lb_days_and_units() -> None:
    # Rejeski 2023: 10 days <= 500/uL -> grade 2; 7 days <= 100 -> grade 3 (Day 1 = ICAHT day 0)
    lb = pl.concat([_anc([0.3] * 10 + [0.8] * 11), _anc([50.0] * 7 + [300.0] * 7 + [800.0] * 7, "cells/uL", "S2")])
    res, f = derive_icaht_early(lb)
    assert res.rows() == [("S1", 10, 0, 2), ("S2", 14, 7, 3)] and f.height == 0


def test_icaht_early_findings() -> None:
    lb = pl.concat([_anc([0.3] * 5, unit="%"), _anc([0.3, 0.3], subj="S2", first_dy=-5)])
    res, f = derive_icaht_early(lb)
    assert res["ICAHTGR"].to_list() == [None, None] and f["USUBJID"].to_list() == ["S1"] * 5 + ["S2"]


# ----------------------------------------------------------------------------------- end to end
def _episodes(df: pl.DataFrame, col: str) -> set[tuple[str, int, int]]:
    out = set()
    for (u,), g in df.sort("USUBJID", "DY").group_by(["USUBJID"], maintain_order=True):
        for e in toxicity_episodes(g[col].fill_null(-1).to_numpy(), g["DY"].to_numpy()):
            out.add((u, e.onset_day, e.max_grade))
    return out


def _site_aes(ae: pl.DataFrame, decod: str) -> set[tuple[str, int, int]]:
    return {(u, d, int(g)) for u, d, g in ae.filter(pl.col("AEDECOD") == decod).select(
        "USUBJID", "AESTDY", "AETOXGR").iter_rows()}


@pytest.fixture(scope="module")
def tables():
    from cartlab.protocol import load_protocol, resolve_protocol
    from cartlab.trial import run_trial
    return run_trial(load_protocol(resolve_protocol("breakfree1-sle")).with_arm_sizes(20), seed=3).tables


def test_site_crs_and_icans_aes_are_reproduced_from_its_sdtm(tables) -> None:
    crs, f1 = derive_crs_astct(tables["vs"], tables["pr"], tables["cm"])
    icans, f2 = derive_icans_astct(tables["qs"], tables["fa"])
    assert f1.height == 0 and f2.height == 0
    site_crs = _site_aes(tables["ae"], "Cytokine release syndrome")
    site_icans = _site_aes(tables["ae"], "Immune effector cell-associated neurotoxicity syndrome")
    assert len(site_crs) > 10 and len(site_icans) > 0
    assert _episodes(crs, "CRSGR") == site_crs
    assert _episodes(icans, "ICANSGR") == site_icans


def test_site_cytopenia_aes_are_reproduced_from_its_lb(tables) -> None:
    grades, f = derive_ctcae_haem(tables["lb"])
    assert f.height == 0
    for code, decod in (("NEUT", "Neutrophil count decreased"), ("PLAT", "Platelet count decreased")):
        mine = set()
        post = grades.filter((pl.col("LBTESTCD") == code) & (pl.col("LBDY") >= 1)).sort("USUBJID", "LBDY")
        for (u,), g in post.group_by(["USUBJID"], maintain_order=True):
            gg = g["GRADE"].to_numpy()
            if (gg >= 3).any():
                mine.add((u, int(g["LBDY"][int(np.argmax(gg >= 3))]), int(gg.max())))
        assert mine == _site_aes(tables["ae"], decod)
    icaht, f = derive_icaht_early(tables["lb"])
    assert f.height == 0 and icaht["ICAHTGR"].null_count() == 0


def test_icaht_late_from_lb() -> None:
    """Rejeski 2023 late ICAHT: after day 30, a grade needs two values at or below its cut-off
    (<= 1000/uL -> 2, <= 500 -> 3): ANC 900, 450, 1200 /uL on days 35, 60, 90 -> grade 2
    (only one value <= 500). LBDY 36 is protocol day 35 (Day 1 = infusion = day 0)."""
    from cartlab.instruments._derive_tox import derive_icaht_late

    lb = pl.DataFrame({"USUBJID": ["S1"] * 4 + ["S2"] * 2, "LBTESTCD": ["NEUT"] * 6,
                       "LBDY": [10, 36, 61, 91, 40, 50], "LBSTRESN": [0.2, 0.9, 0.45, 1.2, 0.4, 0.3],
                       "LBSTRESU": ["10^9/L"] * 4 + ["10^9/L", "mmol/L"]})
    g, f = derive_icaht_late(lb)
    rows = {r["USUBJID"]: r for r in g.iter_rows(named=True)}
    assert rows["S1"]["ICAHTLGR"] == 2 and rows["S1"]["NLATE"] == 3  # day 9's 200/uL is early, not late
    assert rows["S2"]["ICAHTLGR"] is None and f.height == 1 and "mmol/L" in f["REASON"][0]
