"""CTCAE haematology grades, with the criteria kept as versioned data.

Source: National Cancer Institute. Common Terminology Criteria for Adverse Events (CTCAE) v5.0,
27 Nov 2017; "Investigations" (neutrophil, platelet, lymphocyte, white blood cell count
decreased) and "Blood and lymphatic system disorders" (anaemia). A band written "< a – b" holds
values with b ≤ value < a, so a value equal to a cut-off takes the milder grade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .._core.errors import DataValidationError, SpecError
from ._registry import Input, instrument

CTCAE_V5 = ("National Cancer Institute. Common Terminology Criteria for Adverse Events (CTCAE) version 5.0, "
            "US DHHS, 27 Nov 2017")

#: grade codes that are not grades
MISSING = -1  #: no value
GRADE_0_OR_1 = -2  #: at or above the grade-2 cut-off but no LLN given, so 0 and 1 cannot be told apart

LLN = "LLN"  # marker for "the lower limit of normal" as an upper cut-off


@dataclass(frozen=True, slots=True)
class Criterion:
    """One CTCAE band: ``test`` has grade ``grade`` when ``lower ≤ value < upper`` (in ``unit``).

    ``lower`` ``None`` means no lower bound; ``upper`` ``"LLN"`` means the patient's lower limit
    of normal.
    """

    version: str
    test: str
    term: str
    grade: int
    lower: float | None
    upper: float | str
    unit: str


def _bands(version: str, test: str, term: str, unit: str, cuts: tuple[float, ...]) -> tuple[Criterion, ...]:
    uppers: list[float | str] = [LLN, *cuts]
    lowers: list[float | None] = [*cuts, None]
    return tuple(Criterion(version, test, term, g + 1, lo, up, unit) for g, (lo, up) in enumerate(zip(lowers, uppers)))


#: CTCAE v5.0 haematology criteria (the grade-4 anaemia criterion is clinical, not numeric)
CRITERIA_V5_0: tuple[Criterion, ...] = (
    *_bands("5.0", "NEUT", "Neutrophil count decreased", "10^9/L", (1.5, 1.0, 0.5)),
    *_bands("5.0", "PLAT", "Platelet count decreased", "10^9/L", (75.0, 50.0, 25.0)),
    *_bands("5.0", "LYM", "Lymphocyte count decreased", "10^9/L", (0.8, 0.5, 0.2)),
    *_bands("5.0", "WBC", "White blood cell decreased", "10^9/L", (3.0, 2.0, 1.0)),
    *_bands("5.0", "HGB", "Anemia", "g/dL", (10.0, 8.0)),
)

CRITERIA: dict[str, tuple[Criterion, ...]] = {"5.0": CRITERIA_V5_0}

#: accepted units and the factor to each test's criterion unit
_UNITS = {
    "10^9/L": ("10^9/L", 1.0), "10^3/uL": ("10^9/L", 1.0), "/uL": ("10^9/L", 1e-3), "cells/uL": ("10^9/L", 1e-3),
    "g/dL": ("g/dL", 1.0), "g/L": ("g/dL", 0.1),
}

#: decimal places values are rounded to before comparing with cut-offs, so that a value entered
#: as, or converted to, exactly a cut-off compares equal to it despite binary floating point
_EXACT_DECIMALS = 9


def ctcae_criteria(version: str = "5.0") -> pl.DataFrame:
    """The criteria table of a CTCAE ``version`` as a data frame (one row per test and grade).

    >>> ctcae_criteria().filter(pl.col("test") == "NEUT").select("grade", "lower", "upper").rows()
    [(1, 1.5, 'LLN'), (2, 1.0, '1.5'), (3, 0.5, '1.0'), (4, None, '0.5')]
    """
    rows = _criteria(version)
    return pl.DataFrame({"version": [c.version for c in rows], "test": [c.test for c in rows],
                         "term": [c.term for c in rows], "grade": [c.grade for c in rows],
                         "lower": [c.lower for c in rows], "upper": [str(c.upper) for c in rows],
                         "unit": [c.unit for c in rows]})


def _criteria(version: str) -> tuple[Criterion, ...]:
    try:
        return CRITERIA[version]
    except KeyError:
        raise SpecError(f"CTCAE version {version!r} is not available; known: {', '.join(CRITERIA)}") from None


@instrument(
    name="CTCAE-HAEM", version="5.0", citation=CTCAE_V5, unit="grade", output_range=(-2, 4),
    description="CTCAE v5.0 grade of a low blood count (neutrophils, platelets, lymphocytes, WBC, haemoglobin)",
    inputs=(
        Input("test", "category", "CDISC LBTESTCD of the count", categories=("NEUT", "PLAT", "LYM", "WBC", "HGB")),
        Input("value", "float", "the result (10^9/L for counts, g/dL for haemoglobin)", "10^9/L or g/dL", low=0.0),
        Input("lln", "float", "lower limit of normal, same unit; missing: grades 0 and 1 undetermined",
              "10^9/L or g/dL", low=0.0, optional=True),
    ),
    cdisc=("NEUT", "PLAT", "LYM", "WBC", "HGB"),
    options={"version": "5.0", "unit": None, "without_lln": "undetermined"},
)
def grade_ctcae(test, value, lln=None, *, unit: str | None = None, version: str = "5.0",
                without_lln: str = "undetermined") -> np.ndarray:
    """CTCAE grade of a low count, vectorised over ``test``, ``value`` and ``lln``.

    Parameters
    ----------
    test : str or array of str
        ``NEUT``, ``PLAT``, ``LYM``, ``WBC`` or ``HGB``.
    value, lln : float or array
        The result and the lower limit of normal in ``unit`` (default: the criterion unit, 10^9/L
        for counts and g/dL for haemoglobin; ``/uL``, ``cells/uL``, ``10^3/uL`` and ``g/L`` are
        converted). A missing value grades :data:`MISSING` (-1).
    without_lln : {"undetermined", "raise"}
        What to do with a value at or above the grade-2 cut-off when ``lln`` is missing: return
        :data:`GRADE_0_OR_1` (-2, default), or raise :class:`DataValidationError`.

    Returns
    -------
    int8 array of grades 0–4 (anaemia 0–3: grade 4 is clinical) or the codes above.

    >>> grade_ctcae("NEUT", [1.8, 1.5, 1.49, 1.0, 0.5, 0.49], 1.8).tolist()
    [0, 1, 2, 2, 3, 4]
    >>> grade_ctcae("PLAT", [120.0, 40.0], None).tolist()
    [-2, 3]
    """
    if without_lln not in ("undetermined", "raise"):
        raise SpecError(f"grade_ctcae: without_lln must be 'undetermined' or 'raise'; got {without_lln!r}")
    rows = _criteria(version)
    t = np.asarray(test)
    v = np.asarray(value, dtype=float)
    ll = np.full((), np.nan) if lln is None else np.asarray(lln, dtype=float)
    shape = np.broadcast_shapes(t.shape, v.shape, ll.shape)
    t, v, ll = (np.broadcast_to(a, shape) for a in (t, v, ll))
    out = np.full(shape, MISSING, dtype=np.int8)
    for code in np.unique(t).tolist():
        bands = [c for c in rows if c.test == code]
        if not bands:
            raise DataValidationError(f"grade_ctcae: test {code!r} has no CTCAE {version} criteria; known: "
                                      f"{', '.join(sorted({c.test for c in rows}))}")
        sel = t == code
        factor = 1.0
        if unit is not None:
            target, factor = _UNITS.get(unit, (None, 1.0))
            if target != bands[0].unit:
                raise DataValidationError(f"grade_ctcae: unit {unit!r} cannot be converted to {bands[0].unit} "
                                          f"for test {code}")
        x = np.round(v[sel] * factor, _EXACT_DECIMALS)
        lo_normal = np.round(ll[sel] * factor, _EXACT_DECIMALS)
        g = np.zeros(x.shape, dtype=np.int8)
        for c in sorted(bands, key=lambda c: c.grade):
            upper = lo_normal if c.upper == LLN else float(c.upper)
            g = np.where(x < upper, np.int8(c.grade), g)  # NaN LLN: grade 1 never assigned here
        grade2_cut = next(float(c.upper) for c in bands if c.grade == 2)
        undetermined = np.isnan(lo_normal) & (x >= grade2_cut)
        if without_lln == "raise" and undetermined.any():
            k = int(np.flatnonzero(sel.reshape(-1))[np.argmax(undetermined.reshape(-1))])
            got = float(v.reshape(-1)[k])
            raise DataValidationError(f"grade_ctcae: {code} row {k}: value {got} is at or above the grade-2 "
                                      f"cut-off {grade2_cut} but no LLN was given; expected an lln")
        g = np.where(undetermined, np.int8(GRADE_0_OR_1), g)
        out[sel] = np.where(np.isnan(x), np.int8(MISSING), g)
    return out
