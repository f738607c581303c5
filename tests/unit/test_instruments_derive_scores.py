"""Dataset derivations of mRSS, MMT-8, TIS and ACR CRISS over SDTM tables.

Expected values: INSTRUMENTS.md worked examples. TIS (Aggarwal 2017, MMT-8 on 0-150): baseline
(MD global 6, patient global 7, MMT-8 110, HAQ-DI 1.5, CK 3000, extramuscular 4) -> follow-up
(3, 5, 130, 1.0, 600, 2) scores 82.5, major. ACR CRISS (Khanna 2016): all changes 0 -> P =
1 / (1 + exp(5.54)) = 0.0039, not improved. mRSS (Clements 1995): sum of the 17 sites.
"""

from __future__ import annotations

import polars as pl
import pytest

from cartlab.instruments._derive_scores import (
    MMT8_TESTCD,
    MRSS_TESTCD,
    derive_criss,
    derive_mmt8,
    derive_mrss,
    derive_tis,
)

QS_SCHEMA = {"USUBJID": pl.String, "QSCAT": pl.String, "QSTESTCD": pl.String, "QSTEST": pl.String,
             "QSSTRESN": pl.Float64, "QSDRVFL": pl.String, "QSDY": pl.Int64}


def _qs(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=QS_SCHEMA, orient="row")


def _mrss_rows(total: int, dy: int, subj: str = "S1", drop: str | None = None) -> list[tuple]:
    vals = [2] * (total - 17) + [1] * (34 - total) if 17 <= total <= 34 else None
    assert vals is not None and len(vals) == 17
    return [(subj, "MRSS", c, f"mRSS {c}", float(v), None, dy) for c, v in zip(MRSS_TESTCD, vals) if c != drop]


def _mmt8_rows(total: int, dy: int, subj: str = "S1") -> list[tuple]:
    tens, rest = divmod(total, 10)
    vals = [10] * tens + ([rest] if rest else []) + [0] * 15
    return [(subj, "MMT-8", c, f"MMT-8 {c}", float(v), None, dy) for c, v in zip(MMT8_TESTCD, vals[:15])]


def _globals(dy: int, md: float, pt: float, haq: float, extra: float | None = None, subj: str = "S1") -> list[tuple]:
    rows = [(subj, "GLOBAL", "MDGLOBAL", "Physician Global", md, None, dy),
            (subj, "GLOBAL", "PTGLOBAL", "Patient Global", pt, None, dy),
            (subj, "HAQ-DI", "HAQDI", "HAQ Disability Index", haq, "Y", dy)]
    if extra is not None:
        rows.append((subj, "GLOBAL", "EXTRAMUS", "Extramuscular", extra, None, dy))
    return rows


