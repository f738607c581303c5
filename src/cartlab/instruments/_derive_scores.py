"""Dataset derivations of the SSc and IIM scores: mRSS, MMT-8, TIS and ACR CRISS over SDTM tables.

Same pattern as :mod:`._derive`: each ``derive_*`` returns ``(result, findings)`` (findings schema
``USUBJID, DY, TESTCD, REASON``), and a result with a finding is null, never a silent guess.

QS/RE/LB records used (the virtual site writes them, real studies map to them):

* mRSS sites: QSCAT ``"MRSS"``, one record per site, QSSTRESN 0-3, test codes :data:`MRSS_TESTCD`;
* MMT-8 groups: QSCAT ``"MMT-8"``, QSSTRESN Kendall 0-10, test codes :data:`MMT8_TESTCD`;
* globals: QSTESTCD ``MDGLOBAL``, ``PTGLOBAL``, ``EXTRAMUS`` (0-10);
* HAQ-DI: the derived record QSTESTCD ``HAQDI`` with QSDRVFL ``"Y"`` (or the items, see
  :func:`._derive.derive_haq_di`);
* FVC % predicted: RE RETESTCD ``FVCPP``; creatine kinase: LB LBTESTCD ``CK``.

A record whose QSTESTCD is not in the mapping is also recognised by the last word of its QSTEST
when that is a site/group label of :data:`MRSS_LABELS` / :data:`MMT8_LABELS` (``"mRSS FOREARM_R"``):
the virtual site cuts the labels to 8 characters for QSTESTCD, which makes the right and left
forearm, upper arm, lower leg (and most MMT-8 groups) share one code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ._derive import _findings, derive_haq_di
from ._iim import MMT8_INPUTS, MMT8_PAIRED, MMT8_SIDES, compute_mmt8, compute_tis
from ._ssc import MRSS_SITES, compute_criss, compute_mrss

Problem = tuple[str, int, str, str]

#: QS test code (QSCAT "MRSS") of each mRSS site -> the site's input name of :func:`compute_mrss`
MRSS_TESTCD: dict[str, str] = {
    "FACE": "face", "CHEST": "anterior_chest", "ABDOMEN": "abdomen",
    "FINGER_R": "fingers_right", "FINGER_L": "fingers_left", "HAND_R": "hand_dorsum_right",
    "HAND_L": "hand_dorsum_left", "FOREARMR": "forearm_right", "FOREARML": "forearm_left",
    "UPARM_R": "upper_arm_right", "UPARM_L": "upper_arm_left", "THIGH_R": "thigh_right", "THIGH_L": "thigh_left",
    "LOWLEG_R": "lower_leg_right", "LOWLEG_L": "lower_leg_left", "FOOT_R": "foot_dorsum_right",
    "FOOT_L": "foot_dorsum_left",
}
assert sorted(MRSS_TESTCD.values()) == sorted(MRSS_SITES)
#: Site labels (last word of QSTEST, as the virtual site writes them) -> site input name
MRSS_LABELS: dict[str, str] = {
    "FACE": "face", "CHEST": "anterior_chest", "ABDOMEN": "abdomen", "FINGER_R": "fingers_right",
    "FINGER_L": "fingers_left", "HAND_R": "hand_dorsum_right", "HAND_L": "hand_dorsum_left",
    "FOREARM_R": "forearm_right", "FOREARM_L": "forearm_left", "UPPERARM_R": "upper_arm_right",
    "UPPERARM_L": "upper_arm_left", "THIGH_R": "thigh_right", "THIGH_L": "thigh_left",
    "LOWERLEG_R": "lower_leg_right", "LOWERLEG_L": "lower_leg_left", "FOOT_R": "foot_dorsum_right",
    "FOOT_L": "foot_dorsum_left",
}

_MMT8_GROUP_CODE = {"middle_deltoid": ("DELTOID", "DELTOID"), "biceps": ("BICEPS_", "BICEPS"),
                    "wrist_extensors": ("WRISTEX", "WRISTEXT"), "quadriceps": ("QUADRIC", "QUADRICEPS"),
                    "ankle_dorsiflexors": ("ANKDORS", "ANKLEDORS"), "gluteus_medius": ("GLUTMED", "GLUTMED"),
                    "gluteus_maximus": ("GLUTMAX", "GLUTMAX")}
#: QS test code (QSCAT "MMT-8") -> input name of :func:`compute_mmt8` (``NECKFLEX``; group + R/L)
MMT8_TESTCD: dict[str, str] = {"NECKFLEX": "neck_flexors"} | {
    f"{_MMT8_GROUP_CODE[g][0]}{s[0].upper()}": f"{g}_{s}" for g in MMT8_PAIRED for s in ("right", "left")}
assert sorted(MMT8_TESTCD.values()) == sorted(MMT8_INPUTS)
assert all(len(c) <= 8 for c in (*MRSS_TESTCD, *MMT8_TESTCD))
#: Group labels (last word of QSTEST, as the virtual site writes them) -> input name
MMT8_LABELS: dict[str, str] = {"NECKFLEX": "neck_flexors"} | {
    f"{_MMT8_GROUP_CODE[g][1]}_{s[0].upper()}": f"{g}_{s}" for g in MMT8_PAIRED for s in ("right", "left")}

#: Allowed range of each core-set measure (inclusive) used by TIS and CRISS
_RANGES = {"physician_global": (0, 10), "patient_global": (0, 10), "extramuscular": (0, 10), "haq_di": (0, 3),
           "mmt8": (0, 150), "enzyme": (0, np.inf), "mrss": (0, 51), "fvc_pct_pred": (0, 200)}
#: Test code each measure is reported under in findings
_MEASURE_CODE = {"physician_global": "MDGLOBAL", "patient_global": "PTGLOBAL", "extramuscular": "EXTRAMUS",
                 "haq_di": "HAQDI", "mmt8": "MMT8", "enzyme": "CK", "mrss": "MRSS", "fvc_pct_pred": "FVCPP"}
BASELINE_ZERO = ("finding", "zero")
HAQ_SOURCES = ("record", "derive")
CRISS_STEP1_FLAGS = ("new_renal_crisis", "new_lv_failure", "new_pah", "fvc_decline_confirmed")


# ---------------------------------------------------------------------------------------------
# Panels of item records (mRSS sites, MMT-8 groups)
# ---------------------------------------------------------------------------------------------

def _panel(qs: pl.DataFrame, cat: str, codes: dict[str, str], labels: dict[str, str], need: tuple[str, ...],
           hi: int, name: str) -> tuple[pl.DataFrame, dict[str, np.ndarray], np.ndarray, list[Problem]]:
    """Item values per (USUBJID, QSDY) of one QSCAT, as input-name -> column, with the bad-visit mask."""
    cols = ["USUBJID", "QSDY", "QSTESTCD", "QSSTRESN"] + (["QSTEST"] if "QSTEST" in qs.columns else [])
    rec = qs.filter(pl.col("QSCAT") == cat).select(cols)
    if "QSTEST" not in rec.columns:
        rec = rec.with_columns(pl.lit(None, pl.String).alias("QSTEST"))
    visits = rec.select("USUBJID", "QSDY").unique().sort("USUBJID", "QSDY")
    row_of = {(u, d): i for i, (u, d) in enumerate(visits.iter_rows())}
    values = {k: np.full(visits.height, np.nan) for k in need}
    seen = {k: np.zeros(visits.height, bool) for k in need}
    bad = np.zeros(visits.height, bool)
    problems: list[Problem] = []
    for u, d, code, v, test in rec.select("USUBJID", "QSDY", "QSTESTCD", "QSSTRESN", "QSTEST").iter_rows():
        i = row_of[(u, d)]
        key = codes.get(code)
        if key is None and isinstance(test, str) and test.split():
            key = labels.get(test.split()[-1])
        if key is None:
            problems.append((u, d, code, f"unknown {name} test code {code!r}"))
            bad[i] = True
            continue
        if key not in values:  # e.g. the other side of a unilateral MMT-8
            continue
        if seen[key][i]:
            problems.append((u, d, code, f"{key} recorded more than once at this assessment"))
            bad[i] = True
            continue
        seen[key][i] = True
        if v is None or not np.isfinite(v):
            problems.append((u, d, code, f"{key}: no numeric result (QSSTRESN missing)"))
            bad[i] = True
        elif v != int(v) or not 0 <= v <= hi:
            problems.append((u, d, code, f"{key}: {v!r} out of range, expected a whole number 0-{hi}"))
            bad[i] = True
        else:
            values[key][i] = v
    for i in range(visits.height):
        missing = [k for k in need if not seen[k][i]]
        if missing:
            u, d = visits.row(i)
            problems.append((u, d, ",".join(missing), f"{name} item(s) not recorded at this assessment"))
            bad[i] = True
    problems.sort(key=lambda r: (r[0], r[1]))
    return visits, values, bad, problems


def derive_mrss(qs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """mRSS (Clements 1995, 0-51) per subject and day from the 17 site records (QSCAT ``"MRSS"``).

    Sites are identified by :data:`MRSS_TESTCD` (or the QSTEST label, :data:`MRSS_LABELS`) and
    summed by :func:`compute_mrss` (no imputation). Findings: an unknown test code, a site
    recorded twice, missing, without a numeric result, or not a whole number 0-3.

    Returns ``(scores, findings)``; scores has ``USUBJID, QSDY, MRSS`` (null where a finding).
    """
    visits, values, bad, problems = _panel(qs, "MRSS", MRSS_TESTCD, MRSS_LABELS, MRSS_SITES, 3, "mRSS")
    score = np.asarray(compute_mrss(**values), dtype=float) if visits.height else np.zeros(0)
    score[bad] = np.nan
    return visits.with_columns(pl.Series("MRSS", score, pl.Float64).fill_nan(None)), _findings(problems)


def derive_mmt8(qs: pl.DataFrame, side: str = "both") -> tuple[pl.DataFrame, pl.DataFrame]:
    """MMT-8 total (Kendall 0-10 per group) per subject and day from QSCAT ``"MMT-8"`` records.

    ``side``: ``"both"`` (default; 0-150: neck flexors + 7 groups each side), ``"right"`` or
    ``"left"`` (0-80). Groups are identified by :data:`MMT8_TESTCD` (or the QSTEST label,
    :data:`MMT8_LABELS`) and summed by :func:`compute_mmt8`. Findings as for :func:`derive_mrss`
    (a needed group missing, twice, without a result, not a whole number 0-10).

    Returns ``(scores, findings)``; scores has ``USUBJID, QSDY, MMT8`` (null where a finding).
    """
    if side not in MMT8_SIDES:
        compute_mmt8(side=side)  # raises the instrument's SpecError
    need = ("neck_flexors",) + tuple(f"{g}_{s}" for g in MMT8_PAIRED
                                     for s in (("right", "left") if side == "both" else (side,)))
    visits, values, bad, problems = _panel(qs, "MMT-8", MMT8_TESTCD, MMT8_LABELS, need, 10, "MMT-8")
    score = np.asarray(compute_mmt8(side=side, **values), dtype=float) if visits.height else np.zeros(0)
    score[bad] = np.nan
    return visits.with_columns(pl.Series("MMT8", score, pl.Float64).fill_nan(None)), _findings(problems)


# ---------------------------------------------------------------------------------------------
# Composite responses: baseline vs. follow-up of a core set
# ---------------------------------------------------------------------------------------------

def _series(df: pl.DataFrame, day: str, value: str) -> pl.DataFrame:
    return df.select("USUBJID", pl.col(day).cast(pl.Int64).alias("DY"), pl.col(value).cast(pl.Float64).alias("V"))


def _qs_code(qs: pl.DataFrame, code: str) -> pl.DataFrame:
    return _series(qs.filter(pl.col("QSTESTCD") == code), "QSDY", "QSSTRESN")


def _haq_series(qs: pl.DataFrame, haq: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    if haq not in HAQ_SOURCES:
        raise ValueError(f"haq must be one of {', '.join(HAQ_SOURCES)}; got {haq!r}")
    if haq == "derive":
        s, f = derive_haq_di(qs)
        return _series(s, "QSDY", "HAQDI"), f
    rec = qs.filter((pl.col("QSTESTCD") == "HAQDI") & (pl.col("QSDRVFL") == "Y"))
    return _qs_code(rec, "HAQDI"), _findings([])


def _pairs(series: dict[str, pl.DataFrame], sub_findings: list[pl.DataFrame], baseline_day: int, day: int
           ) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray, list[Problem], pl.DataFrame]:
    """Per subject, each measure's baseline (last record with DY <= baseline_day) and value at ``day``."""
    if day <= baseline_day:
        raise ValueError(f"day {day} must be after baseline_day {baseline_day}")
    subjects = sorted(set().union(*(set(s["USUBJID"].to_list()) for s in series.values())))
    pos = {u: i for i, u in enumerate(subjects)}
    n = len(subjects)
    bad = np.zeros(n, bool)
    problems: list[Problem] = []
    used: set[tuple[str, int]] = set()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m, s in series.items():
        code, (lo, hi) = _MEASURE_CODE[m], _RANGES[m]
        b, f = np.full(n, np.nan), np.full(n, np.nan)
        base = s.filter(pl.col("DY") <= baseline_day).sort("USUBJID", "DY").group_by("USUBJID").last()
        at = s.filter(pl.col("DY") == day)
        for arr, frame, when in ((b, base, "baseline"), (f, at, f"day {day}")):
            got = set()
            for u, d, v in frame.select("USUBJID", "DY", "V").iter_rows():
                i = pos[u]
                used.add((u, d))
                if i in got:
                    problems.append((u, d, code, f"more than one {code} record on day {d}"))
                    bad[i] = True
                got.add(i)
                if v is None or not np.isfinite(v):
                    problems.append((u, d, code, f"{code} at {when} has no value"))
                    bad[i] = True
                elif not lo <= v <= hi:
                    problems.append((u, d, code, f"{code} at {when}: {v!r} outside {lo}-{hi}"))
                    bad[i] = True
                else:
                    arr[i] = v
            for u in subjects:
                if pos[u] not in got:
                    problems.append((u, baseline_day if when == "baseline" else day, code,
                                     f"no {code} assessment at {when}"
                                     + (f" (on or before day {baseline_day})" if when == "baseline" else "")))
                    bad[pos[u]] = True
        out[m] = (b, f)
    sub = pl.concat([_findings([])] + sub_findings)
    sub = sub.filter(pl.struct("USUBJID", "DY").map_elements(lambda r: (r["USUBJID"], r["DY"]) in used,
                                                              return_dtype=pl.Boolean)) if sub.height else sub
    sub_bad = set(sub["USUBJID"].to_list())  # a used day with a finding of its own derivation
    bad |= np.array([u in sub_bad for u in subjects], bool)
    return subjects, out, bad, problems, sub


