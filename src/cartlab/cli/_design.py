"""``cartlab design …``: dose-escalation designs (BOIN, 3+3, BOIN12): boundaries, next decision,
operating characteristics (table, CSV and SVG figure) and model-informed scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from .._core.errors import CartlabError
from ..protocol import load_protocol, resolve_protocol
from ..trial import RESPONSE_DEFINITIONS, dose_level_rates, dose_outcomes, run_trial
from ._app import DEFAULT_SEED, _dask_map, _fail, _user_errors, app, err, out

design_app = typer.Typer(no_args_is_help=True, help="Dose-escalation designs: BOIN, 3+3 and BOIN12 boundaries, "
                                                    "decisions, operating characteristics.")
app.add_typer(design_app, name="design")

_DESIGNS = ("boin", "3+3", "boin12")
_DESIGN_HELP = "boin, 3+3 or boin12"


def _design_key(design: str) -> str:
    key = design.strip().lower()
    if key not in _DESIGNS:
        _fail(f"--design must be boin, 3+3 or boin12; got {design!r}")
    return key


def _floats(text: str, option: str, what: str, example: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        _fail(f"{option} must be comma-separated {what} like {example}; got {text!r}")
        raise  # unreachable: _fail exits


# options shared by the BOIN12 commands
_LowerE = Annotated[float | None, typer.Option("--lower-e", help="BOIN12: lowest acceptable response probability")]
_U11 = Annotated[float, typer.Option("--u11", help="BOIN12 utility of DLT with response (0-100)")]
_U00 = Annotated[float, typer.Option("--u00", help="BOIN12 utility of neither DLT nor response (0-100)")]
_U10 = Annotated[float, typer.Option("--u10", help="BOIN12 utility of DLT without response (0-100)")]
_U01 = Annotated[float, typer.Option("--u01", help="BOIN12 utility of response without DLT (0-100)")]
_NEarly = Annotated[int | None, typer.Option("--n-earlystop", min=1,
                                             help="stop once this many patients were treated at the current dose")]


def _boin12(target: float | None, lower_e: float | None, u11: float, u00: float, u10: float, u01: float,
            n_earlystop: int | None = None):
    from ..design import boin12_design

    if target is None or lower_e is None:
        _fail("--design boin12 needs --target (highest acceptable DLT probability, e.g. 0.35) and --lower-e "
              "(lowest acceptable response probability, e.g. 0.25)")
    return boin12_design(target, lower_e, u11=u11, u00=u00, u10=u10, u01=u01,  # type: ignore[arg-type]
                         n_earlystop=n_earlystop)


@design_app.command("boundaries")
def design_boundaries_cmd(
    target: Annotated[float, typer.Option(help="target DLT probability, e.g. 0.3 (BOIN12: the DLT limit)")],
    design: Annotated[str, typer.Option(help="boin or boin12 (3+3 has no boundaries)")] = "boin",
    ncohort: Annotated[int, typer.Option(min=1, help="maximum number of cohorts")] = 10,
    cohortsize: Annotated[int, typer.Option(min=1, help="patients per cohort")] = 3,
    every_n: Annotated[bool, typer.Option("--every-n", help="show every n, not only whole cohorts")] = False,
    cutoff_eli: Annotated[float, typer.Option(help="elimination cutoff on P(p > target | data)")] = 0.95,
    lower_e: _LowerE = None,
    u11: _U11 = 60, u00: _U00 = 40, u10: _U10 = 0, u01: _U01 = 100,
) -> None:
    """BOIN (or BOIN12) escalation/de-escalation boundaries and the decision table by number treated."""
    from ..design import boin_boundaries

    key = _design_key(design)
    if key == "3+3":
        _fail("--design 3+3 has no boundaries to compute: escalate at 0/3, expand at 1/3, "
              "stop or de-escalate at >= 2 DLTs; use --design boin or boin12")
    with _user_errors():
        if key == "boin12":
            d12 = _boin12(target, lower_e, u11, u00, u10, u01)
            cutoff_eli = d12.c_t
        b = boin_boundaries(target, cutoff_eli=cutoff_eli)
        tab = b.decision_table(ncohort * cohortsize)
    if not every_n:
        tab = tab.filter(pl.col("n") % cohortsize == 0)
    name = "BOIN12" if key == "boin12" else "BOIN"
    out.print(f"{name} target {b.target:g} (phi1 {b.phi1:g}, phi2 {b.phi2:g}): "
              f"lambda_e = {b.lambda_e:.4f}, lambda_d = {b.lambda_d:.4f}", highlight=False)
    caption = (f"Liu & Yuan 2015; eliminate dose and higher if P(p > {b.target:g} | y, n) > {b.cutoff_eli:g}, "
               "beta(1,1) prior, n >= 3")
    t = Table(title=f"{name} decision table", caption=caption)
    cols = ["patients treated n", "escalate if DLTs <=", "de-escalate if DLTs >=", "eliminate if DLTs >="]
    fut = None
    if key == "boin12":
        from ..design._boin12 import _b12_tables

        fut = _b12_tables(d12, ncohort * cohortsize)[3]
        cols.append("close for futility if responses <=")
    for col in cols:
        t.add_column(col, justify="right")
    for n, e, d, x in tab.iter_rows():
        row = [str(n), str(e), "NA" if d is None else str(d), "NA" if x is None else str(x)]
        if fut is not None:
            row.append("NA" if fut[n] < 0 else str(int(fut[n])))
        t.add_row(*row)
    out.print(t)
    if key == "boin12":
        out.print(f"utilities u01 {d12.u01:g}, u11 {d12.u11:g}, u00 {d12.u00:g}, u10 {d12.u10:g}; ubar "
                  f"{d12.u_bar:g}, benchmark u_b {d12.u_b:g}; desirability = P(utility > u_b | data)", highlight=False)
        with _user_errors():
            rds = d12.rds_table([k * cohortsize for k in range(0, min(ncohort, 3) + 1)])
        for n in rds["n"].unique(maintain_order=True).to_list():
            sub = rds.filter(pl.col("n") == n)
            m = Table(title=f"rank-based desirability score, n = {n} (rows DLTs, columns responses; E = not "
                            "admissible)")
            m.add_column("DLTs \\ responses", justify="right")
            for e in range(n + 1):
                m.add_column(str(e), justify="right")
            for tox in range(n + 1):
                cells = sub.filter(pl.col("tox") == tox).sort("eff")["rds"].to_list()
                m.add_row(str(tox), *["E" if v is None else f"{v:g}" for v in cells])
            out.print(m)


@design_app.command("next")
def design_next_cmd(
    doses: Annotated[int, typer.Option(min=1, help="number of dose levels")],
    outcomes: Annotated[str, typer.Option(help='outcomes so far, e.g. "1NNN 2NTN" (dose, then N/T per patient; '
                                               'BOIN12: E response, T DLT, B both, N neither)')],
    design: Annotated[str, typer.Option(help=_DESIGN_HELP)] = "boin",
    target: Annotated[float | None, typer.Option(help="target DLT probability (BOIN; BOIN12: the DLT limit)")]
    = None,
    lower_e: _LowerE = None,
    u11: _U11 = 60, u00: _U00 = 40, u10: _U10 = 0, u01: _U01 = 100,
    n_earlystop: _NEarly = None,
) -> None:
    """The next decision and dose of a BOIN, 3+3 or BOIN12 trial, from the outcomes so far."""
    from ..design import boin12_next_decision, boin_next_decision, threeplus3_next_decision

    key = _design_key(design)
    with _user_errors():
        if key == "boin":
            if target is None:
                _fail("--design boin needs --target (the target DLT probability, e.g. 0.3)")
            dec = boin_next_decision(outcomes, doses, target)  # type: ignore[arg-type]
        elif key == "boin12":
            dec = boin12_next_decision(outcomes, doses, _boin12(target, lower_e, u11, u00, u10, u01, n_earlystop))
        else:
            dec = threeplus3_next_decision(outcomes, doses)
    if dec.action == "stop":
        line = "decision: stop the trial" + (f"; MTD = dose level {dec.mtd}" if dec.mtd is not None else "") + \
            (f"; OBD = dose level {dec.obd}" if dec.obd is not None else "")
    else:
        line = f"decision: {dec.action}; next cohort at dose level {dec.next_dose}"
    out.print(line, highlight=False)
    out.print(f"reason: {dec.reason}", highlight=False)
    if dec.eliminated_from is not None:
        word = "eliminated" if key != "3+3" else "too toxic"
        out.print(f"{word}: dose level {dec.eliminated_from} and above", highlight=False)


def _print_oc(oc, setup: str) -> None:
    """The OC table, one row per dose level, with the trial-level figures as caption."""
    cap = (f"{oc.ntrials} trials, seed {oc.seed}; P(no selection) {oc.p_no_selection:.3f}, "
           f"P(early stop) {oc.p_early_stop:.3f}, mean patients {oc.mean_patients.sum():.1f}, "
           f"mean DLTs {oc.mean_dlts.sum():.1f}")
    if oc.mean_responses is not None:
        cap += f", mean responses {oc.mean_responses.sum():.1f}"
    if oc.cohort_days is not None:
        cap += (f"; mean duration {oc.duration_days.mean():.0f} days (one patient every {oc.accrual_days:g} days, "
                f"{oc.window_days:g}-day assessment per cohort)")
    t = Table(title=f"{oc.design} operating characteristics ({setup})", caption=cap)
    cols = ["dose", "true P(DLT)"] + (["true P(response)", "true utility"] if oc.truth_eff is not None else []) + \
        ["P(select)", "mean patients", "mean DLTs"] + (["mean responses"] if oc.mean_responses is not None else [])
    for col in cols:
        t.add_column(col, justify="right")
    for r in oc.table().iter_rows(named=True):
        row = [str(r["dose"]), f"{r['true_p_dlt']:.3f}"]
        if oc.truth_eff is not None:
            row += [f"{r['true_p_response']:.3f}", f"{r['true_utility']:.1f}"]
        row += [f"{r['p_select']:.3f}", f"{r['mean_patients']:.2f}", f"{r['mean_dlts']:.2f}"]
        if oc.mean_responses is not None:
            row.append(f"{r['mean_responses']:.2f}")
        t.add_row(*row)
    out.print(t)


def _write_oc(oc, out_dir: Path) -> list[Path]:
    """``oc.csv`` (per dose level), ``oc_trials.csv`` (per trial) and ``oc.svg`` into ``out_dir``,
    written to temporary names and renamed, so a failure leaves no partial file."""
    from ..design import plot_oc

    out_dir.mkdir(parents=True, exist_ok=True)
    trials = pl.DataFrame({"trial": list(range(oc.ntrials)), "selected_dose": oc.selected.tolist(),
                           "cohorts": oc.cohorts.tolist(), "duration_days": oc.duration_days.tolist()})
    targets = [out_dir / "oc.csv", out_dir / "oc_trials.csv", out_dir / "oc.svg"]
    tmps = [p.with_name(f".{p.name}.tmp") for p in targets]
    try:
        oc.table().write_csv(tmps[0])
        trials.write_csv(tmps[1])
        plot_oc(oc, tmps[2])
        for tmp, final in zip(tmps, targets, strict=True):
            tmp.replace(final)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    return targets


@design_app.command("simulate")
def design_simulate_cmd(
    truth: Annotated[str, typer.Option(help="true DLT probability per dose level, comma-separated")],
    design: Annotated[str, typer.Option(help=_DESIGN_HELP)] = "boin",
    target: Annotated[float | None, typer.Option(help="target DLT probability (BOIN; BOIN12: the DLT limit)")]
    = None,
    ntrials: Annotated[int, typer.Option(min=1, help="number of simulated trials")] = 10_000,
    cohortsize: Annotated[int, typer.Option(min=1, help="patients per cohort")] = 3,
    ncohort: Annotated[int, typer.Option(min=1, help="maximum number of cohorts (BOIN, BOIN12)")] = 10,
    seed: Annotated[int, typer.Option(min=0, help="random seed")] = DEFAULT_SEED,
    dask: Annotated[bool, typer.Option("--dask", help="run the batches on a local Dask cluster")] = False,
    scheduler: Annotated[str | None, typer.Option(help="run on an existing Dask scheduler (tcp://host:port)")]
    = None,
    batch_size: Annotated[int, typer.Option(min=1, help="trials per batch (the unit of work on a cluster)")]
    = 100_000,
    truth_eff: Annotated[str | None, typer.Option("--truth-eff", help="BOIN12: true response probability per "
                                                                      "dose level, comma-separated")] = None,
    lower_e: _LowerE = None,
    u11: _U11 = 60, u00: _U00 = 40, u10: _U10 = 0, u01: _U01 = 100,
    n_earlystop: _NEarly = None,
    extrasafe: Annotated[bool, typer.Option("--extrasafe", help="BOIN: stricter stop when dose level 1 is "
                                                                "overly toxic (R BOIN get.oc)")] = False,
    offset: Annotated[float, typer.Option(help="BOIN --extrasafe: stop if P(p1 > target) > cutoff - offset")]
    = 0.05,
    accrual_days: Annotated[float, typer.Option(min=0, help="timing: days between two enrolments")] = 14.0,
    window_days: Annotated[float, typer.Option(min=0, help="timing: days to assess a cohort's last patient "
                                                           "(DLT window; BOIN12: the response assessment)")] = 28.0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="directory for oc.csv, oc_trials.csv and oc.svg")]
    = None,
) -> None:
    """Operating characteristics (P(select), patients, DLTs and duration) by simulating many trials.

    With --dask or --scheduler the batches run on Dask distributed; the results are identical to a
    local run with the same seed (each trial has its own seed, the totals are integers).
    """
    from ..design import simulate_oc

    key = _design_key(design)
    p = _floats(truth, "--truth", "probabilities", "0.05,0.12,0.3")
    if key == "boin" and target is None:
        _fail("--design boin needs --target (the target DLT probability, e.g. 0.3)")
    with _user_errors(out_dir):
        kw: dict = {}
        if key == "boin12":
            if truth_eff is None:
                _fail("--design boin12 needs --truth-eff (the true response probability per dose level)")
            kw = {"boin12": _boin12(target, lower_e, u11, u00, u10, u01, n_earlystop),
                  "truth_eff": _floats(truth_eff, "--truth-eff", "probabilities", "0.1,0.3,0.5")}  # type: ignore[arg-type]
        elif key == "boin":
            kw = {"n_earlystop": n_earlystop, "extrasafe": extrasafe, "offset": offset}
        with _dask_map(dask, scheduler) as map_fn:
            oc = simulate_oc(p, design=key, target=target if key == "boin" else None, ncohort=ncohort,
                             cohortsize=cohortsize, ntrials=ntrials, seed=seed, batch_size=batch_size, map_fn=map_fn,
                             accrual_days=accrual_days, window_days=window_days, **kw)
        written = _write_oc(oc, out_dir) if out_dir is not None else []
    if key == "3+3":
        setup = "cohorts of 3"
    elif key == "boin":
        setup = f"target {oc.target:g}, {ncohort} cohorts of {cohortsize}"
    else:
        setup = f"DLT limit {oc.target:g}, response limit {kw['boin12'].lower_e:g}, {ncohort} cohorts of {cohortsize}"
    _print_oc(oc, setup)
    for w in written:
        out.print(f"wrote {w}", highlight=False)


def _dose_cohorts(proto, doses: list[float], n: int):
    """The protocol with one arm per CAR-T dose level (fixed cells), each treating ``n`` patients."""
    from ..protocol.spec import Arm, Dose

    arms = tuple(Arm(code=f"D{k + 1}", name=f"{proto.product.name} {d:g} cells", n=n, dose=Dose(cells=d))
                 for k, d in enumerate(doses))
    return proto.model_copy(update={"arms": arms, "overrides": (*proto.overrides, f"arms=doses {doses}")})


@design_app.command("scenario")
def design_scenario_cmd(
    protocol: Annotated[str, typer.Argument(help="protocol TOML file, or the name of a shipped protocol")],
    doses: Annotated[str, typer.Option(help="CAR-T dose levels in cells, comma-separated, lowest first")],
    n: Annotated[int, typer.Option("--n", min=10, help="virtual patients per dose level")] = 200,
    seed: Annotated[int, typer.Option(min=0, help="random seed")] = DEFAULT_SEED,
    target: Annotated[float | None, typer.Option(help="also simulate the design on this scenario with this "
                                                      "target DLT probability (BOIN12: the DLT limit)")] = None,
    ntrials: Annotated[int, typer.Option(min=1, help="trials to simulate with --target")] = 1000,
    design: Annotated[str, typer.Option(help="boin or boin12, for --target")] = "boin",
    response_day: Annotated[int | None, typer.Option(help="days after infusion of the response assessment "
                                                          "(default: the protocol's primary day)")] = None,
    lower_e: _LowerE = None,
    u11: _U11 = 60, u00: _U00 = 40, u10: _U10 = 0, u01: _U01 = 100,
) -> None:
    """A model-informed scenario: true DLT probability (CRS or ICANS grade >= 3 within 28 days) and
    response probability per dose level from virtual cohorts of PROTOCOL's population, optionally with
    the operating characteristics of BOIN or BOIN12 on it."""
    from ..design import simulate_oc

    levels = _floats(doses, "--doses", "cell numbers", "5e6,10e6,25e6")
    if not levels or any(d <= 0 for d in levels) or levels != sorted(levels):
        _fail(f"--doses must be positive and increasing; got {doses!r}")
    key = _design_key(design)
    if key == "3+3":
        _fail("--design must be boin or boin12 for a scenario; got '3+3'")
    with _user_errors():
        base = load_protocol(resolve_protocol(protocol))
        day = base.endpoints.primary_day if response_day is None else response_day
        if day not in base.schedule.disease_days:
            raise CartlabError(f"--response-day must be a disease-assessment day of the protocol "
                               f"({', '.join(str(d) for d in base.schedule.disease_days if d > 0)}); got {day}")
        d12 = _boin12(target, lower_e, u11, u00, u10, u01) if key == "boin12" and target is not None else None
        proto = _dose_cohorts(base, levels, n)
        tables = run_trial(proto, seed=seed).tables
        rates = dose_level_rates(dose_outcomes(tables, base.indication, day))
    by_arm = {r["ARMCD"]: r for r in rates.iter_rows(named=True)}
    missing = [f"D{k + 1}" for k in range(len(levels)) if f"D{k + 1}" not in by_arm]
    if missing:
        _fail(f"no treated virtual patient at dose level(s) {', '.join(missing)} (all failed screening); "
              "raise --n")
    p_dlt = [by_arm[f"D{k + 1}"]["P_DLT"] for k in range(len(levels))]
    p_resp = [by_arm[f"D{k + 1}"]["P_RESPONSE"] for k in range(len(levels))]
    label = RESPONSE_DEFINITIONS[base.indication.upper()][1]
    t = Table(title=f"Model-informed scenario: {proto.trial.study_id} population, {n} virtual patients per dose",
              caption=f"DLT = ASTCT CRS or ICANS grade >= 3 within 28 days; response = {label} at day {day} "
                      f"(non-responder imputation); seed {seed}")
    for col in ("dose", "cells", "treated", "P(DLT)", "P(response)"):
        t.add_column(col, justify="right")
    for k, (d, pd, pr) in enumerate(zip(levels, p_dlt, p_resp, strict=True)):
        t.add_row(str(k + 1), f"{d:.3g}", str(by_arm[f"D{k + 1}"]["N"]), f"{pd:.3f}", f"{pr:.3f}")
    out.print(t)
    if target is not None:
        with _user_errors():
            if key == "boin12":
                oc = simulate_oc(p_dlt, design="boin12", boin12=d12, truth_eff=p_resp, ntrials=ntrials, seed=seed,
                                 window_days=float(max(day, 28)))
            else:
                oc = simulate_oc(p_dlt, design="boin", target=target, ntrials=ntrials, seed=seed)
        out.print(oc.summary(), highlight=False)
    elif key == "boin12":
        err.print("note: add --target and --lower-e to simulate BOIN12 on this scenario", highlight=False)


def print_escalation(tables: dict[str, pl.DataFrame]) -> None:
    """The Part A decisions and the Part B expansion of a trial run from a protocol's ``[design]``."""
    dec = tables["escalation_decisions"]
    pts = tables["escalation"]
    t = Table(title="Part A: dose escalation", caption="DLT = CRS or ICANS grade >= 3 within the DLT window")
    for col in ("cohort", "dose level", "n at dose", "DLTs at dose", "responses at dose", "decision", "next"):
        t.add_column(col, justify="right")
    for r in dec.filter(pl.col("ACTION") != "select").iter_rows(named=True):
        t.add_row(str(r["COHORT"]), f"{r['DOSE_LEVEL']} ({r['ARMCD']})", str(r["N_AT_DOSE"]), str(r["DLT_AT_DOSE"]),
                  str(r["RESPONSE_AT_DOSE"]), r["ACTION"], "" if r["NEXT_DOSE_LEVEL"] is None
                  else str(r["NEXT_DOSE_LEVEL"]))
    out.print(t)
    sel = dec.filter(pl.col("ACTION") == "select").row(0, named=True)
    part_b = pts.filter(pl.col("PART") == "B")
    line = f"Part A: {sel['REASON']}"
    if part_b.height:
        line += (f"; Part B treated {part_b.height} at {sel['ARMCD']}: {int(part_b['DLT'].sum())} DLT(s), "
                 f"{int(part_b['RESPONSE'].sum())} response(s)")
    out.print(line, highlight=False)
