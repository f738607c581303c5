"""Interval designs for dose finding: mTPI-2 (Guo et al. 2017) and Keyboard (Yan et al. 2017).

Both designs put a Beta(1, 1) prior on the DLT probability ``p`` of the current dose, so that after
``y`` DLTs in ``n`` patients ``p | data ~ Beta(1 + y, 1 + n - y)``, and compare the posterior with the
equivalence interval ``EI = (target - eps1, target + eps2)`` of width ``w = eps1 + eps2``.

- **mTPI-2**: [0, 1] is cut into the EI and intervals of width ``w`` below and above it (the
  intervals touching 0 and 1 may be shorter). The interval with the largest *unit probability mass*
  ``UPM = P(p in interval | data) / length`` decides: below the EI escalate (E), the EI stay (S),
  above it de-escalate (D).
- **Keyboard**: the same grid of *keys* of width ``w``, but incomplete keys at the ends are
  dropped; the key with the largest posterior probability decides in the same way.

Safety rule of both papers: if ``P(p > target | data) > 0.95`` (and at least ``min_n_eliminate``
patients have been treated at the dose) the dose and all higher doses are eliminated (DU).

References
----------
Guo W, Wang SJ, Yang S, Lynn H, Ji Y (2017). A Bayesian interval dose-finding design addressing
Ockham's razor: mTPI-2. Contemporary Clinical Trials 58:23-33.
Yan F, Mandrekar SJ, Yuan Y (2017). Keyboard: a novel Bayesian toxicity probability interval design
for phase I clinical trials. Clinical Cancer Research 23:3994-4003.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta as beta_dist

from cartlab._core.errors import SpecError

IntervalDesign = Literal["mtpi2", "keyboard"]
INTERVAL_DESIGNS: tuple[str, ...] = ("mtpi2", "keyboard")

# Edges within this distance of 0, 1 or a grid point are the same point (guards float round-off
# such as 0.25 - 2 * 0.1 != 0.05).
_EDGE_TOL = 1e-9


class IntervalDecision(str, Enum):
    """Decision of an interval design for the next cohort (values are the codes of the papers' tables)."""

    ESCALATE = "E"
    STAY = "S"
    DEESCALATE = "D"
    ELIMINATE = "DU"  # de-escalate; the current and all higher doses are never used again


def _check_design_args(target: float, eps1: float, eps2: float) -> tuple[float, float, float]:
    target, eps1, eps2 = float(target), float(eps1), float(eps2)
    if not (0.0 < target < 1.0):
        raise SpecError(f"target must be strictly between 0 and 1; got {target!r}")
    if not (0.0 < eps1 < target):
        raise SpecError(f"eps1 must be > 0 and < target={target:g}; got {eps1!r}")
    if not (0.0 < eps2 < 1.0 - target):
        raise SpecError(f"eps2 must be > 0 and < 1 - target={1.0 - target:g}; got {eps2!r}")
    return target, eps1, eps2


def _check_ny(n: int, y: int) -> tuple[int, int]:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise SpecError(f"n (patients at the current dose) must be a whole number >= 1; got {n!r}")
    if isinstance(y, bool) or int(y) != y or not (0 <= y <= n):
        raise SpecError(f"y (DLTs at the current dose) must be a whole number between 0 and n={n}; got {y!r}")
    return int(n), int(y)


def interval_grid(
    target: float, eps1: float, eps2: float, *, partial: bool
) -> tuple[NDArray[np.float64], int]:
    """Edges of the mTPI-2 / Keyboard grid and the index of the equivalence interval.

    Parameters
    ----------
    target, eps1, eps2 : float
        Target and margins of the equivalence interval ``(target - eps1, target + eps2)``.
    partial : bool
        Keep the shorter intervals touching 0 and 1 (mTPI-2) or drop them (Keyboard).

    Returns
    -------
    edges : numpy.ndarray
        Increasing edges; interval ``j`` is ``(edges[j], edges[j + 1])``.
    ei : int
        Index of the equivalence interval.

    Examples
    --------
    >>> edges, ei = interval_grid(0.3, 0.05, 0.05, partial=True)
    >>> [round(float(e), 2) for e in edges], ei
    ([0.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0], 3)
    """
    target, eps1, eps2 = _check_design_args(target, eps1, eps2)
    w = eps1 + eps2
    lo, hi = target - eps1, target + eps2
    n_below = math.floor(lo / w + _EDGE_TOL)
    n_above = math.floor((1.0 - hi) / w + _EDGE_TOL)
    below = [lo - k * w for k in range(n_below, 0, -1)]
    above = [hi + k * w for k in range(1, n_above + 1)]
    edges = [*below, lo, hi, *above]
    if partial and edges[0] > _EDGE_TOL:
        edges.insert(0, 0.0)
    if partial and edges[-1] < 1.0 - _EDGE_TOL:
        edges.append(1.0)
    arr = np.clip(np.asarray(edges, dtype=float), 0.0, 1.0)
    ei = int(np.flatnonzero(np.isclose(arr, lo, atol=_EDGE_TOL))[0])
    return arr, ei


def _decide(
    design: str,
    n: int,
    y: int,
    target: float,
    eps1: float,
    eps2: float,
    elimination_cutoff: float,
    min_n_eliminate: int,
) -> IntervalDecision:
    n, y = _check_ny(n, y)
    a, b = 1.0 + y, 1.0 + n - y
    if n >= min_n_eliminate and float(beta_dist.sf(target, a, b)) > elimination_cutoff:
        return IntervalDecision.ELIMINATE
    edges, ei = interval_grid(target, eps1, eps2, partial=(design == "mtpi2"))
    mass = np.diff(beta_dist.cdf(edges, a, b))
    score = mass / np.diff(edges) if design == "mtpi2" else mass
    best = int(np.argmax(score))
    if best < ei:
        return IntervalDecision.ESCALATE
    if best > ei:
        return IntervalDecision.DEESCALATE
    return IntervalDecision.STAY


def _check_rule(elimination_cutoff: float, min_n_eliminate: int) -> None:
    if not (0.0 < float(elimination_cutoff) < 1.0):
        raise SpecError(f"elimination_cutoff must be strictly between 0 and 1; got {elimination_cutoff!r}")
    if isinstance(min_n_eliminate, bool) or int(min_n_eliminate) != min_n_eliminate or min_n_eliminate < 1:
        raise SpecError(f"min_n_eliminate must be a whole number >= 1; got {min_n_eliminate!r}")


def mtpi2_decision(
    n: int,
    y: int,
    target: float,
    eps1: float = 0.05,
    eps2: float = 0.05,
    *,
    elimination_cutoff: float = 0.95,
    min_n_eliminate: int = 3,
) -> IntervalDecision:
    """mTPI-2 decision after ``y`` DLTs in ``n`` patients at the current dose.

    Parameters
    ----------
    n, y : int
        Patients treated and DLTs observed at the current dose (``1 <= n``, ``0 <= y <= n``).
    target : float
        Target DLT probability ``pT``.
    eps1, eps2 : float
        Equivalence interval ``(pT - eps1, pT + eps2)``.
    elimination_cutoff : float
        Eliminate (DU) when ``P(p > pT | data) > elimination_cutoff`` (0.95 in the paper).
    min_n_eliminate : int
        Apply the elimination rule only once this many patients were treated at the dose
        (3, as in the published tables; 1 applies it always).

    Returns
    -------
    IntervalDecision

    Examples
    --------
    >>> [mtpi2_decision(3, y, 0.3).value for y in range(4)]
    ['E', 'S', 'D', 'DU']
    """
    target, eps1, eps2 = _check_design_args(target, eps1, eps2)
    _check_rule(elimination_cutoff, min_n_eliminate)
    return _decide("mtpi2", n, y, target, eps1, eps2, float(elimination_cutoff), int(min_n_eliminate))


def keyboard_decision(
    n: int,
    y: int,
    target: float,
    eps1: float = 0.05,
    eps2: float = 0.05,
    *,
    elimination_cutoff: float = 0.95,
    min_n_eliminate: int = 3,
) -> IntervalDecision:
    """Keyboard decision after ``y`` DLTs in ``n`` patients at the current dose.

    Parameters are as for :func:`mtpi2_decision`; the strongest key (largest posterior
    probability among the complete keys of width ``eps1 + eps2``) decides.

    Examples
    --------
    >>> [keyboard_decision(3, y, 0.3).value for y in range(4)]
    ['E', 'S', 'D', 'DU']
    """
    target, eps1, eps2 = _check_design_args(target, eps1, eps2)
    _check_rule(elimination_cutoff, min_n_eliminate)
    return _decide("keyboard", n, y, target, eps1, eps2, float(elimination_cutoff), int(min_n_eliminate))


@dataclass(frozen=True, slots=True)
class DecisionTable:
    """Decisions of an interval design for every ``n = 1..n_max`` and ``y = 0..n``.

    Attributes
    ----------
    design : str
        ``"mtpi2"`` or ``"keyboard"``.
    target, eps1, eps2, elimination_cutoff : float
        Design parameters.
    min_n_eliminate : int
        Smallest ``n`` at which the elimination rule applies.
    decisions : tuple of tuple of str
        ``decisions[n - 1][y]`` is the decision code (E, S, D, DU) after ``y`` DLTs in ``n`` patients.
    """

    design: str
    target: float
    eps1: float
    eps2: float
    elimination_cutoff: float
    min_n_eliminate: int
    decisions: tuple[tuple[str, ...], ...]

    @property
    def n_max(self) -> int:
        """Largest number of patients tabulated."""
        return len(self.decisions)

    def decision(self, n: int, y: int) -> str:
        """Decision code after ``y`` DLTs in ``n`` patients."""
        n, y = _check_ny(n, y)
        if n > self.n_max:
            raise SpecError(f"n must be <= n_max={self.n_max} of this table; got {n}")
        return self.decisions[n - 1][y]

    def to_rows(self) -> list[dict[str, object]]:
        """One record per ``(n, y)`` cell: ``{"n", "y", "decision"}``."""
        return [
            {"n": n, "y": y, "decision": code}
            for n, row in enumerate(self.decisions, start=1)
            for y, code in enumerate(row)
        ]

    def summary(self) -> str:
        """Text table laid out as in the papers: one row per number of DLTs, one column per n."""
        head = "y\\n " + " ".join(f"{n:>3d}" for n in range(1, self.n_max + 1))
        lines = [
            f"{self.design} decision table: target={self.target:g}, EI=({self.target - self.eps1:g}, "
            f"{self.target + self.eps2:g})",
            head,
        ]
        for y in range(self.n_max + 1):
            cells = [f"{row[y]:>3s}" if y < len(row) else "   " for row in self.decisions]
            lines.append(f"{y:>3d} " + " ".join(cells))
        return "\n".join(lines)


def decision_table(
    design: IntervalDesign,
    target: float,
    eps1: float = 0.05,
    eps2: float = 0.05,
    n_max: int = 12,
    *,
    elimination_cutoff: float = 0.95,
    min_n_eliminate: int = 3,
) -> DecisionTable:
    """Full decision table of mTPI-2 or Keyboard for ``n = 1..n_max``.

    Examples
    --------
    >>> t = decision_table("mtpi2", 0.3, n_max=6)
    >>> t.decision(6, 2), t.decision(6, 4)
    ('S', 'DU')
    """
    if design not in INTERVAL_DESIGNS:
        raise SpecError(f"design must be one of {INTERVAL_DESIGNS}; got {design!r}")
    target, eps1, eps2 = _check_design_args(target, eps1, eps2)
    _check_rule(elimination_cutoff, min_n_eliminate)
    if isinstance(n_max, bool) or int(n_max) != n_max or n_max < 1:
        raise SpecError(f"n_max must be a whole number >= 1; got {n_max!r}")
    rows = tuple(
        tuple(
            _decide(design, n, y, target, eps1, eps2, float(elimination_cutoff), int(min_n_eliminate)).value
            for y in range(n + 1)
        )
        for n in range(1, int(n_max) + 1)
    )
    return DecisionTable(
        design=design,
        target=target,
        eps1=eps1,
        eps2=eps2,
        elimination_cutoff=float(elimination_cutoff),
        min_n_eliminate=int(min_n_eliminate),
        decisions=rows,
    )


def mtpi2_table(target: float, eps1: float = 0.05, eps2: float = 0.05, n_max: int = 12, **rule: float) -> DecisionTable:
    """mTPI-2 decision table; shorthand for ``decision_table("mtpi2", ...)``."""
    return decision_table("mtpi2", target, eps1, eps2, n_max, **rule)  # type: ignore[arg-type]


def keyboard_table(
    target: float, eps1: float = 0.05, eps2: float = 0.05, n_max: int = 12, **rule: float
) -> DecisionTable:
    """Keyboard decision table; shorthand for ``decision_table("keyboard", ...)``."""
    return decision_table("keyboard", target, eps1, eps2, n_max, **rule)  # type: ignore[arg-type]


__all__ = [
    "INTERVAL_DESIGNS",
    "DecisionTable",
    "IntervalDecision",
    "decision_table",
    "interval_grid",
    "keyboard_decision",
    "keyboard_table",
    "mtpi2_decision",
    "mtpi2_table",
]