def derive_tis(qs: pl.DataFrame, lb: pl.DataFrame, *, day: int, baseline_day: int = -1, population: str = "adult",
               mmt8_side: str = "both", haq: str = "record", baseline_zero: str = "finding"
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """2016 ACR/EULAR Total Improvement Score per subject, baseline vs. study day ``day``.

    The six core-set measures: physician global (MDGLOBAL), patient global (PTGLOBAL), MMT-8
    (:func:`derive_mmt8` with ``mmt8_side``), HAQ-DI (``haq="record"``: the derived HAQDI record
    with QSDRVFL Y; ``"derive"``: recomputed from the items), creatine kinase (LB CK) and
    extramuscular activity (EXTRAMUS). Each measure's baseline is its last assessment on or
    before ``baseline_day`` (default -1: the last before Day 1, the infusion); the follow-up is
    its assessment on study day ``day`` (QSDY/LBDY). Scored by :func:`compute_tis`.

    ``baseline_zero``: a measure with baseline 0 (improvement undefined) is a finding and a null
    TIS (``"finding"``, default) or scores 0 points (``"zero"``).
    Findings: a measure missing, duplicated, without a value or out of range at either visit, a
    finding of the MMT-8 (or HAQ-DI) derivation on a visit used, a baseline of 0 (``"finding"``).

    Returns ``(scores, findings)``; scores has ``USUBJID, DY, TIS, TISCAT`` (category none /
    minimal / moderate / major; null where a finding).
    """
    if baseline_zero not in BASELINE_ZERO:
        raise ValueError(f"baseline_zero must be one of {', '.join(BASELINE_ZERO)}; got {baseline_zero!r}")
    mmt8, f_mmt8 = derive_mmt8(qs, side=mmt8_side)
    haq_s, f_haq = _haq_series(qs, haq)
    series = {
        "physician_global": _qs_code(qs, "MDGLOBAL"), "patient_global": _qs_code(qs, "PTGLOBAL"),
        "mmt8": _series(mmt8, "QSDY", "MMT8"), "haq_di": haq_s,
        "enzyme": _series(lb.filter(pl.col("LBTESTCD") == "CK"), "LBDY", "LBSTRESN"),
        "extramuscular": _qs_code(qs, "EXTRAMUS"),
    }
    subjects, pairs, bad, problems, sub = _pairs(series, [f_mmt8, f_haq], baseline_day, day)
    if baseline_zero == "finding":
        for m, (b, _f) in pairs.items():
            for i in np.flatnonzero(b == 0):
                problems.append((subjects[i], baseline_day, _MEASURE_CODE[m],
                                 f"{_MEASURE_CODE[m]} baseline is 0: improvement undefined"))
                bad[i] = True
    args: dict[str, Any] = {}
    for m, (b, f) in pairs.items():
        args[f"{m}_baseline"] = np.where(bad, 1.0, b)
        args[f"{m}_followup"] = np.where(bad, 1.0, f)
    res = compute_tis(**args, baseline_zero="zero", population=population) if subjects else None
    total = np.asarray(res.total, float) if res is not None else np.zeros(0)
    cat = list(res.category) if res is not None else []
    total[bad] = np.nan
    cat = [None if bad[i] else c for i, c in enumerate(cat)]
    scores = pl.DataFrame({"USUBJID": subjects, "DY": [day] * len(subjects)},
                          schema={"USUBJID": pl.String, "DY": pl.Int64}).with_columns(
        pl.Series("TIS", total, pl.Float64).fill_nan(None), pl.Series("TISCAT", cat, pl.String))
    return scores, pl.concat([_findings(problems), sub]).sort("USUBJID", "DY", maintain_order=True)


def derive_criss(qs: pl.DataFrame, re: pl.DataFrame, *, day: int, baseline_day: int = -1,
                 step1: pl.DataFrame | None = None, haq: str = "record", threshold: float | None = None
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """ACR CRISS (Khanna 2016) per subject, baseline vs. study day ``day``.

    Step 2 measures: mRSS (:func:`derive_mrss`), FVC % predicted (RE FVCPP), patient and
    physician globals (PTGLOBAL, MDGLOBAL), HAQ-DI (``haq`` as in :func:`derive_tis`); baseline
    and follow-up as in :func:`derive_tis`. Step 1: the FVC decline rule is applied by
    :func:`compute_criss` from the FVC values; the other events are not recorded by the virtual
    site, so they count as absent unless ``step1`` gives them: a frame with ``USUBJID`` and any
    of the boolean columns :data:`CRISS_STEP1_FLAGS` (missing subject or null = no event; a
    missing ``fvc_decline_confirmed`` treats a decline as confirmed). ``threshold``: the
    instrument's improvement threshold (default 0.60).

    Returns ``(scores, findings)``; scores has ``USUBJID, DY, CRISSP`` (probability),
    ``CRISSS1`` (Step 1 event) and ``CRISSIMP`` (improved), null where a finding.
    """
    mrss, f_mrss = derive_mrss(qs)
    haq_s, f_haq = _haq_series(qs, haq)
    series = {
        "mrss": _series(mrss, "QSDY", "MRSS"),
        "fvc_pct_pred": _series(re.filter(pl.col("RETESTCD") == "FVCPP"), "REDY", "RESTRESN"),
        "patient_global": _qs_code(qs, "PTGLOBAL"), "physician_global": _qs_code(qs, "MDGLOBAL"), "haq_di": haq_s,
    }
    subjects, pairs, bad, problems, sub = _pairs(series, [f_mrss, f_haq], baseline_day, day)
    args: dict[str, Any] = {}
    for m, (b, f) in pairs.items():
        args[f"{m}_baseline"] = np.where(bad, 90.0, b)
        args[f"{m}_followup"] = np.where(bad, 90.0, f)
    flags: dict[str, Any] = {}
    if step1 is not None:
        unknown = sorted(set(step1.columns) - {"USUBJID", *CRISS_STEP1_FLAGS})
        if unknown:
            raise ValueError(f"step1 has no flag {unknown[0]!r}; flags are {', '.join(CRISS_STEP1_FLAGS)}")
        by = {r["USUBJID"]: r for r in step1.iter_rows(named=True)}
        for k in CRISS_STEP1_FLAGS:
            if k in step1.columns:
                default = k == "fvc_decline_confirmed"
                vals = [by.get(u, {}).get(k) for u in subjects]
                flags[k] = [default if v is None else bool(v) for v in vals]
    n = len(subjects)
    for k in CRISS_STEP1_FLAGS[:3]:
        flags.setdefault(k, [False] * n)
    opts = {} if threshold is None else {"threshold": threshold}
    if n:
        res = compute_criss(**args, **flags, **opts)
        p, s1, imp = (np.asarray(res.probability, float), np.asarray(res.step1, bool),
                      np.asarray(res.improved, bool))
    else:
        p, s1, imp = np.zeros(0), np.zeros(0, bool), np.zeros(0, bool)
    p = np.where(bad, np.nan, p)
    scores = pl.DataFrame({"USUBJID": subjects, "DY": [day] * n}, schema={"USUBJID": pl.String, "DY": pl.Int64}
                          ).with_columns(pl.Series("CRISSP", p, pl.Float64).fill_nan(None),
                                         pl.Series("CRISSS1", [None if bad[i] else bool(s1[i]) for i in range(n)],
                                                   pl.Boolean),
                                         pl.Series("CRISSIMP", [None if bad[i] else bool(imp[i]) for i in range(n)],
                                                   pl.Boolean))
    return scores, pl.concat([_findings(problems), sub]).sort("USUBJID", "DY", maintain_order=True)


__all__ = [
    "BASELINE_ZERO", "CRISS_STEP1_FLAGS", "HAQ_SOURCES", "MMT8_LABELS", "MMT8_TESTCD", "MRSS_LABELS", "MRSS_TESTCD",
    "derive_criss", "derive_mmt8", "derive_mrss", "derive_tis",
]
