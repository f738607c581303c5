"""``cartlab validate-model`` and ``cartlab calibrate``: the virtual population against the seed trials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._core.provenance import collect_provenance
from ..protocol import load_protocol, resolve_protocol
from ._app import DEFAULT_SEED, _dask_map, _fail, _user_errors, app, err, out


def read_validation(directory: Path):
    """The ``validation.csv`` a ``cartlab validate-model --out DIRECTORY`` wrote, with its column types."""
    import polars as pl

    from .._core.errors import DataValidationError

    f = directory / "validation.csv" if directory.is_dir() else directory
    schema = {"id": pl.String, "protocol": pl.String, "cohort": pl.String, "arm": pl.String, "metric": pl.String,
              "day": pl.Int64, "reported": pl.Float64, "lower": pl.Float64, "upper": pl.Float64, "n": pl.Int64,
              "sim_median": pl.Float64, "sim_lo": pl.Float64, "sim_hi": pl.Float64, "inside": pl.Boolean,
              "assessable": pl.Int64, "replicates": pl.Int64, "source": pl.String, "note": pl.String}
    if not f.is_file():
        raise DataValidationError(f"{f}: no validation table; run `cartlab validate-model --out {directory}` first")
    try:
        t = pl.read_csv(f, schema=schema)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise DataValidationError(f"{f}: not a cartlab validate-model table (columns {', '.join(schema)}): "
                                  f"{str(exc).splitlines()[0]}") from None
    return t


def read_trajectories(directory: Path):
    """``validation-trajectories.csv`` beside a validation table, or None when absent."""
    import polars as pl

    f = (directory if directory.is_dir() else directory.parent) / "validation-trajectories.csv"
    if not f.is_file():
        return None
    return pl.read_csv(f, schema={"protocol": pl.String, "arm": pl.String, "metric": pl.String, "day": pl.Int64,
                                  "sim_median": pl.Float64, "sim_lo": pl.Float64, "sim_hi": pl.Float64})


def _progress(label: str):
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                    transient=True, disable=not err.is_terminal)


def _parameters_of(path: Path | None) -> tuple[dict[str, float], str]:
    if path is None:
        return {}, "model defaults"
    from ..calibrate import load_parameter_set

    ps = load_parameter_set(path)
    return dict(ps.values), f"{path} (version {ps.version})"


@app.command("validate-model")
def validate_model_cmd(
    protocols: Annotated[list[str] | None, typer.Argument(help="protocol names (default: every protocol with targets)")]
    = None,
    out_dir: Annotated[Path, typer.Option("--out", help="directory for validation.csv/.svg/.html")] = Path("validation"),
    replicates: Annotated[int, typer.Option(min=1, help="replicate trials per target design")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed")] = DEFAULT_SEED,
    targets: Annotated[Path | None, typer.Option(help="targets TOML (default: the shipped seed targets)")] = None,
    parameters: Annotated[Path | None, typer.Option(help="calibrated parameter set TOML to validate")] = None,
) -> None:
    """For every target, simulate replicate trials of the reported size: reported vs simulated median and 90 % PI."""
    from ..calibrate import load_targets, validate_model  # imported here: `cartlab run` does not pay for it
    with _user_errors(out_dir):
        ts = load_targets(targets)
        names = list(protocols) if protocols else list(ts.protocols)
        unknown = [n for n in names if n not in ts.protocols]
        if unknown:
            _fail(f"no target of {ts.path} names protocol(s) {', '.join(unknown)}; "
                  f"protocols with targets: {', '.join(ts.protocols)}")
        protos = {n: load_protocol(resolve_protocol(n)) for n in names}
        values, pdesc = _parameters_of(parameters)
        own = "; ".join(f"{n}: {p.product.parameter_set or 'model defaults'}" for n, p in protos.items())
        pdesc = f"{pdesc} over the protocols' own ({own})" if parameters is not None else f"the protocols' own ({own})"
        with _progress("simulating replicate trials") as bar:
            task = bar.add_task("validate", total=replicates * len(names))
            res = validate_model(protos, ts, replicates=replicates, seed=seed, parameters=values,
                                 progress=lambda d, t: bar.update(task, completed=d))
        from ..report import dose_response_figure, render_validation, trajectory_figure, validation_figure

        prov = collect_provenance(seed=seed, inputs={"targets": Path(ts.path)}, extra={
            "command": "cartlab validate-model " + " ".join(names), "replicates": replicates,
            "targets": f"{Path(ts.path).name} (version {ts.version})", "parameters": pdesc,
            "seconds": f"{res.seconds:.1f}", "virtual_patients": res.patients, "failed_solves": res.failed_solves})
        out_dir.mkdir(parents=True, exist_ok=True)
        res.table.write_csv(out_dir / "validation.csv")
        res.trajectories.write_csv(out_dir / "validation-trajectories.csv")
        (out_dir / "validation.svg").write_text(validation_figure(res.table), encoding="utf-8")
        for name, svg in (("dose-response", dose_response_figure(res.table)),
                          ("trajectories", trajectory_figure(res.trajectories, res.table))):
            if svg:
                (out_dir / f"validation-{name}.svg").write_text(svg, encoding="utf-8")
        (out_dir / "validation.html").write_text(
            render_validation(res.table, replicates=replicates, provenance={k: str(v) for k, v in prov.items()},
                              trajectories=res.trajectories), encoding="utf-8")
        (out_dir / "provenance.json").write_text(json.dumps(prov, indent=1, default=str), encoding="utf-8")
    t = Table(title=f"Reported vs simulated ({replicates} replicate trials per design)")
    for c in ("target", "reported", "simulated median [90 % PI]", "verdict"):
        t.add_column(c)
    for r in res.table.iter_rows(named=True):
        rep = f"{r['reported']:.3g}" if r["reported"] is not None else f"{r['lower']:g}–{r['upper']:g}"
        if r["sim_median"] is None:
            t.add_row(r["id"], rep, "—", f"not simulated ({r['note']})")
        else:
            t.add_row(r["id"], rep, f"{r['sim_median']:.3g} [{r['sim_lo']:.3g}, {r['sim_hi']:.3g}]",
                      "inside" if r["inside"] else "[bold red]OUTSIDE[/]")
    out.print(t)
    out.print(f"{res.n_outside} target(s) outside their 90 % PI; {res.patients:,} virtual patients "
              f"({res.failed_solves} failed to solve) in {res.seconds:.1f} s; wrote {out_dir}/validation.csv, "
              "validation*.svg, validation.html")


#: posterior/prior 90 % width ratio above which a parameter is reported as not identified by the targets
NOT_IDENTIFIED_RATIO = 0.7


def _prior(text: str):
    from ..calibrate import Prior

    try:
        name, rng = text.split("=", 1)
        parts = rng.split(":")
        low, high = float(parts[0]), float(parts[1])
        scale = parts[2] if len(parts) > 2 else "log"
        if scale not in ("log", "lin"):
            raise ValueError
    except (ValueError, IndexError):
        _fail(f"--param must look like NAME=LOW:HIGH or NAME=LOW:HIGH:lin (uniform on the log or linear scale); "
              f"got {text!r}")
    return Prior(name.strip(), low, high, log=scale == "log")


@app.command("calibrate")
def calibrate_cmd(
    protocols: Annotated[list[str] | None, typer.Argument(help="protocols whose targets enter the distance")] = None,
    out_file: Annotated[Path, typer.Option("--out", help="calibrated parameter set TOML to write")]
    = Path("calibrated.toml"),
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=LOW:HIGH[:lin] prior (repeat); default: "
                                                    "IL6_ref, theta_crs2, b_icans, c_icans, slope_inf_ANC")] = None,
    target: Annotated[list[str] | None, typer.Option("--target", help="target id in the distance (repeat); default: "
                                                     "the protocols' targets at their own arm sizes")] = None,
    particles: Annotated[int, typer.Option(min=2, help="ABC-SMC population size")] = 100,
    generations: Annotated[int, typer.Option(min=1, help="ABC-SMC generations (0 = prior sample)")] = 4,
    quantile: Annotated[float, typer.Option(min=0.05, max=0.95, help="tolerance = this quantile of the previous "
                                            "generation's distances")] = 0.5,
    max_simulations: Annotated[int | None, typer.Option(min=1, help="evaluations per generation at most")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = DEFAULT_SEED,
    targets: Annotated[Path | None, typer.Option(help="targets TOML (default: the shipped seed targets)")] = None,
    version: Annotated[str, typer.Option(help="version written into the parameter set")] = "1",
    overwrite: Annotated[bool, typer.Option(help="replace an existing parameter set file")] = False,
    dask: Annotated[bool, typer.Option("--dask", help="evaluate proposals on a local Dask cluster")] = False,
    scheduler: Annotated[str | None, typer.Option(help="evaluate on an existing Dask scheduler (tcp://host:port)")]
    = None,
    batch: Annotated[int, typer.Option(min=1, help="proposals evaluated together on Dask (about 2 per worker)")]
    = 8,
) -> None:
    """Estimate population-level parameters by ABC-SMC so that simulated trials match the targets.

    With --dask or --scheduler the proposals are evaluated in batches on Dask distributed; the
    parameter set is identical to a run here with the same seed (proposals are taken in order).
    """
    import shlex
    import sys

    from ..calibrate import DEFAULT_PRIORS, calibrate, load_targets

    with _user_errors(out_file):
        if out_file.exists() and not overwrite:
            _fail(f"{out_file} exists; pass --overwrite to replace it")
        ts = load_targets(targets)
        names = list(protocols) if protocols else ["breakfree1-sle"]
        unknown = [n for n in names if n not in ts.protocols]
        if unknown:
            _fail(f"no target of {ts.path} names protocol(s) {', '.join(unknown)}; "
                  f"protocols with targets: {', '.join(ts.protocols)}")
        protos = {n: load_protocol(resolve_protocol(n)) for n in names}
        priors = tuple(_prior(p) for p in param) if param else DEFAULT_PRIORS
        with _dask_map(dask, scheduler, processes=True) as map_fn, _progress("ABC-SMC") as bar:
            task = bar.add_task("calibrate", total=None)
            res = calibrate(protos, ts, priors=priors, target_ids=target or None, particles=particles,
                            generations=generations, quantile=quantile, max_simulations=max_simulations, seed=seed,
                            progress=lambda k, e: bar.update(task, completed=k), map_fn=map_fn,
                            batch=batch if map_fn is not None else 1)
        command = "cartlab calibrate " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        ps = res.parameter_set(version=version, command=command, targets=ts)
        tmp = out_file.with_name(out_file.name + ".tmp")
        tmp.write_text(ps.to_toml(), encoding="utf-8")
        tmp.replace(out_file)  # atomic: a failed run leaves any previous file as it was
    t = Table(title=f"ABC-SMC: {len(res.weights)} particles, tolerances {', '.join(f'{e:.3g}' for e in res.epsilons)}")
    for c in ("parameter", "prior 5–95 %", "posterior median", "posterior 5–95 %", "width ratio", "identified"):
        t.add_column(c)
    for name, s in ps.spread.items():
        t.add_row(name, f"{s['prior_p05']:.3g}–{s['prior_p95']:.3g}", f"{s['posterior_p50']:.4g}",
                  f"{s['posterior_p05']:.3g}–{s['posterior_p95']:.3g}", f"{s['width_ratio']:.2f}",
                  "yes" if s["width_ratio"] <= NOT_IDENTIFIED_RATIO else "[yellow]no (posterior ~ prior)[/]")
    out.print(t)
    out.print(f"{res.simulations} trials, {res.patients:,} virtual patients in {res.seconds:.1f} s; "
              f"wrote {out_file}")
