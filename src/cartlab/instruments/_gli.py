"""FVC reference values: GLI-2012 and race-neutral GLI Global 2022, through ``pyspiro``.

cartlab does not carry the GLI look-up tables itself: ``pyspiro`` (>= 1.0.0, MIT licence, tables
shipped in the wheel, no network access) evaluates the LMS model (age splines at 0.25-year nodes,
linearly interpolated to the exact age). This module only fixes the interface: sex, age, height,
FVC and the equation name in; predicted median, LLN, % predicted and z-score out.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from pyspiro import BOWERMAN_2022, GLI_2012

from .._core.errors import DataValidationError, SpecError
from ._registry import Input, instrument

FVC_EQUATIONS = ("GLI-2012", "GLI-Global-2022")
#: GLI-2012 ethnic groups and pyspiro's codes for them (GLI Global 2022 has none).
GLI2012_GROUPS = {"caucasian": 1, "african_american": 2, "north_east_asian": 3, "south_east_asian": 4,
                  "other": 5}
_AGE_RANGE = (3.0, 95.0)
_FVC = 2  # pyspiro Parameters.FVC in both classes
_Z95 = 1.645  # LLN = 5th centile, as GLI defines it


class FvcReference(NamedTuple):
    """Per row: predicted median ``predicted_l`` (L), ``lln_l`` (L), ``percent_predicted`` (%),
    ``zscore``, and the ``equation`` used."""

    predicted_l: np.ndarray
    lln_l: np.ndarray
    percent_predicted: np.ndarray
    zscore: np.ndarray
    equation: str


def _sex_code(v: Any, k: int) -> int:
    s = str(v).strip().upper()
    if s in ("F", "FEMALE", "0"):
        return 0
    if s in ("M", "MALE", "1"):
        return 1
    raise DataValidationError(f"FVC reference input 'sex' row {k}: got {v!r}, expected F or M")


@instrument(
    name="FVC % predicted", version="GLI-2012 or GLI Global 2022 (via pyspiro >= 1.0.0)",
    citation="Quanjer PH et al. Eur Respir J 2012;40:1324-43 (GLI-2012); Bowerman C et al. Am J Respir "
             "Crit Care Med 2023;207:768-74 (GLI Global 2022, race-neutral)",
    unit="%", output_range=(0, 300),
    inputs=(
        Input("sex", "category", "sex at birth", categories=("F", "M")),
        Input("age_years", "float", "age (decimal years)", "years", 3, 95),
        Input("height_cm", "float", "standing height", "cm", 50, 250),
        Input("fvc_l", "float", "forced vital capacity (best of acceptable manoeuvres)", "L", 0, 15,
              optional=True),
        Input("equation", "category", "reference equation", categories=FVC_EQUATIONS),
    ),
    options={"gli2012_group": "caucasian"},
)
def compute_fvc_reference(*, sex: Any, age_years: Any, height_cm: Any, equation: Any, fvc_l: Any = None,
                          gli2012_group: str = "caucasian") -> FvcReference:
    """FVC predicted median, lower limit of normal, % predicted and z-score (GLI LMS model).

    ``% predicted = 100 FVC / M``; ``z = ((FVC / M)^L - 1) / (L S)``;
    ``LLN = M (1 - 1.645 L S)^(1/L)``, with (L, M, S) from ``pyspiro`` (``GLI_2012().lms`` or
    ``BOWERMAN_2022().lms``, parameter FVC).

    Parameters
    ----------
    sex : array_like of "F"/"M"
    age_years : array_like
        Decimal age, 3-95 years (outside: DataValidationError).
    height_cm : array_like
    equation : str or array_like of str
        ``"GLI-2012"`` or ``"GLI-Global-2022"`` (one per row or one for all). Record which one a
        study uses: % predicted differs between them.
    fvc_l : array_like, optional
        Measured FVC (L); without it ``percent_predicted`` and ``zscore`` are NaN.
    gli2012_group : str
        GLI-2012 ethnic group (caucasian, african_american, north_east_asian, south_east_asian,
        other); default ``"caucasian"``. Ignored by the race-neutral GLI Global 2022.

    Examples
    --------
    INSTRUMENTS.md worked example (GLI-2012, female, 40 y, 170 cm):

    >>> r = compute_fvc_reference(sex=["F"], age_years=[40], height_cm=[170], equation="GLI-2012")
    >>> round(float(r.predicted_l[0]), 4), round(float(r.lln_l[0]), 4)
    (4.075, 3.2504)
    """
    if gli2012_group not in GLI2012_GROUPS:
        raise SpecError(f"FVC reference: gli2012_group must be one of {', '.join(GLI2012_GROUPS)}; "
                        f"got {gli2012_group!r}")
    age = np.asarray(age_years, dtype=float).reshape(-1)
    n = age.size
    height = np.broadcast_to(np.asarray(height_cm, dtype=float).reshape(-1), (n,))
    sexes = np.broadcast_to(np.asarray(sex, dtype=object).reshape(-1), (n,))
    eqs = np.broadcast_to(np.asarray(equation, dtype=object).reshape(-1), (n,))
    fvc = (np.full(n, np.nan) if fvc_l is None
           else np.broadcast_to(np.asarray(fvc_l, dtype=float).reshape(-1), (n,)))
    lms = np.full((n, 3), np.nan)
    models = {"GLI-2012": GLI_2012(), "GLI-Global-2022": BOWERMAN_2022()}
    group = GLI2012_GROUPS[gli2012_group]
    for k in range(n):
        if eqs[k] not in models:
            raise DataValidationError(f"FVC reference input 'equation' row {k}: got {eqs[k]!r}, expected one of "
                                      f"{', '.join(FVC_EQUATIONS)}")
        if not _AGE_RANGE[0] <= age[k] <= _AGE_RANGE[1]:
            raise DataValidationError(f"FVC reference input 'age_years' row {k}: got {age[k]!r}, expected "
                                      f"{_AGE_RANGE[0]:g} to {_AGE_RANGE[1]:g} years (GLI range)")
        sx = _sex_code(sexes[k], k)
        if eqs[k] == "GLI-2012":
            res = models["GLI-2012"].lms(sx, float(age[k]), float(height[k]), group, _FVC, 0.0)
        else:
            res = models["GLI-Global-2022"].lms(sx, float(age[k]), float(height[k]), _FVC, 0.0)
        lms[k] = [np.nan if v is None or str(v) == "<NA>" else float(v) for v in res]
    lam, m, s = lms.T
    lln = m * (1.0 - _Z95 * lam * s) ** (1.0 / lam)
    pct = 100.0 * fvc / m
    z = ((fvc / m) ** lam - 1.0) / (lam * s)
    label = str(eqs[0]) if n and (eqs == eqs[0]).all() else "mixed"
    return FvcReference(m, lln, pct, z, label)


__all__ = ["FVC_EQUATIONS", "GLI2012_GROUPS", "FvcReference", "compute_fvc_reference"]
