"""SLE and lupus nephritis instruments (INSTRUMENTS.md, "SLE and lupus nephritis").

Pure, vectorised numpy kernels, each registered with :func:`instrument`:

* SLEDAI-2K and clinical SLEDAI (:func:`compute_sledai2k`, :func:`compute_csledai`), plus
  :func:`sledai2k_from_days_since` for scoring from dated descriptor records with a look-back
  window (default 10 days; 30-day variant);
* physician global assessment validation (:func:`validate_pga`);
* SLE Responder Index SRI-4 … SRI-8 (:func:`compute_sri`);
* DORIS 2021 remission and remission off therapy (:func:`compute_doris_remission`,
  :func:`compute_doris_remission_off_therapy`);
* LLDAS (:func:`compute_lldas`);
* lupus nephritis renal response as a rule object (:class:`RenalResponseRule` with presets
  :data:`KDIGO_2024_COMPLETE`, :data:`KDIGO_2024_PARTIAL`, :data:`BLISS_LN_PERR`,
  :data:`BLISS_LN_CRR`);
* eGFR by the race-free CKD-EPI 2021 creatinine equation (:func:`compute_egfr_ckd_epi_2021`).

Cut-points are compared exactly on entered values: PGA is held in integer hundredths, doses in
hundredths of a mg, UPCR in thousandths of a g/g and eGFR in hundredths of a mL/min/1.73 m², so
that, e.g., a PGA increase from 0.10 to 0.40 is exactly 0.30 (binary floats give 0.30000000000000004).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core.errors import DataValidationError, SpecError
from ._registry import Input, instrument

# --------------------------------------------------------------------------------------------
# SLEDAI-2K
# --------------------------------------------------------------------------------------------

#: The 24 SLEDAI-2K descriptors and their weights (Gladman 2002; INSTRUMENTS.md), in form order.
SLEDAI2K_WEIGHTS: dict[str, int] = {
    "seizure": 8,
    "psychosis": 8,
    "organic_brain_syndrome": 8,
    "visual_disturbance": 8,
    "cranial_nerve_disorder": 8,
    "lupus_headache": 8,
    "cva": 8,
    "vasculitis": 8,
    "arthritis": 4,
    "myositis": 4,
    "urinary_casts": 4,
    "haematuria": 4,
    "proteinuria": 4,
    "pyuria": 4,
    "rash": 2,
    "alopecia": 2,
    "mucosal_ulcers": 2,
    "pleurisy": 2,
    "pericarditis": 2,
    "low_complement": 2,
    "increased_dna_binding": 2,
    "fever": 1,
    "thrombocytopenia": 1,
    "leukopenia": 1,
}

#: Descriptor order used by the matrix kernel :func:`sledai2k_matrix`.
SLEDAI2K_DESCRIPTORS: tuple[str, ...] = tuple(SLEDAI2K_WEIGHTS)

#: The two serology descriptors that clinical SLEDAI leaves out.
SLEDAI2K_SEROLOGY: tuple[str, ...] = ("low_complement", "increased_dna_binding")

#: Descriptors of clinical SLEDAI (SLEDAI-2K without serology).
CSLEDAI_DESCRIPTORS: tuple[str, ...] = tuple(d for d in SLEDAI2K_DESCRIPTORS if d not in SLEDAI2K_SEROLOGY)

#: SLEDAI-2K descriptors grouped by organ system, as LLDAS names the major organs. Haemolytic
#: anaemia and gastrointestinal activity are not SLEDAI-2K descriptors; LLDAS takes them as inputs.
SLEDAI2K_ORGAN_GROUPS: dict[str, tuple[str, ...]] = {
    "cns": ("seizure", "psychosis", "organic_brain_syndrome", "visual_disturbance",
            "cranial_nerve_disorder", "lupus_headache", "cva"),
    "vasculitis": ("vasculitis",),
    "renal": ("urinary_casts", "haematuria", "proteinuria", "pyuria"),
    "cardiopulmonary": ("pleurisy", "pericarditis"),
    "fever": ("fever",),
}

_SLEDAI_DESC = {
    "seizure": "seizure, recent onset", "psychosis": "psychosis", "organic_brain_syndrome":
    "organic brain syndrome", "visual_disturbance": "visual disturbance (retinal changes)",
    "cranial_nerve_disorder": "cranial nerve disorder", "lupus_headache": "lupus headache",
    "cva": "cerebrovascular accident, new", "vasculitis": "vasculitis", "arthritis":
    ">= 2 joints with pain and inflammation", "myositis": "myositis", "urinary_casts":
    "heme-granular or RBC casts", "haematuria": "> 5 RBC/hpf", "proteinuria":
    "> 0.5 g/24 h (new, recurrent or persistent)", "pyuria": "> 5 WBC/hpf", "rash":
    "inflammatory rash (new or ongoing)", "alopecia": "abnormal hair loss (new or ongoing)",
    "mucosal_ulcers": "oral or nasal ulcers (new or ongoing)", "pleurisy": "pleuritic chest pain",
    "pericarditis": "pericardial pain", "low_complement": "C3, C4 or CH50 below LLN (2 points once)",
    "increased_dna_binding": "anti-dsDNA above the laboratory normal range",
    "fever": "> 38 degC, no infection", "thrombocytopenia": "< 100 x10^9/L",
    "leukopenia": "< 3.0 x10^9/L, not drug-induced",
}


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _bool_array(values: Any, name: str) -> np.ndarray:
    """Entered true/false (or 1/0) values as a bool array; missing values are an error."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr
    flat = arr.reshape(-1)
    for k, v in enumerate(flat):
        if _is_missing(v) or not (isinstance(v, (bool, np.bool_)) or v in (0, 1)):
            raise DataValidationError(f"{name} row {k}: got {_py(v)!r}, expected true/false (or 1/0)")
    return arr.astype(bool)


