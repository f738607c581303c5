"""Shared pieces of the ADaM derivations: column checks, the Day 0 time axis, exact intervals."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl
from scipy import stats

from .._core.errors import DataValidationError

#: MedDRA preferred terms the report reads (DESIGN.md, "Contracts")
CRS_TERM = "Cytokine release syndrome"
ICANS_TERM = "Immune effector cell-associated neurotoxicity syndrome"
NEUTROPENIA_TERM = "Neutrophil count decreased"
THROMBOCYTOPENIA_TERM = "Platelet count decreased"
#: MedDRA system organ class of infections
INFECTION_SOC = "Infections and infestations"

FINDINGS_SCHEMA = {"DATASET": pl.String, "USUBJID": pl.String, "DY": pl.Int64, "TESTCD": pl.String,
                   "REASON": pl.String}


def require(df: pl.DataFrame, domain: str, columns: Iterable[str]) -> None:
    """Raise :class:`DataValidationError` naming the domain and the missing columns.

    >>> require(pl.DataFrame({"USUBJID": ["a"]}), "DM", ["USUBJID", "ARMCD"])
    Traceback (most recent call last):
    ...
    cartlab._core.errors.DataValidationError: DM: column ARMCD is missing (columns present: USUBJID); ...
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{domain}: column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"{'are' if len(missing) > 1 else 'is'} missing (columns present: {', '.join(df.columns) or 'none'}); "
            "the ADaM derivations need the CDISC SDTM variables")


def day_from_infusion(dy: pl.Expr) -> pl.Expr:
    """SDTM study day (infusion = Day 1, no Day 0) -> days from infusion (infusion = 0), as Float64.

    DESIGN.md: ``--DY`` has no day 0; ``AFRLT`` counts the infusion as 0, so Day 1 -> 0,
    Day 8 -> 7, and pre-infusion days keep their value (Day -1 -> -1).

    >>> pl.select(day_from_infusion(pl.lit(pl.Series([1, 8, -1, -28])))).to_series().to_list()
    [0.0, 7.0, -1.0, -28.0]
    """
    return pl.when(dy >= 1).then(dy - 1).otherwise(dy).cast(pl.Float64)


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDINGS_SCHEMA)


def tag_findings(findings: pl.DataFrame, dataset: str) -> pl.DataFrame:
    """Instrument findings (``USUBJID, DY, TESTCD, REASON``) with the ADaM dataset that met them."""
    if findings.height == 0:
        return empty_findings()
    return findings.select(pl.lit(dataset).alias("DATASET"), pl.col("USUBJID"), pl.col("DY").cast(pl.Int64),
                           pl.col("TESTCD"), pl.col("REASON"))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) confidence interval of a binomial proportion, as fractions.

    Clopper CJ, Pearson ES. Biometrika 1934;26:404-13; the beta-quantile form
    ``[B(a/2; k, n-k+1), B(1-a/2; k+1, n-k)]``, 0 and 1 at the ends.

    >>> [round(x, 4) for x in clopper_pearson(8, 13)]
    [0.3158, 0.8614]
    """
    if n <= 0:
        return float("nan"), float("nan")
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def km_median(durations: np.ndarray, observed: np.ndarray) -> float:
    """Kaplan–Meier median of right-censored times (NaN when the curve never reaches 0.5).

    The median is the first event time at which the product-limit estimate falls to 0.5 or
    below (the convention of ``cartlab.trial.km_median``, so report and run summary agree; R
    ``survival`` instead takes the midpoint when the curve sits exactly at 0.5).

    >>> km_median(np.array([3.0, 5.0, 7.0, 9.0]), np.array([True, True, True, True]))
    5.0
    """
    order = np.lexsort((~observed.astype(bool), durations))
    t, e = durations[order], observed.astype(bool)[order]
    s = 1.0
    at_risk = len(t)
    for k in range(len(t)):
        if e[k]:
            s *= 1.0 - 1.0 / at_risk
            if s <= 0.5 + 1e-12:
                return float(t[k])
        at_risk -= 1
    return float("nan")
