"""The classic 3+3 dose-escalation design.

Rules (Storer BE. Design and analysis of phase I clinical trials. Biometrics 1989; 45:925-937;
Le Tourneau C, Lee JJ, Siu LL. J Natl Cancer Inst 2009; 101:708-720), cohorts of 3 at the
current dose:

* 0/3 DLT: escalate; at the highest dose, or below a dose already found too toxic, expand to 6.
* 1/3: expand the dose to 6 patients.
* <= 1/6: escalate; at the highest dose, or below a too-toxic dose, stop.
* >= 2 DLTs (of 3 or 6): the dose is too toxic and never used again; go down one dose and expand
  it to 6 if it has only 3, stop if it already has 6; at dose level 1 stop with no MTD.

The MTD is the highest dose with 6 patients and <= 1 DLT below the lowest too-toxic dose.

The array kernel ``_tpt_move`` works on many trials at once; :func:`threeplus3_next_decision`
calls it with one trial, so a single decision and a simulated trial follow the same rules.
"""

from __future__ import annotations

import numpy as np

from ._boin import _check_n_doses
from ._outcomes import Cohort, Decision, as_cohorts, tally_outcomes

#: Cohort size of the classic design.
COHORT_SIZE = 3


def threeplus3_next_decision(outcomes: str | tuple[Cohort, ...] | list[Cohort], n_doses: int) -> Decision:
    """3+3 decision for the next cohort, given the outcomes so far (current dose: the last cohort's).

    A dose with fewer than 3 (or between 3 and 6) patients and no reason to move is completed
    ("stay"). When the trial stops, ``mtd`` is the declared dose (None if even dose level 1 is
    too toxic).

    Examples
    --------
    >>> threeplus3_next_decision("1NNN", 5).action
    'escalate'
    >>> d = threeplus3_next_decision("1NNN 2NNT 2NNN 3TNT", 5)
    >>> d.action, d.mtd
    ('stop', 2)
    """
    n_doses = _check_n_doses(n_doses)
    cohorts = as_cohorts(outcomes, n_doses)
    if not cohorts:
        return Decision("3+3", "escalate", 1, None, 0, 0, "no patient treated yet: start at dose level 1")
    n, y = tally_outcomes(cohorts, n_doses)
    cur = cohorts[-1].dose - 1
    nxt, stop, mtd = _tpt_move(n[None, :], y[None, :], np.array([cur]))
    nc, yc = int(n[cur]), int(y[cur])
    toxic = y >= 2
    first_toxic = int(np.argmax(toxic)) + 1 if toxic.any() else None
    here = f"{yc}/{nc} at dose level {cur + 1}"
    if stop[0]:
        m = int(mtd[0])
        if m < 0:
            why = f"{here}: dose level 1 is too toxic; stop, no MTD"
        else:
            why = f"{here}: stop; MTD = dose level {m + 1} ({int(y[m])}/{int(n[m])})"
        return Decision("3+3", "stop", None, cur + 1, nc, yc, why, first_toxic, None if m < 0 else m + 1)
    k = int(nxt[0])
    if k < cur:
        why = f"{here} (>= 2 DLTs): too toxic; expand dose level {k + 1} to 6"
    elif k > cur:
        why = f"{here}: escalate"
    elif nc < COHORT_SIZE:
        why = f"{here}: complete the cohort of {COHORT_SIZE}"
    else:
        why = f"{here}: expand to 6"
        if yc == 0:
            why += f" (dose level {cur + 1} is the highest)" if cur + 1 == n_doses else \
                f" (dose level {cur + 2} is too toxic)"
    action = "escalate" if k > cur else "de-escalate" if k < cur else "stay"
    return Decision("3+3", action, k + 1, cur + 1, nc, yc, why, first_toxic)


def threeplus3_mtd(n: np.ndarray, y: np.ndarray) -> int | None:
    """MTD (1-based) of a finished 3+3 trial: the highest dose with >= 6 patients and <= 1 DLT below
    the lowest dose with >= 2 DLTs; None if there is none.

    Examples
    --------
    >>> threeplus3_mtd([6, 6, 3, 0], [0, 1, 2, 0])
    2
    """
    m = _tpt_mtd(np.asarray(n, dtype=np.int64)[None, :], np.asarray(y, dtype=np.int64)[None, :])[0]
    return None if m < 0 else int(m) + 1


# ---------------------------------------------------------------------------------------------
# Array kernels (trials along axis 0, dose levels along axis 1; 0-based doses)


def _tpt_mtd(n: np.ndarray, y: np.ndarray) -> np.ndarray:
    toxic = y >= 2
    below = ~np.logical_or.accumulate(toxic, axis=1)  # doses under the lowest too-toxic one
    ok = below & (n >= 6) & (y <= 1)
    d = n.shape[1]
    highest = d - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), highest, -1)


def _tpt_move(n: np.ndarray, y: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Next dose, stop flag and MTD (-1 if none or not stopped) after the last cohort at ``cur``."""
    rows = np.arange(cur.size)
    d = n.shape[1]
    nc, yc = n[rows, cur], y[rows, cur]
    up_dose = np.minimum(cur + 1, d - 1)
    can_up = (cur + 1 < d) & (y[rows, up_dose] < 2) & (n[rows, up_dose] < 6)
    low_dose = np.maximum(cur - 1, 0)

    too_toxic = yc >= 2
    go_down = too_toxic & (cur > 0) & (n[rows, low_dose] < 6)
    up = ~too_toxic & (((nc == COHORT_SIZE) & (yc == 0)) | (nc >= 6)) & can_up
    stop = (too_toxic & ~go_down) | (~too_toxic & (nc >= 6) & ~can_up)
    nxt = cur + up.astype(np.int64) - go_down.astype(np.int64)
    mtd = np.where(stop, _tpt_mtd(n, y), -1)
    return nxt, stop, mtd


__all__ = ["COHORT_SIZE", "threeplus3_mtd", "threeplus3_next_decision"]