def _attribution(present: np.ndarray, attributed: Any, name: str) -> np.ndarray:
    """Attribution to SLE of a descriptor; required (never inferred) wherever it is present."""
    if attributed is None:
        attributed = np.full(present.shape, None, dtype=object)
    att = np.broadcast_to(np.asarray(attributed), present.shape).reshape(-1)
    out = np.zeros(att.shape, dtype=bool)
    pres = present.reshape(-1)
    for k, v in enumerate(att):
        if _is_missing(v):
            if pres[k]:
                raise DataValidationError(
                    f"{name}_attributed row {k}: got {_py(v)!r} while {name} is present, expected "
                    "true/false: a present descriptor counts only when attributed to SLE, and "
                    "attribution is never inferred")
            continue
        if not (isinstance(v, (bool, np.bool_)) or v in (0, 1)):
            raise DataValidationError(f"{name}_attributed row {k}: got {_py(v)!r}, expected true/false (or 1/0)")
        out[k] = bool(v)
    return out.reshape(present.shape)


def sledai2k_matrix(present: Any, attributed: Any, *, clinical: bool = False) -> np.ndarray:
    """SLEDAI-2K (or clinical SLEDAI) from boolean matrices, the pure kernel.

    Parameters
    ----------
    present, attributed : array_like of bool, shape (n, 24)
        Columns in :data:`SLEDAI2K_DESCRIPTORS` order. A descriptor scores its weight only when it
        is both present and attributed to SLE.
    clinical : bool
        If true, the two serology columns are ignored (clinical SLEDAI).

    Returns
    -------
    numpy.ndarray of int64, shape (n,), points 0-105 (0-101 when ``clinical``).

    Examples
    --------
    >>> p = np.zeros((1, 24), bool); p[0, [8, 19, 20]] = True   # arthritis, low C', anti-dsDNA
    >>> sledai2k_matrix(p, p).tolist(), sledai2k_matrix(p, p, clinical=True).tolist()
    ([8], [4])
    """
    p = np.asarray(present, dtype=bool)
    a = np.asarray(attributed, dtype=bool)
    w = np.array([SLEDAI2K_WEIGHTS[d] for d in SLEDAI2K_DESCRIPTORS], dtype=np.int64)
    if clinical:
        w = np.where(np.isin(np.array(SLEDAI2K_DESCRIPTORS), SLEDAI2K_SEROLOGY), 0, w)
    return ((p & a).astype(np.int64) * w).sum(axis=-1)


def _score_descriptors(values: Mapping[str, Any], descriptors: tuple[str, ...], who: str) -> np.ndarray:
    allowed = set(descriptors) | {f"{d}_attributed" for d in descriptors}
    if who == "cSLEDAI":  # the same record may be passed to both scores; serology is ignored here
        allowed |= set(SLEDAI2K_SEROLOGY) | {f"{d}_attributed" for d in SLEDAI2K_SEROLOGY}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise DataValidationError(f"{who}: no input {unknown[0]!r}; descriptors are {', '.join(descriptors)} "
                                  "(each with an optional <descriptor>_attributed flag)")
    missing = [d for d in descriptors if d not in values]
    if missing:
        raise DataValidationError(f"{who}: descriptor {missing[0]!r} is missing; every descriptor must be "
                                  "given explicitly (true/false)")
    pres = np.broadcast_arrays(*[np.asarray(values[d]) for d in descriptors])
    total = np.zeros(pres[0].shape, dtype=np.int64)
    for d, p in zip(descriptors, pres, strict=True):
        pb = _bool_array(p, d)
        att = _attribution(pb, values.get(f"{d}_attributed"), d)
        total = total + (pb & att).astype(np.int64) * SLEDAI2K_WEIGHTS[d]
    return total


def _descriptor_inputs(descriptors: tuple[str, ...]) -> tuple[Input, ...]:
    out: list[Input] = []
    for d in descriptors:
        out.append(Input(d, "bool", f"{_SLEDAI_DESC[d]} present at the visit or in the look-back window "
                                    f"({SLEDAI2K_WEIGHTS[d]} points)"))
    for d in descriptors:
        out.append(Input(f"{d}_attributed", "bool", f"{d} attributed to SLE (required where {d} is "
                                                    "present; never inferred)", optional=True))
    return tuple(out)


@instrument(
    name="SLEDAI-2K", version="2002",
    citation="Gladman DD, Ibañez D, Urowitz MB. Systemic lupus erythematosus disease activity index 2000. "
             "J Rheumatol 2002;29:288-91",
    unit="points", output_range=(0, 105), inputs=_descriptor_inputs(SLEDAI2K_DESCRIPTORS),
    options={"window_days": 10},
)
def compute_sledai2k(**descriptors: Any) -> np.ndarray:
    """SLEDAI-2K, 0-105 points, from 24 descriptor flags with their attribution to SLE.

    Each descriptor (names in :data:`SLEDAI2K_DESCRIPTORS`) is true when present at the visit or in
    the look-back window (10 days; see :func:`sledai2k_from_days_since`). In the 2K version
    persistent proteinuria and ongoing rash, alopecia and mucosal ulcers count. Low complement
    (C3, C4 or CH50 below the lower limit of normal) is one descriptor worth 2 points however
    many components are low (:func:`low_complement`). A present descriptor counts only when its
    ``<descriptor>_attributed`` flag is true; a present descriptor without a flag raises
    :class:`DataValidationError` (attribution is never inferred).

    Examples
    --------
    INSTRUMENTS.md: arthritis + low C3 + raised anti-dsDNA scores 8.

    >>> rec = {d: False for d in SLEDAI2K_DESCRIPTORS}
    >>> rec.update(arthritis=True, low_complement=True, increased_dna_binding=True,
    ...            arthritis_attributed=True, low_complement_attributed=True,
    ...            increased_dna_binding_attributed=True)
    >>> int(compute_sledai2k(**rec)), int(compute_csledai(**rec))
    (8, 4)
    """
    return _score_descriptors(descriptors, SLEDAI2K_DESCRIPTORS, "SLEDAI-2K")


@instrument(
    name="cSLEDAI", version="2002",
    citation="Clinical SLEDAI: SLEDAI-2K (Gladman DD et al. J Rheumatol 2002;29:288) without the serology "
             "descriptors (low complement, increased DNA binding), as used by DORIS 2021",
    unit="points", output_range=(0, 101), inputs=_descriptor_inputs(CSLEDAI_DESCRIPTORS),
)
def compute_csledai(**descriptors: Any) -> np.ndarray:
    """Clinical SLEDAI: SLEDAI-2K without low complement and increased DNA binding (0-101 points).

    Takes the 22 clinical descriptors of :func:`compute_sledai2k` (serology flags, if passed, are
    ignored so one record can be scored both ways).
    """
    return _score_descriptors(descriptors, CSLEDAI_DESCRIPTORS, "cSLEDAI")


