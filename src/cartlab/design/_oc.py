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
from scipy import stats

from .._core.errors import SpecError
from ._boin import _boin_eliminated, _boin_move, _boin_select, _boin_thresholds, _check_n_doses, boin_boundaries
from ._boin12 import _GO, _STOP_NONE, Boin12Design, _b12_closed, _b12_move, _b12_select, _b12_tables
from ._threeplus3 import COHORT_SIZE, _tpt_move

DESIGNS = ("boin", "3+3", "boin12")


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
        Per trial, the selected dose level (1-based; 0 for none): the MTD, or for BOIN12 the OBD.
    cohorts
        Per trial, the number of cohorts treated.
    truth_eff, mean_responses, true_utility
        BOIN12 only (None otherwise): true response probability per dose level, mean responses per
        dose level, and the true mean utility per dose level (toxicity and response independent).
    cohort_days
        Days one cohort takes under the timing assumption: ``cohortsize x accrual_days`` to enrol it
        (one patient every ``accrual_days`` days), then ``window_days`` to assess its last patient; the
        next cohort starts when the previous one has been assessed. A trial lasts
        ``cohorts x cohort_days`` days.
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
    cohorts: np.ndarray | None = None
    truth_eff: tuple[float, ...] | None = None
    mean_responses: np.ndarray | None = None
    true_utility: np.ndarray | None = None
    cohort_days: float | None = None
    accrual_days: float | None = None
    window_days: float | None = None

    @property
    def duration_days(self) -> np.ndarray:
        """Per trial, the trial duration in days under the timing assumption (see ``cohort_days``)."""
        if self.cohorts is None or self.cohort_days is None:
            raise SpecError("this result has no cohort counts or timing assumption")
        return self.cohorts * self.cohort_days

    def table(self) -> pl.DataFrame:
        """One row per dose level: true DLT probability, P(select), mean patients and DLTs."""
        cols = {
            "dose": list(range(1, len(self.truth) + 1)),
            "true_p_dlt": list(self.truth),
            "p_select": self.p_select.tolist(),
            "mean_patients": self.mean_patients.tolist(),
            "mean_dlts": self.mean_dlts.tolist(),
        }
        if self.truth_eff is not None and self.mean_responses is not None and self.true_utility is not None:
            cols = {**dict(list(cols.items())[:2]), "true_p_response": list(self.truth_eff),
                    "true_utility": self.true_utility.tolist(), **dict(list(cols.items())[2:]),
                    "mean_responses": self.mean_responses.tolist()}
        return pl.DataFrame(cols)

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
        if self.mean_responses is not None:
            lines.append("true P(response) " + ", ".join(f"{v:.3f}" for v in self.truth_eff or ())
                         + f"; mean responses {self.mean_responses.sum():.2f}")
        if self.cohorts is not None and self.cohort_days is not None:
            dur = self.duration_days
            lines.append(f"duration: mean {dur.mean():.0f} days (5th-95th percentile {np.percentile(dur, 5):.0f}-"
                         f"{np.percentile(dur, 95):.0f}), one patient every {self.accrual_days:g} days and a "
                         f"{self.window_days:g}-day assessment window per cohort")
        return "\n".join(lines)


