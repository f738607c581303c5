"""Operating characteristics of dose-escalation designs by simulation.

Many trials are simulated at once (arrays with trials along axis 0), with the same array kernels
the single-trial decision functions use. Trial ``i`` draws its patients' outcomes from its own
generator, seeded by ``SeedSequence(seed, spawn_key=(i,))`` (the ``i``-th child of
``SeedSequence(seed).spawn``), so a trial's result depends only on the seed and its index, never on
the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .._core.errors import SpecError
from ._boin import _boin_eliminated, _boin_move, _boin_select, _boin_thresholds, _check_n_doses, boin_boundaries
from ._threeplus3 import COHORT_SIZE, _tpt_move

DESIGNS = ("boin", "3+3")


@dataclass(frozen=True, slots=True, eq=False)
class OperatingCharacteristics:
    """Simulated operating characteristics of a design under true DLT probabilities.

    Attributes
    ----------
    p_select
        Probability of selecting each dose level as the MTD (sums with ``p_no_selection`` to 1).
    p_no_selection
        Probability that no dose is selected.
    p_early_stop
        Probability that the trial stopped for toxicity before its maximum sample size (BOIN:
        dose level 1 eliminated; 3+3: dose level 1 too toxic). A 3+3 trial that declares an MTD
        is not counted.
    mean_patients, mean_dlts
        Mean patients treated and DLTs per dose level.
    selected
        Per trial, the selected dose level (1-based; 0 for none).
    """

    design: str
    target: float | None
    truth: tuple[float, ...]
    ntrials: int
    seed: int
    cohortsize: int
    ncohort: int
    p_select: np.ndarray
    p_no_selection: float
    p_early_stop: float
    mean_patients: np.ndarray
    mean_dlts: np.ndarray
    selected: np.ndarray

    def table(self) -> pl.DataFrame:
        """One row per dose level: true DLT probability, P(select), mean patients and DLTs."""
        return pl.DataFrame({
            "dose": list(range(1, len(self.truth) + 1)),
            "true_p_dlt": list(self.truth),
            "p_select": self.p_select.tolist(),
            "mean_patients": self.mean_patients.tolist(),
            "mean_dlts": self.mean_dlts.tolist(),
        })

    def summary(self) -> str:
        """A plain-text summary (the table and the trial-level figures)."""
        lines = [f"{self.design} operating characteristics: {self.ntrials} trials, seed {self.seed}"
                 + (f", target {self.target:g}" if self.target is not None else "")]
        lines.append("dose  true_p  P(select)  patients  DLTs")
        for r in self.table().iter_rows(named=True):
            lines.append(f"{r['dose']:>4}  {r['true_p_dlt']:>6.3f}  {r['p_select']:>9.3f}  "
                         f"{r['mean_patients']:>8.2f}  {r['mean_dlts']:>4.2f}")
        lines.append(f"P(no selection) {self.p_no_selection:.3f}; P(early stop) {self.p_early_stop:.3f}; "
                     f"mean patients {self.mean_patients.sum():.2f}; mean DLTs {self.mean_dlts.sum():.2f}")
        return "\n".join(lines)


def simulate_oc(truth: list[float] | tuple[float, ...] | np.ndarray, *, design: str = "boin",
                target: float | None = None, ncohort: int = 10, cohortsize: int = 3, ntrials: int = 10_000,
                seed: int = 1, batch_size: int = 100_000, phi1: float | None = None, phi2: float | None = None,
                cutoff_eli: float = 0.95, map_fn=None) -> OperatingCharacteristics:
    """Simulate ``ntrials`` trials of a design with true DLT probabilities ``truth`` per dose level.

    Parameters
    ----------
    truth
        True DLT probability of each dose level (0 to 1), lowest dose first.
    design
        ``"boin"`` (needs ``target``; ``ncohort`` cohorts of ``cohortsize``, starting at dose 1) or
        ``"3+3"`` (cohorts of 3 until the rules stop; ``ncohort``/``cohortsize`` are ignored except that
        ``cohortsize`` must be 3).
    target
        BOIN target DLT probability.
    ncohort, cohortsize
        BOIN maximum number of cohorts and patients per cohort.
    ntrials, seed
        Number of simulated trials and the root seed (trial i uses child i of ``SeedSequence(seed)``).
    batch_size
        Trials simulated together (memory only; results do not depend on it).
    phi1, phi2, cutoff_eli
        BOIN design parameters (see :func:`boin_boundaries`).
    map_fn
        ``map_fn(func, items) -> results in order`` to run the batches elsewhere (e.g. on a Dask
        cluster, see ``cartlab design simulate --dask``); default: in this process. The results are
        identical whichever runs them.

    Examples
    --------
    >>> oc = simulate_oc([0.05, 0.3, 0.6], target=0.3, ntrials=200, seed=7)
    >>> int(oc.p_select.argmax()) + 1
    2
    """
    key = str(design).lower()
    if key not in DESIGNS:
        raise SpecError(f"design must be one of {', '.join(DESIGNS)}; got {design!r}")
    p = np.asarray(truth, dtype=np.float64)
    if p.ndim != 1 or p.size < 1 or not np.all((p >= 0) & (p <= 1)):
        raise SpecError(f"truth must be one DLT probability in [0, 1] per dose level; got {list(np.ravel(p))}")
    _check_n_doses(p.size)
    for name, v, lo in (("ntrials", ntrials, 1), ("ncohort", ncohort, 1), ("cohortsize", cohortsize, 1),
                        ("batch_size", batch_size, 1), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise SpecError(f"{name} must be an integer >= {lo}; got {v!r}")
    if key == "boin":
        if target is None:
            raise SpecError("design 'boin' needs a target DLT probability (target=...)")
        b = boin_boundaries(target, phi1=phi1, phi2=phi2, cutoff_eli=cutoff_eli)
        tables = _boin_thresholds(b, ncohort * cohortsize)
        n_cohorts, size = ncohort, cohortsize
    else:
        if cohortsize != COHORT_SIZE:
            raise SpecError(f"design '3+3' treats cohorts of {COHORT_SIZE}; got cohortsize={cohortsize}")
        b, tables = None, None
        n_cohorts, size = 2 * p.size, COHORT_SIZE  # at most 6 patients per dose

    d = p.size
    n_sum = np.zeros(d)
    y_sum = np.zeros(d)
    selected = np.empty(ntrials, dtype=np.int64)
    early = 0
    ranges = [(start, min(start + batch_size, ntrials)) for start in range(0, ntrials, batch_size)]
    args = [(p, None if b is None else b.target, tables, seed, lo, hi, n_cohorts, size) for lo, hi in ranges]
    results = list(map(_batch, args)) if map_fn is None else list(map_fn(_batch, args))
    for (lo, hi), (n, y, sel, est) in zip(ranges, results):
        n_sum += n
        y_sum += y
        selected[lo:hi] = sel + 1
        early += est
    counts = np.bincount(selected, minlength=d + 1)
    return OperatingCharacteristics(
        design="BOIN" if key == "boin" else "3+3", target=None if b is None else b.target,
        truth=tuple(float(v) for v in p), ntrials=int(ntrials), seed=int(seed), cohortsize=int(size),
        ncohort=int(ncohort if b is not None else 0), p_select=counts[1:] / ntrials,
        p_no_selection=float(counts[0] / ntrials), p_early_stop=early / ntrials,
        mean_patients=n_sum / ntrials, mean_dlts=y_sum / ntrials, selected=selected)


def _batch(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Trials ``lo`` … ``hi − 1``: per-dose patient and DLT totals, selections, early stops.

    A plain function of its arguments (no shared state), so any executor — threads, processes or a
    Dask cluster — can run the batches; the totals are integers, so the result is identical.
    """
    p, target, tables, seed, lo, hi, n_cohorts, size = args
    u = _trial_uniforms(seed, lo, hi, n_cohorts * size).reshape(hi - lo, n_cohorts, size)
    if target is not None:
        n, y, sel, est = _simulate_boin(p, u, target, tables)
    else:
        n, y, sel, est = _simulate_tpt(p, u)
    return n.sum(axis=0), y.sum(axis=0), sel, int(est.sum())