def low_complement(c3_below_lln: Any, c4_below_lln: Any, ch50_below_lln: Any = False) -> np.ndarray:
    """The SLEDAI-2K "low complement" descriptor: any of C3, C4, CH50 below LLN (2 points once).

    >>> low_complement([True, True, False], [True, False, False]).tolist()
    [True, True, False]
    """
    return (_bool_array(c3_below_lln, "c3_below_lln") | _bool_array(c4_below_lln, "c4_below_lln")
            | _bool_array(ch50_below_lln, "ch50_below_lln"))


#: Look-back windows in use: the published 10 days and the 30-day variant (SLEDAI-2K 30 days).
SLEDAI2K_WINDOWS: dict[str, int] = {"standard": 10, "30-day": 30}


def sledai2k_from_days_since(days_since: Mapping[str, Any], attributed: Mapping[str, Any], *,
                             window_days: int = 10, clinical: bool = False) -> np.ndarray:
    """SLEDAI-2K from dated descriptor records, using a look-back window.

    Parameters
    ----------
    days_since : mapping descriptor -> array_like of float
        For each descriptor, days from the most recent record where it was present (and
        attributed, see below) to the visit: 0 means present at the visit; NaN means never
        recorded. A descriptor counts when ``0 <= days_since <= window_days`` ("at the visit or
        in the preceding 10 days": day 10 before the visit is inside, day 11 is not). Descriptors
        not in the mapping are absent. Negative values (records after the visit) are an error.
    attributed : mapping descriptor -> array_like of bool
        Attribution to SLE of that most recent record; required wherever the descriptor falls in
        the window.
    window_days : int
        Look-back window, default 10 (Gladman 2002); 30 for the 30-day variant
        (:data:`SLEDAI2K_WINDOWS`).
    clinical : bool
        Score clinical SLEDAI instead.

    Examples
    --------
    >>> nan = float("nan")
    >>> ds = {"arthritis": [0.0, 10.0, 11.0, nan], "fever": [25.0, 25.0, 25.0, 25.0]}
    >>> att = {"arthritis": [True] * 4, "fever": [True] * 4}
    >>> sledai2k_from_days_since(ds, att).tolist()
    [4, 4, 0, 0]
    >>> sledai2k_from_days_since(ds, att, window_days=30).tolist()
    [5, 5, 5, 1]
    """
    if not (isinstance(window_days, (int, np.integer)) and window_days >= 0):
        raise SpecError(f"window_days must be a whole number of days >= 0; got {window_days!r}")
    unknown = sorted(set(days_since) - set(SLEDAI2K_DESCRIPTORS))
    if unknown:
        raise DataValidationError(f"days_since: unknown descriptor {unknown[0]!r}; known: "
                                  f"{', '.join(SLEDAI2K_DESCRIPTORS)}")
    if not days_since:
        return np.zeros((), dtype=np.int64)
    arrays = np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in days_since.values()])
    descriptors = SLEDAI2K_DESCRIPTORS if not clinical else CSLEDAI_DESCRIPTORS
    total = np.zeros(arrays[0].shape, dtype=np.int64)
    for d, days in zip(days_since, arrays, strict=True):
        neg = np.flatnonzero(days.reshape(-1) < 0)
        if neg.size:
            k = int(neg[0])
            raise DataValidationError(f"days_since[{d!r}] row {k}: got {days.reshape(-1)[k].item()!r}, expected "
                                      ">= 0 days before the visit (or NaN when never recorded)")
        if d not in descriptors:
            continue
        inside = (days >= 0) & (days <= window_days)  # NaN compares false: never recorded
        att = _attribution(inside, attributed.get(d), d)
        total = total + (inside & att).astype(np.int64) * SLEDAI2K_WEIGHTS[d]
    return total


# --------------------------------------------------------------------------------------------
# Exact decimals
# --------------------------------------------------------------------------------------------

def _fixed(values: Any, scale: int, name: str, *, strict: bool) -> np.ndarray:
    """Entered decimal values as integers in units of 1/scale (exact comparisons downstream).

    ``strict``: values with more decimals than 1/scale are an error (else they are rounded half
    to even by :func:`numpy.rint`).
    """
    x = np.asarray(values, dtype=float)
    flat = x.reshape(-1)
    bad = np.flatnonzero(~np.isfinite(flat))
    if bad.size:
        k = int(bad[0])
        raise DataValidationError(f"{name} row {k}: got {flat[k].item()!r}, expected a finite number")
    scaled = x * scale
    q = np.rint(scaled)
    if strict:
        off = np.flatnonzero(np.abs(scaled - q).reshape(-1) > 1e-6)
        if off.size:
            k = int(off[0])
            raise DataValidationError(f"{name} row {k}: got {flat[k].item()!r}, expected at most "
                                      f"{round(math.log10(scale))} decimals")
    return q.astype(np.int64)


def _range(values: np.ndarray, low: float, high: float, name: str, unit: str) -> None:
    flat = np.asarray(values, dtype=float).reshape(-1)
    bad = np.flatnonzero((flat < low) | (flat > high) | np.isnan(flat))
    if bad.size:
        k = int(bad[0])
        raise DataValidationError(f"{name} row {k}: got {flat[k].item()!r}, expected {low} to {high} {unit}")


# --------------------------------------------------------------------------------------------
# PGA
# --------------------------------------------------------------------------------------------

