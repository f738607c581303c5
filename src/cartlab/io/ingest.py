"""Ingestion of a real trial's SDTM files into a trial store, with versions, and the SDTM export.

:func:`ingest_sdtm` reads every SDTM file of a directory, validates it
(:func:`cartlab.compliance.validate_sdtm`), and only if there is no ``ERROR`` finding writes the
domains into the same DuckDB trial store the simulator writes (``DIR/trial.duckdb``), with:

``validation_findings``  every warning and info finding of the load (:data:`FINDINGS_SCHEMA`);
``date_imputations``     each partial date with the interval it stands for and the rule;
``deviations``           protocol deviations (:func:`cartlab.compliance.check_compliance`), when a
                         protocol is given (the protocol is kept beside the store as ``protocol.toml``);
``ingest_versions``      one row per version: content hash, protocol hash, files, findings;
``ingest_files``         every file of every version (domain, format, encoding, bytes, rows, SHA-256);
``ingest_audit``         per version and domain: rows before and after, added, changed, removed.

Versions
--------
Ingesting into a directory that already holds an ingested trial compares the content hash (the
SHA-256 of every file, by domain, and of the protocol). The same content changes nothing: the
store is not touched. Different content is written as a new version; the previous store is kept
byte for byte as ``trial.vN.duckdb`` beside the new one, and ``ingest_audit`` records, per domain,
how many records were added, changed or removed (records matched on ``STUDYID, USUBJID, --SEQ``,
or the domain's other natural key; whole records where a domain has no unique key). Data are
never replaced silently.

Errors leave the store as it was: the write is atomic (:func:`cartlab.io.write_trial`) and
happens only after validation has passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .._core.errors import DataValidationError, StoreError
from .._core.provenance import collect_provenance
from ..compliance import (
    DEVIATIONS_SCHEMA,
    FINDINGS_SCHEMA,
    IMPUTATIONS_SCHEMA,
    check_compliance,
    format_findings,
    key_variables,
    validate_sdtm,
)
from ..protocol import Protocol, load_protocol
from ._sdtm_read import DEFAULT_MAX_FILE_BYTES, read_sdtm_dir
from .store import open_trial, store_path, write_trial

__all__ = [
    "AUDIT_SCHEMA", "METADATA_TABLES", "IngestError", "IngestResult", "export_sdtm", "ingest_sdtm",
    "sdtm_domains",
]

AUDIT_SCHEMA: dict[str, pl.DataType] = {
    "VERSION": pl.Int64(), "DOMAIN": pl.String(), "ROWS_BEFORE": pl.Int64(), "ROWS_AFTER": pl.Int64(),
    "ADDED": pl.Int64(), "CHANGED": pl.Int64(), "REMOVED": pl.Int64(),
}
_VERSIONS_SCHEMA: dict[str, pl.DataType] = {
    "VERSION": pl.Int64(), "CREATED_UTC": pl.String(), "CONTENT_SHA256": pl.String(),
    "PROTOCOL_SHA256": pl.String(), "SOURCE_DIR": pl.String(), "N_FILES": pl.Int64(),
    "N_WARNINGS": pl.Int64(), "DATA_CUTOFF": pl.String(),
}
_FILES_SCHEMA: dict[str, pl.DataType] = {
    "VERSION": pl.Int64(), "FILE": pl.String(), "DOMAIN": pl.String(), "FORMAT": pl.String(),
    "ENCODING": pl.String(), "BYTES": pl.Int64(), "ROWS": pl.Int64(), "COLUMNS": pl.Int64(), "SHA256": pl.String(),
}

#: Tables cartlab writes about an ingestion (not SDTM domains).
METADATA_TABLES = ("validation_findings", "date_imputations", "deviations", "ingest_versions", "ingest_files",
                   "ingest_audit")
_ARCHIVE_RE = re.compile(r"^trial\.v(\d+)\.duckdb$")
_SDTM_TABLE_RE = re.compile(r"^(?:[a-z]{2}|supp[a-z]{2}|[a-z][a-z0-9]{1,7})$")


class IngestError(DataValidationError):
    """Validation found errors; nothing was written. ``findings`` holds every finding."""

    def __init__(self, message: str, findings: pl.DataFrame) -> None:
        super().__init__(message)
        self.findings = findings


@dataclass(frozen=True)
class IngestResult:
    """What :func:`ingest_sdtm` did.

    Attributes
    ----------
    status : {"created", "new version", "unchanged"}
    path : pathlib.Path
        The store file.
    version : int
        The store's current version.
    findings, audit, deviations, imputations : polars.DataFrame
        Findings of this load (empty when unchanged), the audit rows of this version, the
        deviations (empty without a protocol), the partial-date imputations.
    """

    status: str
    path: Path
    version: int
    findings: pl.DataFrame
    audit: pl.DataFrame
    deviations: pl.DataFrame
    imputations: pl.DataFrame


def _content_hash(files: Mapping[str, str], protocol_sha: str | None) -> str:
    h = hashlib.sha256()
    for domain in sorted(files):
        h.update(f"{domain}:{files[domain]}\n".encode())
    h.update(f"protocol:{protocol_sha or 'none'}\n".encode())
    return h.hexdigest()


def _row_hash(df: pl.DataFrame) -> pl.Expr:
    cols = [pl.col(c).cast(pl.String).fill_null("\x00") for c in df.columns]
    return pl.concat_str(cols, separator="\x1f").hash(seed=0) if cols else pl.lit(0, pl.UInt64)


def _audit_domain(domain: str, old: pl.DataFrame | None, new: pl.DataFrame | None, version: int) -> dict[str, object]:
    before = 0 if old is None else old.height
    after = 0 if new is None else new.height
    row = {"VERSION": version, "DOMAIN": domain, "ROWS_BEFORE": before, "ROWS_AFTER": after}
    if old is None or new is None:
        return {**row, "ADDED": after, "CHANGED": 0, "REMOVED": before}
    keys = key_variables(domain, old.columns)
    if keys and key_variables(domain, new.columns) == keys and all(
            t.select(pl.struct(list(keys)).is_unique().all()).item() for t in (old, new)):
        a = old.select(*keys, _row_hash(old).alias("__H"))
        b = new.select(*[pl.col(k).cast(old.schema[k]) for k in keys], _row_hash(new).alias("__H"))
        j = a.join(b, on=list(keys), how="full", suffix="_new", coalesce=True, nulls_equal=True)
        added = int(j["__H"].is_null().sum())
        removed = int(j["__H_new"].is_null().sum())
        changed = int((j["__H"].is_not_null() & j["__H_new"].is_not_null() & (j["__H"] != j["__H_new"])).sum())
        return {**row, "ADDED": added, "CHANGED": changed, "REMOVED": removed}
    ca = old.select(_row_hash(old).alias("H")).group_by("H").len("A")
    cb = new.select(_row_hash(new).alias("H")).group_by("H").len("B")
    j = ca.join(cb, on="H", how="full", coalesce=True).fill_null(0)
    diff = j.select((pl.col("B").cast(pl.Int64) - pl.col("A").cast(pl.Int64)).alias("D"))["D"]
    return {**row, "ADDED": int(diff.clip(lower_bound=0).sum()), "CHANGED": 0,
            "REMOVED": int((-diff).clip(lower_bound=0).sum())}


def sdtm_domains(tables: list[str]) -> list[str]:
    """The store tables that are SDTM domains (neither ADaM, summaries nor ingestion metadata).

    Examples
    --------
    >>> sdtm_domains(["adsl", "dm", "ingest_audit", "lb", "sim_summary", "suppdm", "validation_findings"])
    ['dm', 'lb', 'suppdm']
    """
    return [t for t in tables if _SDTM_TABLE_RE.match(t) and not t.startswith("ad") and t not in METADATA_TABLES]


def _existing(out_dir: Path, overwrite: bool) -> dict | None:
    path = store_path(out_dir)
    if not path.exists():
        return None
    with open_trial(path) as st:
        tables = st.tables()
        if "ingest_versions" not in tables:
            if overwrite:
                return None
            raise StoreError(f"{out_dir}: holds a trial store that was not written by `cartlab ingest` "
                             "(e.g. a simulated trial); choose another --out, or pass --overwrite to replace it")
        versions = st.read("ingest_versions")
        state = {
            "versions": versions, "files": st.read("ingest_files"), "audit": st.read("ingest_audit"),
            "tables": {t: st.read(t) for t in sdtm_domains(tables)},
        }
    state["path"] = path
    return state


def ingest_sdtm(source_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                protocol: str | os.PathLike[str] | Protocol | None = None, encoding: str = "auto",
                max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, data_cutoff: dt.date | None = None,
                overwrite: bool = False, visit_window=None) -> IngestResult:
    """Validate a trial's SDTM files and load them into a trial store (a new version if it changed).

    Parameters
    ----------
    source_dir : str or os.PathLike
        Directory of ``DOMAIN.xpt`` / ``DOMAIN.csv`` / ``DOMAIN.json`` files.
    out_dir : str or os.PathLike
        Trial directory (``runs/mytrial``); its store is ``out_dir/trial.duckdb``.
    protocol : path or Protocol, optional
        The trial's protocol; its rules are checked and the deviations stored.
    encoding : str, default "auto"
        Text encoding of the files (``"auto"``: UTF-8, else Windows-1252 with a warning).
    max_file_bytes : int
        Files larger than this are refused (default 2 GiB).
    data_cutoff : datetime.date, optional
        Dates after it are errors (default today).
    overwrite : bool
        Replace a store in ``out_dir`` that was not written by an ingestion.
    visit_window : VisitWindow, optional
        Visit windows for the compliance check (default :class:`cartlab.compliance.VisitWindow`).

    Returns
    -------
    IngestResult

    Raises
    ------
    IngestError
        Validation found errors (the message lists them; ``.findings`` has them all). Nothing
        was written.
    StoreError, DataValidationError
        The output cannot be written, or the source directory holds no SDTM file.
    """
    out = Path(out_dir)
    if isinstance(protocol, Protocol):
        proto, proto_bytes = protocol, (protocol.source_path.read_bytes() if protocol.source_path else None)
    elif protocol is not None:
        proto_bytes = Path(protocol).read_bytes()
        proto = load_protocol(Path(protocol))
    else:
        proto, proto_bytes = None, None
    protocol_sha = hashlib.sha256(proto_bytes).hexdigest() if proto_bytes is not None else None

    files, notes = read_sdtm_dir(source_dir, encoding=encoding, max_file_bytes=max_file_bytes)
    cutoff = data_cutoff or dt.date.today()
    result = validate_sdtm([f.source() for f in files], data_cutoff=cutoff, prior_findings=notes)
    if result.n_errors:
        errors = result.findings.filter(pl.col("SEVERITY") == "ERROR")
        raise IngestError(
            f"{source_dir}: {result.n_errors} error(s) in the SDTM files; nothing was written to {out}\n"
            + format_findings(errors), result.findings)
    content = _content_hash({f.domain: f.sha256 for f in files}, protocol_sha)
    previous = _existing(out, overwrite)
    if previous is not None and previous["versions"]["CONTENT_SHA256"][-1] == content:
        version = int(previous["versions"]["VERSION"][-1])
        with open_trial(previous["path"]) as st:
            have = st.tables()
            devs = st.read("deviations") if "deviations" in have else pl.DataFrame(schema=DEVIATIONS_SCHEMA)
            imps = st.read("date_imputations")
        return IngestResult("unchanged", previous["path"], version, pl.DataFrame(schema=FINDINGS_SCHEMA),
                            pl.DataFrame(schema=AUDIT_SCHEMA), devs, imps)

    version = 1 if previous is None else int(previous["versions"]["VERSION"].max()) + 1
    tables = dict(result.tables)
    old_tables = {} if previous is None else previous["tables"]
    audit = pl.DataFrame([_audit_domain(d, old_tables.get(d), tables.get(d), version)
                          for d in sorted(set(old_tables) | set(tables))], schema=AUDIT_SCHEMA, orient="row")
    deviations = pl.DataFrame(schema=DEVIATIONS_SCHEMA)
    if proto is not None:
        kwargs = {} if visit_window is None else {"visit_window": visit_window}
        deviations = check_compliance(tables, proto, **kwargs)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    n_warn = result.n_warnings
    vrow = pl.DataFrame([{"VERSION": version, "CREATED_UTC": stamp, "CONTENT_SHA256": content,
                          "PROTOCOL_SHA256": protocol_sha, "SOURCE_DIR": str(Path(os.path.abspath(source_dir))),
                          "N_FILES": len(files), "N_WARNINGS": n_warn, "DATA_CUTOFF": cutoff.isoformat()}],
                        schema=_VERSIONS_SCHEMA, orient="row")
    frows = pl.DataFrame([{"VERSION": version, "FILE": f.path.name, "DOMAIN": f.domain, "FORMAT": f.format,
                           "ENCODING": f.encoding, "BYTES": f.size, "ROWS": f.frame.height,
                           "COLUMNS": f.frame.width, "SHA256": f.sha256} for f in files],
                         schema=_FILES_SCHEMA, orient="row")
    if previous is not None:
        vrow = pl.concat([previous["versions"].cast(_VERSIONS_SCHEMA), vrow])
        frows = pl.concat([previous["files"].cast(_FILES_SCHEMA), frows])
        audit_all = pl.concat([previous["audit"].cast(AUDIT_SCHEMA), audit])
    else:
        audit_all = audit
    tables.update({
        "validation_findings": result.findings, "date_imputations": result.imputations.cast(IMPUTATIONS_SCHEMA),
        "ingest_versions": vrow, "ingest_files": frows, "ingest_audit": audit_all,
    })
    if proto is not None:
        tables["deviations"] = deviations
    extra: dict[str, bytes] = {}
    if proto_bytes is not None:
        extra["protocol.toml"] = proto_bytes
    if previous is not None:
        for entry in sorted(out.iterdir()):
            if _ARCHIVE_RE.match(entry.name):
                extra[entry.name] = entry.read_bytes()
        extra[f"trial.v{version - 1}.duckdb"] = previous["path"].read_bytes()
    prov = collect_provenance(seed=None, inputs={"protocol": proto_bytes} if proto_bytes is not None else {},
                              extra={"command": "cartlab ingest", "source_dir": str(source_dir),
                                     "content_sha256": content, "version": version,
                                     "study_id": _study_id(tables), "data_cutoff": cutoff.isoformat(),
                                     "protocol_sha256": protocol_sha})
    path = write_trial(out, tables, prov, overwrite=previous is not None or overwrite, extra_files=extra)
    return IngestResult("created" if previous is None else "new version", path, version, result.findings, audit,
                        deviations, result.imputations)


def _study_id(tables: Mapping[str, pl.DataFrame]) -> str:
    dm = tables.get("dm")
    if dm is None or "STUDYID" not in dm.columns:
        return "none"
    ids = dm["STUDYID"].drop_nulls().unique().sort().to_list()
    return ",".join(ids) or "none"


# ------------------------------------------------------------------------------------------- export
def export_sdtm(store: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, fmt: str = "xpt") -> list[Path]:
    """Write a trial store's SDTM domains as SAS XPORT v5 (``fmt="xpt"``) or CSV files.

    One file per domain (``dm.xpt`` …), dataset name = domain code in upper case. In XPORT,
    Int64 columns become SAS numerics (8-byte IBM floats hold every 53-bit integer and every
    IEEE double in its range exactly; magnitudes below about 5.4e-79 underflow to 0) and missing
    text is blank, as SAS stores it; :func:`ingest_sdtm` reads
    both back to the same values and types.

    Parameters
    ----------
    store : str or os.PathLike
        Trial directory or its ``trial.duckdb``.
    out_dir : str or os.PathLike
        Directory to write into (created; existing files of the same names are replaced).
    fmt : {"xpt", "csv"}

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    DataValidationError
        A variable name or value does not fit XPORT v5 (names <= 8 characters, text <= 200 bytes).
    """
    import pyreadstat

    if fmt not in ("xpt", "csv"):
        raise DataValidationError(f"--format must be xpt or csv; got {fmt!r}")
    target = Path(out_dir)
    with open_trial(store) as st:
        domains = sdtm_domains(st.tables())
        frames = {d: st.read(d) for d in domains}
    if not frames:
        raise DataValidationError(f"{store}: the store holds no SDTM domain to export")
    for d, df in frames.items():
        long = [c for c in df.columns if len(c) > 8]
        if fmt == "xpt" and long:
            raise DataValidationError(f"{store}: table {d!r} column {long[0]!r} is longer than 8 characters; "
                                      "SAS XPORT v5 cannot hold it (use --format csv)")
        if fmt == "xpt":
            for c, t in df.schema.items():
                if t == pl.String and df[c].str.len_bytes().max() is not None and df[c].str.len_bytes().max() > 200:
                    raise DataValidationError(f"{store}: table {d!r} column {c!r} has values over 200 bytes; "
                                              "SAS XPORT v5 cannot hold them (use --format csv)")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{target}: cannot create the directory ({exc.strerror})") from exc
    written = []
    for d, df in frames.items():
        path = target / f"{d}.{fmt}"
        tmp = target / f".{d}.{fmt}.partial"
        if fmt == "csv":
            df.write_csv(tmp)
        else:
            # SAS has one numeric type (double) and blank, not null, text.
            sas = df.with_columns(pl.col(pl.String).fill_null(""),
                                  *(pl.col(c).cast(pl.Float64) for c, t in df.schema.items() if t.is_numeric()))
            pyreadstat.write_xport(sas, str(tmp), table_name=d.upper(), file_format_version=5)
        os.replace(tmp, path)
        written.append(path)
    return written

