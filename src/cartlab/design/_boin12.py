"""BOIN12: Bayesian optimal interval phase I/II design for utility-based dose finding.

Lin R, Zhou Y, Yan F, Li D, Yuan Y. BOIN12: Bayesian optimal interval phase I/II trial design for
utility-based dose finding in immunotherapy and targeted therapies. JCO Precis Oncol 2020;4:1393-1402.

Each patient has a binary toxicity (DLT) and a binary efficacy (response) outcome; the four
combinations score utilities u(tox, eff): ``u01`` (response, no DLT; 100), ``u00`` (neither; 40),
``u11`` (both; 60) and ``u10`` (DLT, no response; 0). Decisions combine

* BOIN's toxicity boundaries lambda_e / lambda_d for the toxicity target phi_T (Liu & Yuan 2015);
* admissibility: dose j is closed for toxicity (with every higher dose) when
  P(p_T,j > phi_T | data) > c_T and for futility (that dose only) when P(p_E,j < phi_E | data) > c_E,
  beta(1, 1) priors, once n_j >= 3 (as BOIN's elimination rule);
* the desirability of a dose, P(u_j > u_b | data): the utility is treated as a quasi-binomial rate,
  x_j = sum of the patients' utilities / 100 "successes" in n_j, u_j / 100 ~ beta(1 + x_j, 1 + n_j - x_j);
  the benchmark u_b = ubar + (100 - ubar) / 2, where ubar is the utility of a dose sitting exactly at
  phi_T and phi_E (toxicity and efficacy independent). The paper tabulates the rank of this
  probability (the rank-based desirability score, RDS, :meth:`Boin12Design.rds_table`); the rank is
  monotone in the probability, so the decisions compare probabilities.

Dose-finding rules at the current dose d with n_d patients and observed DLT rate p_T = y_T / n_d
(the authors' algorithm, as implemented in their software and reproduced by the ``escalation``
R package, ``get_boin12``):

1. p_T >= lambda_d: de-escalate to the highest open dose below d (stay at d if there is none and d
   is open; otherwise stop).
2. Otherwise the candidates are d, the highest open dose below d and, if n_d < ``n_star`` (6) or
   p_T <= lambda_e, the lowest open dose above d; the open candidate with the highest desirability is
   chosen (ties: the higher dose, as the authors' Shiny application). No open candidate: stop.
3. Dose exploration: if n_d >= ``n_explore`` (9), p_T < lambda_d and the next open dose above d has no
   patient yet, escalate to it.
4. The trial stops when n_d reaches ``n_earlystop`` (if given) or the maximum sample size.

At the end, the MTD is BOIN's (isotonic DLT estimates, closest to phi_T among doses that are not
closed for toxicity) and the optimal biological dose (OBD) is the tried, open dose at or below the MTD
with the highest estimated utility, from the isotonic DLT estimate and the observed response rate
(y_E + 0.05) / (n + 0.1), toxicity and efficacy independent. The published software smooths the
response rates by model-averaged unimodal regression first; cartlab does not (stated in the docs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from scipy import stats

from .._core.errors import DataValidationError, SpecError
from ._boin import (
    BoinBoundaries,
    _boin_select,
    _boin_thresholds,
    _check_n_doses,
    _check_prob,
    _isotonic_minmax,
    boin_boundaries,
)
from ._outcomes import Cohort12, Decision, parse_outcomes12


@dataclass(frozen=True, slots=True)
class Boin12Design:
    """A validated BOIN12 design (build it with :func:`boin12_design`).

    Attributes
    ----------
    target, lower_e
        Toxicity upper limit phi_T and efficacy lower limit phi_E (probabilities).
    u11, u00, u10, u01
        Utilities (0 to 100) of (DLT, response), (neither), (DLT, no response), (response, no DLT).
    c_t, c_e
        Posterior cutoffs closing a dose for toxicity and for futility.
    n_star, n_explore, n_earlystop
        Patients at a dose from which escalation needs p_T <= lambda_e; from which an untried higher
        dose is explored; at which the trial stops (None: only the maximum sample size stops it).
    phi1, phi2, lambda_e, lambda_d
        BOIN limits and boundaries for ``target`` (phi1 = 0.6 target, phi2 = 1.4 target unless given).
    u_bar, u_b
        Utility of a dose at (phi_T, phi_E), and the benchmark ubar + (100 - ubar) / 2.
    """

    target: float
    lower_e: float
    u11: float
    u00: float
    u10: float
    u01: float
    c_t: float
    c_e: float
    n_star: int
    n_explore: int
    n_earlystop: int | None
    phi1: float
    phi2: float
    lambda_e: float
    lambda_d: float
    u_bar: float
    u_b: float

    def utility(self, p_tox: np.ndarray | float, p_eff: np.ndarray | float) -> np.ndarray:
        """Mean utility of doses with DLT probability ``p_tox`` and response probability ``p_eff``,
        toxicity and efficacy independent (0 to 100)."""
        pt, pe = np.asarray(p_tox, dtype=np.float64), np.asarray(p_eff, dtype=np.float64)
        return (self.u01 * pe * (1 - pt) + self.u00 * (1 - pe) * (1 - pt) + self.u11 * pe * pt
                + self.u10 * (1 - pe) * pt)

    def rds_table(self, sample_sizes: list[int] | tuple[int, ...]) -> pl.DataFrame:
        """Rank-based desirability scores for every (patients, DLTs, responses) at the given sample sizes.

        Columns ``n``, ``tox``, ``eff``, ``admissible`` (not closed by the toxicity or futility rule,
        applied here at every n as in the paper's table), ``p_desirable`` (P(u > u_b | data)) and
        ``rds``, the rank of ``p_desirable`` among the admissible rows (ties share the mean rank;
        null where not admissible), as in Table 3 of Lin et al. 2020. Needs utilities with
        u11 + u00 = u01 + u10 (the paper's defaults), when the utility total depends on the DLT and
        response counts only.

        Examples
        --------
        Lin et al. 2020 Table 3 ranks n = 0, 3, 6, 9 together; n = 3 with no DLT and 3 responses scores 91:

        >>> t = boin12_design(0.35, 0.25).rds_table([0, 3, 6, 9])
        >>> t.filter((t["n"] == 3) & (t["tox"] == 0) & (t["eff"] == 3))["rds"].item()
        91.0
        """
        if not math.isclose(self.u11 + self.u00, self.u01 + self.u10):
            raise SpecError(f"the RDS table needs u11 + u00 = u01 + u10 (then the utility depends only on the "
                            f"numbers of DLTs and responses); got u11 + u00 = {self.u11 + self.u00:g}, "
                            f"u01 + u10 = {self.u01 + self.u10:g}")
        rows = []
        for n in sample_sizes:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
                raise SpecError(f"sample sizes must be integers >= 0; got {n!r}")
            for t in range(n + 1):
                for e in range(n + 1):
                    rows.append((int(n), t, e))
        n, t, e = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
        ok = ((stats.beta.sf(self.target, 1 + t, 1 + n - t) < self.c_t)
              & (stats.beta.cdf(self.lower_e, 1 + e, 1 + n - e) < self.c_e))
        # y11 drops out of x when u11 + u00 = u01 + u10
        x = np.round((self.u01 * e + self.u00 * (n - t - e) + self.u10 * t) / 100.0, 12)
        p = stats.beta.sf(self.u_b / 100.0, 1 + x, 1 + n - x)
        rank = np.full(n.size, np.nan)
        rank[ok] = stats.rankdata(np.round(p[ok], 12), method="average")
        return pl.DataFrame({"n": n, "tox": t, "eff": e, "admissible": ok, "p_desirable": p,
                             "rds": pl.Series(rank).fill_nan(None)})


def boin12_design(target: float, lower_e: float, *, u11: float = 60, u00: float = 40, u10: float = 0,
                  u01: float = 100, c_t: float = 0.95, c_e: float = 0.9, n_star: int = 6, n_explore: int = 9,
                  n_earlystop: int | None = None, phi1: float | None = None,
                  phi2: float | None = None) -> Boin12Design:
    """Validate BOIN12 design parameters (defaults of Lin et al. 2020 and their software).

    Parameters
    ----------
    target
        Highest acceptable DLT probability phi_T (the paper's example: 0.35).
    lower_e
        Lowest acceptable response probability phi_E (the paper's example: 0.25).
    u11, u00, u10, u01
        Utilities (0 to 100) of DLT with response, neither, DLT without response and response without
        DLT; need u10 <= u00, u11 <= u01.
    c_t, c_e
        Posterior probability cutoffs (0.5 to 1) closing a dose for toxicity and for futility.
    n_star, n_explore, n_earlystop
        See :class:`Boin12Design`.
    phi1, phi2
        BOIN sub-therapeutic and overly toxic limits for the boundaries (0.6 and 1.4 x target).

    Examples
    --------
    >>> d = boin12_design(0.35, 0.25)
    >>> round(d.lambda_e, 4), round(d.lambda_d, 4), d.u_bar, d.u_b
    (0.2763, 0.4189, 41.0, 70.5)
    """
    phi_t, phi_e = _check_prob(target, "target"), _check_prob(lower_e, "lower_e")
    u = {"u11": u11, "u00": u00, "u10": u10, "u01": u01}
    for k, v in u.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not 0 <= v <= 100:
            raise SpecError(f"{k} must be a utility from 0 to 100; got {v!r}")
    if not (u10 <= u00 <= u01 and u10 <= u11 <= u01 and u10 < u01):
        raise SpecError(f"utilities must order u10 <= u00, u11 <= u01 with u10 < u01 (DLT without response is the "
                        f"worst outcome, response without DLT the best); got u11={u11:g}, u00={u00:g}, u10={u10:g}, "
                        f"u01={u01:g}")
    for k, v in (("c_t", c_t), ("c_e", c_e)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.5 <= v < 1:
            raise SpecError(f"{k} must be in [0.5, 1); got {v!r}")
    for k, v in (("n_star", n_star), ("n_explore", n_explore), ("n_earlystop", n_earlystop)):
        if v is None and k == "n_earlystop":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise SpecError(f"{k} must be an integer >= 1; got {v!r}")
    b = boin_boundaries(phi_t, phi1=phi1, phi2=phi2, cutoff_eli=c_t)
    d = Boin12Design(phi_t, phi_e, float(u11), float(u00), float(u10), float(u01), float(c_t), float(c_e),
                     int(n_star), int(n_explore), None if n_earlystop is None else int(n_earlystop),
                     b.phi1, b.phi2, b.lambda_e, b.lambda_d, 0.0, 0.0)
    u_bar = float(d.utility(phi_t, phi_e))
    u_bar = round(u_bar, 10)
    return replace(d, u_bar=u_bar, u_b=u_bar + (100 - u_bar) / 2)


def tally_outcomes12(cohorts: tuple[Cohort12, ...], n_doses: int) -> tuple[np.ndarray, ...]:
    """Per dose level: patients ``n``, DLTs ``yt``, responses ``ye`` and patients with both ``y11``.

    Examples
    --------
    >>> [a.tolist() for a in tally_outcomes12(parse_outcomes12("1NEN 2BTE"), 3)]
    [[3, 3, 0], [0, 2, 0], [1, 2, 0], [0, 1, 0]]
    """
    arr = np.zeros((4, n_doses), dtype=np.int64)
    for c in cohorts:
        if not 1 <= c.dose <= n_doses:
            raise DataValidationError(f"outcomes: dose level must be 1 to {n_doses}; got {c.dose}")
        j = c.dose - 1
        arr[0, j] += c.n
        arr[1, j] += sum(c.dlt)
        arr[2, j] += sum(c.eff)
        arr[3, j] += sum(t and e for t, e in zip(c.dlt, c.eff, strict=True))
    return arr[0], arr[1], arr[2], arr[3]


def boin12_next_decision(outcomes: str | tuple[Cohort12, ...], n_doses: int, design: Boin12Design) -> Decision:
    """BOIN12 decision for the next cohort, given the phase I/II outcomes so far.

    ``outcomes`` is a string such as ``"1NNN 2ENT"`` (see :func:`parse_outcomes12`: E response,
    T DLT, B both, N neither) or parsed cohorts; the current dose is that of the last cohort. When the
    trial stops because ``n_earlystop`` patients were treated at the current dose, ``obd`` is the
    selected optimal biological dose (:func:`boin12_select_obd`).

    Examples
    --------
    Lin et al. 2020, p. 1396 (worked example, phi_T = 0.35, phi_E = 0.25, default utilities):

    >>> d = boin12_next_decision("1NNN 2ENT 3ETT 2EEN", 5, boin12_design(0.35, 0.25))
    >>> d.action, d.next_dose
    ('stay', 2)
    """
    n_doses = _check_n_doses(n_doses)
    if not isinstance(design, Boin12Design):
        raise SpecError(f"design must be a Boin12Design (see boin12_design); got {type(design).__name__}")
    cohorts = parse_outcomes12(outcomes, n_doses) if isinstance(outcomes, str) else tuple(outcomes)
    if not cohorts:
        return Decision("BOIN12", "escalate", 1, None, 0, 0, "no patient treated yet: start at dose level 1")
    n, yt, ye, y11 = tally_outcomes12(cohorts, n_doses)
    cur = cohorts[-1].dose - 1
    tables = _b12_tables(design, max(int(n.max()), 1))
    args = (n[None], yt[None], ye[None], y11[None], np.array([cur]))
    closed_t, closed = _b12_closed(n[None], yt[None], ye[None], tables)
    nxt, stop_code = _b12_move(*args, closed, design, tables)
    score = _b12_score(n, yt, ye, y11, design)
    nc, yc = int(n[cur]), int(yt[cur])
    rate = f"{yc}/{nc} = {yc / nc:.3f}"
    first_elim = int(np.argmax(closed_t[0])) + 1 if closed_t[0].any() else None
    futile = [j + 1 for j in range(n_doses) if closed[0, j] and not closed_t[0, j]]
    scores = ", ".join(f"{j + 1}: {score[j]:.3f}" for j in range(n_doses) if not closed[0, j])
    if stop_code[0] == _STOP_SAMPLE:
        obd = boin12_select_obd(n, yt, ye, design)
        return Decision("BOIN12", "stop", None, cur + 1, nc, yc,
                        f"{nc} patients at dose level {cur + 1} >= n_earlystop = {design.n_earlystop}: stop; "
                        + (f"OBD = dose level {obd}" if obd else "no dose is admissible"), first_elim, obd=obd)
    if stop_code[0] == _STOP_NONE:
        return Decision("BOIN12", "stop", None, cur + 1, nc, yc,
                        "no admissible dose (closed for toxicity: "
                        + (f"{first_elim} and above" if first_elim else "none")
                        + f"; closed for futility: {', '.join(map(str, futile)) or 'none'}): stop, no dose selected",
                        first_elim)
    k = int(nxt[0])
    if yc / nc >= design.lambda_d:
        why = f"DLT rate {rate} >= lambda_d = {design.lambda_d:.4f}: de-escalate"
        if k == cur:
            why += " (no open lower dose: stay)"
    elif nc >= design.n_explore and k > cur and n[k] == 0:
        why = (f"{nc} >= n_explore = {design.n_explore} patients at dose level {cur + 1} with DLT rate {rate} < "
               f"lambda_d: explore the untried dose level {k + 1}")
    else:
        esc_ok = nc < design.n_star or yc / nc <= design.lambda_e
        why = (f"DLT rate {rate} < lambda_d = {design.lambda_d:.4f}; "
               + ("escalation allowed" if esc_ok else f"escalation not allowed (n >= {design.n_star} and rate > "
                                                    f"lambda_e = {design.lambda_e:.4f})")
               + f"; highest P(utility > {design.u_b:g}) among the candidates (open doses: {scores})")
    if futile:
        why += f"; closed for futility: dose level {', '.join(map(str, futile))}"
    action = "escalate" if k > cur else "de-escalate" if k < cur else "stay"
    return Decision("BOIN12", action, k + 1, cur + 1, nc, yc, why, first_elim)


def boin12_select_obd(n: np.ndarray, yt: np.ndarray, ye: np.ndarray, design: Boin12Design) -> int | None:
    """Optimal biological dose (1-based) at the end of a BOIN12 trial, or None.

    The MTD is BOIN's isotonic choice with target phi_T among doses not closed for toxicity; the OBD
    is the tried dose at or below it, not closed for toxicity or futility, with the highest estimated
    utility (isotonic DLT estimate, response rate (y_E + 0.05) / (n + 0.1); lower dose on ties).

    Examples
    --------
    >>> boin12_select_obd([3, 6, 9, 3, 0], [0, 1, 2, 2, 0], [0, 2, 6, 2, 0], boin12_design(0.35, 0.25))
    3
    """
    arrs = [np.asarray(a, dtype=np.int64) for a in (n, yt, ye)]
    if any(a.ndim != 1 or a.shape != arrs[0].shape for a in arrs) or arrs[0].size == 0:
        raise DataValidationError(f"n, yt and ye must be 1-D arrays of the same length >= 1; got shapes "
                                  f"{[a.shape for a in arrs]}")
    n_a, t_a, e_a = arrs
    if (n_a < 0).any() or (t_a < 0).any() or (e_a < 0).any() or (t_a > n_a).any() or (e_a > n_a).any():
        raise DataValidationError(f"need 0 <= yt, ye <= n at every dose; got n={n_a.tolist()}, yt={t_a.tolist()}, "
                                  f"ye={e_a.tolist()}")
    tables = _b12_tables(design, max(int(n_a.max()), 1))
    closed_t, closed = _b12_closed(n_a[None], t_a[None], e_a[None], tables)
    sel = _b12_select(n_a[None], t_a[None], e_a[None], closed_t, closed, design)[0]
    return None if sel < 0 else int(sel) + 1


# ---------------------------------------------------------------------------------------------
# Array kernels (trials along axis 0, dose levels along axis 1; 0-based doses)

_GO, _STOP_NONE, _STOP_SAMPLE = 0, 1, 2


def _b12_tables(design: Boin12Design, n_max: int) -> tuple[np.ndarray, ...]:
    """Per n = 0 … n_max: BOIN escalation / de-escalation / toxicity-closing DLT counts, and the largest
    response count that closes a dose for futility (-1 where none; n >= 3 only)."""
    b = BoinBoundaries(design.target, design.phi1, design.phi2, design.lambda_e, design.lambda_d, design.c_t)
    esc, de, eli = _boin_thresholds(b, n_max)
    fut = np.full(n_max + 1, -1, dtype=np.int64)
    for n in range(3, n_max + 1):
        ys = np.arange(n + 1)
        hit = ys[stats.beta.cdf(design.lower_e, ys + 1, n - ys + 1) > design.c_e]
        if hit.size:
            fut[n] = hit.max()
    return esc, de, eli, fut


def _b12_closed(n: np.ndarray, yt: np.ndarray, ye: np.ndarray,
                tables: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(closed for toxicity — a toxic dose and all above —, closed for toxicity or futility)."""
    _, _, eli, fut = tables
    tox = np.logical_or.accumulate((n >= 3) & (yt >= eli[n]), axis=1)
    return tox, tox | ((n >= 3) & (ye <= fut[n]))


def _b12_score(n, yt, ye, y11, design: Boin12Design) -> np.ndarray:
    """P(u > u_b | data) per dose (quasi-binomial utility, beta(1, 1) prior)."""
    y10, y01 = yt - y11, ye - y11
    y00 = n - yt - ye + y11
    x = (design.u01 * y01 + design.u00 * y00 + design.u11 * y11 + design.u10 * y10) / 100.0
    x = np.round(x, 12)
    return stats.beta.sf(design.u_b / 100.0, 1 + x, 1 + n - x)


def _b12_move(n, yt, ye, y11, cur, closed, design: Boin12Design,
              tables: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Next dose and a stop code (_GO, _STOP_NONE: no admissible dose, _STOP_SAMPLE: n_earlystop
    reached) after the last cohort at ``cur``."""
    esc, de, _, _ = tables
    t, d = n.shape
    rows = np.arange(t)
    idx = np.arange(d)[None, :]
    open_ = ~closed
    nc, yc = n[rows, cur], yt[rows, cur]
    score = np.where(open_, _b12_score(n, yt, ye, y11, design), -np.inf)
    below = np.where(open_ & (idx < cur[:, None]), idx, -1).max(axis=1)
    above = np.where(open_ & (idx > cur[:, None]), idx, d).min(axis=1)
    has_above = above < d
    above_c = np.minimum(above, d - 1)
    deesc = yc >= de[nc]
    # 1. de-escalation
    nxt_de = np.where(below >= 0, below, np.where(open_[rows, cur], cur, -1))
    # 2. best open candidate; ties go to the higher dose
    s_cur = score[rows, cur]
    s_below = np.where(below >= 0, score[rows, np.maximum(below, 0)], -np.inf)
    up_ok = has_above & ((nc < design.n_star) | (yc <= esc[nc]))
    s_up = np.where(up_ok, score[rows, above_c], -np.inf)
    best = np.maximum(np.maximum(s_cur, s_below), s_up)
    nxt_best = np.where(up_ok & (s_up >= best), above_c,
                        np.where(open_[rows, cur] & (s_cur >= best), cur,
                                 np.where(below >= 0, below, -1)))
    nxt_best = np.where(np.isfinite(best), nxt_best, -1)
    nxt = np.where(deesc, nxt_de, nxt_best)
    # 3. dose exploration
    explore = (~deesc) & (nc >= design.n_explore) & has_above & (n[rows, above_c] == 0)
    nxt = np.where(explore, above_c, nxt)
    code = np.where(nxt < 0, _STOP_NONE, _GO)
    if design.n_earlystop is not None:
        code = np.where((code == _GO) & (nc >= design.n_earlystop), _STOP_SAMPLE, code)
    return nxt, code


def _b12_select(n, yt, ye, closed_t, closed, design: Boin12Design) -> np.ndarray:
    """OBD per trial (0-based, -1 for none)."""
    mtd = _boin_select(n, yt, closed_t, design.target)
    nf, tf, ef = n.astype(np.float64), yt.astype(np.float64), ye.astype(np.float64)
    ok_t = (n > 0) & ~closed_t
    var = (tf + 0.05) * (nf - tf + 0.05) / ((nf + 0.1) ** 2 * (nf + 1.1))
    pt = _isotonic_minmax((tf + 0.05) / (nf + 0.1), np.where(ok_t, 1.0 / var, 0.0))
    pt = np.where(ok_t, pt, 1.0)  # doses left out of the fit are not selectable anyway
    pe = (ef + 0.05) / (nf + 0.1)
    util = np.round(design.utility(pt, pe), 10)
    idx = np.arange(n.shape[1])[None, :]
    ok = (n > 0) & ~closed & (idx <= mtd[:, None])
    util = np.where(ok, util, -np.inf)
    sel = np.argmax(util, axis=1)  # first maximum: the lower dose on ties
    return np.where((mtd >= 0) & ok.any(axis=1), sel, -1)


__all__ = ["Boin12Design", "boin12_design", "boin12_next_decision", "boin12_select_obd", "tally_outcomes12"]
