"""Bayesian optimal interval (BOIN) design for single-agent dose finding.

Liu S, Yuan Y. Bayesian optimal interval designs for phase I clinical trials. J R Stat Soc Ser C
Appl Stat 2015; 64(3):507-523. Conventions (defaults phi1 = 0.6 phi, phi2 = 1.4 phi, elimination
cutoff 0.95 with a beta(1, 1) prior and n >= 3, isotonic selection) follow the authors' R package
BOIN (Yan F, Pan H, Zhang L, Liu S, Yuan Y; ``get.boundary``, ``select.mtd``).

The array kernels (``_boin_thresholds``, ``_boin_move``, ``_boin_select``) work on many trials at
once; :func:`boin_next_decision` and :func:`boin_select_mtd` call them with one trial, so a single
decision and a simulated trial follow exactly the same rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats

from .._core.errors import DataValidationError, SpecError
from ._outcomes import Cohort, Decision, as_cohorts, tally_outcomes


@dataclass(frozen=True, slots=True)
class BoinBoundaries:
    """BOIN escalation (``lambda_e``) and de-escalation (``lambda_d``) boundaries on the observed DLT
    rate y/n, with the design parameters they come from."""

    target: float
    phi1: float
    phi2: float
    lambda_e: float
    lambda_d: float
    cutoff_eli: float = 0.95

    def decision_table(self, n_max: int) -> pl.DataFrame:
        """Integer decision rules for n = 1 … ``n_max`` patients treated at the current dose.

        Columns: ``n``; ``escalate_if_dlt_le`` (escalate if y <= this); ``deescalate_if_dlt_ge``
        (de-escalate if y >= this; null if no y <= n qualifies); ``eliminate_if_dlt_ge`` (eliminate
        this dose and higher if y >= this; null for n < 3 or when no y <= n qualifies).

        Examples
        --------
        >>> boin_boundaries(0.3).decision_table(6)["escalate_if_dlt_le"].to_list()
        [0, 0, 0, 0, 1, 1]
        """
        if not isinstance(n_max, (int, np.integer)) or n_max < 1:
            raise SpecError(f"n_max must be an integer >= 1; got {n_max!r}")
        esc, de, eli = _boin_thresholds(self, int(n_max))
        ns = np.arange(1, n_max + 1)

        def col(a: np.ndarray) -> list[int | None]:
            return [int(v) if v <= n else None for v, n in zip(a[1:], ns, strict=True)]

        return pl.DataFrame({"n": ns.tolist(), "escalate_if_dlt_le": esc[1:].tolist(),
                             "deescalate_if_dlt_ge": col(de), "eliminate_if_dlt_ge": col(eli)},
                            schema={"n": pl.Int64, "escalate_if_dlt_le": pl.Int64,
                                    "deescalate_if_dlt_ge": pl.Int64, "eliminate_if_dlt_ge": pl.Int64})


def boin_boundaries(target: float, *, phi1: float | None = None, phi2: float | None = None,
                    cutoff_eli: float = 0.95) -> BoinBoundaries:
    """BOIN boundaries for a target DLT probability.

    lambda_e = log((1 - phi1) / (1 - phi)) / log(phi (1 - phi1) / (phi1 (1 - phi))),
    lambda_d = log((1 - phi) / (1 - phi2)) / log(phi2 (1 - phi) / (phi (1 - phi2))),
    with phi the target, phi1 = 0.6 phi and phi2 = 1.4 phi unless given (Liu & Yuan 2015, eq. 2).

    Parameters
    ----------
    target
        Target DLT probability phi, 0 < phi < 1.
    phi1, phi2
        Highest probability deemed sub-therapeutic and lowest deemed overly toxic,
        0 < phi1 < phi < phi2 < 1.
    cutoff_eli
        Posterior probability P(p > phi | y, n) above which a dose is eliminated (0.5 to 1).

    Examples
    --------
    >>> b = boin_boundaries(0.3)
    >>> round(b.lambda_e, 4), round(b.lambda_d, 4)
    (0.2365, 0.3585)
    """
    phi = _check_prob(target, "target")
    p1 = 0.6 * phi if phi1 is None else _check_prob(phi1, "phi1")
    p2 = 1.4 * phi if phi2 is None else _check_prob(phi2, "phi2")
    if not p1 < phi < p2:
        raise SpecError(f"BOIN needs 0 < phi1 < target < phi2 < 1; got phi1={p1:g}, target={phi:g}, phi2={p2:g}")
    if p2 >= 1:
        raise SpecError(f"phi2 = 1.4 x target must be < 1; got {p2:g} (give phi2 explicitly or lower the target)")
    if not isinstance(cutoff_eli, (int, float)) or not 0.5 <= cutoff_eli < 1:
        raise SpecError(f"cutoff_eli must be in [0.5, 1); got {cutoff_eli!r}")
    lam_e = math.log((1 - p1) / (1 - phi)) / math.log(phi * (1 - p1) / (p1 * (1 - phi)))
    lam_d = math.log((1 - phi) / (1 - p2)) / math.log(p2 * (1 - phi) / (phi * (1 - p2)))
    return BoinBoundaries(phi, p1, p2, lam_e, lam_d, float(cutoff_eli))


def boin_next_decision(outcomes: str | tuple[Cohort, ...] | list[Cohort], n_doses: int, target: float, *,
                       phi1: float | None = None, phi2: float | None = None,
                       cutoff_eli: float = 0.95) -> Decision:
    """BOIN decision for the next cohort, given the outcomes so far.

    The current dose is that of the last cohort. Doses whose data meet the elimination rule
    (n >= 3 and P(p > target | y, n) > ``cutoff_eli`` under a beta(1, 1) prior) are closed with all
    higher doses; if dose 1 is closed the trial stops. Otherwise, at the current dose: escalate if
    y/n <= lambda_e (stay if already at the top or the next dose is closed), de-escalate if
    y/n >= lambda_d or the dose was just eliminated (stay at dose 1), stay otherwise. An empty
    history starts at dose 1.

    Examples
    --------
    >>> d = boin_next_decision("1NNN 2NTN", n_doses=5, target=0.3)
    >>> d.action, d.next_dose
    ('stay', 2)
    >>> boin_next_decision("1NNN 2TTT", 5, 0.3).eliminated_from
    2
    """
    n_doses = _check_n_doses(n_doses)
    b = boin_boundaries(target, phi1=phi1, phi2=phi2, cutoff_eli=cutoff_eli)
    cohorts = as_cohorts(outcomes, n_doses)
    if not cohorts:
        return Decision("BOIN", "escalate", 1, None, 0, 0, "no patient treated yet: start at dose level 1")
    n, y = tally_outcomes(cohorts, n_doses)
    cur = cohorts[-1].dose - 1
    esc, de, eli = _boin_thresholds(b, int(n.max()))
    elim = _boin_eliminated(n[None, :], y[None, :], eli)
    nxt, stop = _boin_move(n[None, :], y[None, :], np.array([cur]), elim, esc, de)
    first_elim = int(np.argmax(elim[0])) + 1 if elim[0].any() else None
    nc, yc = int(n[cur]), int(y[cur])
    rate = f"{yc}/{nc} = {yc / nc:.3f}"
    if stop[0]:
        return Decision("BOIN", "stop", None, cur + 1, nc, yc,
                        f"dose level 1 is eliminated (P(p > {b.target:g} | data) > {b.cutoff_eli:g}): "
                        "stop the trial, no dose selected", first_elim)
    k = int(nxt[0])
    if elim[0, cur]:
        why = f"dose level {cur + 1} eliminated at {rate}: P(p > {b.target:g} | data) > {b.cutoff_eli:g}"
    elif yc / nc <= b.lambda_e:
        why = f"{rate} <= lambda_e = {b.lambda_e:.4f}"
        if k == cur:
            why += " but dose level " + (f"{cur + 2} is eliminated" if cur + 1 < n_doses else f"{cur + 1} is the highest")
    elif yc / nc >= b.lambda_d:
        why = f"{rate} >= lambda_d = {b.lambda_d:.4f}" + (" but dose level 1 is the lowest" if k == cur else "")
    else:
        why = f"lambda_e = {b.lambda_e:.4f} < {rate} < lambda_d = {b.lambda_d:.4f}"
    action = "escalate" if k > cur else "de-escalate" if k < cur else "stay"
    return Decision("BOIN", action, k + 1, cur + 1, nc, yc, why, first_elim)


#: The name the design brief uses; identical to :func:`boin_next_decision`.
next_decision = boin_next_decision


def boin_select_mtd(n: np.ndarray, y: np.ndarray, target: float, *, cutoff_eli: float = 0.95) -> int | None:
    """Dose level (1-based) BOIN selects as the MTD at the end of a trial, or None.

    Among tried doses below the lowest eliminated one, the DLT probability is estimated by
    weighted isotonic regression (pool-adjacent-violators) of (y + 0.05) / (n + 0.1) with weights
    1 / var, var = (y + 0.05)(n - y + 0.05) / ((n + 0.1)^2 (n + 1.1)) (as in the BOIN package's
    ``select.mtd``); the dose whose estimate is closest to the target is chosen, the lower one on
    ties. None if no dose is admissible (dose level 1 eliminated or nobody treated).

    Examples
    --------
    >>> boin_select_mtd([3, 6, 9, 3, 0], [0, 1, 3, 2, 0], target=0.3)
    3
    """
    n_arr = np.asarray(n, dtype=np.int64)
    y_arr = np.asarray(y, dtype=np.int64)
    if n_arr.ndim != 1 or n_arr.shape != y_arr.shape or n_arr.size == 0:
        raise DataValidationError(f"n and y must be 1-D arrays of the same length >= 1; got shapes "
                                  f"{n_arr.shape} and {y_arr.shape}")
    if (n_arr < 0).any() or (y_arr < 0).any() or (y_arr > n_arr).any():
        raise DataValidationError(f"need 0 <= y <= n at every dose; got n={n_arr.tolist()}, y={y_arr.tolist()}")
    b = boin_boundaries(target, cutoff_eli=cutoff_eli)
    _, _, eli = _boin_thresholds(b, max(int(n_arr.max()), 1))
    elim = _boin_eliminated(n_arr[None, :], y_arr[None, :], eli)
    sel = _boin_select(n_arr[None, :], y_arr[None, :], elim, b.target)[0]
    return None if sel < 0 else int(sel) + 1


# ---------------------------------------------------------------------------------------------
# Array kernels (trials along axis 0, dose levels along axis 1; 0-based doses)


def _boin_thresholds(b: BoinBoundaries, n_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per n = 0 … n_max: largest y that escalates, smallest y that de-escalates and smallest y that
    eliminates (n_max + 1 where none does). Index 0 is a placeholder."""
    esc = np.zeros(n_max + 1, dtype=np.int64)
    de = np.full(n_max + 1, n_max + 1, dtype=np.int64)
    eli = np.full(n_max + 1, n_max + 1, dtype=np.int64)
    for n in range(1, n_max + 1):
        ys = np.arange(n + 1)
        rate = ys / n
        esc[n] = ys[rate <= b.lambda_e].max()
        hit = ys[rate >= b.lambda_d]
        if hit.size:
            de[n] = hit.min()
        if n >= 3:
            post = stats.beta.sf(b.target, ys + 1, n - ys + 1)  # beta(1, 1) prior
            hit = ys[post > b.cutoff_eli]
            if hit.size:
                eli[n] = hit.min()
    return esc, de, eli