def simulate_oc(truth: list[float] | tuple[float, ...] | np.ndarray, *, design: str = "boin",
                target: float | None = None, ncohort: int = 10, cohortsize: int = 3, ntrials: int = 10_000,
                seed: int = 1, batch_size: int = 100_000, phi1: float | None = None, phi2: float | None = None,
                cutoff_eli: float = 0.95, map_fn=None, n_earlystop: int | None = None, extrasafe: bool = False,
                offset: float = 0.05, truth_eff: list[float] | tuple[float, ...] | np.ndarray | None = None,
                boin12: Boin12Design | None = None, accrual_days: float = 14.0,
                window_days: float = 28.0) -> OperatingCharacteristics:
    """Simulate ``ntrials`` trials of a design with true DLT probabilities ``truth`` per dose level.

    Parameters
    ----------
    truth
        True DLT probability of each dose level (0 to 1), lowest dose first.
    design
        ``"boin"`` (needs ``target``; ``ncohort`` cohorts of ``cohortsize``, starting at dose 1),
        ``"3+3"`` (cohorts of 3 until the rules stop; ``ncohort``/``cohortsize`` are ignored except that
        ``cohortsize`` must be 3) or ``"boin12"`` (needs ``boin12`` and ``truth_eff``; ``ncohort``
        cohorts of ``cohortsize``; DLT and response drawn independently per patient).
    target
        BOIN target DLT probability.
    ncohort, cohortsize
        Maximum number of cohorts and patients per cohort (BOIN, BOIN12).
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
    n_earlystop, extrasafe, offset
        BOIN options of the R package BOIN's ``get.oc``: stop once ``n_earlystop`` patients were treated
        at the current dose and the rule says stay there; with ``extrasafe``, stop (and select no dose)
        when n >= 3 at dose level 1 and P(p_1 > target | data) > ``cutoff_eli - offset``. For BOIN12
        give ``n_earlystop`` to :func:`boin12_design`.
    truth_eff
        BOIN12: true response probability of each dose level.
    boin12
        BOIN12: the design (:func:`boin12_design`).
    accrual_days, window_days
        Timing assumption for the trial duration: one patient enrolled every ``accrual_days`` days; a
        cohort is complete when its last patient has been followed for ``window_days`` (the DLT window,
        or for BOIN12 the later of the DLT and response assessments); the next cohort starts then, so
        a cohort takes ``cohortsize x accrual_days + window_days`` days.

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
    for name, v in (("accrual_days", accrual_days), ("window_days", window_days)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise SpecError(f"{name} must be a number of days >= 0; got {v!r}")
    if n_earlystop is not None and (isinstance(n_earlystop, bool) or not isinstance(n_earlystop, (int, np.integer))
                                    or n_earlystop < 1):
        raise SpecError(f"n_earlystop must be an integer >= 1; got {n_earlystop!r}")
    if not isinstance(offset, (int, float)) or not 0 <= offset < 0.5:
        raise SpecError(f"offset must be in [0, 0.5); got {offset!r}")
    pe = None
    if key == "boin":
        if target is None:
            raise SpecError("design 'boin' needs a target DLT probability (target=...)")
        b = boin_boundaries(target, phi1=phi1, phi2=phi2, cutoff_eli=cutoff_eli)
        esc, de, eli = _boin_thresholds(b, ncohort * cohortsize)
        safe = _extrasafe_table(b.target, cutoff_eli - offset, ncohort * cohortsize) if extrasafe else None
        tables = (esc, de, eli, n_earlystop, safe)
        n_cohorts, size, what = ncohort, cohortsize, b.target
    elif key == "boin12":
        if not isinstance(boin12, Boin12Design):
            raise SpecError("design 'boin12' needs boin12=boin12_design(target, lower_e, ...)")
        if truth_eff is None:
            raise SpecError("design 'boin12' needs truth_eff: one true response probability per dose level")
        pe = np.asarray(truth_eff, dtype=np.float64)
        if pe.shape != p.shape or not np.all((pe >= 0) & (pe <= 1)):
            raise SpecError(f"truth_eff must be one response probability in [0, 1] per dose level ({p.size}, as "
                            f"truth); got {list(np.ravel(pe))}")
        b, tables, what = None, _b12_tables(boin12, ncohort * cohortsize), boin12
        n_cohorts, size = ncohort, cohortsize
    else:
        if cohortsize != COHORT_SIZE:
            raise SpecError(f"design '3+3' treats cohorts of {COHORT_SIZE}; got cohortsize={cohortsize}")
        b, tables, what = None, None, None
        n_cohorts, size = 2 * p.size, COHORT_SIZE  # at most 6 patients per dose

    d = p.size
    n_sum = np.zeros(d)
    y_sum = np.zeros(d)
    e_sum = np.zeros(d)
    selected = np.empty(ntrials, dtype=np.int64)
    cohorts = np.empty(ntrials, dtype=np.int64)
    early = 0
    ranges = [(start, min(start + batch_size, ntrials)) for start in range(0, ntrials, batch_size)]
    args = [(key, p, pe, what, tables, seed, lo, hi, n_cohorts, size) for lo, hi in ranges]
    results = list(map(_batch, args)) if map_fn is None else list(map_fn(_batch, args))
    for (lo, hi), (n, y, e, sel, est, nco) in zip(ranges, results):
        n_sum += n
        y_sum += y
        e_sum += e
        selected[lo:hi] = sel + 1
        cohorts[lo:hi] = nco
        early += est
    counts = np.bincount(selected, minlength=d + 1)
    cohort_days = size * accrual_days + window_days
    return OperatingCharacteristics(
        design={"boin": "BOIN", "3+3": "3+3", "boin12": "BOIN12"}[key],
        target=b.target if b is not None else (boin12.target if key == "boin12" else None),  # type: ignore[union-attr]
        truth=tuple(float(v) for v in p), ntrials=int(ntrials), seed=int(seed), cohortsize=int(size),
        ncohort=int(ncohort if key != "3+3" else 0), p_select=counts[1:] / ntrials,
        p_no_selection=float(counts[0] / ntrials), p_early_stop=early / ntrials,
        mean_patients=n_sum / ntrials, mean_dlts=y_sum / ntrials, selected=selected, cohorts=cohorts,
        truth_eff=None if pe is None else tuple(float(v) for v in pe),
        mean_responses=None if pe is None else e_sum / ntrials,
        true_utility=None if pe is None else boin12.utility(p, pe),  # type: ignore[union-attr]
        cohort_days=float(cohort_days), accrual_days=float(accrual_days), window_days=float(window_days))


def _extrasafe_table(target: float, cutoff: float, n_max: int) -> np.ndarray:
    """Per n: the smallest DLT count at dose level 1 with P(p > target | y, n) > cutoff (n >= 3)."""
    safe = np.full(n_max + 1, n_max + 1, dtype=np.int64)
    for n in range(3, n_max + 1):
        ys = np.arange(n + 1)
        hit = ys[stats.beta.sf(target, ys + 1, n - ys + 1) > cutoff]
        if hit.size:
            safe[n] = hit.min()
    return safe


def _batch(args) -> tuple[np.ndarray, ...]:
    """Trials ``lo`` … ``hi − 1``: per-dose patient, DLT and response totals, selections, early stops
    and cohorts per trial.

    A plain function of its arguments (no shared state), so any executor — threads, processes or a
    Dask cluster — can run the batches; the totals are integers, so the result is identical.
    """
    key, p, pe, what, tables, seed, lo, hi, n_cohorts, size = args
    per = n_cohorts * size
    if key == "boin12":
        u = _trial_uniforms(seed, lo, hi, 2 * per).reshape(hi - lo, 2, n_cohorts, size)
        n, y, e, sel, est, nco = _simulate_boin12(p, pe, u, what, tables)
        return n.sum(axis=0), y.sum(axis=0), e.sum(axis=0), sel, int(est.sum()), nco
    u = _trial_uniforms(seed, lo, hi, per).reshape(hi - lo, n_cohorts, size)
    if key == "boin":
        n, y, sel, est, nco = _simulate_boin(p, u, what, tables)
    else:
        n, y, sel, est, nco = _simulate_tpt(p, u)
    return n.sum(axis=0), y.sum(axis=0), np.zeros(p.size), sel, int(est.sum()), nco


def _trial_uniforms(seed: int, start: int, stop: int, per_trial: int) -> np.ndarray:
    """Uniform(0, 1) draws of trials start … stop - 1, each from its own child seed."""
    out = np.empty((stop - start, per_trial))
    for k, i in enumerate(range(start, stop)):
        out[k] = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,))).random(per_trial)
    return out


def _simulate_boin(p: np.ndarray, u: np.ndarray, target: float, tables: tuple) -> tuple[np.ndarray, ...]:
    esc, de, eli, n_earlystop, safe = tables
    t, n_cohorts, _ = u.shape
    d = p.size
    rows = np.arange(t)
    n = np.zeros((t, d), dtype=np.int64)
    y = np.zeros((t, d), dtype=np.int64)
    cur = np.zeros(t, dtype=np.int64)
    active = np.ones(t, dtype=bool)
    elim = np.zeros((t, d), dtype=bool)
    unsafe = np.zeros(t, dtype=bool)
    nco = np.zeros(t, dtype=np.int64)
    for c in range(n_cohorts):
        r = rows[active]
        if r.size == 0:
            break
        dlt = (u[r, c, :] < p[cur[r]][:, None]).sum(axis=1)
        n[r, cur[r]] += u.shape[2]
        y[r, cur[r]] += dlt
        nco[r] += 1
        elim[r] = _boin_eliminated(n[r], y[r], eli)
        nxt, stopped = _boin_move(n[r], y[r], cur[r], elim[r], esc, de)
        if safe is not None:  # BOIN get.oc extrasafe: a stricter stop at dose level 1
            hit = (cur[r] == 0) & (n[r, 0] >= 3) & (y[r, 0] >= safe[n[r, 0]])
            unsafe[r] |= hit
            stopped = stopped | hit
        if n_earlystop is not None:  # BOIN get.oc n.earlystop: enough patients and the rule says stay
            stopped = stopped | ((n[r, cur[r]] >= n_earlystop) & (nxt == cur[r]))
        cur[r] = nxt
        active[r[stopped]] = False
    sel = _boin_select(n, y, elim, target)
    if safe is not None:
        unsafe |= (n[:, 0] >= 3) & (y[:, 0] >= safe[n[:, 0]])
        sel = np.where(unsafe, -1, sel)
    return n, y, sel, elim[:, 0] | unsafe, nco


def _simulate_boin12(p: np.ndarray, pe: np.ndarray, u: np.ndarray, design: Boin12Design,
                     tables: tuple) -> tuple[np.ndarray, ...]:
    t, _, n_cohorts, size = u.shape
    d = p.size
    rows = np.arange(t)
    n, yt, ye, y11 = (np.zeros((t, d), dtype=np.int64) for _ in range(4))
    cur = np.zeros(t, dtype=np.int64)
    active = np.ones(t, dtype=bool)
    none_left = np.zeros(t, dtype=bool)
    nco = np.zeros(t, dtype=np.int64)
    for c in range(n_cohorts):
        r = rows[active]
        if r.size == 0:
            break
        tox = u[r, 0, c, :] < p[cur[r]][:, None]
        eff = u[r, 1, c, :] < pe[cur[r]][:, None]
        n[r, cur[r]] += size
        yt[r, cur[r]] += tox.sum(axis=1)
        ye[r, cur[r]] += eff.sum(axis=1)
        y11[r, cur[r]] += (tox & eff).sum(axis=1)
        nco[r] += 1
        _, closed = _b12_closed(n[r], yt[r], ye[r], tables)
        nxt, code = _b12_move(n[r], yt[r], ye[r], y11[r], cur[r], closed, design, tables)
        none_left[r[code == _STOP_NONE]] = True
        cur[r] = np.where(code == _GO, nxt, cur[r])
        active[r[code != _GO]] = False
    closed_t, closed = _b12_closed(n, yt, ye, tables)
    sel = np.where(none_left, -1, _b12_select(n, yt, ye, closed_t, closed, design))
    return n, yt, ye, sel, none_left, nco


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
    return n, y, mtd, mtd < 0, n.sum(axis=1) // size


__all__ = ["DESIGNS", "OperatingCharacteristics", "simulate_oc"]
