"""``cartlab`` commands. Each parses its arguments, calls the library and formats the result;
user mistakes print one message and exit non-zero, never a traceback."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import __version__
from .._core.errors import CartlabError
from .._core.provenance import collect_provenance
from ..io import check_writable, write_trial
from ..model import INDICATIONS, parameter_table
from ..protocol import load_protocol, resolve_protocol, shipped_protocols
from ..trial import PRIMARY_LABEL, SUMMARY_COLUMNS, run_trial, summarize, summarize_replicates

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Simulate, run and analyse CD19 CAR T-cell therapy trials in autoimmune disease.")
out = Console()
err = Console(stderr=True)

DEFAULT_SEED = 20250317  # Breakfree-1 SLE data cut date, for a memorable default


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _user_errors(out_path: Path | None = None) -> Iterator[None]:
    """One error line and exit 1 for a user's mistake: a cartlab error, or ``out_path`` not writable."""
    try:
        yield
    except CartlabError as exc:
        _fail(str(exc))
    except OSError as exc:
        if out_path is None:
            raise
        _fail(f"{out_path}: cannot write ({exc.strerror})")


@app.command("protocols")
def protocols_cmd() -> None:
    """List the shipped protocols."""
    t = Table(title="Shipped protocols")
    for col in ("name", "study", "indication", "arms", "title"):
        t.add_column(col)
    for p in shipped_protocols():
        t.add_row(p.name, p.study_id, p.indication, p.arms, p.title)
    out.print(t)


@app.command("model")
def model_cmd(indication: Annotated[str, typer.Argument(help="SLE, SSC or IIM")] = "SLE") -> None:
    """Print the model's parameter table (values, units, IIV and sources)."""
    if indication.upper() not in INDICATIONS:
        _fail(f"indication must be one of {', '.join(INDICATIONS)}; got {indication!r}")
    t = Table(title=f"cartlab model parameters ({indication.upper()})")
    for col in ("module", "name", "value", "unit", "omega2", "source"):
        t.add_column(col)
    for r in parameter_table(indication.upper()):
        t.add_row(str(r["module"]), str(r["name"]), f"{r['value']:.4g}", str(r["unit"]),
                  f"{r['omega2']:g}" if r["omega2"] else "", str(r["source"]))
    out.print(t)