@instrument(
    name="PGA (SLE)", version="SELENA 0-3",
    citation="Petri M et al. SELENA-SLEDAI physician global assessment, 0-3 visual analogue scale "
             "(N Engl J Med 2005;353:2550); INSTRUMENTS.md: stored with two decimals",
    unit="points", output_range=(0, 3),
    inputs=(Input("pga", "float", "physician global assessment, 0 none, 1 mild, 2 moderate, 3 severe",
                  unit="points", low=0, high=3),),
)
def validate_pga(pga: Any) -> np.ndarray:
    """Validate a 0-3 physician global assessment held with two decimals; returns it rounded.

    Values outside 0-3, missing, or with more than two decimals raise
    :class:`DataValidationError` naming the row.

    >>> validate_pga([0.0, 0.45, 3]).tolist()
    [0.0, 0.45, 3.0]
    >>> validate_pga([0.123])
    Traceback (most recent call last):
    ...
    cartlab._core.errors.DataValidationError: pga row 0: got 0.123, expected at most 2 decimals
    """
    x = np.asarray(pga, dtype=float)
    h = _fixed(x, 100, "pga", strict=True)
    _range(x, 0, 3, "pga", "points")
    return h / 100.0


def _pga_hundredths(pga: Any, name: str) -> np.ndarray:
    x = np.asarray(pga, dtype=float)
    h = _fixed(x, 100, name, strict=True)
    _range(x, 0, 3, name, "points")
    return h


def _sledai_points(values: Any, name: str, high: int = 105) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    _range(x, 0, high, name, "points")
    q = _fixed(x, 1, name, strict=True)
    return q


