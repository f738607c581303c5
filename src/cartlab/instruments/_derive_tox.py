"""Dataset derivations of CAR-T toxicity grades over SDTM tables (admiral-style ``derive_*``).

Like :mod:`._derive`, each function takes SDTM domains as polars DataFrames and returns
``(result, findings)``; findings have the schema ``USUBJID, DY, TESTCD, REASON`` and a result
row with a finding carries a null grade — never a silently wrong one.

Study days are SDTM ``--DY`` (infusion = Day 1, no Day 0). What is read:

* CRS (Lee 2019, ASTCT CRS consensus table): VS ``TEMP`` (°C, the day's highest) and ``SYSBP``
  (mmHg, the day's lowest; hypotension is SBP < ``hypotension_sbp``); CM rows with CMCAT
  ``"VASOPRESSOR"`` whose CMSTDY..CMENDY covers the day (CMTRT ``VASOPRESSIN`` is not counted as
  a vasopressor but flagged, as the table asks); PR ``"OXYGEN THERAPY"`` rows, PRCAT the device
  (:data:`PR_O2_DEVICE`) and PRDOSE the flow in L/min; fever masking: an anti-cytokine drug of
  ``masking_drugs`` in CM started on an earlier day, once CRS was diagnosed (a recorded
  temperature ≥ 38.0 °C on or before the day, from ``first_day`` on).
* ICANS (Lee 2019, ASTCT ICANS consensus table): QS QSCAT ``"ICE"`` items ``ICE01`` … ``ICE05``
  and FA FATESTCD ``"LOC"`` (FASTRESC in :data:`FA_LOC`). Seizures, motor weakness and raised
  intracranial pressure are not read (the virtual site does not record them).
* CTCAE v5.0 haematology grades per LB record; early ICAHT (Rejeski, Blood 2023) per subject
  from LB ``NEUT``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ._cart_toxicity import CONSCIOUSNESS, FEVER_C, O2_DEVICES, _O2_GRADE, grade_crs_astct, grade_icans_astct, ice_score
from ._ctcae import _UNITS, GRADE_0_OR_1, MISSING, grade_ctcae
from ._icaht import ANC_100, ANC_500, early_grade, icaht_late, neutropenia_duration

FINDINGS_SCHEMA = {"USUBJID": pl.String, "DY": pl.Int64, "TESTCD": pl.String, "REASON": pl.String}

#: PR PRCAT term (oxygen delivery device) -> the CRS instrument's ``o2_device`` category
PR_O2_DEVICE: dict[str, str] = {
    "LOW-FLOW NASAL CANNULA": "nasal_cannula", "NASAL CANNULA": "nasal_cannula",
    "HIGH-FLOW NASAL CANNULA": "high_flow_nasal_cannula", "BLOW-BY": "blow_by", "FACEMASK": "facemask",
    "NON-REBREATHER MASK": "non_rebreather", "VENTURI MASK": "venturi", "CPAP": "cpap", "BIPAP": "bipap",
    "NON-INVASIVE POSITIVE PRESSURE": "noninvasive_positive_pressure",
    "MECHANICAL VENTILATION": "mechanical_ventilation",
}
assert set(PR_O2_DEVICE.values()) <= set(O2_DEVICES)

#: FA LOC FASTRESC term -> the ICANS instrument's ``consciousness`` category. "AWAKENS
#: SPONTANEOUSLY" is ASTCT ICANS grade 1 (depressed consciousness), so a normal patient is "ALERT".
FA_LOC: dict[str, str] = {
    "ALERT": "normal", "NORMAL": "normal", "AWAKENS SPONTANEOUSLY": "awakens_spontaneously",
    "AWAKENS TO VOICE": "awakens_to_voice", "AWAKENS TO TACTILE STIMULUS": "awakens_to_tactile",
    "UNAROUSABLE": "unarousable",
}

#: ICE items as QS test codes, with their maximum points (Lee 2019, ICE score table)
ICE_TESTCD: tuple[str, ...] = ("ICE01", "ICE02", "ICE03", "ICE04", "ICE05")
_ICE_MAX = (4, 3, 1, 1, 1)

#: anti-cytokine therapies that mask fever once CRS was diagnosed (CM CMTRT, upper case)
MASKING_DRUGS: tuple[str, ...] = ("TOCILIZUMAB",)

#: LB tests graded by CTCAE v5.0 haematology criteria
CTCAE_HAEM_TESTS: tuple[str, ...] = ("NEUT", "PLAT", "LYM", "WBC", "HGB")

#: ANC unit -> factor to cells/µL (ICAHT cut-offs)
_ANC_TO_CELLS_UL = {"10^9/L": 1000.0, "10^3/uL": 1000.0, "/uL": 1.0, "cells/uL": 1.0}

Finding = tuple[str, int | None, str, str]


def _findings(rows: list[Finding]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA, orient="row")


# ------------------------------------------------------------------------------------------ CRS
def derive_crs_astct(vs: pl.DataFrame, pr: pl.DataFrame, cm: pl.DataFrame, *, first_day: int = 1,
                     hypotension_sbp: float = 90.0, masking_drugs: tuple[str, ...] = MASKING_DRUGS,
                     o2_terms: dict[str, str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Daily ASTCT 2019 CRS grade per subject and study day from VS, PR and CM.

    Days graded: every day from ``first_day`` (default 1, the infusion) with a temperature, a
    blood pressure, a vasopressor or oxygen recorded. Findings (grade null): a day with signs but
    no temperature; a febrile or fever-masked day without a systolic blood pressure; an unknown
    oxygen device (PRCAT, see :data:`PR_O2_DEVICE`, or ``o2_terms``); an oxygen flow not in L/min.
    A vasopressor without an end day is a finding on its start day (that day's grade null).

    Returns ``(grades, findings)``; grades has ``USUBJID, DY, TEMP, SYSBP, HYPOTN, NVASO, VASOPRSN,
    O2DEV, O2FLOW, FEVMASK, CRSGR``.
    """
    terms = PR_O2_DEVICE if o2_terms is None else o2_terms
    problems: list[Finding] = []
    temp = (vs.filter((pl.col("VSTESTCD") == "TEMP") & pl.col("VSSTRESN").is_not_null())
            .group_by("USUBJID", pl.col("VSDY").alias("DY")).agg(pl.col("VSSTRESN").max().alias("TEMP")))
    sbp = (vs.filter((pl.col("VSTESTCD") == "SYSBP") & pl.col("VSSTRESN").is_not_null())
           .group_by("USUBJID", pl.col("VSDY").alias("DY")).agg(pl.col("VSSTRESN").min().alias("SYSBP")))

    # vasopressors: one row per covered day
    vaso_rows: list[tuple[str, int, str]] = []
    bad_days: set[tuple[str, int]] = set()
    for u, trt, st, en in cm.filter(pl.col("CMCAT") == "VASOPRESSOR").select(
            "USUBJID", "CMTRT", "CMSTDY", "CMENDY").iter_rows():
        if st is None:
            problems.append((u, None, "VASOPRESSOR", f"{trt} without a start day (CMSTDY); not counted"))
            continue
        if en is None:
            problems.append((u, st, "VASOPRESSOR", f"{trt} without an end day (CMENDY); start day not graded"))
            bad_days.add((u, st))
            en = st
        for d in range(st, en + 1):
            if d != 0:
                vaso_rows.append((u, d, str(trt).upper()))
    vaso = pl.DataFrame(vaso_rows, schema={"USUBJID": pl.String, "DY": pl.Int64, "CMTRT": pl.String},
                        orient="row").unique()
    vaso = vaso.group_by("USUBJID", "DY").agg(
        (pl.col("CMTRT") != "VASOPRESSIN").sum().cast(pl.Int64).alias("NVASO"),
        (pl.col("CMTRT") == "VASOPRESSIN").any().alias("VASOPRSN"))

    # oxygen: worst device of the day, its highest flow
    o2_rows: list[tuple[str, int, str, float | None]] = []
    for u, d, cat, dose, unit in pr.filter(pl.col("PRTRT") == "OXYGEN THERAPY").select(
            "USUBJID", "PRSTDY", "PRCAT", "PRDOSE", "PRDOSU").iter_rows():
        dev = terms.get(str(cat).upper()) if cat is not None else None
        if dev is None:
            problems.append((u, d, "O2", f"unknown oxygen device PRCAT {cat!r}"))
            bad_days.add((u, d))
            continue
        if dose is not None and unit != "L/min":
            problems.append((u, d, "O2", f"oxygen flow unit {unit!r}, expected L/min"))
            bad_days.add((u, d))
            continue
        o2_rows.append((u, d, dev, dose))
    o2 = pl.DataFrame(o2_rows, schema={"USUBJID": pl.String, "DY": pl.Int64, "O2DEV": pl.String,
                                       "O2FLOW": pl.Float64}, orient="row")
    o2 = (o2.with_columns(pl.col("O2DEV").replace_strict(_O2_GRADE, return_dtype=pl.Int64).alias("_g"))
          .sort("USUBJID", "DY", "_g", "O2FLOW", descending=[False, False, True, True], nulls_last=True)
          .group_by("USUBJID", "DY", maintain_order=True).first().drop("_g"))

    keys = pl.concat([f.select("USUBJID", "DY") for f in (temp, sbp, vaso, o2)]
                     + [pl.DataFrame(list(bad_days), schema={"USUBJID": pl.String, "DY": pl.Int64}, orient="row")])
    days = keys.unique().filter(pl.col("DY") >= first_day).sort("USUBJID", "DY")
    df = (days.join(temp, on=["USUBJID", "DY"], how="left").join(sbp, on=["USUBJID", "DY"], how="left")
          .join(vaso, on=["USUBJID", "DY"], how="left").join(o2, on=["USUBJID", "DY"], how="left")
          .with_columns(pl.col("NVASO").fill_null(0), pl.col("VASOPRSN").fill_null(False),
                        pl.col("O2DEV").fill_null("none"),
                        (pl.col("SYSBP") < hypotension_sbp).fill_null(False).alias("HYPOTN")))

    # fever masking: anti-cytokine therapy started on an earlier day, after a recorded fever
    drugs = {d.upper() for d in masking_drugs}
    first_anti = (cm.filter(pl.col("CMTRT").str.to_uppercase().is_in(list(drugs)) & pl.col("CMSTDY").is_not_null())
                  .group_by("USUBJID").agg(pl.col("CMSTDY").min().alias("_anti")))
    first_fever = (temp.filter((pl.col("DY") >= first_day) & (pl.col("TEMP") >= FEVER_C))
                   .group_by("USUBJID").agg(pl.col("DY").min().alias("_fever")))
    df = (df.join(first_anti, on="USUBJID", how="left").join(first_fever, on="USUBJID", how="left")
          .with_columns(((pl.col("_anti") < pl.col("DY")) & (pl.col("_fever") <= pl.col("DY")))
                        .fill_null(False).alias("FEVMASK")).drop("_anti", "_fever"))

    bad = np.zeros(df.height, bool)
    for i, (u, d, t, s, masked) in enumerate(df.select("USUBJID", "DY", "TEMP", "SYSBP", "FEVMASK").iter_rows()):
        if (u, d) in bad_days:
            bad[i] = True
        if t is None:
            problems.append((u, d, "TEMP", "signs recorded but no temperature"))
            bad[i] = True
        elif s is None and (t >= FEVER_C or masked):
            problems.append((u, d, "SYSBP", "febrile (or fever masked) but no systolic blood pressure"))
            bad[i] = True
    grade = grade_crs_astct(df["TEMP"].fill_null(np.nan).to_numpy(), df["HYPOTN"].to_numpy(),
                            df["NVASO"].to_numpy(), df["O2DEV"].to_numpy(),
                            df["O2FLOW"].fill_null(np.nan).to_numpy(), vasopressin=df["VASOPRSN"].to_numpy(),
                            fever_masked=df["FEVMASK"].to_numpy()).astype(np.int64)
    crsgr = pl.Series("CRSGR", [None if b else int(g) for g, b in zip(grade, bad)], dtype=pl.Int64)
    out = df.select("USUBJID", "DY", "TEMP", "SYSBP", "HYPOTN", "NVASO", "VASOPRSN", "O2DEV", "O2FLOW",
                    "FEVMASK").with_columns(crsgr)
    return out, _findings(problems)