def _fmt(v: float, col: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NE"
    if col == "cart_peak_median":
        return f"{v:,.0f}"
    return f"{v:.1f}" if col != "n" else str(int(v))


@app.command("run")
def run_cmd(
    protocol: Annotated[str, typer.Argument(help="protocol TOML file, or the name of a shipped protocol")],
    out_dir: Annotated[Path, typer.Option("--out", help="trial directory to create (holds trial.duckdb)")],
    seed: Annotated[int, typer.Option(help="random seed")] = DEFAULT_SEED,
    n: Annotated[int | None, typer.Option("--n", min=1, help="patients per arm (default: the protocol's)")] = None,
    replicates: Annotated[int, typer.Option(min=1, help="simulate this many trials of the protocol's size")] = 1,
    overwrite: Annotated[bool, typer.Option(help="replace an existing trial store")] = False,
    report: Annotated[bool, typer.Option("--report", help="also derive ADaM and write DIR/report.html")] = False,
) -> None:
    """Simulate a virtual trial of PROTOCOL and write it as SDTM tables into a DuckDB trial store."""
    try:
        path = resolve_protocol(protocol)
        proto = load_protocol(path)
        if n is not None:
            proto = proto.with_arm_sizes(n)
        check_writable(out_dir, overwrite)
        endpoint, day = proto.endpoints.primary_efficacy, proto.endpoints.primary_day
        summaries = []
        rep_stats = []  # with --report: each replicate's report-table figures
        first = None
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task(f"simulating {proto.trial.study_id}", total=replicates)
            for r in range(replicates):
                trial = run_trial(proto, seed=seed, replicate=r)
                s = summarize(trial.tables, endpoint, day).with_columns(pl.lit(r).alias("replicate"))
                summaries.append(s)
                if report and replicates > 1:
                    from ._report import replicate_stats_of

                    rep_stats.append(replicate_stats_of(trial.tables, proto).with_columns(pl.lit(r).alias("replicate")))
                if first is None:
                    first = trial
                bar.advance(task)
        assert first is not None
        tables = dict(first.tables)
        tables["sim_summary"] = pl.concat(summaries)
        if rep_stats:
            tables["rep_tables"] = pl.concat(rep_stats)
        prov = collect_provenance(seed=seed, inputs={"protocol": path}, extra={
            "command": "cartlab run", "protocol_file": str(path), "protocol_sha256": proto.sha256,
            "study_id": proto.trial.study_id, "replicates": replicates,
            "patients_per_arm": ",".join(f"{a.code}={a.n}" for a in proto.arms),
            "failed_solves": first.n_failed_solves, "stored_replicate": 0,
        })
        written = write_trial(out_dir, tables, prov, overwrite=overwrite,
                              extra_files={"protocol.toml": path.read_bytes()})
    except CartlabError as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        _fail("interrupted; nothing was written", 130)
        return

    label = PRIMARY_LABEL.get(endpoint, endpoint)
    title = f"{proto.trial.study_id}: {proto.trial.title}"
    t = Table(title=title, caption=f"primary: {label} at day {day}; seed {seed}"
              + (f"; median [90 % interval] of {replicates} replicate trials" if replicates > 1 else ""))
    t.add_column("figure")
    arms = [a.code for a in proto.arms]
    for a in arms:
        t.add_column(a, justify="right")
    if replicates > 1:
        agg = summarize_replicates(summaries)
        for col, name in SUMMARY_COLUMNS:
            cells = []
            for a in arms:
                row = agg.filter(pl.col("arm") == a).row(0, named=True)
                cells.append(_fmt(row[col], col) if col == "n" else
                             f"{_fmt(row[col], col)} [{_fmt(row[col + '_lo'], col)}, {_fmt(row[col + '_hi'], col)}]")
            t.add_row(name if col != "primary" else label, *cells)
    else:
        s = summaries[0]
        for col, name in SUMMARY_COLUMNS:
            t.add_row(name if col != "primary" else label,
                      *[_fmt(s.filter(pl.col("arm") == a)[col][0], col) for a in arms])
    out.print(t)
    out.print(f"trial store: {written}", highlight=False)
    if report:
        from ._report import write_report

        with _user_errors():
            html, _n = write_report(out_dir)
        out.print(f"report: {html}", highlight=False)
    if first.n_failed_solves:
        err.print(f"[yellow]warning:[/] {first.n_failed_solves} patient(s) failed to solve; see DS for reasons")


@app.command("instruments")
def instruments_cmd() -> None:
    """List the clinical instruments with their version and citation."""
    from ..instruments import registry

    t = Table(title="cartlab instruments", show_lines=True, expand=True)
    t.add_column("instrument and citation", overflow="fold", ratio=4)
    t.add_column("version", overflow="fold", ratio=1)
    t.add_column("unit", overflow="fold", ratio=1)
    for ins in registry().values():
        t.add_row(f"[bold]{ins.name}[/]\n{ins.citation}", ins.version, ins.unit)
    out.print(t)


def _result_columns(name: str, result) -> dict[str, object]:
    """An instrument's result as named columns (a mapping keeps its keys; one array is one column)."""
    import numpy as np

    if isinstance(result, pl.DataFrame):
        return {c: result[c] for c in result.columns}
    if isinstance(result, dict):
        return dict(result)
    if hasattr(result, "_asdict"):
        return dict(result._asdict())
    if isinstance(result, tuple):
        return {f"{name}_{k}": v for k, v in enumerate(result)}
    return {name: np.asarray(result)}


@app.command("score")
def score_cmd(
    instrument: Annotated[str, typer.Argument(help="instrument name (see `cartlab instruments`)")],
    input_csv: Annotated[Path, typer.Option("--input", help="CSV with one column per instrument input")],
    out_csv: Annotated[Path | None, typer.Option("--out", help="CSV to write (default: print to stdout)")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="instrument option KEY=VALUE (repeatable)")] = None,
) -> None:
    """Score INSTRUMENT on every row of a CSV; columns that are not inputs (IDs, dates) are passed through."""
    from ..instruments import get

    with _user_errors():
        ins = get(instrument)
        opts: dict[str, object] = {}
        for item in option or []:
            key, sep, raw = item.partition("=")
            if not sep or key not in ins.options:
                _fail(f"--option {item!r}: expected KEY=VALUE with KEY one of "
                      f"{', '.join(ins.options) or '(this instrument has no options)'}")
            default = ins.options[key]
            try:
                opts[key] = type(default)(raw) if isinstance(default, (int, float)) and not isinstance(default, bool) \
                    else (raw.lower() in ("1", "true", "yes") if isinstance(default, bool) else raw)
            except ValueError:
                _fail(f"--option {item!r}: {key} must be a {type(default).__name__} like {default!r}")
        if not input_csv.is_file():
            _fail(f"{input_csv}: no such file")
        try:
            df = pl.read_csv(input_csv, infer_schema_length=10_000)
        except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
            _fail(f"{input_csv}: not a readable CSV file ({exc})")
        names = {i.name for i in ins.inputs}
        values = {c: df[c].to_numpy() for c in df.columns if c in names}
        checked = ins.check(values, where=f"{input_csv} (data rows counted from 1)", first_row=1)
        result = ins.function(**checked, **opts)
        cols = _result_columns(ins.name, result)
        res = pl.DataFrame({k: list(v) if not isinstance(v, pl.Series) else v for k, v in cols.items()})
        if res.height != df.height:
            raise CartlabError(f"{ins.name} returned {res.height} rows for {df.height} input rows")
        table = pl.concat([df.select([c for c in df.columns if c not in names]), res], how="horizontal")
        if out_csv is None:
            sys.stdout.write(table.write_csv())
        else:
            table.write_csv(out_csv)
            out.print(f"{table.height} rows scored with {ins.name} {ins.version}: {out_csv}", highlight=False)


