"""Continuous Bayesian safety monitoring with a beta-binomial model (Thall and Simon style).

After each patient, the event probability ``p`` (for example CRS grade >= 3, ICANS grade >= 3 or a
DLT) has posterior ``Beta(a + y, b + n - y)`` given ``y`` events in ``n`` evaluable patients and a
``Beta(a, b)`` prior. Enrolment stops when ``P(p > threshold | y, n) > cutoff``. Because this
posterior probability increases with ``y`` for fixed ``n``, the rule is a boundary: for each ``n`` the
smallest number of events that stops.

References
----------
Thall PF, Simon R, Estey EH (1995). Bayesian sequential monitoring designs for single-arm clinical
trials with multiple outcomes. Statistics in Medicine 14:357-379.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import beta as beta_dist

from cartlab._core.errors import SpecError


def _check_prior(prior: tuple[float, float]) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise SpecError(f"prior must be a pair (a, b) of Beta shape parameters; got {prior!r}") from None
    if not (a > 0.0 and b > 0.0 and math.isfinite(a) and math.isfinite(b)):
        raise SpecError(f"prior Beta(a, b) needs finite a > 0 and b > 0; got a={a!r}, b={b!r}")
    return a, b


def _check_unit(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 < value < 1.0):
        raise SpecError(f"{name} must be strictly between 0 and 1; got {value!r}")
    return value


def posterior_prob_exceeds(y: int, n: int, threshold: float, prior: tuple[float, float] = (1.0, 1.0)) -> float:
    """``P(p > threshold | y events in n patients)`` under a ``Beta(a, b)`` prior.

    Examples
    --------
    >>> round(posterior_prob_exceeds(3, 6, 0.2), 4)  # Beta(4, 4): 1 - I_0.2(4, 4)
    0.9667
    """
    a, b = _check_prior(prior)
    threshold = _check_unit("threshold", threshold)
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise SpecError(f"n (evaluable patients) must be a whole number >= 0; got {n!r}")
    if isinstance(y, bool) or int(y) != y or not (0 <= y <= n):
        raise SpecError(f"y (events) must be a whole number between 0 and n={n}; got {y!r}")
    return float(beta_dist.sf(threshold, a + y, b + n - y))


@dataclass(frozen=True, slots=True)
class StoppingBoundaries:
    """Stopping boundaries of a beta-binomial safety monitoring rule.

    Attributes
    ----------
    event : str
        Name of the monitored event (e.g. ``"CRS grade >= 3"``).
    threshold, cutoff : float
        Stop when ``P(p_event > threshold | data) > cutoff``.
    prior : tuple of float
        ``(a, b)`` of the Beta prior.
    n : tuple of int
        Evaluable patients, ``1..n_max``.
    min_events_to_stop : tuple of (int or None)
        For each ``n``, the smallest number of events that stops (None: no count up to ``n`` stops).
    prob_at_boundary : tuple of (float or None)
        ``P(p > threshold | data)`` at that boundary.
    """

    event: str
    threshold: float
    cutoff: float
    prior: tuple[float, float]
    n: tuple[int, ...]
    min_events_to_stop: tuple[int | None, ...]
    prob_at_boundary: tuple[float | None, ...]

    def stops(self, y: int, n: int) -> bool:
        """True if ``y`` events in ``n`` evaluable patients meet the stopping rule."""
        if isinstance(n, bool) or int(n) != n or not (1 <= n <= len(self.n)):
            raise SpecError(f"n must be a whole number between 1 and n_max={len(self.n)}; got {n!r}")
        if isinstance(y, bool) or int(y) != y or not (0 <= y <= n):
            raise SpecError(f"y (events) must be a whole number between 0 and n={n}; got {y!r}")
        bound = self.min_events_to_stop[int(n) - 1]
        return bound is not None and y >= bound

    def to_rows(self) -> list[dict[str, object]]:
        """One record per ``n``: ``{"event", "n", "min_events_to_stop", "prob_at_boundary"}``."""
        return [
            {"event": self.event, "n": n, "min_events_to_stop": m, "prob_at_boundary": p}
            for n, m, p in zip(self.n, self.min_events_to_stop, self.prob_at_boundary, strict=True)
        ]

    def summary(self) -> str:
        """Short text: the rule and, for each n with a boundary, the events that stop."""
        a, b = self.prior
        head = (
            f"Stop for {self.event} if P(p > {self.threshold:g} | data) > {self.cutoff:g}, "
            f"prior Beta({a:g}, {b:g})"
        )
        cells = [f"n={n}: >= {m}" for n, m in zip(self.n, self.min_events_to_stop, strict=True) if m is not None]
        return head + "\n" + ("; ".join(cells) if cells else "no stopping possible up to n_max")


def stopping_boundaries(
    threshold: float,
    cutoff: float,
    n_max: int,
    prior: tuple[float, float] = (1.0, 1.0),
    *,
    event: str = "DLT",
) -> StoppingBoundaries:
    """Smallest number of events that stops enrolment, for each ``n = 1..n_max``.

    Parameters
    ----------
    threshold : float
        Unacceptable event probability, in (0, 1).
    cutoff : float
        Posterior probability above which the trial stops, in (0, 1) (compared strictly).
    n_max : int
        Largest number of evaluable patients, >= 1.
    prior : tuple of float
        ``(a, b)`` of the Beta prior on the event probability (default Beta(1, 1)).
    event : str
        Name of the monitored event, carried into the result (e.g. ``"CRS grade >= 3"``,
        ``"ICANS grade >= 3"``, ``"DLT"``).

    Returns
    -------
    StoppingBoundaries

    Examples
    --------
    >>> sb = stopping_boundaries(0.2, 0.9, 6, event="CRS grade >= 3")
    >>> sb.min_events_to_stop
    (1, 2, 2, 2, 2, 3)
    """
    threshold = _check_unit("threshold", threshold)
    cutoff = _check_unit("cutoff", cutoff)
    a, b = _check_prior(prior)
    if isinstance(n_max, bool) or int(n_max) != n_max or n_max < 1:
        raise SpecError(f"n_max must be a whole number >= 1; got {n_max!r}")
    if not isinstance(event, str) or not event.strip():
        raise SpecError(f"event must be a non-empty name of the monitored event; got {event!r}")
    mins: list[int | None] = []
    probs: list[float | None] = []
    for n in range(1, int(n_max) + 1):
        # P(p > threshold) increases with y (the Beta family is stochastically ordered), so the
        # first y that stops is the boundary; scanning keeps the strict '>' exactly as stated.
        found: int | None = None
        prob: float | None = None
        for y in range(n + 1):
            q = float(beta_dist.sf(threshold, a + y, b + n - y))
            if q > cutoff:
                found, prob = y, q
                break
        mins.append(found)
        probs.append(prob)
    return StoppingBoundaries(
        event=event,
        threshold=threshold,
        cutoff=cutoff,
        prior=(a, b),
        n=tuple(range(1, int(n_max) + 1)),
        min_events_to_stop=tuple(mins),
        prob_at_boundary=tuple(probs),
    )


__all__ = ["StoppingBoundaries", "posterior_prob_exceeds", "stopping_boundaries"]
