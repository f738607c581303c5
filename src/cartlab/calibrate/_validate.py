"""``validate-model``: for every target, replicate virtual trials of the reported size and compare.

Replicate ``r`` of a trial design runs :func:`cartlab.trial.run_trial` with ``replicate=r``, so each
patient draws from its own ``SeedSequence(seed, spawn_key=(r, arm, j))`` child: results do not
depend on how the replicates are batched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from .._core.errors import SpecError
from ..protocol import Protocol
from ..trial import run_trial
from ._metrics import trial_metrics
from ._targets import Target, TargetSet


#: target metric -> (metric drawn over the visits, schedule it follows): the trajectories of the
#: validation figures (SLEDAI-2K, SSc pFVC, IIM MMT-8 and TIS, B-cell return) up to day 365
TRAJECTORIES = {
    "sledai2k_change_median": ("sledai2k_change_median", "disease_days"),
    "fvc_pct_pred_relative_change_median": ("fvc_pct_pred_relative_change_median", "disease_days"),
    "mmt8_relative_change_median": ("mmt8_relative_change_median", "disease_days"),
    "tis_moderate_or_major": ("tis_moderate_or_major", "disease_days"),
    "bcell_depleted": ("bcell_detectable", "lab_days"),
}
TRAJECTORY_DAYS = 365


def _trajectory_targets(protocol: Protocol, targets: tuple[Target, ...]) -> dict[tuple, list[Target]]:
    """Per trial design, synthetic targets (id ``~protocol|metric|arm|day``) for each trajectory point."""
    out: dict[tuple, list[Target]] = {}
    seen: set[str] = set()
    for t in targets:
        if not t.simulated or t.metric not in TRAJECTORIES:
            continue
        metric, sched = TRAJECTORIES[t.metric]
        for d in getattr(protocol.schedule, sched):
            tid = f"~{t.protocol}|{metric}|{t.arm or 'all'}|{d}"
            if 0 < d <= TRAJECTORY_DAYS and tid not in seen:
                seen.add(tid)
                out.setdefault(arm_sizes(protocol, t), []).append(
                    Target(tid, t.protocol, t.cohort, t.arm, metric, d, None, 0.0, 0.0, t.n, "trajectory"))
    return out


@dataclass(frozen=True)
class ValidationResult:
    """Reported vs simulated, one row per target.

    Attributes
    ----------
    table : polars.DataFrame
        ``id, protocol, cohort, arm, metric, day, reported, lower, upper, n, sim_median, sim_lo,
        sim_hi, inside, assessable, replicates, source, note``: ``sim_lo``/``sim_hi`` are the 5th
        and 95th percentiles (linear interpolation) across replicate trials — the 90 % prediction
        interval — and ``assessable`` is the number of replicates with a value (NaN when no patient
        was assessable).
    draws : polars.DataFrame
        ``id, replicate, value``: each replicate trial's value (for plots).
    replicates, seed : int
    targets_version : str
    seconds : float
        Wall time of the simulations.
    patients : int
        Virtual patients simulated (treated, over all replicates and trial designs).
    parameters : dict
        Parameter overrides the trials ran with (empty: the model's defaults).
    trajectories : polars.DataFrame
        ``protocol, arm, metric, day, sim_median, sim_lo, sim_hi``: the trajectory metrics
        (:data:`TRAJECTORIES`) at each visit to day 365, median and 90 % PI across replicates.
    failed_solves : int
        Virtual patients whose solve failed (their data stop at the failure).
    """

    table: pl.DataFrame
    draws: pl.DataFrame
    replicates: int
    seed: int
    targets_version: str
    seconds: float
    patients: int
    parameters: dict
    trajectories: pl.DataFrame
    failed_solves: int = 0

    @property
    def n_outside(self) -> int:
        """Simulated targets whose reported value lies outside its 90 % prediction interval."""
        return int(self.table.filter(pl.col("inside") == False).height)  # noqa: E712


def arm_sizes(protocol: Protocol, target: Target) -> tuple[tuple[str, int], ...]:
    """The trial design a target is compared in: each arm's size.

    A target with an arm and ``n`` sets that arm to ``n`` (others as in the protocol); a pooled
    target with ``n`` in a single-arm protocol sets the arm to ``n``; otherwise the protocol's sizes.
    """
    sizes = {a.code: a.n for a in protocol.arms}
    if target.arm is not None and target.arm not in sizes:
        raise SpecError(f"target {target.id}: arm {target.arm!r} is not an arm of protocol {target.protocol} "
                        f"(arms: {', '.join(sizes)})")
    if target.n is not None:
        if target.arm is not None:
            sizes[target.arm] = target.n
        elif len(sizes) == 1:
            sizes = {k: target.n for k in sizes}
    return tuple(sizes.items())


def resized(protocol: Protocol, sizes: tuple[tuple[str, int], ...]) -> Protocol:
    """``protocol`` with the given arm sizes (``overrides`` records the change)."""
    n = dict(sizes)
    if all(a.n == n[a.code] for a in protocol.arms):
        return protocol
    arms = tuple(a.model_copy(update={"n": int(n[a.code])}) for a in protocol.arms)
    note = "arms.n=" + ",".join(f"{k}:{v}" for k, v in sizes)
    return protocol.model_copy(update={"arms": arms, "overrides": (*protocol.overrides, note)})


def with_parameters(protocol: Protocol, parameters: Mapping[str, float]) -> Protocol:
    """``protocol`` whose product carries ``parameters`` as model-parameter overrides.

    The protocol's own ``[product.parameters]`` are kept for names not in ``parameters``.
    """
    if not parameters:
        return protocol
    merged = {**dict(protocol.product.parameters), **{k: float(v) for k, v in parameters.items()}}
    product = protocol.product.model_validate({**protocol.product.model_dump(), "parameters": merged})
    note = "product.parameters=" + ",".join(f"{k}:{v:.6g}" for k, v in parameters.items())
    return protocol.model_copy(update={"product": product, "overrides": (*protocol.overrides, note)})


def simulate_targets(protocol: Protocol, targets: tuple[Target, ...], *, seed: int, replicate: int,
                     trajectories: bool = False) -> tuple[dict[str, float], int, int]:
    """One replicate of every trial design the targets need: their values, the patients treated and
    the patients whose solve failed (recorded up to the failure, :func:`cartlab.trial.run_trial`).

    With ``trajectories``, also the trajectory points (ids ``~protocol|metric|arm|day``) of :data:`TRAJECTORIES`.
    """
    by_design: dict[tuple, list[Target]] = {}
    for t in targets:
        if t.simulated:
            by_design.setdefault(arm_sizes(protocol, t), []).append(t)
    if trajectories:
        for design, extra in _trajectory_targets(protocol, targets).items():
            by_design.setdefault(design, []).extend(extra)
    values: dict[str, float] = {}
    patients = failed = 0
    for sizes, ts in by_design.items():
        p = resized(protocol, sizes)
        run = run_trial(p, seed=seed, replicate=replicate)
        values.update(trial_metrics(run.tables, ts, efficacy_day=p.endpoints.primary_day))
        patients += sum(n for _, n in sizes)
        failed += run.n_failed_solves
    return values, patients, failed


def validate_model(protocols: Mapping[str, Protocol], targets: TargetSet, *, replicates: int = 1000,
                   seed: int = 20250317, parameters: Mapping[str, float] | None = None,
                   trajectories: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> ValidationResult:
    """Simulate ``replicates`` trials of each target's reported size; reported vs simulated.

    Parameters
    ----------
    protocols : mapping of protocol name -> Protocol
        Every protocol a target names must be present (targets of other protocols are skipped
        only if ``protocols`` leaves their protocol out on purpose: pass the subset you want).
    targets : TargetSet
    replicates : int
        Replicate trials per trial design (>= 1; the issue asks for >= 1,000).
    seed : int
    parameters : mapping, optional
        Model-parameter overrides for every protocol (a calibrated set's values).
    trajectories : bool
        Also compute the trajectory points (:data:`TRAJECTORIES`) for the figures.
    progress : callable, optional
        ``progress(done, total)`` after each replicate of each protocol.

    Returns
    -------
    ValidationResult
    """
    if replicates < 1:
        raise SpecError(f"replicates must be >= 1; got {replicates}")
    chosen = [t for t in targets.targets if t.protocol in protocols]
    if not chosen:
        raise SpecError(f"no target of {targets.path} belongs to the protocol(s) {', '.join(protocols)}")
    names = list(dict.fromkeys(t.protocol for t in chosen))
    total = replicates * len(names)
    done = 0
    t0 = time.perf_counter()
    rows: list[tuple[str, int, float]] = []
    patients = failed = 0
    for name in names:
        proto = with_parameters(protocols[name], parameters or {})
        ts = tuple(t for t in chosen if t.protocol == name)
        for t in ts:
            arm_sizes(proto, t)  # check arms before simulating
        for r in range(replicates):
            vals, k, f = simulate_targets(proto, ts, seed=seed, replicate=r, trajectories=trajectories)
            patients += k
            failed += f
            rows.extend((tid, r, v) for tid, v in vals.items())
            done += 1
            if progress:
                progress(done, total)
    seconds = time.perf_counter() - t0
    draws = pl.DataFrame(rows, schema={"id": pl.String, "replicate": pl.Int64, "value": pl.Float64}, orient="row")
    traj = (draws.filter(pl.col("id").str.starts_with("~"))
            .with_columns(pl.col("id").str.slice(1).str.split_exact("|", 3)
                          .struct.rename_fields(["protocol", "metric", "arm", "day"]).alias("k")).unnest("k")
            .with_columns(pl.col("day").cast(pl.Int64)).filter(pl.col("value").is_not_nan())
            .group_by("protocol", "arm", "metric", "day", maintain_order=True)
            .agg(pl.col("value").median().alias("sim_median"), pl.col("value").quantile(0.05, "linear").alias("sim_lo"),
                 pl.col("value").quantile(0.95, "linear").alias("sim_hi"))
            .sort("protocol", "metric", "arm", "day"))
    draws = draws.filter(~pl.col("id").str.starts_with("~"))
    out = []
    for t in chosen:
        x = draws.filter(pl.col("id") == t.id)["value"].to_numpy()
        x = x[np.isfinite(x)] if x.size else x
        row = {"id": t.id, "protocol": t.protocol, "cohort": t.cohort, "arm": t.arm or "all", "metric": t.metric,
               "day": t.day, "reported": t.value, "lower": t.lower, "upper": t.upper, "n": t.n,
               "sim_median": None, "sim_lo": None, "sim_hi": None, "inside": None, "assessable": int(x.size),
               "replicates": replicates if t.simulated else 0, "source": t.source, "note": t.reason}
        if t.simulated and x.size:
            lo, med, hi = np.percentile(x, [5, 50, 95])
            row.update(sim_median=float(med), sim_lo=float(lo), sim_hi=float(hi), inside=t.inside(lo, hi, med))
        elif t.simulated:
            row["note"] = "no replicate had an assessable patient"
        out.append(row)
    table = pl.DataFrame(out, schema={
        "id": pl.String, "protocol": pl.String, "cohort": pl.String, "arm": pl.String, "metric": pl.String,
        "day": pl.Int64, "reported": pl.Float64, "lower": pl.Float64, "upper": pl.Float64, "n": pl.Int64,
        "sim_median": pl.Float64, "sim_lo": pl.Float64, "sim_hi": pl.Float64, "inside": pl.Boolean,
        "assessable": pl.Int64, "replicates": pl.Int64, "source": pl.String, "note": pl.String})
    return ValidationResult(table, draws, replicates, seed, targets.version, seconds, patients,
                            dict(parameters or {}), traj, failed)