pk_app = typer.Typer(no_args_is_help=True, help="Pharmacokinetics / cellular kinetics of a trial store.")
app.add_typer(pk_app, name="pk")

#: analyte -> (domain, test code, concentration unit shown)
_PK_ANALYTES = {"TRANSGENE": ("pc", "TRANSGEN", "copies/ug"), "CARCELLS": ("cp", "CARTCELL", "cells/uL")}


def _pk_profiles(store: Path, analyte: str) -> tuple[pl.DataFrame, str]:
    """Post-infusion records of ANALYTE as USUBJID, ARMCD, NFRLT (days), CONC (BLQ as 0), LLOQ."""
    from ..io import open_trial

    domain, testcd, unit = _PK_ANALYTES[analyte]
    p = domain.upper()
    with open_trial(store) as st:
        tables = st.tables()
        if domain not in tables:
            raise CartlabError(f"{store}: the store has no {p} domain (it holds: {', '.join(tables)}); "
                               f"--analyte {analyte} needs {p}")
        raw = st.read(domain)
        dm = st.read("dm") if "dm" in tables else None
    need = ["USUBJID", f"{p}TESTCD", f"{p}ORRES", f"{p}STRESN", f"{p}LLOQ", "NFRLT"]
    absent = [c for c in need if c not in raw.columns]
    if absent:
        raise CartlabError(f"{store}: {p} lacks column(s) {', '.join(absent)}")
    rec = (raw.filter((pl.col(f"{p}TESTCD") == testcd) & (pl.col("NFRLT") >= 0))
           .select("USUBJID", "NFRLT",
                   pl.when(pl.col(f"{p}ORRES").str.starts_with("<")).then(0.0)
                   .otherwise(pl.col(f"{p}STRESN")).alias("CONC"),
                   pl.col(f"{p}LLOQ").alias("LLOQ")))
    if rec.height == 0:
        raise CartlabError(f"{store}: no post-infusion {p} records with {p}TESTCD = {testcd}")
    if dm is not None and "ARMCD" in dm.columns:
        rec = rec.join(dm.select("USUBJID", "ARMCD"), on="USUBJID", how="left")
        rec = rec.with_columns(pl.col("ARMCD").fill_null("UNKNOWN"))
    else:
        rec = rec.with_columns(pl.lit("ALL").alias("ARMCD"))
    return rec.sort("USUBJID", "NFRLT", maintain_order=True), unit


