"""Systemic sclerosis instruments: mRSS, HAQ-DI (with and without the aids correction), ACR CRISS.

Pure, vectorised kernels on arrays (one element per assessment); the registry entries carry the
version, citation, inputs and options (INSTRUMENTS.md, "Systemic sclerosis").
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from .._core.errors import DataValidationError, SpecError
from ._registry import Input, instrument

# ---------------------------------------------------------------------------------------------
# mRSS
# ---------------------------------------------------------------------------------------------

#: The 17 mRSS sites in the order of the Clements 1995 form (input names of the kernel).
MRSS_SITES = (
    "face", "anterior_chest", "abdomen",
    "fingers_right", "fingers_left", "hand_dorsum_right", "hand_dorsum_left",
    "forearm_right", "forearm_left", "upper_arm_right", "upper_arm_left",
    "thigh_right", "thigh_left", "lower_leg_right", "lower_leg_left",
    "foot_dorsum_right", "foot_dorsum_left",
)

MRSS_IMPUTATION = ("none", "prorate")


def _site_label(name: str) -> str:
    return name.replace("_", " ")


def _float_column(values: Any, n: int | None = None) -> np.ndarray:
    """A 1-D float array; ``None`` entries become NaN (missing)."""
    arr = np.asarray(values, dtype=object).reshape(-1)
    out = np.array([np.nan if v is None else float(v) for v in arr], dtype=float)
    if n is not None and out.size == 1 and n > 1:
        out = np.full(n, out[0])
    return out


def _bool_column(values: Any, n: int) -> np.ndarray:
    """A 1-D bool array of length ``n``; missing (None/NaN) entries count as False."""
    if values is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(values, dtype=object).reshape(-1)
    out = np.array([False if (v is None or (isinstance(v, float) and np.isnan(v))) else bool(v) for v in arr])
    if out.size == 1 and n > 1:
        out = np.full(n, out[0])
    if out.size != n:
        raise DataValidationError(f"flag column has {out.size} rows, expected {n}")
    return out


def _stack(columns: dict[str, Any], names: tuple[str, ...], instrument_name: str) -> np.ndarray:
    missing = [k for k in names if columns.get(k) is None]
    if missing:
        raise DataValidationError(f"{instrument_name} needs input {missing[0]!r}")
    cols = [_float_column(columns[k]) for k in names]
    n = max(c.size for c in cols)
    cols = [np.full(n, c[0]) if c.size == 1 else c for c in cols]
    if any(c.size != n for c in cols):
        raise DataValidationError(f"{instrument_name}: inputs have different numbers of rows")
    return np.column_stack(cols)


@instrument(
    name="mRSS", version="Clements 1995 (17 sites, 0-3)",
    citation="Clements P et al. J Rheumatol 1995;22:1281-5; Khanna D et al. J Scleroderma Relat "
             "Disord 2017;2:11-8 (standardisation)",
    unit="points", output_range=(0, 51),
    inputs=tuple(Input(s, "int", f"skin thickness, {_site_label(s)} (0 normal - 3 severe; missing = "
                                 "not assessable)", "points", 0, 3, optional=True) for s in MRSS_SITES),
    options={"impute": "none"},
)
def compute_mrss(*, impute: str = "none", **sites: Any) -> np.ndarray:
    """Modified Rodnan skin score: sum of 17 site scores (0-3 each), 0-51.

    Parameters
    ----------
    **sites : array_like
        One array per site of :data:`MRSS_SITES` (0, 1, 2 or 3; NaN or None = not assessable).
    impute : {"none", "prorate"}
        ``"none"`` (default): a total with any site not assessable is missing (NaN), as
        INSTRUMENTS.md requires unless the protocol defines imputation. ``"prorate"``: the total
        of the assessed sites times 17 / number assessed (missing only if no site was assessed).
        Carrying a site forward from an earlier visit is a dataset-level rule, not done here.

    Returns
    -------
    numpy.ndarray of float, the total (NaN when missing).

    Examples
    --------
    >>> s = {k: [1] for k in MRSS_SITES}
    >>> compute_mrss(**s)
    array([17.])
    >>> s["face"] = [None]
    >>> compute_mrss(**s)
    array([nan])
    >>> compute_mrss(**s, impute="prorate")
    array([17.])
    """
    if impute not in MRSS_IMPUTATION:
        raise SpecError(f"mRSS: impute must be one of {', '.join(MRSS_IMPUTATION)}; got {impute!r}")
    unknown = sorted(set(sites) - set(MRSS_SITES))
    if unknown:
        raise DataValidationError(f"mRSS has no site {unknown[0]!r}; sites are {', '.join(MRSS_SITES)}")
    x = _stack(sites, MRSS_SITES, "mRSS")
    assessed = ~np.isnan(x)
    total = np.where(assessed, x, 0.0).sum(axis=1)
    n = assessed.sum(axis=1)
    if impute == "none":
        return np.where(n == len(MRSS_SITES), total, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total * len(MRSS_SITES) / n, np.nan)


# ---------------------------------------------------------------------------------------------
# HAQ-DI
# ---------------------------------------------------------------------------------------------

#: The 8 HAQ-DI categories (input suffixes of the aid/help flags).
HAQ_CATEGORIES = ("dressing", "arising", "eating", "walking", "hygiene", "reach", "grip", "activities")
#: Category index of each of the 20 items ``haq01`` .. ``haq20`` (Stanford HAQ order: 2, 2, 3, 2, 3, 2, 3, 3).
HAQ_ITEM_CATEGORY = (0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6, 7, 7, 7)
HAQ_ITEMS = tuple(f"haq{k + 1:02d}" for k in range(20))
HAQ_AIDS = tuple(f"aid_{c}" for c in HAQ_CATEGORIES)

_HAQ_CITATION = ("Fries JF et al. Arthritis Rheum 1980;23:137-45; Bruce B, Fries JF. J Rheumatol "
                 "2003;30:167-78 (Stanford scoring: aids/devices and help, minimum 6 categories)")
_HAQ_ITEM_INPUTS = tuple(Input(k, "int", f"HAQ item {k[3:]} (category {HAQ_CATEGORIES[c]}): 0 without any "
                                         "difficulty - 3 unable to do; missing = not answered", "points", 0, 3,
                               optional=True)
                         for k, c in zip(HAQ_ITEMS, HAQ_ITEM_CATEGORY))


def _haq(items: dict[str, Any], aids: dict[str, Any] | None, min_categories: int) -> np.ndarray:
    if min_categories not in range(1, 9):
        raise SpecError(f"HAQ-DI: min_categories must be 1 to 8 (Stanford 6, some implementations 7); "
                        f"got {min_categories!r}")
    x = _stack(items, HAQ_ITEMS, "HAQ-DI")
    n = x.shape[0]
    cat = np.full((n, 8), np.nan)
    for c in range(8):
        cols = x[:, [k for k, kc in enumerate(HAQ_ITEM_CATEGORY) if kc == c]]
        answered = ~np.isnan(cols).all(axis=1)
        cat[:, c] = np.where(answered, np.where(np.isnan(cols), -1.0, cols).max(axis=1), np.nan)
        if aids is not None:
            # Stanford: an aid/device or help for the category raises 0 or 1 to 2; a category with no
            # item answered stays unanswered even when an aid is ticked.
            flag = _bool_column(aids.get(HAQ_AIDS[c]), n)
            cat[:, c] = np.where(flag & answered, np.maximum(cat[:, c], 2.0), cat[:, c])
    answered_n = (~np.isnan(cat)).sum(axis=1)
    with np.errstate(invalid="ignore"):
        mean = np.nansum(cat, axis=1) / np.maximum(answered_n, 1)
    return np.where(answered_n >= min_categories, mean, np.nan)


def _split_haq(values: dict[str, Any], with_aids: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    allowed = set(HAQ_ITEMS) | (set(HAQ_AIDS) if with_aids else set())
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise DataValidationError(f"HAQ-DI has no input {unknown[0]!r}; inputs are haq01..haq20"
                                  + (" and aid_<category>" if with_aids else ""))
    return ({k: values.get(k) for k in HAQ_ITEMS}, {k: values.get(k) for k in HAQ_AIDS})


@instrument(
    name="HAQ-DI", version="Stanford HAQ 20-item, with aids/devices and help correction",
    citation=_HAQ_CITATION, unit="points (0-3)", output_range=(0, 3),
    inputs=_HAQ_ITEM_INPUTS + tuple(
        Input(a, "bool", f"aid/device or help from another person used for {c}", optional=True)
        for a, c in zip(HAQ_AIDS, HAQ_CATEGORIES)),
    options={"min_categories": 6},
)
def compute_haq_di(*, min_categories: int = 6, **values: Any) -> np.ndarray:
    """HAQ Disability Index with the aids/devices and help correction (Stanford scoring).

    Each of the 8 categories scores its highest answered item (0-3); an aid/device or help for
    the category (``aid_<category>`` true) raises the category to at least 2. HAQ-DI is the mean
    of the answered categories, missing (NaN) when fewer than ``min_categories`` are answered.

    Parameters
    ----------
    haq01 .. haq20 : array_like
        Item answers 0-3 (NaN/None = not answered), in the order of
        ``cartlab.trial._execute.HAQ_ITEMS`` (categories of 2, 2, 3, 2, 3, 2, 3, 3 items).
    aid_dressing .. aid_activities : array_like of bool, optional
        Aid/device or help used for that category; absent or missing = no.
    min_categories : int
        Minimum answered categories: 6 (default, Stanford rule) or 7 (some implementations).

    Returns
    -------
    numpy.ndarray of float in [0, 3] (NaN when too few categories are answered).

    Examples
    --------
    >>> items = {k: [0] for k in HAQ_ITEMS}
    >>> compute_haq_di(**items, aid_walking=[True])
    array([0.25])
    >>> compute_haq_di_no_aids(**items)
    array([0.])
    """
    items, aids = _split_haq(values, with_aids=True)
    return _haq(items, aids, min_categories)


@instrument(
    name="HAQ-DI (no aids)", version="Stanford HAQ 20-item, WITHOUT the aids/devices and help correction",
    citation=_HAQ_CITATION, unit="points (0-3)", output_range=(0, 3),
    inputs=_HAQ_ITEM_INPUTS, options={"min_categories": 6},
)
def compute_haq_di_no_aids(*, min_categories: int = 6, **values: Any) -> np.ndarray:
    """HAQ-DI without the aids/devices correction: mean of the answered categories' worst items.

    Same as :func:`compute_haq_di` with no aid or help recorded; report it under this name (it
    is lower than or equal to the corrected index), e.g. when aids were not collected.
    """
    items, _ = _split_haq(values, with_aids=False)
    return _haq(items, None, min_categories)


# ---------------------------------------------------------------------------------------------
# ACR CRISS
# ---------------------------------------------------------------------------------------------

#: Step 2 coefficients (Khanna 2016, Arthritis Rheumatol 68:299, ACR CRISS model).
CRISS_INTERCEPT = -5.54
CRISS_COEF = {"mrss": -0.81, "fvc_pct_pred": 0.21, "patient_global": -0.40, "physician_global": -0.44,
              "haq_di": -3.41}
CRISS_THRESHOLD = 0.60


class CrissResult(NamedTuple):
    """ACR CRISS per assessment.

    ``probability``: predicted probability of improvement, 0 where Step 1 applies;
    ``step2_probability``: the Step 2 model probability whatever Step 1 says;
    ``step1``: a Step 1 event occurred (new SRC, confirmed FVC decline, new LV failure, new PAH);
    ``improved``: ``probability >= 0.60``.
    """

    probability: np.ndarray
    step2_probability: np.ndarray
    step1: np.ndarray
    improved: np.ndarray


def _exact(v: float) -> Fraction:
    """The decimal value as entered (shortest repr of the float), exactly."""
    return Fraction(repr(float(v)))


def fvc_decline_step1(fvc_baseline: Any, fvc_followup: Any) -> np.ndarray:
    """CRISS Step 1 FVC rule: relative decline >= 15 % of baseline AND follow-up < 80 % predicted.

    Compared exactly on the entered decimals (90 -> 76.5 is a decline of exactly 15 %).

    >>> fvc_decline_step1([90, 90, 100, 100], [76.5, 76.6, 80, 79.9])
    array([ True, False, False,  True])
    """
    b, f = _float_column(fvc_baseline), _float_column(fvc_followup)
    out = np.zeros(np.broadcast(b, f).shape, dtype=bool)
    for k, (bv, fv) in enumerate(np.broadcast(b, f)):
        if np.isnan(bv) or np.isnan(fv) or bv <= 0:
            continue
        eb, ef = _exact(bv), _exact(fv)
        out[k] = (eb - ef) * 100 >= 15 * eb and ef < 80
    return out


_CRISS_VALUE_INPUTS = (
    ("mrss", "mRSS", "points", 0, 51),
    ("fvc_pct_pred", "FVC % predicted", "%", 0, 200),
    ("patient_global", "patient global assessment", "0-10", 0, 10),
    ("physician_global", "physician global assessment", "0-10", 0, 10),
    ("haq_di", "HAQ-DI", "points (0-3)", 0, 3),
)


@instrument(
    name="ACR CRISS", version="2016 (Step 1 + Step 2 model)",
    citation="Khanna D et al. Arthritis Rheumatol 2016;68:299-311",
    unit="probability", output_range=(0, 1),
    inputs=tuple(Input(f"{k}_{when}", "float", f"{label} at {when}", unit, lo, hi)
                 for k, label, unit, lo, hi in _CRISS_VALUE_INPUTS for when in ("baseline", "followup"))
    + (
        Input("new_renal_crisis", "bool", "new scleroderma renal crisis attributable to SSc"),
        Input("new_lv_failure", "bool", "new left-ventricular failure (LVEF <= 45 %) needing treatment, "
                                        "attributable to SSc"),
        Input("new_pah", "bool", "new pulmonary arterial hypertension on right-heart catheterisation needing "
                                 "treatment, attributable to SSc"),
        Input("fvc_decline_confirmed", "bool", "the FVC % predicted decline was confirmed by a repeat test "
                                               "(absent = treat a decline as confirmed)", optional=True),
    ),
    options={"threshold": CRISS_THRESHOLD},
)
def compute_criss(*, mrss_baseline: Any, mrss_followup: Any, fvc_pct_pred_baseline: Any,
                  fvc_pct_pred_followup: Any, patient_global_baseline: Any, patient_global_followup: Any,
                  physician_global_baseline: Any, physician_global_followup: Any, haq_di_baseline: Any,
                  haq_di_followup: Any, new_renal_crisis: Any = False, new_lv_failure: Any = False,
                  new_pah: Any = False, fvc_decline_confirmed: Any = None,
                  threshold: float = CRISS_THRESHOLD) -> CrissResult:
    """ACR Composite Response Index in diffuse cutaneous SSc (CRISS), Khanna 2016.

    Step 1: not improved (probability 0) if, attributable to SSc, a new scleroderma renal crisis,
    a (confirmed) decline of FVC % predicted >= 15 % relative to baseline to < 80 % predicted,
    new LV failure (LVEF <= 45 %) needing treatment, or new PAH on right-heart catheterisation
    needing treatment. Step 2, with Δ = follow-up - baseline::

        lin = -5.54 - 0.81 ΔmRSS + 0.21 ΔFVC%pred - 0.40 ΔPtGlobal - 0.44 ΔMDGlobal - 3.41 ΔHAQ-DI
        P = 1 / (1 + exp(-lin));  improved if P >= 0.60

    Globals are on 0-10. Inputs are arrays (one element per patient-visit).

    Returns
    -------
    CrissResult (probability, step2_probability, step1, improved).

    Examples
    --------
    >>> r = compute_criss(mrss_baseline=[20], mrss_followup=[20], fvc_pct_pred_baseline=[90],
    ...                   fvc_pct_pred_followup=[90], patient_global_baseline=[5], patient_global_followup=[5],
    ...                   physician_global_baseline=[5], physician_global_followup=[5],
    ...                   haq_di_baseline=[1], haq_di_followup=[1])
    >>> round(float(r.probability[0]), 4), bool(r.improved[0])
    (0.0039, False)
    """
    if not 0 < threshold < 1:
        raise SpecError(f"ACR CRISS: threshold must be between 0 and 1; got {threshold!r}")
    pairs = {
        "mrss": (mrss_baseline, mrss_followup),
        "fvc_pct_pred": (fvc_pct_pred_baseline, fvc_pct_pred_followup),
        "patient_global": (patient_global_baseline, patient_global_followup),
        "physician_global": (physician_global_baseline, physician_global_followup),
        "haq_di": (haq_di_baseline, haq_di_followup),
    }
    deltas = {k: _float_column(f) - _float_column(b) for k, (b, f) in pairs.items()}
    n = np.broadcast(*deltas.values()).shape[0]
    lin = CRISS_INTERCEPT + sum(CRISS_COEF[k] * d for k, d in deltas.items())
    p2 = 1.0 / (1.0 + np.exp(-np.broadcast_to(lin, (n,))))
    fvc = fvc_decline_step1(fvc_pct_pred_baseline, fvc_pct_pred_followup)
    fvc = np.broadcast_to(fvc, (n,))
    if fvc_decline_confirmed is not None:
        fvc = fvc & _bool_column(fvc_decline_confirmed, n)
    step1 = (_bool_column(new_renal_crisis, n) | _bool_column(new_lv_failure, n)
             | _bool_column(new_pah, n) | fvc)
    prob = np.where(step1, 0.0, p2)
    return CrissResult(prob, p2, step1, prob >= threshold)


__all__ = [
    "HAQ_AIDS", "HAQ_CATEGORIES", "HAQ_ITEMS", "HAQ_ITEM_CATEGORY", "MRSS_SITES", "CrissResult",
    "compute_criss", "compute_haq_di", "compute_haq_di_no_aids", "compute_mrss", "fvc_decline_step1",
]
