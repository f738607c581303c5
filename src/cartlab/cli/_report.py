"""``cartlab report`` and ``cartlab export adam``: ADaM derivations, the HTML report and ADaM files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from .._core.errors import CartlabError, StoreError
from ._app import _user_errors, app, export_app, out

#: SDTM domains the ADaM derivations read (others in the store are left alone)
_SDTM = ("dm", "ds", "ex", "pr", "cm", "ae", "lb", "cp", "pc", "vs", "qs", "fa", "dv", "re")
_ADAM = ("adsl", "adae", "adlb", "adeff", "adpc", "adtte")


def _load(store: Path, efficacy_day: int | None):
    """Read a store: SDTM tables, provenance, protocol (if saved beside it), sim summary, deviations."""
    from ..io import open_trial, store_path
    from ..protocol import load_protocol

    with open_trial(store) as st:
        names = st.tables()
        tables = {n: st.read(n) for n in names if n in _SDTM}
        try:
            prov = st.provenance()
        except StoreError:  # a store not written by cartlab: report without a provenance record
            prov = {}
        sim = st.read("sim_summary") if "sim_summary" in names else None
        reps = st.read("rep_tables") if "rep_tables" in names else None
        devs = [st.read(n) for n in ("dv", "deviations") if n in names]
    proto_file = store_path(store).parent / "protocol.toml"
    protocol = load_protocol(proto_file) if proto_file.is_file() else None
    if "dm" not in tables:
        raise CartlabError(f"{store}: the store has no DM domain (it holds: {', '.join(names) or 'nothing'}); "
                           "a report starts from DM")
    day = protocol.endpoints.primary_day if protocol is not None and efficacy_day is None else (efficacy_day or 180)
    if protocol is not None and "deviations" not in names:
        # no stored check (a simulated trial): run the protocol's checks now, as `cartlab check` does;
        # criteria the data cannot assess are not deviations
        from ..compliance import check_compliance

        found = check_compliance(tables, protocol).filter(pl.col("SEVERITY") != "NOT ASSESSABLE")
        tables["deviations"] = found
        devs.append(found)
    elif "deviations" in names:
        tables["deviations"] = devs[-1]
    deviations = pl.concat(devs, how="diagonal_relaxed") if devs else None
    return tables, prov, sim, deviations, protocol, day, reps


def write_report(store: Path, out_file: Path | None = None, *, save_adam: bool = True,
                 efficacy_day: int | None = None, validation: pl.DataFrame | None = None,
                 validation_trajectories: pl.DataFrame | None = None) -> tuple[Path, int]:
    """Derive ADaM (stored in the trial store when ``save_adam``) and write the HTML report.

    ``validation``: a ``cartlab validate-model`` table, shown as the model-validation section.

    Returns the report path and the number of treated subjects.
    """
    from ..analysis import derive_adam
    from ..io import store_path, update_trial
    from ..report import render_report

    tables, prov, sim, deviations, protocol, day, reps = _load(store, efficacy_day)
    adam = derive_adam(tables, efficacy_day=day)
    study = str(tables["dm"]["STUDYID"][0]) if tables["dm"].height and "STUDYID" in tables["dm"].columns else "trial"
    html = render_report(adam, protocol, provenance=prov, study_id=study, sim_summary=sim, deviations=deviations,
                         efficacy_day=day, source=str(store_path(store)), replicate_stats=reps,
                         validation=validation, validation_trajectories=validation_trajectories,
                         validation_replicates=int(validation["replicates"].max() or 0) if validation is not None else 0)
    target = out_file if out_file is not None else store_path(store).parent / "report.html"
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    inside = os.path.abspath(target.parent) == os.path.abspath(store_path(store).parent)

    def save() -> None:
        if save_adam:
            update_trial(store, adam.tables(), provenance={"adam_derived_by": "cartlab report",
                                                           "adam_efficacy_day": str(day)})

    # An --out elsewhere is written first, so that an unwritable path fails before the store changes;
    # inside the trial directory (which the store update replaces) it is written after the update.
    try:
        if inside:
            save()
        tmp.write_text(html, encoding="utf-8")
        if not inside:
            save()
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target, adam.adsl.filter(pl.col("SAFFL") == "Y").height


def replicate_stats_of(tables: dict[str, pl.DataFrame], protocol) -> pl.DataFrame:
    """One replicate's report-table figures (for ``cartlab run --replicates N --report``)."""
    from ..report import efficacy_days, replicate_stats

    day = protocol.endpoints.primary_day
    return replicate_stats(tables, day, efficacy_days(day, protocol.reported))


@app.command("report")
def report_cmd(
    store: Annotated[Path, typer.Argument(help="trial directory (or its trial.duckdb), simulated or ingested")],
    out_file: Annotated[Path | None, typer.Option("--out", help="HTML file to write (default: DIR/report.html)")]
    = None,
    save_adam: Annotated[bool, typer.Option("--save-adam/--no-save-adam",
                                            help="store the derived ADaM tables in the trial store")] = True,
    efficacy_day: Annotated[int | None, typer.Option(min=1, help="primary efficacy day (default: the protocol's, "
                                                                 "else 180)")] = None,
    validation: Annotated[Path | None, typer.Option(help="a `cartlab validate-model --out` directory: add its "
                                                         "model-validation section")] = None,
) -> None:
    """Write a self-contained HTML report of a trial by dose level (and its ADaM tables into the store)."""
    with _user_errors(out_file):
        val = traj = None
        if validation is not None:
            from ._calibrate import read_trajectories, read_validation

            val, traj = read_validation(validation), read_trajectories(validation)
        path, n = write_report(store, out_file, save_adam=save_adam, efficacy_day=efficacy_day, validation=val,
                               validation_trajectories=traj)
    out.print(f"report of {n} treated subjects: {path}", highlight=False)


@export_app.command("adam")
def export_adam_cmd(
    store: Annotated[Path, typer.Argument(help="trial directory (or its trial.duckdb)")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write the datasets into")],
    fmt: Annotated[str, typer.Option("--format", help="parquet, csv or xpt (SAS transport version 5)")] = "parquet",
    efficacy_day: Annotated[int | None, typer.Option(min=1, help="primary efficacy day when deriving")] = None,
) -> None:
    """Export the ADaM datasets (ADSL ADAE ADLB ADEFF ADPC ADTTE); derived now if the store has none."""
    from ..analysis import LABELS, derive_adam
    from ..io import ADAM_FORMATS, export_adam, open_trial

    key = fmt.lower()
    with _user_errors(out_dir):
        if key not in ADAM_FORMATS:
            raise CartlabError(f"--format must be one of {', '.join(ADAM_FORMATS)}; got {fmt!r}")
        with open_trial(store) as st:
            have = st.tables()
            stored = {n: st.read(n) for n in _ADAM if n in have}
        if len(stored) == len(_ADAM) and efficacy_day is None:
            tables = stored
        else:
            sdtm, _p, _s, _d, _proto, day, _r = _load(store, efficacy_day)
            tables = derive_adam(sdtm, efficacy_day=day).tables()
        paths = export_adam(tables, LABELS, out_dir, key)
    out.print(f"{len(paths)} ADaM datasets ({key}): {', '.join(p.name for p in paths)} in {out_dir}", highlight=False)