def _median_range(values: pl.Series) -> str:
    v = values.drop_nulls()
    if v.len() == 0:
        return "NE"

    def f(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"

    return f"{f(v.median())} \\[{f(v.min())}, {f(v.max())}] (n={v.len()})"


@pk_app.command("nca")
def pk_nca_cmd(
    store: Annotated[Path, typer.Argument(help="trial directory (or its trial.duckdb)")],
    analyte: Annotated[str, typer.Option(help="TRANSGENE (PC, copies/ug gDNA) or CARCELLS (CP, CAR+ cells/uL)")]
    = "TRANSGENE",
    out_csv: Annotated[Path | None, typer.Option("--out", help="write the per-subject PP table to this CSV")] = None,
) -> None:
    """Non-compartmental analysis (PKNCA conventions) of post-infusion CAR-T kinetics, by dose arm."""
    from ..pk import nca_table

    key = analyte.upper()
    if key not in _PK_ANALYTES:
        _fail(f"--analyte must be one of {', '.join(_PK_ANALYTES)}; got {analyte!r}")
    with _user_errors(out_csv):
        rec, unit = _pk_profiles(store, key)
        pp = nca_table(rec, subject_col="USUBJID", time_col="NFRLT", conc_col="CONC", lloq_col="LLOQ",
                       by=["ARMCD"], auc_end=28.0, time_unit="day", conc_unit=unit)
        if out_csv is not None:
            pp.write_csv(out_csv)
    t = Table(title=f"NCA of {key} ({unit}), days from infusion",
              caption="median \\[range] (n evaluable); AUC0-28 by lin-up/log-down, BLQ: first 0, later dropped")
    t.add_column("arm")
    t.add_column("N", justify="right")
    for col in (f"Cmax ({unit})", "Tmax (day)", f"AUC0-28 (day*{unit})"):
        t.add_column(col, justify="right")
    for arm in sorted(pp["ARMCD"].unique().to_list()):
        a = pp.filter(pl.col("ARMCD") == arm)
        def get(code: str, a: pl.DataFrame = a) -> pl.Series:
            return a.filter(pl.col("PPTESTCD") == code)["PPSTRESN"]
        t.add_row(arm, str(a["USUBJID"].n_unique()), _median_range(get("CMAX")),
                  _median_range(get("TMAX")), _median_range(get("AUCINT")))
    out.print(t)
    if out_csv is not None:
        out.print(f"{pp.height} PP rows for {pp['USUBJID'].n_unique()} subjects: {out_csv}", highlight=False)


export_app = typer.Typer(no_args_is_help=True, help="Export a trial store for other tools.")
app.add_typer(export_app, name="export")


@export_app.command("nonmem")
def export_nonmem_cmd(
    store: Annotated[Path, typer.Argument(help="trial directory (or its trial.duckdb)")],
    out_csv: Annotated[Path, typer.Option("--out", help="CSV to write")],
    analyte: Annotated[str, typer.Option(help="PCTESTCD of the observations")] = "TRANSGEN",
) -> None:
    """NONMEM-style dataset (ID TIME DV AMT EVID MDV CMT BLQ LLOQ + covariates) of the CAR-T kinetics."""
    from ..io import open_trial
    from ..pk import nonmem_dataset

    with _user_errors(out_csv):
        with open_trial(store) as st:
            have = st.tables()
            missing = [d for d in ("dm", "ex", "pc") if d not in have]
            if missing:
                raise CartlabError(f"{store}: the store has no {', '.join(m.upper() for m in missing)} domain")
            data, findings = nonmem_dataset(st.read("dm"), st.read("ex"), st.read("pc"),
                                            st.read("vs") if "vs" in have else None, analyte=analyte)
        if data.height == 0:
            raise CartlabError(f"{store}: no {analyte} observations after a CAR-T infusion")
        data.write_csv(out_csv, null_value=".")
    n_id = data["ID"].n_unique()
    out.print(f"{data.height} records, {n_id} subjects, {int(data['BLQ'].sum())} BLQ: {out_csv}", highlight=False)
    for u, dy, code, reason in findings.iter_rows():
        err.print(f"[yellow]left out:[/] {u} {code}{'' if dy is None else f' day {dy}'}: {reason}", highlight=False)


@export_app.command("sbml")
def export_sbml_cmd(
    indication: Annotated[str, typer.Argument(help="SLE, SSC or IIM")],
    out_file: Annotated[Path, typer.Option("--out", help="SBML file to write")],
) -> None:
    """The virtual-patient model as SBML Level 3 Version 2 (typical parameter values; no dosing events)."""
    from ..io.sbml import model_to_sbml

    if indication.upper() not in INDICATIONS:
        _fail(f"indication must be one of {', '.join(INDICATIONS)}; got {indication!r}")
    from ..model import build_model

    with _user_errors(out_file):
        out_file.write_text(model_to_sbml(build_model(indication.upper())))
    out.print(f"SBML L3V2 of the {indication.upper()} model: {out_file}", highlight=False)


design_app = typer.Typer(no_args_is_help=True, help="Dose-escalation designs: BOIN and 3+3 boundaries, decisions, "
                                                    "operating characteristics.")
app.add_typer(design_app, name="design")

_DESIGN_HELP = "boin or 3+3"


def _design_key(design: str) -> str:
    key = design.strip().lower()
    if key not in ("boin", "3+3"):
        _fail(f"--design must be boin or 3+3; got {design!r}")
    return key


@design_app.command("boundaries")
def design_boundaries_cmd(
    target: Annotated[float, typer.Option(help="target DLT probability, e.g. 0.3")],
    design: Annotated[str, typer.Option(help="boin (the only design with boundaries)")] = "boin",
    ncohort: Annotated[int, typer.Option(min=1, help="maximum number of cohorts")] = 10,
    cohortsize: Annotated[int, typer.Option(min=1, help="patients per cohort")] = 3,
    every_n: Annotated[bool, typer.Option("--every-n", help="show every n, not only whole cohorts")] = False,
    cutoff_eli: Annotated[float, typer.Option(help="elimination cutoff on P(p > target | data)")] = 0.95,
) -> None:
    """BOIN escalation/de-escalation boundaries and the decision table by number treated at a dose."""
    from ..design import boin_boundaries

    if _design_key(design) != "boin":
        _fail("--design 3+3 has no boundaries to compute: escalate at 0/3, expand at 1/3, "
              "stop or de-escalate at >= 2 DLTs; use --design boin")
    with _user_errors():
        b = boin_boundaries(target, cutoff_eli=cutoff_eli)
        tab = b.decision_table(ncohort * cohortsize)
    if not every_n:
        tab = tab.filter(pl.col("n") % cohortsize == 0)
    out.print(f"BOIN target {b.target:g} (phi1 {b.phi1:g}, phi2 {b.phi2:g}): "
              f"lambda_e = {b.lambda_e:.4f}, lambda_d = {b.lambda_d:.4f}", highlight=False)
    t = Table(title="BOIN decision table", caption=f"Liu & Yuan 2015; eliminate dose and higher if "
              f"P(p > {b.target:g} | y, n) > {b.cutoff_eli:g}, beta(1,1) prior, n >= 3")
    for col in ("patients treated n", "escalate if DLTs <=", "de-escalate if DLTs >=", "eliminate if DLTs >="):
        t.add_column(col, justify="right")
    for n, e, d, x in tab.iter_rows():
        t.add_row(str(n), str(e), "NA" if d is None else str(d), "NA" if x is None else str(x))
    out.print(t)


@design_app.command("next")
def design_next_cmd(
    doses: Annotated[int, typer.Option(min=1, help="number of dose levels")],
    outcomes: Annotated[str, typer.Option(help='outcomes so far, e.g. "1NNN 2NTN" (dose, then N/T per patient)')],
    design: Annotated[str, typer.Option(help=_DESIGN_HELP)] = "boin",
    target: Annotated[float | None, typer.Option(help="target DLT probability (BOIN)")] = None,
) -> None:
    """The next decision and dose of a BOIN or 3+3 trial, from the outcomes so far."""
    from ..design import boin_next_decision, threeplus3_next_decision

    key = _design_key(design)
    with _user_errors():
        if key == "boin":
            if target is None:
                _fail("--design boin needs --target (the target DLT probability, e.g. 0.3)")
            dec = boin_next_decision(outcomes, doses, target)  # type: ignore[arg-type]
        else:
            dec = threeplus3_next_decision(outcomes, doses)
    if dec.action == "stop":
        line = "decision: stop the trial" + (f"; MTD = dose level {dec.mtd}" if dec.mtd is not None else "")
    else:
        line = f"decision: {dec.action}; next cohort at dose level {dec.next_dose}"
    out.print(line, highlight=False)
    out.print(f"reason: {dec.reason}", highlight=False)
    if dec.eliminated_from is not None:
        word = "eliminated" if key == "boin" else "too toxic"
        out.print(f"{word}: dose level {dec.eliminated_from} and above", highlight=False)


class _dask_map:
    """Context manager giving ``map_fn(func, items)`` on a Dask cluster (local, or an existing scheduler),
    or ``None`` (run here) when neither is asked for."""

    def __init__(self, local: bool, scheduler: str | None):
        self.local, self.scheduler, self.client, self.cluster = local, scheduler, None, None

    def __enter__(self):
        if not self.local and self.scheduler is None:
            return None
        from distributed import Client, LocalCluster

        try:
            if self.scheduler is not None:
                self.client = Client(self.scheduler, timeout="10s")
            else:
                self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                            dashboard_address=None)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as exc:
            raise CartlabError(f"cannot reach the Dask scheduler {self.scheduler}: {exc}") from None
        client = self.client
        return lambda func, items: client.gather(client.map(func, list(items), pure=False))

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


