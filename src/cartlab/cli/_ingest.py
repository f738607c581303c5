"""``cartlab ingest``, ``cartlab check`` and ``cartlab export sdtm``: real trial data in and out."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from .._core.errors import CartlabError
from ._app import _fail, _user_errors, app, err, export_app, out

_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|KIB|MIB|GIB)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def _parse_size(text: str) -> int:
    m = _SIZE_RE.match(text)
    if not m:
        _fail(f"--max-file-size must be a size like 2GiB, 500MB or 1000000; got {text!r}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").upper()])


def _parse_date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"{option} must be a date YYYY-MM-DD; got {text!r}")


def _print_deviations(dev: pl.DataFrame, limit: int) -> None:
    if dev.height == 0:
        out.print("no protocol deviations", highlight=False)
        return
    counts = dev.group_by("CATEGORY", "RULE", "SEVERITY", maintain_order=True).agg(
        pl.len().alias("N"), pl.col("USUBJID").n_unique().alias("SUBJECTS"))
    t = Table(title="Protocol deviations", caption="DAY: protocol day, infusion = Day 0")
    for col in ("category", "rule", "severity", "records", "subjects"):
        t.add_column(col)
    for cat, rule, sev, n, subjects in counts.iter_rows():
        t.add_row(cat, rule, sev, str(n), str(subjects))
    out.print(t)
    shown = dev.filter(pl.col("SEVERITY") != "NOT ASSESSABLE").head(limit)
    for r in shown.iter_rows(named=True):
        day = "" if r["DAY"] is None else f" day {r['DAY']}"
        src = f" ({r['SOURCE']})" if r["SOURCE"] else ""
        out.print(f"{r['SEVERITY']} {r['USUBJID']}{day} [{r['RULE']}]: {r['DESCRIPTION']}; expected "
                  f"{r['EXPECTED']}{src}", highlight=False, soft_wrap=True)
    rest = dev.filter(pl.col("SEVERITY") != "NOT ASSESSABLE").height - shown.height
    if rest > 0:
        out.print(f"… and {rest} more (write them all with --out FILE.csv)", highlight=False)


@app.command("ingest")
def ingest_cmd(
    source: Annotated[Path, typer.Argument(help="directory of SDTM files (DOMAIN.xpt, DOMAIN.csv, DOMAIN.json)")],
    out_dir: Annotated[Path, typer.Option("--out", help="trial directory to create or update (holds trial.duckdb)")],
    protocol: Annotated[str | None, typer.Option(help="protocol TOML or shipped protocol name: check its rules")]
    = None,
    encoding: Annotated[str, typer.Option(help="text encoding of the files; auto = UTF-8, else Windows-1252")]
    = "auto",
    max_file_size: Annotated[str, typer.Option(help="refuse larger files (e.g. 2GiB, 500MB)")] = "2GiB",
    data_cutoff: Annotated[str | None, typer.Option(help="data cut-off date YYYY-MM-DD; later dates are errors "
                                                         "(default today)")] = None,
    findings_csv: Annotated[Path | None, typer.Option("--findings", help="also write every finding to this CSV")]
    = None,
    overwrite: Annotated[bool, typer.Option(help="replace a store that was not written by cartlab ingest")] = False,
) -> None:
    """Validate a trial's SDTM files and load them into a trial store (a new version when they changed)."""
    from ..compliance import format_findings
    from ..io import IngestError, ingest_sdtm
    from ..protocol import resolve_protocol

    limit = _parse_size(max_file_size)
    cutoff = _parse_date(data_cutoff, "--data-cutoff")
    with _user_errors(findings_csv):
        proto = resolve_protocol(protocol) if protocol is not None else None
        try:
            result = ingest_sdtm(source, out_dir, protocol=proto, encoding=encoding, max_file_bytes=limit,
                                 data_cutoff=cutoff, overwrite=overwrite)
        except IngestError as exc:
            if findings_csv is not None:
                exc.findings.write_csv(findings_csv)
                err.print(f"every finding: {findings_csv}", highlight=False)
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted; nothing was written", 130)
    if result.status == "unchanged":
        out.print(f"unchanged: the files are identical to version {result.version} of {result.path}; nothing was "
                  "written", highlight=False)
        return
    if findings_csv is not None:
        with _user_errors(findings_csv):
            result.findings.write_csv(findings_csv)
    shown = result.findings.filter(pl.col("SEVERITY") != "INFO")
    if shown.height:
        err.print(format_findings(shown), highlight=False, soft_wrap=True, markup=False)
    audit = result.audit
    changed = audit.filter((pl.col("ADDED") + pl.col("CHANGED") + pl.col("REMOVED")) > 0)
    t = Table(title=f"{result.status}: version {result.version} of {result.path}")
    for col in ("domain", "rows", "added", "changed", "removed"):
        t.add_column(col, justify="right" if col != "domain" else "left")
    for r in (audit if result.status == "created" else changed).iter_rows(named=True):
        t.add_row(r["DOMAIN"], str(r["ROWS_AFTER"]), str(r["ADDED"]), str(r["CHANGED"]), str(r["REMOVED"]))
    out.print(t)
    n_warn = int((result.findings["SEVERITY"] == "WARNING").sum())
    out.print(f"{n_warn} warning(s) recorded in validation_findings; {result.imputations.height} partial date(s) "
              "in date_imputations", highlight=False)
    if protocol is not None:
        _print_deviations(result.deviations, 10)