def _boin_eliminated(n: np.ndarray, y: np.ndarray, eli: np.ndarray) -> np.ndarray:
    """Closed doses: any dose meeting the elimination rule, and every dose above it."""
    hit = (n >= 3) & (y >= eli[n])
    return np.logical_or.accumulate(hit, axis=1)


def _boin_move(n: np.ndarray, y: np.ndarray, cur: np.ndarray, elim: np.ndarray, esc: np.ndarray,
               de: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Next dose and stop flag after the last cohort at ``cur`` (elimination already applied)."""
    rows = np.arange(cur.size)
    n_doses = n.shape[1]
    nc, yc = n[rows, cur], y[rows, cur]
    up_dose = np.minimum(cur + 1, n_doses - 1)
    up = (yc <= esc[nc]) & (cur + 1 < n_doses) & ~elim[rows, up_dose]
    down = ((yc >= de[nc]) | elim[rows, cur]) & (cur > 0)
    nxt = cur + up.astype(np.int64) - down.astype(np.int64)
    return nxt, elim[:, 0].copy()


def _boin_select(n: np.ndarray, y: np.ndarray, elim: np.ndarray, target: float) -> np.ndarray:
    """Selected dose per trial (0-based, -1 for none), by weighted isotonic regression."""
    ok = (n > 0) & ~elim
    nf, yf = n.astype(np.float64), y.astype(np.float64)
    phat = (yf + 0.05) / (nf + 0.1)
    var = (yf + 0.05) * (nf - yf + 0.05) / ((nf + 0.1) ** 2 * (nf + 1.1))
    w = np.where(ok, 1.0 / var, 0.0)
    fit = _isotonic_minmax(phat, w)
    dist = np.where(ok, np.round(np.abs(fit - target), 12), np.inf)
    sel = np.argmin(dist, axis=1)  # first minimum: the lower dose on ties
    return np.where(ok.any(axis=1), sel, -1)


def _isotonic_minmax(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted non-decreasing isotonic regression of each row (zero weight = left out).

    Uses the max-min representation fit_i = max_{j <= i} min_{k >= i} Av(j..k) of the
    pool-adjacent-violators solution, which vectorises over rows for the few doses of a trial.
    Entries with zero weight get an arbitrary value.
    """
    rows, d = v.shape
    cw = np.concatenate([np.zeros((rows, 1)), np.cumsum(w, axis=1)], axis=1)
    cwv = np.concatenate([np.zeros((rows, 1)), np.cumsum(w * v, axis=1)], axis=1)
    den = cw[:, None, 1:] - cw[:, :-1, None]  # [row, j, k]: weight of doses j..k
    num = cwv[:, None, 1:] - cwv[:, :-1, None]
    jj, kk = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
    valid = (kk >= jj)[None] & (den > 0)
    av = np.divide(num, den, out=np.full_like(num, np.inf), where=valid)
    fit = np.empty_like(v)
    for i in range(d):
        inner = av[:, : i + 1, i:].min(axis=2)  # min over k >= i, for each j <= i
        inner = np.where(np.isfinite(inner), inner, -np.inf)
        fit[:, i] = inner.max(axis=1)
    return fit


def _check_prob(p: float, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 < float(p) < 1:
        raise SpecError(f"{name} must be a probability strictly between 0 and 1; got {p!r}")
    return float(p)


def _check_n_doses(n_doses: int) -> int:
    if isinstance(n_doses, bool) or not isinstance(n_doses, (int, np.integer)) or n_doses < 1:
        raise SpecError(f"n_doses must be an integer >= 1; got {n_doses!r}")
    return int(n_doses)


__all__ = ["BoinBoundaries", "boin_boundaries", "boin_next_decision", "boin_select_mtd", "next_decision"]
