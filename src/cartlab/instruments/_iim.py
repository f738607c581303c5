"""Idiopathic inflammatory myopathy instruments: MMT-8 and the 2016 ACR/EULAR Total Improvement Score.

Pure, vectorised kernels (INSTRUMENTS.md, "Idiopathic inflammatory myopathies"). TIS band
membership is decided exactly on the entered decimal values (``fractions.Fraction``), never on
binary floating point.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from .._core.errors import DataValidationError, SpecError
from ._registry import Input, instrument

# ---------------------------------------------------------------------------------------------
# MMT-8
# ---------------------------------------------------------------------------------------------

#: The 7 paired groups of MMT-8 (neck flexors are axial and scored once).
MMT8_PAIRED = ("middle_deltoid", "biceps", "wrist_extensors", "quadriceps", "ankle_dorsiflexors",
               "gluteus_medius", "gluteus_maximus")
MMT8_INPUTS = ("neck_flexors",) + tuple(f"{g}_{s}" for g in MMT8_PAIRED for s in ("right", "left"))
MMT8_SIDES = ("both", "right", "left")


def _col(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=object).reshape(-1)
    return np.array([np.nan if v is None else float(v) for v in arr], dtype=float)


@instrument(
    name="MMT-8", version="IMACS MMT-8, Kendall 0-10",
    citation="Rider LG et al. Arthritis Care Res 2010;62:465-72; Rider LG et al. Arthritis Rheum 2017;69:911",
    unit="points", output_range=(0, 150),
    inputs=tuple(Input(k, "int", f"Kendall 0-10 score, {k.replace('_', ' ')} (missing = not tested)", "points",
                       0, 10, optional=True) for k in MMT8_INPUTS),
    options={"side": "both"},
)
def compute_mmt8(*, side: str = "both", **scores: Any) -> np.ndarray:
    """Manual Muscle Testing of 8 groups on the Kendall 0-10 scale.

    Parameters
    ----------
    neck_flexors, <group>_right, <group>_left : array_like
        Kendall scores 0-10 (NaN/None = not tested) for neck flexors and the 7 paired groups of
        :data:`MMT8_PAIRED`.
    side : {"both", "right", "left"}
        ``"both"`` (default): bilateral total 0-150 (neck flexors + 7 groups on each side).
        ``"right"``/``"left"``: unilateral total 0-80 (neck flexors + 7 groups on that side).

    Returns
    -------
    numpy.ndarray of float: the total, NaN when a score it needs is missing.

    Examples
    --------
    >>> full = {k: [10] for k in MMT8_INPUTS}
    >>> compute_mmt8(**full), compute_mmt8(**full, side="right")
    (array([150.]), array([80.]))
    """
    if side not in MMT8_SIDES:
        raise SpecError(f"MMT-8: side must be one of {', '.join(MMT8_SIDES)}; got {side!r}")
    unknown = sorted(set(scores) - set(MMT8_INPUTS))
    if unknown:
        raise DataValidationError(f"MMT-8 has no input {unknown[0]!r}; inputs are {', '.join(MMT8_INPUTS)}")
    need = ("neck_flexors",) + tuple(f"{g}_{s}" for g in MMT8_PAIRED
                                     for s in (("right", "left") if side == "both" else (side,)))
    absent = [k for k in need if scores.get(k) is None]
    if absent:
        raise DataValidationError(f"MMT-8 ({side}) needs input {absent[0]!r}")
    cols = [_col(scores[k]) for k in need]
    n = max(c.size for c in cols)
    x = np.column_stack([np.full(n, c[0]) if c.size == 1 else c for c in cols])
    return x.sum(axis=1)  # NaN propagates: a missing group makes the total missing


# ---------------------------------------------------------------------------------------------
# 2016 ACR/EULAR Total Improvement Score
# ---------------------------------------------------------------------------------------------

#: Core set measures: (input stem, label, higher is better?).
TIS_MEASURES = (
    ("physician_global", "physician global activity", False),
    ("patient_global", "patient global activity", False),
    ("mmt8", "MMT-8", True),
    ("haq_di", "HAQ-DI", False),
    ("enzyme", "most abnormal muscle enzyme at baseline", False),
    ("extramuscular", "extramuscular disease activity", False),
)

#: Upper bounds (inclusive, % improvement) of bands 1-4; band 5 is above the last bound.
TIS_CUTS = {"default": (5, 15, 25, 40), "mmt8": (2, 10, 20, 30)}

#: Points per band (INSTRUMENTS.md table, from Aggarwal 2017).
TIS_POINTS = {
    "physician_global": (0, 7.5, 15, 17.5, 20),
    "patient_global": (0, 2.5, 5, 7.5, 10),
    "mmt8": (0, 10, 20, 27.5, 32.5),
    "haq_di": (0, 5, 7.5, 7.5, 10),
    "enzyme": (0, 2.5, 5, 7.5, 7.5),
    "extramuscular": (0, 7.5, 12.5, 15, 20),
}

#: Improvement thresholds (minimal, moderate, major) by population.
TIS_THRESHOLDS = {"adult": (20, 40, 60), "juvenile": (30, 45, 70)}
TIS_CATEGORIES = ("none", "minimal", "moderate", "major")
TIS_BASELINE_ZERO = ("error", "zero")


class TisResult(NamedTuple):
    """TIS per assessment: ``total`` (0-100 points) and ``category`` (none/minimal/moderate/major)."""

    total: np.ndarray
    category: np.ndarray


def _exact(v: float) -> Fraction:
    """The decimal value as entered (shortest repr of the float), exactly."""
    return Fraction(repr(float(v)))


def tis_measure_points(measure: str, baseline: Any, followup: Any, *,
                       baseline_zero: str = "error") -> np.ndarray:
    """Points of one TIS core-set measure from its baseline and follow-up values.

    Improvement % = 100 (B - F) / B, or 100 (F - B) / B for MMT-8; worsening or no change scores 0;
    band upper bounds are inclusive and compared exactly on the entered decimals.

    Parameters
    ----------
    measure : str
        One of ``physician_global``, ``patient_global``, ``mmt8``, ``haq_di``, ``enzyme``,
        ``extramuscular``.
    baseline, followup : array_like
    baseline_zero : {"error", "zero"}
        Improvement relative to a baseline of 0 is undefined: ``"error"`` (default) raises
        DataValidationError naming the row, ``"zero"`` scores the measure 0.

    Examples
    --------
    >>> tis_measure_points("physician_global", [10, 10, 10], [9.5, 9.4, 8.5])
    array([0. , 7.5, 7.5])
    """
    if measure not in TIS_POINTS:
        raise SpecError(f"TIS: unknown measure {measure!r}; measures are {', '.join(TIS_POINTS)}")
    if baseline_zero not in TIS_BASELINE_ZERO:
        raise SpecError(f"TIS: baseline_zero must be one of {', '.join(TIS_BASELINE_ZERO)}; got {baseline_zero!r}")
    b, f = np.broadcast_arrays(_col(baseline), _col(followup))
    cuts = TIS_CUTS.get(measure, TIS_CUTS["default"])
    pts = TIS_POINTS[measure]
    higher_better = measure == "mmt8"
    out = np.zeros(b.shape, dtype=float)
    for k in range(b.size):
        if np.isnan(b[k]) or np.isnan(f[k]):
            out[k] = np.nan
            continue
        eb, ef = _exact(b[k]), _exact(f[k])
        if eb == 0:
            if baseline_zero == "error":
                raise DataValidationError(
                    f"TIS input {measure}_baseline row {k}: got 0, expected a value > 0 (improvement from a "
                    f"baseline of 0 is undefined; pass baseline_zero='zero' to score the measure 0)")
            continue
        gain = (ef - eb) if higher_better else (eb - ef)
        imp = gain * 100 / eb  # exact percentage
        if imp <= 0:
            continue
        band = next((i for i, c in enumerate(cuts) if imp <= c), len(cuts))
        out[k] = pts[band]
    return out


def classify_tis(total: Any, population: str = "adult") -> np.ndarray:
    """Improvement category of TIS totals: ``none``, ``minimal``, ``moderate`` or ``major``.

    Adult thresholds minimal >= 20, moderate >= 40, major >= 60; juvenile 30 / 45 / 70
    (Aggarwal 2017; Rider 2017). Totals are multiples of 2.5, so float comparison is exact.

    >>> classify_tis([19.5, 20, 40, 60]).tolist()
    ['none', 'minimal', 'moderate', 'major']
    """
    if population not in TIS_THRESHOLDS:
        raise SpecError(f"TIS: population must be one of {', '.join(TIS_THRESHOLDS)}; got {population!r}")
    t = _col(total)
    idx = np.searchsorted(np.asarray(TIS_THRESHOLDS[population], dtype=float), t, side="right")
    cat = np.asarray(TIS_CATEGORIES, dtype=object)[idx]
    cat[np.isnan(t)] = None
    return cat


_TIS_RANGES = {
    "physician_global": ("0-10", 0, 10), "patient_global": ("0-10", 0, 10), "mmt8": ("points", 0, 150),
    "haq_di": ("points (0-3)", 0, 3), "enzyme": ("U/L", 0, None), "extramuscular": ("0-10", 0, 10),
}


@instrument(
    name="TIS", version="2016 ACR/EULAR myositis response criteria (Total Improvement Score)",
    citation="Aggarwal R et al. Arthritis Rheumatol 2017;69:898-910 (adult); Rider LG et al. Arthritis "
             "Rheumatol 2017;69:911-23 (juvenile)",
    unit="points", output_range=(0, 100),
    inputs=tuple(Input(f"{m}_{when}", "float", f"{label} at {when}", _TIS_RANGES[m][0], _TIS_RANGES[m][1],
                       _TIS_RANGES[m][2]) for m, label, _hb in TIS_MEASURES for when in ("baseline", "followup")),
    options={"baseline_zero": "error", "population": "adult"},
)
def compute_tis(*, physician_global_baseline: Any, physician_global_followup: Any, patient_global_baseline: Any,
                patient_global_followup: Any, mmt8_baseline: Any, mmt8_followup: Any, haq_di_baseline: Any,
                haq_di_followup: Any, enzyme_baseline: Any, enzyme_followup: Any, extramuscular_baseline: Any,
                extramuscular_followup: Any, baseline_zero: str = "error",
                population: str = "adult") -> TisResult:
    """2016 ACR/EULAR Total Improvement Score (0-100) and improvement category.

    Sum of the points of the six core set measures (:func:`tis_measure_points`): physician global,
    patient global, MMT-8 (either scale, the same at both visits), HAQ-DI, the muscle enzyme most
    abnormal at baseline (CK, aldolase, LDH, ALT or AST; same enzyme at follow-up) and
    extramuscular activity.

    Parameters
    ----------
    baseline_zero : {"error", "zero"}
        Convention for a measure whose baseline is 0 (default ``"error"``).
    population : {"adult", "juvenile"}
        Thresholds for the category: adult 20/40/60, juvenile 30/45/70.

    Examples
    --------
    INSTRUMENTS.md worked example (MMT-8 on 0-150):

    >>> r = compute_tis(physician_global_baseline=[6], physician_global_followup=[3],
    ...                 patient_global_baseline=[7], patient_global_followup=[5],
    ...                 mmt8_baseline=[110], mmt8_followup=[130], haq_di_baseline=[1.5], haq_di_followup=[1.0],
    ...                 enzyme_baseline=[3000], enzyme_followup=[600],
    ...                 extramuscular_baseline=[4], extramuscular_followup=[2])
    >>> r.total.tolist(), r.category.tolist()
    ([82.5], ['major'])
    """
    if population not in TIS_THRESHOLDS:
        raise SpecError(f"TIS: population must be one of {', '.join(TIS_THRESHOLDS)}; got {population!r}")
    values = {
        "physician_global": (physician_global_baseline, physician_global_followup),
        "patient_global": (patient_global_baseline, patient_global_followup),
        "mmt8": (mmt8_baseline, mmt8_followup),
        "haq_di": (haq_di_baseline, haq_di_followup),
        "enzyme": (enzyme_baseline, enzyme_followup),
        "extramuscular": (extramuscular_baseline, extramuscular_followup),
    }
    parts = [tis_measure_points(m, b, f, baseline_zero=baseline_zero) for m, (b, f) in values.items()]
    total = np.sum(np.broadcast_arrays(*parts), axis=0)
    return TisResult(total, classify_tis(total, population))


__all__ = [
    "MMT8_INPUTS", "MMT8_PAIRED", "TIS_CATEGORIES", "TIS_CUTS", "TIS_POINTS", "TIS_THRESHOLDS", "TisResult",
    "classify_tis", "compute_mmt8", "compute_tis", "tis_measure_points",
]