@design_app.command("simulate")
def design_simulate_cmd(
    truth: Annotated[str, typer.Option(help="true DLT probability per dose level, comma-separated")],
    design: Annotated[str, typer.Option(help=_DESIGN_HELP)] = "boin",
    target: Annotated[float | None, typer.Option(help="target DLT probability (BOIN)")] = None,
    ntrials: Annotated[int, typer.Option(min=1, help="number of simulated trials")] = 10_000,
    cohortsize: Annotated[int, typer.Option(min=1, help="patients per cohort")] = 3,
    ncohort: Annotated[int, typer.Option(min=1, help="maximum number of cohorts (BOIN)")] = 10,
    seed: Annotated[int, typer.Option(min=0, help="random seed")] = DEFAULT_SEED,
    dask: Annotated[bool, typer.Option("--dask", help="run the batches on a local Dask cluster")] = False,
    scheduler: Annotated[str | None, typer.Option(help="run on an existing Dask scheduler (tcp://host:port)")]
    = None,
    batch_size: Annotated[int, typer.Option(min=1, help="trials per batch (the unit of work on a cluster)")]
    = 100_000,
) -> None:
    """Operating characteristics (P(select), patients and DLTs per dose) by simulating many trials.

    With --dask or --scheduler the batches run on Dask distributed; the results are identical to a
    local run with the same seed (each trial has its own seed, the totals are integers).
    """
    from ..design import simulate_oc

    key = _design_key(design)
    try:
        p = [float(v) for v in truth.split(",")]
    except ValueError:
        _fail(f"--truth must be comma-separated probabilities like 0.05,0.12,0.3; got {truth!r}")
        return
    if key == "boin" and target is None:
        _fail("--design boin needs --target (the target DLT probability, e.g. 0.3)")
    with _user_errors():
        with _dask_map(dask, scheduler) as map_fn:
            oc = simulate_oc(p, design=key, target=target, ncohort=ncohort, cohortsize=cohortsize,
                             ntrials=ntrials, seed=seed, batch_size=batch_size, map_fn=map_fn)
    setup = (f"target {oc.target:g}, {ncohort} cohorts of {cohortsize}" if key == "boin" else "cohorts of 3")
    t = Table(title=f"{oc.design} operating characteristics ({setup})",
              caption=f"{ntrials} trials, seed {seed}; P(no selection) {oc.p_no_selection:.3f}, "
                      f"P(early stop) {oc.p_early_stop:.3f}, mean patients {oc.mean_patients.sum():.1f}, "
                      f"mean DLTs {oc.mean_dlts.sum():.1f}")
    for col in ("dose", "true P(DLT)", "P(select)", "mean patients", "mean DLTs"):
        t.add_column(col, justify="right")
    for r in oc.table().iter_rows(named=True):
        t.add_row(str(r["dose"]), f"{r['true_p_dlt']:.3f}", f"{r['p_select']:.3f}",
                  f"{r['mean_patients']:.2f}", f"{r['mean_dlts']:.2f}")
    out.print(t)