def _dose_hundredths(values: Any, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    _range(x, 0, math.inf, name, "mg/day")
    return _fixed(x, 100, name, strict=False)


# --------------------------------------------------------------------------------------------
# SRI
# --------------------------------------------------------------------------------------------

#: BILAG-2004 organ domains (grades A-E each); item-level BILAG scoring is out of scope.
BILAG2004_DOMAINS: tuple[str, ...] = (
    "constitutional", "mucocutaneous", "neuropsychiatric", "musculoskeletal", "cardiorespiratory",
    "gastrointestinal", "ophthalmic", "renal", "haematological",
)
_GRADES = ("A", "B", "C", "D", "E")

#: How :func:`compute_sri` uses the intercurrent-event flag (rescue therapy, discontinuation).
SRI_INTERCURRENT_STRATEGIES = ("composite", "treatment_policy")


def _grades(values: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(values, dtype=object), shape)
    flat = arr.reshape(-1)
    for k, v in enumerate(flat):
        if not isinstance(v, str) or v.upper() not in _GRADES:
            raise DataValidationError(f"{name} row {k}: got {_py(v)!r}, expected a BILAG-2004 grade A-E")
    return np.vectorize(lambda s: s.upper(), otypes=[object])(arr) if flat.size else arr


def _bilag_columns(bilag: Any, name: str) -> dict[str, Any]:
    if isinstance(bilag, Mapping):
        unknown = sorted(set(bilag) - set(BILAG2004_DOMAINS))
        missing = [d for d in BILAG2004_DOMAINS if d not in bilag]
        if unknown or missing:
            raise DataValidationError(f"{name}: expected grades for the BILAG-2004 domains "
                                      f"{', '.join(BILAG2004_DOMAINS)}; "
                                      + (f"unknown {unknown[0]!r}" if unknown else f"missing {missing[0]!r}"))
        return {d: bilag[d] for d in BILAG2004_DOMAINS}
    arr = np.asarray(bilag, dtype=object)
    if arr.shape[-1:] != (len(BILAG2004_DOMAINS),):
        raise DataValidationError(f"{name}: expected shape (n, {len(BILAG2004_DOMAINS)}) with columns "
                                  f"{', '.join(BILAG2004_DOMAINS)}; got shape {arr.shape}")
    return {d: arr[..., j] for j, d in enumerate(BILAG2004_DOMAINS)}


def compute_sri(sledai_baseline: Any, sledai_followup: Any, pga_baseline: Any, pga_followup: Any,
                bilag_baseline: Any, bilag_followup: Any, intercurrent_event: Any, *,
                threshold: int = 4, intercurrent: str = "composite") -> np.ndarray:
    """SLE Responder Index SRI-k (Furie RA et al. Arthritis Rheum 2009;61:1143; SRI-5…8: threshold).

    Responder when all hold:

    1. SLEDAI-2K reduction from baseline ``>= threshold`` points (4 for SRI-4; 5-8 for SRI-5…8);
    2. no new BILAG-2004 A domain (follow-up A where baseline was not A) and at most one new B
       domain (follow-up B where baseline was C, D or E);
    3. PGA increase from baseline ``< 0.30`` points, computed exactly in hundredths.

    Parameters
    ----------
    sledai_baseline, sledai_followup : array_like of int, points 0-105
    pga_baseline, pga_followup : array_like of float, 0-3 with two decimals
    bilag_baseline, bilag_followup : mapping domain -> grades, or array (n, 9)
        Grades "A"-"E" per domain of :data:`BILAG2004_DOMAINS` (columns in that order).
    intercurrent_event : array_like of bool
        Rescue therapy or treatment discontinuation before the assessment. Required: never
        assumed absent.
    threshold : int, 4-8
    intercurrent : {"composite", "treatment_policy"}
        ``"composite"`` (default, as in the BLISS and TULIP trials): a patient with an intercurrent
        event is a non-responder whatever the scores. ``"treatment_policy"``: the flag is ignored
        and the observed scores decide.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> e = ["E"] * 9
    >>> compute_sri([10, 10], [6, 6], [1.0, 1.0], [1.29, 1.30], [e, e], [e, e], [False, False]).tolist()
    [True, False]
    """
    if not (isinstance(threshold, (int, np.integer)) and 4 <= threshold <= 8):
        raise SpecError(f"threshold must be a whole number 4-8 (SRI-4 … SRI-8); got {threshold!r}")
    if intercurrent not in SRI_INTERCURRENT_STRATEGIES:
        raise SpecError(f"intercurrent must be one of {', '.join(SRI_INTERCURRENT_STRATEGIES)}; "
                        f"got {intercurrent!r}")
    s0 = _sledai_points(sledai_baseline, "sledai_baseline")
    s1 = _sledai_points(sledai_followup, "sledai_followup")
    p0 = _pga_hundredths(pga_baseline, "pga_baseline")
    p1 = _pga_hundredths(pga_followup, "pga_followup")
    ice = _bool_array(intercurrent_event, "intercurrent_event")
    b0 = _bilag_columns(bilag_baseline, "bilag_baseline")
    b1 = _bilag_columns(bilag_followup, "bilag_followup")
    shape = np.broadcast_shapes(s0.shape, s1.shape, p0.shape, p1.shape, ice.shape,
                                *[np.shape(np.asarray(v, dtype=object)) for v in (*b0.values(), *b1.values())])
    new_a = np.zeros(shape, dtype=np.int64)
    new_b = np.zeros(shape, dtype=np.int64)
    for d in BILAG2004_DOMAINS:
        g0 = _grades(b0[d], f"bilag_{d}_baseline", shape)
        g1 = _grades(b1[d], f"bilag_{d}_followup", shape)
        new_a += ((g1 == "A") & (g0 != "A")).astype(np.int64)
        new_b += ((g1 == "B") & (g0 != "A") & (g0 != "B")).astype(np.int64)
    ok = ((s0 - s1) >= threshold) & (new_a == 0) & (new_b <= 1) & ((p1 - p0) < 30)
    if intercurrent == "composite":
        ok = ok & ~ice
    return np.broadcast_to(ok, shape).copy()


def _register_sri(k: int) -> None:
    inputs = [
        Input("sledai_baseline", "int", "SLEDAI-2K at baseline", "points", 0, 105),
        Input("sledai_followup", "int", "SLEDAI-2K at the assessment", "points", 0, 105),
        Input("pga_baseline", "float", "PGA 0-3 at baseline (two decimals)", "points", 0, 3),
        Input("pga_followup", "float", "PGA 0-3 at the assessment (two decimals)", "points", 0, 3),
    ]
    for d in BILAG2004_DOMAINS:
        inputs.append(Input(f"bilag_{d}_baseline", "category", f"BILAG-2004 {d} grade at baseline",
                            categories=_GRADES))
        inputs.append(Input(f"bilag_{d}_followup", "category", f"BILAG-2004 {d} grade at the assessment",
                            categories=_GRADES))
    inputs.append(Input("intercurrent_event", "bool", "rescue therapy or discontinuation before the "
                                                      "assessment (non-responder: composite strategy)"))

    def sri(**v: Any) -> np.ndarray:
        b0 = {d: v.pop(f"bilag_{d}_baseline") for d in BILAG2004_DOMAINS}
        b1 = {d: v.pop(f"bilag_{d}_followup") for d in BILAG2004_DOMAINS}
        return compute_sri(bilag_baseline=b0, bilag_followup=b1, threshold=k, **v)

    sri.__name__ = sri.__qualname__ = f"sri{k}"
    sri.__doc__ = f"SRI-{k}: :func:`compute_sri` with ``threshold={k}``, composite intercurrent-event strategy."
    instrument(
        name=f"SRI-{k}", version="2009" if k == 4 else f"2009 (threshold {k})",
        citation="Furie RA et al. Novel evidence-based systemic lupus erythematosus responder index. "
                 "Arthritis Rheum 2009;61:1143-51",
        unit="responder (bool)", output_range=(0, 1), inputs=tuple(inputs),
        options={"threshold": k, "intercurrent": "composite"},
    )(sri)


for _k in range(4, 9):
    _register_sri(_k)


# --------------------------------------------------------------------------------------------
# DORIS 2021 remission, remission off therapy, LLDAS
# --------------------------------------------------------------------------------------------

_DORIS_CITATION = ("van Vollenhoven RF et al. 2021 DORIS definition of remission in SLE: final "
                   "recommendations from an international task force. Lupus Sci Med 2021;8:e000538")
#: the activity inputs both DORIS definitions read
_DORIS_ACTIVITY = (
    Input("csledai", "int", "clinical SLEDAI (SLEDAI-2K without serology)", "points", 0, 101),
    Input("pga", "float", "PGA 0-3 (two decimals)", "points", 0, 3),
)


@instrument(
    name="DORIS 2021 remission", version="2021", citation=_DORIS_CITATION,
    unit="in remission (bool)", output_range=(0, 1),
    inputs=(
        *_DORIS_ACTIVITY,
        Input("prednisolone_mg_day", "float", "prednisolone or equivalent dose", "mg/day", 0, None),
        Input("maintenance_stable", "bool", "antimalarials, immunosuppressants and biologics, if any, at "
                                            "stable maintenance doses (true when none are taken)"),
    ),
)
def compute_doris_remission(csledai: Any, pga: Any, prednisolone_mg_day: Any, maintenance_stable: Any) -> np.ndarray:
    """DORIS 2021 remission: cSLEDAI = 0, PGA < 0.5, prednisolone <= 5 mg/day, stable maintenance.

    Antimalarials, immunosuppressants and approved biologics are allowed at stable maintenance
    doses (``maintenance_stable``; dose changes for side effects, adherence or pregnancy do not
    break stability — the caller decides). The definition has no duration. Doses are compared at
    0.01 mg resolution, PGA in hundredths.

    >>> compute_doris_remission([0, 0, 0, 2], [0.49, 0.5, 0.0, 0.0], [5.0, 0.0, 5.01, 0.0],
    ...                         [True] * 4).tolist()
    [True, False, False, False]
    """
    c = _sledai_points(csledai, "csledai", 101)
    p = _pga_hundredths(pga, "pga")
    pred = _dose_hundredths(prednisolone_mg_day, "prednisolone_mg_day")
    stable = _bool_array(maintenance_stable, "maintenance_stable")
    return (c == 0) & (p < 50) & (pred <= 500) & stable


@instrument(
    name="DORIS remission off therapy", version="2021", citation=_DORIS_CITATION,
    unit="in remission (bool)", output_range=(0, 1),
    inputs=(
        *_DORIS_ACTIVITY,
        Input("glucocorticoid_mg_day", "float", "systemic glucocorticoid, prednisolone equivalent", "mg/day", 0, None),
        Input("on_immunosuppressant", "bool", "taking a conventional immunosuppressant"),
        Input("on_biologic", "bool", "taking a biologic (e.g. belimumab, anifrolumab)"),
        Input("on_antimalarial", "bool", "taking an antimalarial (hydroxychloroquine)"),
    ),
    options={"biologics_are_immunosuppressants": True, "allow_antimalarials": True},
)
def compute_doris_remission_off_therapy(csledai: Any, pga: Any, glucocorticoid_mg_day: Any,
                                        on_immunosuppressant: Any, on_biologic: Any, on_antimalarial: Any, *,
                                        biologics_are_immunosuppressants: bool = True,
                                        allow_antimalarials: bool = True) -> np.ndarray:
    """Remission off therapy, as reported in CAR-T trials: DORIS clinical criteria, no GC, no IS.

    cSLEDAI = 0 and PGA < 0.5 (as :func:`compute_doris_remission`), no glucocorticoid (dose 0) and
    no immunosuppressant.

    Options
    -------
    biologics_are_immunosuppressants : bool, default True
        A biologic counts as immunosuppressive therapy (so it excludes remission off therapy).
    allow_antimalarials : bool, default True
        Antimalarials are allowed (DORIS framework, van Vollenhoven Ann Rheum Dis 2017;76:554);
        false demands no SLE therapy at all.

    >>> compute_doris_remission_off_therapy([0, 0], [0.2, 0.2], [0, 2.5], [False, False],
    ...                                     [False, False], [True, False]).tolist()
    [True, False]
    """
    c = _sledai_points(csledai, "csledai", 101)
    p = _pga_hundredths(pga, "pga")
    gc = _dose_hundredths(glucocorticoid_mg_day, "glucocorticoid_mg_day")
    off = ~_bool_array(on_immunosuppressant, "on_immunosuppressant")
    if biologics_are_immunosuppressants:
        off = off & ~_bool_array(on_biologic, "on_biologic")
    if not allow_antimalarials:
        off = off & ~_bool_array(on_antimalarial, "on_antimalarial")
    return (c == 0) & (p < 50) & (gc == 0) & off


@instrument(
    name="LLDAS", version="2016",
    citation="Franklyn K et al. Definition and initial validation of a Lupus Low Disease Activity State "
             "(LLDAS). Ann Rheum Dis 2016;75:1615-21",
    unit="in LLDAS (bool)", output_range=(0, 1),
    inputs=(
        Input("sledai_2k", "int", "SLEDAI-2K", "points", 0, 105),
        Input("renal_activity", "bool", "renal activity (SLEDAI-2K casts, haematuria, proteinuria, pyuria)"),
        Input("cns_activity", "bool", "CNS activity (SLEDAI-2K neuropsychiatric descriptors)"),
        Input("cardiopulmonary_activity", "bool", "cardiopulmonary activity (pleurisy, pericarditis, ...)"),
        Input("vasculitis", "bool", "vasculitis"),
        Input("fever", "bool", "fever attributed to SLE"),
        Input("haemolytic_anaemia", "bool", "haemolytic anaemia"),
        Input("gi_activity", "bool", "gastrointestinal activity"),
        Input("new_features", "bool", "new features of lupus activity since the previous assessment"),
        Input("pga", "float", "PGA 0-3 (two decimals)", "points", 0, 3),
        Input("prednisolone_mg_day", "float", "prednisolone or equivalent dose", "mg/day", 0, None),
        Input("standard_maintenance", "bool", "immunosuppressants/biologics only at well-tolerated standard "
                                              "maintenance doses (true when none are taken)"),
    ),
)
def compute_lldas(sledai_2k: Any, renal_activity: Any, cns_activity: Any, cardiopulmonary_activity: Any,
                  vasculitis: Any, fever: Any, haemolytic_anaemia: Any, gi_activity: Any, new_features: Any,
                  pga: Any, prednisolone_mg_day: Any, standard_maintenance: Any) -> np.ndarray:
    """Lupus Low Disease Activity State (Franklyn 2016), all five criteria.

    1. SLEDAI-2K <= 4, with no activity in major organ systems (renal, CNS, cardiopulmonary,
       vasculitis, fever) and no haemolytic anaemia or gastrointestinal activity;
    2. no new features of lupus activity since the previous assessment;
    3. PGA <= 1 (0-3);
    4. prednisolone (or equivalent) <= 7.5 mg/day;
    5. well-tolerated standard maintenance doses of immunosuppressants and approved biologics.

    :data:`SLEDAI2K_ORGAN_GROUPS` maps SLEDAI-2K descriptors to the organ flags.

    >>> f = [False, False]
    >>> compute_lldas([4, 4], f, f, f, f, f, f, f, f, [1.0, 1.0], [7.5, 7.51], [True, True]).tolist()
    [True, False]
    """
    s = _sledai_points(sledai_2k, "sledai_2k")
    active = np.zeros(np.shape(s), dtype=bool)
    for name, v in (("renal_activity", renal_activity), ("cns_activity", cns_activity),
                    ("cardiopulmonary_activity", cardiopulmonary_activity), ("vasculitis", vasculitis),
                    ("fever", fever), ("haemolytic_anaemia", haemolytic_anaemia), ("gi_activity", gi_activity),
                    ("new_features", new_features)):
        active = active | _bool_array(v, name)
    p = _pga_hundredths(pga, "pga")
    pred = _dose_hundredths(prednisolone_mg_day, "prednisolone_mg_day")
    return (s <= 4) & ~active & (p <= 100) & (pred <= 750) & _bool_array(standard_maintenance, "standard_maintenance")


# --------------------------------------------------------------------------------------------
# Lupus nephritis renal response
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RenalResponseRule:
    """A lupus nephritis renal response definition; several exist, so the cut-offs are data.

    A patient responds when, at the assessment:

    * UPCR ``< upcr_max_g_g`` (``<=`` when ``upcr_inclusive``);
    * if ``min_upcr_reduction_pct`` is set: UPCR fell by at least that percentage from baseline;
    * if ``egfr_max_decline_pct`` is set: eGFR is not more than that percentage below the
      reference eGFR (baseline or pre-flare, ``egfr_reference``), *or* eGFR ``>= egfr_floor`` when
      a floor is set. ``egfr_two_sided`` also rejects a rise above the same percentage ("within
      ±x %" read literally); the default reads "stabilisation or improvement" and accepts rises;
    * no intercurrent event (treatment failure, rescue) when the flag is given.

    Values are compared exactly: UPCR in thousandths of a g/g, eGFR in hundredths of a
    mL/min/1.73 m², percentages in hundredths of a percent (entered values with more decimals are
    first rounded, half to even, to that resolution).

    Change a cut-off with :func:`dataclasses.replace`, e.g. the KDIGO 10 % eGFR tolerance:
    ``replace(KDIGO_2024_COMPLETE, egfr_max_decline_pct=10)``.
    """

    name: str
    citation: str
    upcr_max_g_g: float
    upcr_inclusive: bool = False
    min_upcr_reduction_pct: float | None = None
    egfr_max_decline_pct: float | None = None
    egfr_floor: float | None = None
    egfr_two_sided: bool = False
    egfr_reference: str = "baseline"
    version: str = ""

    def __post_init__(self) -> None:
        if not self.upcr_max_g_g > 0:
            raise SpecError(f"RenalResponseRule {self.name!r}: upcr_max_g_g must be > 0; got {self.upcr_max_g_g!r}")
        for f in ("min_upcr_reduction_pct", "egfr_max_decline_pct"):
            v = getattr(self, f)
            if v is not None and not 0 <= v <= 100:
                raise SpecError(f"RenalResponseRule {self.name!r}: {f} must be 0-100 %; got {_py(v)!r}")
        if self.egfr_floor is not None and self.egfr_max_decline_pct is None:
            raise SpecError(f"RenalResponseRule {self.name!r}: egfr_floor needs egfr_max_decline_pct")
        if self.egfr_reference not in ("baseline", "pre-flare"):
            raise SpecError(f"RenalResponseRule {self.name!r}: egfr_reference must be 'baseline' or "
                            f"'pre-flare'; got {self.egfr_reference!r}")

    def evaluate(self, upcr_g_g: Any, egfr: Any = None, egfr_reference: Any = None,
                 upcr_baseline_g_g: Any = None, intercurrent_event: Any = None) -> np.ndarray:
        """Responder flags (bool array) for UPCR (g/g) and eGFR (mL/min/1.73 m²) at the assessment.

        ``egfr`` and ``egfr_reference`` are needed when the rule has an eGFR criterion,
        ``upcr_baseline_g_g`` when it has a reduction criterion.

        >>> BLISS_LN_PERR.evaluate([0.7, 0.71], [48.0, 48.0], [60.0, 60.0]).tolist()
        [True, False]
        """
        u = _fixed(upcr_g_g, 1000, "upcr_g_g", strict=False)
        _range(np.asarray(upcr_g_g, dtype=float), 0, math.inf, "upcr_g_g", "g/g")
        cut = round(self.upcr_max_g_g * 1000)
        ok = (u <= cut) if self.upcr_inclusive else (u < cut)
        if self.min_upcr_reduction_pct is not None:
            if upcr_baseline_g_g is None:
                raise DataValidationError(f"{self.name}: needs upcr_baseline_g_g (reduction criterion)")
            b = _fixed(upcr_baseline_g_g, 1000, "upcr_baseline_g_g", strict=False)
            pct = round(self.min_upcr_reduction_pct * 100)
            ok = ok & (b > 0) & (10000 * (b - u) >= pct * b)
        if self.egfr_max_decline_pct is not None:
            if egfr is None or egfr_reference is None:
                raise DataValidationError(f"{self.name}: needs egfr and egfr_reference ({self.egfr_reference} "
                                          "eGFR, mL/min/1.73 m2)")
            _range(np.asarray(egfr, dtype=float), 0, math.inf, "egfr", "mL/min/1.73 m2")
            _range(np.asarray(egfr_reference, dtype=float), 0, math.inf, "egfr_reference", "mL/min/1.73 m2")
            e = _fixed(egfr, 100, "egfr", strict=False)
            r = _fixed(egfr_reference, 100, "egfr_reference", strict=False)
            pct = round(self.egfr_max_decline_pct * 100)
            kidney = 10000 * e >= (10000 - pct) * r
            if self.egfr_two_sided:
                kidney = kidney & (10000 * e <= (10000 + pct) * r)
            if self.egfr_floor is not None:
                kidney = kidney | (e >= round(self.egfr_floor * 100))
            ok = ok & kidney
        if intercurrent_event is not None:
            ok = ok & ~_bool_array(intercurrent_event, "intercurrent_event")
        return ok


#: KDIGO 2024 LN guideline, complete response: UPCR < 0.5 g/g and eGFR stable or improved
#: (within 10-15 % of baseline; default 15 %, one-sided — see :class:`RenalResponseRule`).
KDIGO_2024_COMPLETE = RenalResponseRule(
    name="KDIGO 2024 complete renal response",
    citation="KDIGO 2024 Clinical Practice Guideline for the Management of Lupus Nephritis. "
             "Kidney Int 2024;105(1S):S1-S69",
    upcr_max_g_g=0.5, egfr_max_decline_pct=15.0, version="2024")

#: KDIGO 2024, partial response: UPCR reduced by >= 50 % and to < 3 g/g (the guideline's eGFR
#: stability wording is not applied, following INSTRUMENTS.md; set egfr_max_decline_pct to add it).
KDIGO_2024_PARTIAL = RenalResponseRule(
    name="KDIGO 2024 partial renal response", citation=KDIGO_2024_COMPLETE.citation,
    upcr_max_g_g=3.0, min_upcr_reduction_pct=50.0, version="2024")

#: BLISS-LN primary efficacy renal response: UPCR <= 0.7 g/g, eGFR not > 20 % below pre-flare or >= 60.
BLISS_LN_PERR = RenalResponseRule(
    name="BLISS-LN primary efficacy renal response",
    citation="Furie R et al. Two-year, randomized, controlled trial of belimumab in lupus nephritis. "
             "N Engl J Med 2020;383:1117-28",
    upcr_max_g_g=0.7, upcr_inclusive=True, egfr_max_decline_pct=20.0, egfr_floor=60.0,
    egfr_reference="pre-flare", version="2020")

#: BLISS-LN complete renal response: UPCR < 0.5 g/g, eGFR not > 10 % below pre-flare or >= 90.
BLISS_LN_CRR = RenalResponseRule(
    name="BLISS-LN complete renal response", citation=BLISS_LN_PERR.citation,
    upcr_max_g_g=0.5, egfr_max_decline_pct=10.0, egfr_floor=90.0, egfr_reference="pre-flare",
    version="2020")

#: Named presets of :class:`RenalResponseRule`.
RENAL_RESPONSE_RULES: dict[str, RenalResponseRule] = {
    "kdigo2024_complete": KDIGO_2024_COMPLETE,
    "kdigo2024_partial": KDIGO_2024_PARTIAL,
    "bliss_ln_perr": BLISS_LN_PERR,
    "bliss_ln_crr": BLISS_LN_CRR,
}


def _register_renal(rule: RenalResponseRule) -> None:
    inputs = [Input("upcr_g_g", "float", "urine protein:creatinine ratio at the assessment", "g/g", 0, None)]
    if rule.min_upcr_reduction_pct is not None:
        inputs.append(Input("upcr_baseline_g_g", "float", "baseline UPCR", "g/g", 0, None))
    if rule.egfr_max_decline_pct is not None:
        inputs.append(Input("egfr", "float", "eGFR at the assessment (CKD-EPI 2021)", "mL/min/1.73m2", 0, None))
        inputs.append(Input("egfr_reference", "float", f"{rule.egfr_reference} eGFR (CKD-EPI 2021)",
                            "mL/min/1.73m2", 0, None))
    inputs.append(Input("intercurrent_event", "bool", "treatment failure or rescue therapy (non-responder)",
                        optional=True))

    def evaluate(**v: Any) -> np.ndarray:
        return rule.evaluate(**v)

    evaluate.__doc__ = f"{rule.name}: :meth:`RenalResponseRule.evaluate` of the preset."
    instrument(name=rule.name, version=rule.version or "unversioned", citation=rule.citation,
               unit="responder (bool)", output_range=(0, 1), inputs=tuple(inputs),
               options={"egfr_equation": "CKD-EPI 2021"})(evaluate)


for _rule in RENAL_RESPONSE_RULES.values():
    _register_renal(_rule)


# --------------------------------------------------------------------------------------------
# eGFR, CKD-EPI 2021
# --------------------------------------------------------------------------------------------

#: µmol/L per mg/dL of creatinine (molar mass 113.12 g/mol), the factor KDIGO and NKF use.
CREATININE_UMOL_L_PER_MG_DL = 88.4

_CKD_EPI_2021 = {  # sex: (kappa mg/dL, alpha, sex factor)
    "F": (0.7, -0.241, 1.012),
    "M": (0.9, -0.302, 1.0),
}


@instrument(
    name="eGFR CKD-EPI 2021", version="2021 (race-free)",
    citation="Inker LA et al. New creatinine- and cystatin C-based equations to estimate GFR without race. "
             "N Engl J Med 2021;385:1737-49",
    unit="mL/min/1.73m2", output_range=(0, math.inf),
    inputs=(
        Input("creatinine", "float", "serum creatinine (IDMS-traceable)", "mg/dL", 0.01, 40.0),
        Input("age_years", "float", "age (adult equation)", "years", 18, 120),
        Input("sex", "category", "sex (SDTM SEX)", categories=("F", "M")),
    ),
    options={"creatinine_unit": "mg/dL"},
)
def compute_egfr_ckd_epi_2021(creatinine: Any, age_years: Any, sex: Any, *,
                              creatinine_unit: str = "mg/dL") -> np.ndarray:
    """eGFR (mL/min/1.73 m²) by the race-free CKD-EPI 2021 creatinine equation.

    eGFR = 142 · min(Scr/κ, 1)^α · max(Scr/κ, 1)^-1.200 · 0.9938^age · 1.012 [female],
    κ = 0.7 (F) / 0.9 (M), α = -0.241 (F) / -0.302 (M), Scr in mg/dL.

    Parameters
    ----------
    creatinine : array_like, serum creatinine in ``creatinine_unit``
    age_years : array_like, adults (>= 18 years)
    sex : array_like of {"F", "M"}
    creatinine_unit : {"mg/dL", "umol/L"}
        µmol/L is divided by :data:`CREATININE_UMOL_L_PER_MG_DL` (88.4).

    >>> round(float(compute_egfr_ckd_epi_2021(0.7, 50, "F")), 2)
    105.3
    """
    if creatinine_unit not in ("mg/dL", "umol/L"):
        raise SpecError(f"creatinine_unit must be 'mg/dL' or 'umol/L'; got {creatinine_unit!r}")
    scr = np.asarray(creatinine, dtype=float)
    if creatinine_unit == "umol/L":
        scr = scr / CREATININE_UMOL_L_PER_MG_DL
    _range(scr, 0.01, 40.0, "creatinine", "mg/dL (after conversion)")
    age = np.asarray(age_years, dtype=float)
    _range(age, 18, 120, "age_years", "years")
    sx = np.asarray(sex, dtype=object)
    for k, v in enumerate(sx.reshape(-1)):
        if v not in _CKD_EPI_2021:
            raise DataValidationError(f"sex row {k}: got {_py(v)!r}, expected 'F' or 'M'")
    female = sx == "F"
    kappa = np.where(female, 0.7, 0.9)
    alpha = np.where(female, -0.241, -0.302)
    ratio = scr / kappa
    return (142.0 * np.minimum(ratio, 1.0) ** alpha * np.maximum(ratio, 1.0) ** -1.200
            * 0.9938 ** age * np.where(female, 1.012, 1.0))


__all__ = [
    "BILAG2004_DOMAINS",
    "BLISS_LN_CRR",
    "BLISS_LN_PERR",
    "CREATININE_UMOL_L_PER_MG_DL",
    "CSLEDAI_DESCRIPTORS",
    "KDIGO_2024_COMPLETE",
    "KDIGO_2024_PARTIAL",
    "RENAL_RESPONSE_RULES",
    "RenalResponseRule",
    "SLEDAI2K_DESCRIPTORS",
    "SLEDAI2K_ORGAN_GROUPS",
    "SLEDAI2K_SEROLOGY",
    "SLEDAI2K_WEIGHTS",
    "SLEDAI2K_WINDOWS",
    "SRI_INTERCURRENT_STRATEGIES",
    "compute_csledai",
    "compute_doris_remission",
    "compute_doris_remission_off_therapy",
    "compute_egfr_ckd_epi_2021",
    "compute_lldas",
    "compute_sledai2k",
    "compute_sri",
    "low_complement",
    "sledai2k_from_days_since",
    "sledai2k_matrix",
    "validate_pga",
]