def _lb(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame([(u, "CK", v, d) for u, d, v in rows],
                        schema={"USUBJID": pl.String, "LBTESTCD": pl.String, "LBSTRESN": pl.Float64, "LBDY": pl.Int64},
                        orient="row")


def _re(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame([(u, "FVCPP", v, d) for u, d, v in rows],
                        schema={"USUBJID": pl.String, "RETESTCD": pl.String, "RESTRESN": pl.Float64, "REDY": pl.Int64},
                        orient="row")


# ---------------------------------------------------------------- mRSS / MMT-8

def test_mrss_sum_of_sites_and_qstest_label_fallback() -> None:
    qs = _qs(_mrss_rows(20, -28) + _mrss_rows(34, 29))
    s, f = derive_mrss(qs)
    assert s["MRSS"].to_list() == [20, 34] and f.height == 0
    # the virtual site's 8-character codes: FOREARM_ for both sides, told apart by QSTEST
    qs2 = qs.with_columns(pl.when(pl.col("QSTESTCD").is_in(["FOREARMR", "FOREARML"]))
                          .then(pl.lit("FOREARM_")).otherwise(pl.col("QSTESTCD")).alias("QSTESTCD"),
                          pl.col("QSTEST").str.replace("FOREARMR", "FOREARM_R").str.replace("FOREARML", "FOREARM_L"))
    s2, f2 = derive_mrss(qs2)
    assert s2["MRSS"].to_list() == [20, 34] and f2.height == 0


def test_mrss_missing_or_out_of_range_site_is_a_finding_and_null() -> None:
    qs = _qs(_mrss_rows(20, 1, drop="FACE") + _mrss_rows(20, 29))
    qs = qs.with_columns(pl.when((pl.col("QSDY") == 29) & (pl.col("QSTESTCD") == "CHEST")).then(4.0)
                         .otherwise(pl.col("QSSTRESN")).alias("QSSTRESN"))
    s, f = derive_mrss(qs)
    assert s["MRSS"].to_list() == [None, None]
    assert f.select("DY", "TESTCD").rows() == [(1, "face"), (29, "CHEST")]
    assert "not recorded" in f["REASON"][0] and "out of range" in f["REASON"][1]


def test_mrss_unknown_code_is_a_finding() -> None:
    qs = _qs(_mrss_rows(20, 1) + [("S1", "MRSS", "NOSE", "mRSS NOSE", 1.0, None, 1)])
    s, f = derive_mrss(qs)
    assert s["MRSS"].to_list() == [None] and f["TESTCD"].to_list() == ["NOSE"]


def test_mmt8_totals_both_and_one_side() -> None:
    qs = _qs(_mmt8_rows(150, 1))
    assert derive_mmt8(qs)[0]["MMT8"].to_list() == [150]
    assert derive_mmt8(qs, side="right")[0]["MMT8"].to_list() == [80]
    # a missing left group does not matter for the right-side total
    qs = qs.filter(pl.col("QSTESTCD") != "BICEPS_L")
    assert derive_mmt8(qs, side="right")[0]["MMT8"].to_list() == [80]
    s, f = derive_mmt8(qs)
    assert s["MMT8"].to_list() == [None] and f["TESTCD"].to_list() == ["biceps_left"]


def test_mmt8_non_integer_score_is_a_finding() -> None:
    qs = _qs(_mmt8_rows(150, 1)).with_columns(
        pl.when(pl.col("QSTESTCD") == "NECKFLEX").then(9.5).otherwise(pl.col("QSSTRESN")).alias("QSSTRESN"))
    s, f = derive_mmt8(qs)
    assert s["MMT8"].to_list() == [None] and f["TESTCD"].to_list() == ["NECKFLEX"]


# ---------------------------------------------------------------- TIS

def _tis_tables(ck_follow: float | None = 600.0, extra_base: float = 4.0):
    qs = _qs(_mmt8_rows(110, -28) + _globals(-28, 6, 7, 1.5, extra_base)
             + _mmt8_rows(130, 29) + _globals(29, 3, 5, 1.0, 2))
    lb = _lb([("S1", -28, 3000.0)] + ([("S1", 29, ck_follow)] if ck_follow is not None else []))
    return qs, lb


def test_tis_worked_example() -> None:
    qs, lb = _tis_tables()
    s, f = derive_tis(qs, lb, day=29)
    assert s.rows() == [("S1", 29, 82.5, "major")] and f.height == 0
    # the assessment at the follow-up day only; an earlier pre-baseline record is superseded
    qs2 = pl.concat([_qs(_globals(-40, 9, 9, 2.5, 9)), qs])
    assert derive_tis(qs2, lb, day=29)[0]["TIS"].to_list() == [82.5]


def test_tis_missing_measure_is_a_finding_and_null() -> None:
    qs, lb = _tis_tables(ck_follow=None)
    s, f = derive_tis(qs, lb, day=29)
    assert s["TIS"].to_list() == [None] and s["TISCAT"].to_list() == [None]
    assert f.select("DY", "TESTCD").rows() == [(29, "CK")]


def test_tis_baseline_zero_finding_or_zero_points() -> None:
    qs, lb = _tis_tables(extra_base=0.0)
    s, f = derive_tis(qs, lb, day=29)
    assert s["TIS"].to_list() == [None] and f["TESTCD"].to_list() == ["EXTRAMUS"]
    s, f = derive_tis(qs, lb, day=29, baseline_zero="zero")
    assert s["TIS"].to_list() == [82.5 - 20] and f.height == 0  # extramuscular 4 -> 2 (50 %) scored 20 before


def test_tis_mmt8_finding_propagates() -> None:
    qs, lb = _tis_tables()
    qs = qs.filter(~((pl.col("QSDY") == 29) & (pl.col("QSTESTCD") == "NECKFLEX")))
    s, f = derive_tis(qs, lb, day=29)
    assert s["TIS"].to_list() == [None] and "neck_flexors" in f["TESTCD"].to_list()


# ---------------------------------------------------------------- CRISS

def _criss_tables(fvc_follow: float = 90.0):
    qs = _qs(_mrss_rows(20, -28) + _globals(-28, 5, 5, 1.0) + _mrss_rows(20, 366) + _globals(366, 5, 5, 1.0))
    return qs, _re([("S1", -28, 90.0), ("S1", 366, fvc_follow)])


def test_criss_no_change_worked_example() -> None:
    qs, re = _criss_tables()
    s, f = derive_criss(qs, re, day=366)
    assert f.height == 0
    assert round(s["CRISSP"][0], 4) == 0.0039 and s["CRISSIMP"].to_list() == [False]
    assert s["CRISSS1"].to_list() == [False]


def test_criss_step1_flags_and_fvc_rule() -> None:
    qs, re = _criss_tables()
    s, _ = derive_criss(qs, re, day=366, step1=pl.DataFrame({"USUBJID": ["S1"], "new_renal_crisis": [True]}))
    assert s["CRISSP"].to_list() == [0.0] and s["CRISSS1"].to_list() == [True]
    qs, re = _criss_tables(fvc_follow=76.5)  # decline of exactly 15 % to < 80 %
    assert derive_criss(qs, re, day=366)[0]["CRISSS1"].to_list() == [True]
    s, _ = derive_criss(qs, re, day=366,
                        step1=pl.DataFrame({"USUBJID": ["S1"], "fvc_decline_confirmed": [False]}))
    assert s["CRISSS1"].to_list() == [False]
    with pytest.raises(ValueError):
        derive_criss(qs, re, day=366, step1=pl.DataFrame({"USUBJID": ["S1"], "new_src": [True]}))


def test_criss_missing_mrss_site_is_a_finding_and_null() -> None:
    qs, re = _criss_tables()
    qs = qs.filter(~((pl.col("QSDY") == 366) & (pl.col("QSTESTCD") == "FACE")))
    s, f = derive_criss(qs, re, day=366)
    assert s["CRISSP"].to_list() == [None] and s["CRISSIMP"].to_list() == [None]
    assert "face" in f["TESTCD"].to_list()


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def trials() -> dict[str, dict[str, pl.DataFrame]]:
    from cartlab.protocol import load_protocol, resolve_protocol
    from cartlab.trial import run_trial
    return {p: run_trial(load_protocol(resolve_protocol(f"breakfree1-{p}")).with_arm_sizes(10), seed=3).tables
            for p in ("iim", "ssc")}


def _reference(tables: dict[str, pl.DataFrame], endpoint: str, day: int) -> dict[str, float]:
    """Independent of the derivations: the core set by summing the QS items, scored measure by measure
    (the summary's implementation before it called the derivations)."""
    from cartlab.instruments import compute_criss, tis_measure_points
    qs = tables["qs"]
    parts = [qs.filter(pl.col("QSTESTCD").is_in(["MDGLOBAL", "PTGLOBAL", "HAQDI", "EXTRAMUS"]))
             .select("USUBJID", pl.col("QSDY").alias("DY"), pl.col("QSTESTCD").alias("M"),
                     pl.col("QSSTRESN").alias("V"))]
    cat, extra = ("MMT-8", "MMT8") if endpoint == "tis" else ("MRSS", "MRSS")
    parts.append(qs.filter(pl.col("QSCAT") == cat).group_by("USUBJID", "QSDY").agg(pl.col("QSSTRESN").sum().alias("V"))
                 .select("USUBJID", pl.col("QSDY").alias("DY"), pl.lit(extra).alias("M"), "V"))
    if endpoint == "tis":
        parts.append(tables["lb"].filter(pl.col("LBTESTCD") == "CK").select(
            "USUBJID", pl.col("LBDY").alias("DY"), pl.lit("CK").alias("M"), pl.col("LBSTRESN").alias("V")))
    else:
        parts.append(tables["re"].filter(pl.col("RETESTCD") == "FVCPP").select(
            "USUBJID", pl.col("REDY").alias("DY"), pl.lit("FVCPP").alias("M"), pl.col("RESTRESN").alias("V")))
    core = pl.concat(parts)
    base = core.filter(pl.col("DY") < 1).sort("DY").group_by("USUBJID", "M").agg(pl.col("V").last().alias("B"))
    j = base.join(core.filter(pl.col("DY") == day + 1).select("USUBJID", "M", "V"), on=["USUBJID", "M"])
    names = {"MDGLOBAL": "physician_global", "PTGLOBAL": "patient_global", "MMT8": "mmt8", "HAQDI": "haq_di",
             "CK": "enzyme", "EXTRAMUS": "extramuscular", "MRSS": "mrss", "FVCPP": "fvc_pct_pred"}
    out = {}
    for (u,), grp in j.group_by("USUBJID"):
        vals = {names[m]: (b, v) for m, b, v in grp.select("M", "B", "V").iter_rows()}
        if endpoint == "tis":
            total = sum(float(tis_measure_points(m, [b], [v], baseline_zero="zero")[0]) for m, (b, v) in vals.items())
            out[u] = float(total >= 40)
        else:
            args = {f"{m}_{w}": [x] for m, bv in vals.items() for w, x in zip(("baseline", "followup"), bv)}
            out[u] = float(compute_criss(**args).improved[0])
    return out


@pytest.mark.parametrize("day", [28, 180])
def test_simulated_trial_matches_summary(trials, day: int) -> None:
    from cartlab.trial._summary import _primary
    iim, ssc = trials["iim"], trials["ssc"]
    s, f = derive_tis(iim["qs"], iim["lb"], day=day + 1, baseline_zero="zero")
    assert f.height == 0 and s.height == 10
    mine = {u: float(c in ("moderate", "major")) for u, c in s.select("USUBJID", "TISCAT").iter_rows()}
    assert mine == _primary(iim, "tis", day) == _reference(iim, "tis", day)
    s, f = derive_criss(ssc["qs"], ssc["re"], day=day + 1)
    assert f.height == 0 and s.height == 10
    mine = {u: float(c) for u, c in s.select("USUBJID", "CRISSIMP").iter_rows()}
    assert mine == _primary(ssc, "criss", day) == _reference(ssc, "criss", day)
    for tables, fn, col, cat, ep in ((ssc, derive_mrss, "MRSS", "MRSS", "mrss_change"),
                                     (iim, derive_mmt8, "MMT8", "MMT-8", "mmt8_change")):
        sc, f = fn(tables["qs"])
        assert f.height == 0 and sc[col].null_count() == 0
        summed = (tables["qs"].filter(pl.col("QSCAT") == cat).group_by("USUBJID", "QSDY")
                  .agg(pl.col("QSSTRESN").sum().alias("SUM")))
        assert sc.join(summed, on=["USUBJID", "QSDY"]).filter(pl.col(col) != pl.col("SUM")).height == 0
        assert sc.height == summed.height
        base = sc.filter(pl.col("QSDY") < 1).sort("QSDY").group_by("USUBJID").agg(pl.col(col).last())
        at = sc.filter(pl.col("QSDY") == day + 1)
        j = base.join(at, on="USUBJID")
        assert dict(zip(j["USUBJID"], (j[f"{col}_right"] - j[col]).to_list())) == _primary(tables, ep, day)