def _dose_cohorts(proto, doses: list[float], n: int):
    """The protocol with one arm per CAR-T dose level (fixed cells), each treating ``n`` patients."""
    from ..protocol.spec import Arm, Dose

    arms = tuple(Arm(code=f"D{k + 1}", name=f"{proto.product.name} {d:g} cells", n=n, dose=Dose(cells=d))
                 for k, d in enumerate(doses))
    return proto.model_copy(update={"arms": arms, "overrides": (*proto.overrides, f"arms=doses {doses}")})


#: dose-limiting toxicity from the AE table: ASTCT CRS or ICANS grade >= 3 (the seeds' safety endpoints)
_DLT_TERMS = ("Cytokine release syndrome", "Immune effector cell-associated neurotoxicity syndrome")


@design_app.command("scenario")
def design_scenario_cmd(
    protocol: Annotated[str, typer.Argument(help="protocol TOML file, or the name of a shipped protocol")],
    doses: Annotated[str, typer.Option(help="CAR-T dose levels in cells, comma-separated, lowest first")],
    n: Annotated[int, typer.Option("--n", min=10, help="virtual patients per dose level")] = 200,
    seed: Annotated[int, typer.Option(min=0, help="random seed")] = DEFAULT_SEED,
    target: Annotated[float | None, typer.Option(help="BOIN target: also simulate the design on this scenario")]
    = None,
    ntrials: Annotated[int, typer.Option(min=1, help="trials to simulate with --target")] = 1000,
) -> None:
    """A model-informed scenario: true DLT probability per dose level (CRS or ICANS grade >= 3) from
    virtual cohorts of PROTOCOL's population, optionally with BOIN's operating characteristics on it."""
    from ..design import simulate_oc

    try:
        levels = [float(v) for v in doses.split(",")]
    except ValueError:
        _fail(f"--doses must be comma-separated cell numbers like 5e6,10e6,25e6; got {doses!r}")
        return
    if not levels or any(d <= 0 for d in levels) or levels != sorted(levels):
        _fail(f"--doses must be positive and increasing; got {doses!r}")
    with _user_errors():
        proto = _dose_cohorts(load_protocol(resolve_protocol(protocol)), levels, n)
        tables = run_trial(proto, seed=seed).tables
    treated = tables["dm"].filter(pl.col("RFXSTDTC").is_not_null()).select("USUBJID", "ARMCD")
    dlt = (tables["ae"].filter(pl.col("AEDECOD").is_in(list(_DLT_TERMS)) & (pl.col("AETOXGR").cast(pl.Int64) >= 3))
           .select("USUBJID").unique().with_columns(pl.lit(1).alias("DLT")))
    per_arm = (treated.join(dlt, on="USUBJID", how="left").group_by("ARMCD")
               .agg(pl.len().alias("N"), pl.col("DLT").fill_null(0).sum().alias("K")))
    counts = {a: (nn, kk) for a, nn, kk in per_arm.iter_rows()}
    p_dlt = [counts[f"D{k + 1}"][1] / counts[f"D{k + 1}"][0] for k in range(len(levels))]
    t = Table(title=f"Model-informed scenario: {proto.trial.study_id} population, {n} virtual patients per dose",
              caption=f"DLT = ASTCT CRS or ICANS grade >= 3; seed {seed}")
    for col in ("dose", "cells", "P(DLT)"):
        t.add_column(col, justify="right")
    for k, (d, pd) in enumerate(zip(levels, p_dlt)):
        t.add_row(str(k + 1), f"{d:.3g}", f"{pd:.3f}")
    out.print(t)
    if target is not None:
        with _user_errors():
            oc = simulate_oc(p_dlt, design="boin", target=target, ntrials=ntrials, seed=seed)
        out.print(oc.summary(), highlight=False)


@app.command("version")
def version_cmd() -> None:
    """Print the cartlab version."""
    out.print(__version__)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        err.print("interrupted")
        sys.exit(130)