@app.command("check")
def check_cmd(
    store: Annotated[Path, typer.Argument(help="trial directory (or its trial.duckdb)")],
    protocol: Annotated[str | None, typer.Option(help="protocol TOML or shipped name (default: the trial's "
                                                      "protocol.toml)")] = None,
    out_csv: Annotated[Path | None, typer.Option("--out", help="write every deviation to this CSV")] = None,
    window_fraction: Annotated[float, typer.Option(min=0.0, help="visit window: fraction of the nominal day")] = 0.1,
    window_min: Annotated[int, typer.Option(min=0, help="visit window: at least this many days")] = 1,
    window_max: Annotated[int, typer.Option(min=0, help="visit window: at most this many days")] = 14,
    show: Annotated[int, typer.Option(min=0, help="deviations to print")] = 20,
) -> None:
    """Evaluate the protocol's rules against a trial store's SDTM data and list the deviations."""
    from ..compliance import VisitWindow, check_compliance
    from ..io import open_trial
    from ..io.ingest import sdtm_domains
    from ..protocol import load_protocol, resolve_protocol

    with _user_errors(out_csv):
        if protocol is not None:
            path = resolve_protocol(protocol)
        else:
            base = store.parent if store.suffix == ".duckdb" else store
            path = base / "protocol.toml"
            if not path.is_file():
                raise CartlabError(f"{store}: the trial has no protocol.toml; pass --protocol")
        proto = load_protocol(path)
        with open_trial(store) as st:
            tables = {t: st.read(t) for t in sdtm_domains(st.tables())}
        dev = check_compliance(tables, proto, visit_window=VisitWindow(window_fraction, window_min,
                                                                       max(window_min, window_max)))
        if out_csv is not None:
            dev.write_csv(out_csv)
    _print_deviations(dev, show)
    if out_csv is not None:
        out.print(f"{dev.height} deviation rows: {out_csv}", highlight=False)


@export_app.command("sdtm")
def export_sdtm_cmd(
    store: Annotated[Path, typer.Argument(help="trial directory (or its trial.duckdb)")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write the domain files into")],
    fmt: Annotated[str, typer.Option("--format", help="xpt (SAS XPORT v5) or csv")] = "xpt",
) -> None:
    """The store's SDTM domains as SAS XPORT v5 (one DOMAIN.xpt per domain) or CSV files."""
    from ..io import export_sdtm

    if fmt not in ("xpt", "csv"):
        _fail(f"--format must be xpt or csv; got {fmt!r}")
    with _user_errors(out_dir):
        written = export_sdtm(store, out_dir, fmt=fmt)
    out.print(f"{len(written)} domain file(s) ({fmt}) in {out_dir}: "
              f"{', '.join(p.name for p in written)}", highlight=False, soft_wrap=True)
