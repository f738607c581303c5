"""Immune effector cell-associated haematotoxicity (ICAHT), EHA/EBMT grading of neutropenia.

Source: Rejeski K et al. Immune effector cell-associated hematotoxicity: EHA/EBMT consensus
grading and best practice recommendations. Blood 2023;142:865-877 (ICAHT grading table).
Early ICAHT (days 0-30 after infusion) is graded by how long the ANC stays ≤ 500/µL and
≤ 100/µL; late ICAHT (after day 30) by the ANC nadir, needing at least two values (not transient).

The consensus leaves two points open, exposed here as options:

* ``duration``: ``"cumulative"`` (default) adds the days of every neutropenic episode in the
  window; ``"longest"`` takes the longest single episode. The default follows the companion
  thrombocytopenia grading (Rejeski et al., Blood Adv 2024, T-ICAHT table note: "the cumulative
  length beneath the respective threshold is calculated ... days of nonstable count recovery
  (<3 days) are counted to the cumulative total").
* the 30-day boundary: ``early_end_day`` (default 30: day 30 is early, day 31 is late) and
  ``exactly_30_days`` — the grade of exactly 30 days ≤ 500/µL, which the table puts both in
  grade 3 ("14-30 days") and grade 4 ("≥ 30 days"); default 4.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._registry import Input, instrument

REJESKI_2023 = ("Rejeski K et al. Immune effector cell-associated hematotoxicity: EHA/EBMT consensus grading and "
                "best practice recommendations. Blood 2023;142:865-877")

#: ANC thresholds (cells/µL, inclusive: ANC ≤ threshold is neutropenic)
ANC_500, ANC_100 = 500.0, 100.0
#: a recovery is stable after this many consecutive days above the threshold
STABLE_RECOVERY_DAYS = 3
#: late ICAHT nadir cut-offs (cells/µL, inclusive) and their grades, most severe first
LATE_CUTS = ((100.0, 4), (500.0, 3), (1000.0, 2), (1500.0, 1))

_DECIMALS = 6  # values are compared to the cut-offs after rounding, so 0.5e3 equals 500 exactly


class Neutropenia(NamedTuple):
    """Neutropenia below one threshold inside the early window.

    ``days`` is the count by the chosen ``duration`` rule; ``episodes`` lists (first day, last
    day) of each episode clipped to the window; ``never_recovered`` is true when an episode that
    began in the window has no stable recovery up to the last value, which lies after the window.
    """

    days: int
    episodes: tuple[tuple[int, int], ...]
    never_recovered: bool


def _daily(day, anc) -> tuple[np.ndarray, np.ndarray]:
    """Expand an irregular series to one value per day (last value carried forward; worst of a day)."""
    d = np.asarray(day, dtype=float).reshape(-1)
    a = np.round(np.asarray(anc, dtype=float).reshape(-1), _DECIMALS)
    if d.shape != a.shape:
        raise ValueError(f"ICAHT: day has {d.size} values but anc has {a.size}")
    keep = ~np.isnan(d) & ~np.isnan(a)
    d, a = d[keep].astype(int), a[keep]
    if d.size == 0:
        return np.zeros(0, int), np.zeros(0)
    days = np.arange(d.min(), d.max() + 1)
    worst = np.full(days.size, np.inf)
    np.minimum.at(worst, d - days[0], a)
    observed = np.isfinite(worst)
    idx = np.maximum.accumulate(np.where(observed, np.arange(days.size), 0))
    return days, worst[idx]


def neutropenia_duration(day, anc_cells_ul, threshold_cells_ul: float, *, duration: str = "cumulative",
                         early_end_day: int = 30) -> Neutropenia:
    """Days with ANC ≤ ``threshold_cells_ul`` in the early window (day 0 to ``early_end_day``).

    An episode starts on a day with ANC ≤ threshold and ends the day before the first of
    :data:`STABLE_RECOVERY_DAYS` consecutive days above it; shorter recoveries count toward it.

    >>> neutropenia_duration([0, 1, 2, 3, 4, 5, 6, 7], [400, 400, 600, 400, 600, 700, 800, 900], 500)
    Neutropenia(days=4, episodes=((0, 3),), never_recovered=False)
    """
    if duration not in ("cumulative", "longest"):
        raise ValueError(f"ICAHT: duration must be 'cumulative' or 'longest'; got {duration!r}")
    days, anc = _daily(day, anc_cells_ul)
    below = anc <= threshold_cells_ul
    episodes: list[tuple[int, int]] = []
    never = False
    k, n = 0, days.size
    starts = np.flatnonzero(below)
    while k < n:
        if not below[k]:
            nxt = np.searchsorted(starts, k)  # jump to the next day at or below the threshold
            if nxt == starts.size:
                break
            k = int(starts[nxt])
        start, j, run = k, k + 1, 0
        last_below = k
        while j < n:
            if below[j]:
                run, last_below = 0, j
            else:
                run += 1
                if run == STABLE_RECOVERY_DAYS:
                    break
            j += 1
        recovered = j < n
        end = (j - STABLE_RECOVERY_DAYS) if recovered else last_below
        lo, hi = max(int(days[start]), 0), min(int(days[end]), early_end_day)
        if lo <= hi:
            episodes.append((lo, hi))
            if not recovered and days[-1] > early_end_day:
                never = True
        k = j + 1
    lengths = [hi - lo + 1 for lo, hi in episodes]
    total = (sum(lengths) if duration == "cumulative" else max(lengths)) if lengths else 0
    return Neutropenia(total, tuple(episodes), never)


#: the ANC series both ICAHT grades read
_ANC_SERIES = (
    Input("day", "int", "study day of each ANC value (day 0 = CAR-T infusion)", "d", low=-60, high=3650),
    Input("anc_cells_ul", "float", "absolute neutrophil count", "/uL", low=0.0, high=1e6),
)


@instrument(
    name="ICAHT-early", version="EHA/EBMT 2023", citation=REJESKI_2023 + " (ICAHT grading table, early)",
    unit="grade", output_range=(0, 4),
    description="Early immune effector cell-associated haematotoxicity (days 0-30) from an ANC series",
    inputs=(
        *_ANC_SERIES,
    ),
    cdisc=("NEUT",),
    options={"duration": "cumulative", "early_end_day": 30, "exactly_30_days": 4},
)
def icaht_early(day, anc_cells_ul, *, duration: str = "cumulative", early_end_day: int = 30,
                exactly_30_days: int = 4) -> int:
    """Early ICAHT grade (0–4) of one patient's ANC series.

    1: 1–6 days ≤ 500/µL; 2: 7–13 days ≤ 500; 3: 14–29 days ≤ 500 or 7–13 days ≤ 100; 4: ≥ 31
    days ≤ 500, ≥ 14 days ≤ 100, or never recovered; exactly 30 days ≤ 500 grades
    ``exactly_30_days`` (see the module notes for the options).

    >>> icaht_early(range(0, 21), [300] * 10 + [800] * 11)
    2
    >>> icaht_early(range(0, 21), [50] * 7 + [300] * 7 + [800] * 7)
    3
    """
    if exactly_30_days not in (3, 4):
        raise ValueError(f"ICAHT: exactly_30_days must be 3 or 4; got {exactly_30_days!r}")
    n500 = neutropenia_duration(day, anc_cells_ul, ANC_500, duration=duration, early_end_day=early_end_day)
    n100 = neutropenia_duration(day, anc_cells_ul, ANC_100, duration=duration, early_end_day=early_end_day)
    return early_grade(n500, n100, exactly_30_days=exactly_30_days)


def early_grade(n500: Neutropenia, n100: Neutropenia, *, exactly_30_days: int = 4) -> int:
    """Early ICAHT grade from the durations at ≤ 500 and ≤ 100/µL (see :func:`icaht_early`)."""
    if exactly_30_days not in (3, 4):
        raise ValueError(f"ICAHT: exactly_30_days must be 3 or 4; got {exactly_30_days!r}")
    d5, d1 = n500.days, n100.days
    if d5 > 30 or d1 >= 14 or n500.never_recovered or (d5 == 30 and exactly_30_days == 4):
        return 4
    if d5 >= 14 or d1 >= 7:
        return 3
    if d5 >= 7:
        return 2
    return 1 if d5 >= 1 else 0


@instrument(
    name="ICAHT-late", version="EHA/EBMT 2023", citation=REJESKI_2023 + " (ICAHT grading table, late)",
    unit="grade", output_range=(0, 4),
    description="Late immune effector cell-associated haematotoxicity (after day 30) from an ANC series",
    inputs=(
        *_ANC_SERIES,
        Input("exclude", "bool", "value to ignore (cytopenia due to relapse or another cause)", optional=True),
    ),
    cdisc=("NEUT",),
    options={"early_end_day": 30, "min_values": 2},
)
def icaht_late(day, anc_cells_ul, exclude=None, *, early_end_day: int = 30, min_values: int = 2) -> int:
    """Late ICAHT grade (0–4): nadir after ``early_end_day`` reached by at least ``min_values`` values.

    Grade g needs ``min_values`` values at or below its cut-off (≤ 1500 → 1, ≤ 1000 → 2,
    ≤ 500 → 3, ≤ 100 → 4 /µL), so one transient low value does not grade.

    >>> icaht_late([35, 60, 90], [900, 450, 1200])
    2
    >>> icaht_late([30, 60], [100, 100])
    0
    """
    d = np.asarray(day, dtype=float).reshape(-1)
    a = np.round(np.asarray(anc_cells_ul, dtype=float).reshape(-1), _DECIMALS)
    keep = (d > early_end_day) & ~np.isnan(a)
    if exclude is not None:
        ex = np.asarray(exclude).reshape(-1)
        keep &= ~np.array([bool(v) if v is not None and v == v else False for v in ex])
    vals = np.sort(a[keep])
    if vals.size < min_values:
        return 0
    nadir = vals[min_values - 1]
    for cut, grade in LATE_CUTS:
        if nadir <= cut:
            return grade
    return 0
