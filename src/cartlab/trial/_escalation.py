"""A protocol's ``[design]``: Part A dose escalation, then Part B expansion at the selected dose.

The ``[[arms]]`` are the dose levels, lowest first. Patient ``j`` of dose level ``a`` is always the same
virtual patient (``SeedSequence(seed, spawn_key=(replicate, a, j))``, as in :func:`run_trial`), so the
trial is run in two passes:

1. a pool: every dose level's first ``cap + expansion_n`` virtual patients (``cap`` = the most Part A
   can treat at one level), screened, treated and graded by the virtual site; their DLT (CRS or ICANS
   grade >= 3 within the DLT window) and response (:func:`dose_outcomes`) are what the escalation sees;
2. the escalation itself, cohort by cohort, with the design's decision rules
   (:mod:`cartlab.design`: BOIN, 3+3 or BOIN12), taking each dose level's patients in order; then
   Part B takes the next ``expansion_n`` patients of the selected level.

The stored trial is then simulated for exactly the patients treated (same seeds, so the same
patients and outcomes; checked), giving SDTM tables of the trial that was run, plus two tables:
``escalation`` (one row per treated patient: part, cohort, dose level, DLT, response) and
``escalation_decisions`` (one row per Part A cohort, with the decision and its reason, and a last
row with the selection).

Simplification: visit dates come from each patient's dose level and place in it (as in a parallel-arm
run), not from the calendar order of the escalation.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from .._core.errors import CartlabError
from ..design import (
    Cohort,
    Cohort12,
    boin12_design,
    boin12_next_decision,
    boin12_select_obd,
    boin_next_decision,
    boin_select_mtd,
    threeplus3_next_decision,
)
from ..model import SolverOptions
from ..protocol import Protocol
from ._dose_outcomes import dose_outcomes
from ._execute import TrialRun, run_trial


def run_escalation(protocol: Protocol, *, seed: int, replicate: int = 0,
                   progress: Callable[[int, int], None] | None = None,
                   options: SolverOptions = SolverOptions()) -> TrialRun:
    """Run a protocol with a ``[design]`` table: Part A escalation, Part B expansion.

    Returns the :class:`TrialRun` of the patients actually treated (its ``protocol`` has one arm
    per dose level that treated anyone, and no ``[design]``); its tables include ``escalation`` and
    ``escalation_decisions``. Same seed and replicate, same bytes.
    """
    design = protocol.design
    if design is None:
        raise CartlabError(f"{protocol.trial.study_id}: run_escalation needs a protocol with a [design] table")
    levels = protocol.arms
    m = len(levels)
    size = design.cohort_size
    n_cohorts = 2 * m if design.method == "3+3" else design.max_cohorts
    cap = 6 if design.method == "3+3" else design.max_cohorts * size
    base = protocol.model_copy(update={"design": None})
    pool = run_trial(base.with_arm_sizes(cap + design.expansion_n), seed=seed, replicate=replicate,
                     progress=progress, options=options)
    day = design.response_day if design.response_day is not None else protocol.endpoints.primary_day
    outcomes = dose_outcomes(pool.tables, protocol.indication, day, dlt_window_days=design.dlt_window_days)
    queue = {arm.code: outcomes.filter(pl.col("ARMCD") == arm.code).select("USUBJID", "DLT", "RESPONSE").rows()
             for arm in levels}
    b12 = (boin12_design(design.target, design.lower_e, u11=design.u11, u00=design.u00,  # type: ignore[arg-type]
                         u10=design.u10, u01=design.u01, n_earlystop=design.n_earlystop)
           if design.method == "boin12" else None)

    taken = [0] * m
    patients: list[dict] = []
    decisions: list[dict] = []
    history: list[tuple[int, tuple[bool, ...], tuple[bool, ...]]] = []
    cur, last, stopped_without_dose = 0, None, False
    for c in range(1, n_cohorts + 1):
        code = levels[cur].code
        cohort = queue[code][taken[cur]: taken[cur] + size]
        taken[cur] += len(cohort)
        for uid, dlt, resp in cohort:
            patients.append({"USUBJID": uid, "PART": "A", "COHORT": c, "ARMCD": code, "DOSE_LEVEL": cur + 1,
                             "DLT": dlt, "RESPONSE": resp})
        history.append((cur + 1, tuple(r[1] for r in cohort), tuple(r[2] for r in cohort)))
        last = _decide(design, b12, history, m)
        n_at = taken[cur]
        if (design.method == "boin" and design.n_earlystop is not None and last.action != "stop"
                and n_at >= design.n_earlystop and last.next_dose == cur + 1):
            # BOIN get.oc's n.earlystop: enough patients at the current dose and the rule says stay
            last = type(last)(last.design, "stop", None, last.current_dose, last.n, last.y,
                              f"{last.reason}; {n_at} patients at dose level {cur + 1} >= n_earlystop = "
                              f"{design.n_earlystop}: stop", last.eliminated_from)
        d_at = [p for p in patients if p["DOSE_LEVEL"] == cur + 1]
        decisions.append({"COHORT": c, "ARMCD": code, "DOSE_LEVEL": cur + 1, "N_AT_DOSE": n_at,
                          "DLT_AT_DOSE": sum(p["DLT"] for p in d_at), "RESPONSE_AT_DOSE": sum(p["RESPONSE"] for p in d_at),
                          "ACTION": last.action, "NEXT_DOSE_LEVEL": last.next_dose, "REASON": last.reason})
        if last.action == "stop":
            stopped_without_dose = last.mtd is None and last.obd is None and "n_earlystop" not in last.reason
            break
        cur = int(last.next_dose) - 1  # type: ignore[arg-type]
        if taken[cur] + size > len(queue[levels[cur].code]):
            raise CartlabError(f"internal: the pool of dose level {cur + 1} is exhausted")
    selected = _select(design, b12, last, patients, m, stopped_without_dose)
    why = (f"selected dose level {selected} ({levels[selected - 1].code})" if selected is not None
           else "no dose selected")
    decisions.append({"COHORT": None, "ARMCD": None if selected is None else levels[selected - 1].code,
                      "DOSE_LEVEL": selected, "N_AT_DOSE": None, "DLT_AT_DOSE": None, "RESPONSE_AT_DOSE": None,
                      "ACTION": "select", "NEXT_DOSE_LEVEL": None,
                      "REASON": why + ("; Part B expansion of " + str(design.expansion_n)
                                       if selected is not None and design.expansion_n else "")})
    if selected is not None and design.expansion_n:
        k = selected - 1
        for uid, dlt, resp in queue[levels[k].code][taken[k]: taken[k] + design.expansion_n]:
            patients.append({"USUBJID": uid, "PART": "B", "COHORT": None, "ARMCD": levels[k].code,
                             "DOSE_LEVEL": selected, "DLT": dlt, "RESPONSE": resp})
        taken[k] += design.expansion_n

    keys = tuple(a for a in range(m) if taken[a] > 0)
    arms = tuple(levels[a].model_copy(update={"n": taken[a]}) for a in keys)
    final_proto = base.model_copy(update={"arms": arms, "overrides": (
        *base.overrides, "escalation: " + ", ".join(f"{levels[a].code}={taken[a]}" for a in keys))})
    final = run_trial(final_proto, seed=seed, replicate=replicate, options=options, arm_keys=keys)
    treated = pl.DataFrame(patients, schema={"USUBJID": pl.Utf8, "PART": pl.Utf8, "COHORT": pl.Int64,
                                             "ARMCD": pl.Utf8, "DOSE_LEVEL": pl.Int64, "DLT": pl.Boolean,
                                             "RESPONSE": pl.Boolean})
    check = dose_outcomes(final.tables, protocol.indication, day, dlt_window_days=design.dlt_window_days)
    if sorted(check.select("USUBJID", "DLT", "RESPONSE").rows()) != sorted(
            treated.select("USUBJID", "DLT", "RESPONSE").rows()):
        raise CartlabError("internal: the stored trial's patients differ from those the escalation saw")
    tables = dict(final.tables)
    tables["escalation"] = treated
    tables["escalation_decisions"] = pl.DataFrame(decisions, schema={
        "COHORT": pl.Int64, "ARMCD": pl.Utf8, "DOSE_LEVEL": pl.Int64, "N_AT_DOSE": pl.Int64, "DLT_AT_DOSE": pl.Int64,
        "RESPONSE_AT_DOSE": pl.Int64, "ACTION": pl.Utf8, "NEXT_DOSE_LEVEL": pl.Int64, "REASON": pl.Utf8})
    return TrialRun(final_proto, seed, replicate, tables, final.n_screened, final.n_failed_solves)


def _decide(design, b12, history, m: int):
    if design.method == "boin12":
        return boin12_next_decision(tuple(Cohort12(d, t, e) for d, t, e in history), m, b12)
    cohorts = tuple(Cohort(d, t) for d, t, _ in history)
    if design.method == "boin":
        return boin_next_decision(cohorts, m, design.target)
    return threeplus3_next_decision(cohorts, m)


def _select(design, b12, last, patients: list[dict], m: int, stopped_without_dose: bool) -> int | None:
    """The dose Part A selects (1-based), or None."""
    if last is None or stopped_without_dose:
        return None
    if design.method == "3+3":
        return last.mtd
    if design.method == "boin12" and last.obd is not None:
        return last.obd
    n = [sum(1 for p in patients if p["DOSE_LEVEL"] == k + 1) for k in range(m)]
    y = [sum(p["DLT"] for p in patients if p["DOSE_LEVEL"] == k + 1) for k in range(m)]
    if design.method == "boin":
        return boin_select_mtd(n, y, design.target)
    e = [sum(p["RESPONSE"] for p in patients if p["DOSE_LEVEL"] == k + 1) for k in range(m)]
    return boin12_select_obd(n, y, e, b12)


__all__ = ["run_escalation"]