def _trial_uniforms(seed: int, start: int, stop: int, per_trial: int) -> np.ndarray:
    """Uniform(0, 1) draws of trials start … stop - 1, each from its own child seed."""
    out = np.empty((stop - start, per_trial))
    for k, i in enumerate(range(start, stop)):
        out[k] = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,))).random(per_trial)
    return out


def _simulate_boin(p: np.ndarray, u: np.ndarray, target: float,
                   tables: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
    esc, de, eli = tables
    t, n_cohorts, _ = u.shape
    d = p.size
    rows = np.arange(t)
    n = np.zeros((t, d), dtype=np.int64)
    y = np.zeros((t, d), dtype=np.int64)
    cur = np.zeros(t, dtype=np.int64)
    active = np.ones(t, dtype=bool)
    elim = np.zeros((t, d), dtype=bool)
    for c in range(n_cohorts):
        r = rows[active]
        if r.size == 0:
            break
        dlt = (u[r, c, :] < p[cur[r]][:, None]).sum(axis=1)
        n[r, cur[r]] += u.shape[2]
        y[r, cur[r]] += dlt
        elim[r] = _boin_eliminated(n[r], y[r], eli)
        nxt, stopped = _boin_move(n[r], y[r], cur[r], elim[r], esc, de)
        cur[r] = nxt
        active[r[stopped]] = False
    sel = _boin_select(n, y, elim, target)
    return n, y, sel, elim[:, 0]


def _simulate_tpt(p: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, ...]:
    t, n_cohorts, size = u.shape
    d = p.size
    rows = np.arange(t)
    n = np.zeros((t, d), dtype=np.int64)
    y = np.zeros((t, d), dtype=np.int64)
    cur = np.zeros(t, dtype=np.int64)
    active = np.ones(t, dtype=bool)
    mtd = np.full(t, -1, dtype=np.int64)
    for c in range(n_cohorts):
        r = rows[active]
        if r.size == 0:
            break
        dlt = (u[r, c, :] < p[cur[r]][:, None]).sum(axis=1)
        n[r, cur[r]] += size
        y[r, cur[r]] += dlt
        nxt, stopped, m = _tpt_move(n[r], y[r], cur[r])
        cur[r] = nxt
        mtd[r[stopped]] = m[stopped]
        active[r[stopped]] = False
    if active.any():  # cannot happen with at most 2 cohorts per dose; kept as a guard
        raise SpecError("internal: a 3+3 trial did not finish within 2 cohorts per dose level")
    return n, y, mtd, mtd < 0


__all__ = ["DESIGNS", "OperatingCharacteristics", "simulate_oc"]