# ---------------------------------------------------------------------------------------- ICANS
def derive_icans_astct(qs: pl.DataFrame, fa: pl.DataFrame, *, first_day: int = 1,
                       loc_terms: dict[str, str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Daily ASTCT 2019 ICANS grade per subject and study day from the ICE items and consciousness.

    Days graded: every day from ``first_day`` with an ICE item or a level of consciousness.
    The ICE score is the sum of QS ``ICE01`` … ``ICE05`` (:func:`ice_score`); consciousness is FA
    ``LOC`` mapped by :data:`FA_LOC` (or ``loc_terms``). Findings (grade null): an ICE item missing
    on a day (an ICE score of an unassessable, unarousable patient is recorded as items 0), an item
    outside its range, an unknown test code or LOC term, a day without a level of consciousness.

    Returns ``(grades, findings)``; grades has ``USUBJID, DY, ICE, LOC, ICANSGR``.
    """
    terms = FA_LOC if loc_terms is None else loc_terms
    problems: list[Finding] = []
    items = qs.filter(pl.col("QSCAT") == "ICE").select("USUBJID", pl.col("QSDY").alias("DY"), "QSTESTCD", "QSSTRESN")
    loc = fa.filter(pl.col("FATESTCD") == "LOC").select("USUBJID", pl.col("FADY").alias("DY"), "FASTRESC")
    days = (pl.concat([items.select("USUBJID", "DY"), loc.select("USUBJID", "DY")]).unique()
            .filter(pl.col("DY") >= first_day).sort("USUBJID", "DY"))
    row_of = {k: i for i, k in enumerate(days.iter_rows())}
    n = days.height
    index = {c: k for k, c in enumerate(ICE_TESTCD)}
    vals = np.full((n, len(ICE_TESTCD)), np.nan)
    bad = np.zeros(n, bool)
    for u, d, code, v in items.iter_rows():
        i = row_of.get((u, d))
        if i is None:
            continue
        if code not in index:
            problems.append((u, d, code, f"unknown ICE test code {code!r}"))
            bad[i] = True
        elif v is None:
            continue
        elif not (0 <= v <= _ICE_MAX[index[code]] and v == int(v)):
            problems.append((u, d, code, f"item score {v!r}, expected a whole number 0-{_ICE_MAX[index[code]]}"))
            bad[i] = True
        else:
            vals[i, index[code]] = v
    has_items = np.zeros(n, bool)
    for u, d in items.select("USUBJID", "DY").unique().iter_rows():
        if (u, d) in row_of:
            has_items[row_of[(u, d)]] = True
    for i in np.flatnonzero(np.isnan(vals).any(axis=1) & ~bad):
        u, d = days.row(int(i))
        missing = [ICE_TESTCD[j] for j in np.flatnonzero(np.isnan(vals[i]))]
        problems.append((u, d, ",".join(missing), "ICE item(s) not recorded on this day"))
        bad[i] = True
    cons = np.full(n, "normal", dtype=object)
    loc_text: list[str | None] = [None] * n
    for u, d, res in loc.iter_rows():
        i = row_of.get((u, d))
        if i is None:
            continue
        key = str(res).upper() if res is not None else None
        if key not in terms:
            problems.append((u, d, "LOC", f"unknown level of consciousness {res!r}"))
            bad[i] = True
            continue
        if loc_text[i] is not None and terms[loc_text[i].upper()] != terms[key]:
            # two records on a day: keep the worse
            if CONSCIOUSNESS.index(terms[key]) < CONSCIOUSNESS.index(terms[loc_text[i].upper()]):
                continue
        loc_text[i] = res
        cons[i] = terms[key]
    for i in range(n):
        if loc_text[i] is None and not bad[i]:
            u, d = days.row(i)
            problems.append((u, d, "LOC", "no level of consciousness recorded on this day"))
            bad[i] = True
    ice = ice_score(*np.nan_to_num(vals).T).astype(np.int64) if n else np.zeros(0, np.int64)
    grade = grade_icans_astct(ice.astype(float), cons.astype(str)) if n else np.zeros(0, np.int8)
    out = days.with_columns(
        pl.Series("ICE", [None if np.isnan(vals[i]).any() else int(ice[i]) for i in range(n)], dtype=pl.Int64),
        pl.Series("LOC", loc_text, dtype=pl.String),
        pl.Series("ICANSGR", [None if bad[i] else int(grade[i]) for i in range(n)], dtype=pl.Int64))
    return out, _findings(problems)


# --------------------------------------------------------------------------------------- CTCAE
def derive_ctcae_haem(lb: pl.DataFrame, lln: dict[str, float] | None = None, *,
                      version: str = "5.0") -> tuple[pl.DataFrame, pl.DataFrame]:
    """CTCAE haematology grade of every LB record of NEUT, PLAT, LYM, WBC and HGB.

    The lower limit of normal is the record's ``LBSTNRLO`` when LB has that column and it is
    filled, else ``lln[LBTESTCD]`` (in the record's unit). Units as :func:`grade_ctcae` accepts
    (``10^9/L``, ``10^3/uL``, ``/uL``, ``cells/uL``; ``g/dL``, ``g/L``). Findings (grade null): a
    missing result, an unknown unit, a value whose grade is 0 or 1 but no LLN to tell which.

    Returns ``(grades, findings)``; grades has ``USUBJID, LBDY, LBTESTCD, LBSTRESN, LBSTRESU, LLN,
    GRADE``.
    """
    rec = lb.filter(pl.col("LBTESTCD").is_in(list(CTCAE_HAEM_TESTS)))
    site_lln = pl.col("LBSTNRLO").cast(pl.Float64) if "LBSTNRLO" in rec.columns else pl.lit(None, pl.Float64)
    given = pl.col("LBTESTCD").replace_strict(lln or {}, default=None, return_dtype=pl.Float64)
    rec = rec.select("USUBJID", "LBDY", "LBTESTCD", "LBSTRESN", "LBSTRESU",
                     pl.coalesce(site_lln, given).alias("LLN"))
    problems: list[Finding] = []
    grade = np.full(rec.height, MISSING, dtype=np.int64)
    units = rec["LBSTRESU"].to_list()
    tests = rec["LBTESTCD"].to_numpy()
    values = rec["LBSTRESN"].fill_null(np.nan).to_numpy()
    llns = rec["LLN"].fill_null(np.nan).to_numpy()
    bad_unit = np.zeros(rec.height, bool)
    for unit in set(units):
        sel = np.array([x == unit for x in units])
        for code in np.unique(tests[sel]).tolist():
            s = sel & (tests == code)
            target = _UNITS.get(unit, (None, 1.0))[0] if unit is not None else None
            want = "g/dL" if code == "HGB" else "10^9/L"
            if target != want:
                bad_unit |= s
                continue
            grade[s] = grade_ctcae(code, values[s], llns[s], unit=unit, version=version)
    out_grade: list[int | None] = []
    for (u, d, code, v, unit, _), g, bu in zip(rec.iter_rows(), grade.tolist(), bad_unit.tolist()):
        if bu:
            problems.append((u, d, code, f"unit {unit!r} cannot be graded by CTCAE {version}"))
            out_grade.append(None)
        elif g == MISSING:
            problems.append((u, d, code, "no result (LBSTRESN missing)"))
            out_grade.append(None)
        elif g == GRADE_0_OR_1:
            problems.append((u, d, code, "grade 0 or 1: no lower limit of normal (LBSTNRLO or lln)"))
            out_grade.append(None)
        else:
            out_grade.append(int(g))
    return rec.with_columns(pl.Series("GRADE", out_grade, dtype=pl.Int64)), _findings(problems)


# --------------------------------------------------------------------------------------- ICAHT
def _anc_series(lb: pl.DataFrame):
    """Per subject (sorted): protocol days, ANC in cells/µL, and the unit findings, in one pass.

    Yields ``(subject, day, anc, bad)``: ``bad`` lists ``(LBDY, unit)`` of records whose unit cannot
    be converted (then ``anc`` is None). Subjects with ANC records but no result are yielded with
    empty arrays.
    """
    subjects = lb.filter(pl.col("LBTESTCD") == "NEUT")["USUBJID"].unique().sort().to_list()
    rec = lb.filter((pl.col("LBTESTCD") == "NEUT") & pl.col("LBSTRESN").is_not_null()
                    & pl.col("LBDY").is_not_null()).sort("USUBJID", "LBDY")
    ids = rec["USUBJID"].to_numpy()
    dy = rec["LBDY"].to_numpy().astype(float)
    day = np.where(dy >= 1, dy - 1, dy)  # SDTM study day -> days since infusion (Day 1 -> 0; no Day 0)
    units = rec["LBSTRESU"].to_list()
    factor = np.array([_ANC_TO_CELLS_UL.get(u, np.nan) for u in units])
    anc = rec["LBSTRESN"].to_numpy() * factor
    starts = {}
    if ids.size:
        first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        bounds = np.r_[first, ids.size]
        starts = {ids[i]: (int(lo), int(hi)) for i, lo, hi in zip(first, bounds[:-1], bounds[1:])}
    for u in subjects:
        lo, hi = starts.get(u, (0, 0))
        f = factor[lo:hi]
        bad = [(int(dy[k]), units[k]) for k in range(lo, hi) if np.isnan(f[k - lo])]
        yield u, day[lo:hi], (None if bad else anc[lo:hi]), bad


def derive_icaht_early(lb: pl.DataFrame, *, duration: str = "cumulative", early_end_day: int = 30,
                       exactly_30_days: int = 4) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Early ICAHT grade (Rejeski, Blood 2023) per subject from LB ``NEUT``.

    LBDY is converted to days since infusion (Day 1 -> day 0, the ICAHT day 0) and the ANC to
    cells/µL (``10^9/L`` × 1000); pre-infusion values are kept (the kernel carries the last value
    forward and clips episodes to the window). Records without a result are skipped. Options as
    :func:`icaht_early`. Findings (grade null): an ANC unit that cannot be converted, a subject
    without an ANC from the infusion on.

    Returns ``(grades, findings)``; grades has ``USUBJID, N500, N100, ICAHTGR`` (days of ANC
    ≤ 500 and ≤ 100 /µL in the window, by the ``duration`` rule).
    """
    problems: list[Finding] = []
    rows: list[tuple[str, int | None, int | None, int | None]] = []
    for u, day, anc, bad in _anc_series(lb):
        for d, unit in bad:
            problems.append((u, d, "NEUT", f"ANC unit {unit!r} cannot be converted to cells/uL"))
        if anc is None:
            rows.append((u, None, None, None))
            continue
        if not (day >= 0).any():
            problems.append((u, None, "NEUT", "no ANC from the infusion (Day 1) on"))
            rows.append((u, None, None, None))
            continue
        n5 = neutropenia_duration(day, anc, ANC_500, duration=duration, early_end_day=early_end_day)
        n1 = neutropenia_duration(day, anc, ANC_100, duration=duration, early_end_day=early_end_day)
        g = early_grade(n5, n1, exactly_30_days=exactly_30_days)
        rows.append((u, n5.days, n1.days, int(g)))
    out = pl.DataFrame(rows, schema={"USUBJID": pl.String, "N500": pl.Int64, "N100": pl.Int64, "ICAHTGR": pl.Int64},
                       orient="row")
    return out, _findings(problems)


def derive_icaht_late(lb: pl.DataFrame, *, early_end_day: int = 30, min_values: int = 2
                      ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Late ICAHT grade (Rejeski, Blood 2023) per subject from LB ``NEUT`` after the early window.

    Study days are converted as in :func:`derive_icaht_early`; options as :func:`icaht_late` (a
    grade needs ``min_values`` values at or below its cut-off after ``early_end_day``). Cytopenia
    due to relapse is not recorded by the virtual site and is not excluded here. Findings (grade
    null): an ANC unit that cannot be converted. A subject with fewer than ``min_values`` values
    after the window has grade 0 and ``NLATE`` telling how many there were.

    Returns ``(grades, findings)``; grades has ``USUBJID, NLATE, ICAHTLGR``.
    """
    problems: list[Finding] = []
    rows: list[tuple[str, int, int | None]] = []
    for u, day, anc, bad in _anc_series(lb):
        for d, unit in bad:
            problems.append((u, d, "NEUT", f"ANC unit {unit!r} cannot be converted to cells/uL"))
        n_late = int((day > early_end_day).sum())
        if anc is None:
            rows.append((u, n_late, None))
            continue
        rows.append((u, n_late, int(icaht_late(day, anc, early_end_day=early_end_day, min_values=min_values))))
    out = pl.DataFrame(rows, schema={"USUBJID": pl.String, "NLATE": pl.Int64, "ICAHTLGR": pl.Int64}, orient="row")
    return out, _findings(problems)
