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
from rich.markup import escape
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
    # escaped: messages name TOML tables ("[[arms]] 2", "[design]") that rich would read as markup and drop
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
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


class _dask_map:
    """Context manager giving ``map_fn(func, items)`` on a Dask cluster (local, or an existing scheduler),
    or ``None`` (run here) when neither is asked for."""

    def __init__(self, local: bool, scheduler: str | None, processes: bool = False):
        self.local, self.scheduler, self.client, self.cluster = local, scheduler, None, None
        self.processes = processes  # worker processes: for work that holds the GIL (the virtual site)

    def __enter__(self):
        if not self.local and self.scheduler is None:
            return None
        from distributed import Client, LocalCluster

        try:
            if self.scheduler is not None:
                self.client = Client(self.scheduler, timeout="10s")
            else:
                self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=self.processes,
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


def _parameter_set_provenance(proto) -> dict[str, str]:
    """The calibrated parameter set a run used (name and file SHA-256), for the store's provenance."""
    from ..protocol import calibrated_parameter_set

    name = proto.product.parameter_set
    if name is None:
        return {"parameter_set": "none (model defaults)"}
    return {"parameter_set": name, "parameter_set_sha256": calibrated_parameter_set(name)[1]}


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
            **_parameter_set_provenance(proto),
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
    arms = [a.code for a in proto.arms if any((s["arm"] == a.code).any() for s in summaries)]  # [design]: treated levels
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
    if "escalation_decisions" in first.tables:
        from ._design import print_escalation

        print_escalation(first.tables)
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
