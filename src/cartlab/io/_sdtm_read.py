"""Reading a trial's SDTM files: SAS transport (XPORT v5 and v8, through pyreadstat), CSV and
CDISC Dataset-JSON v1.1.

One file holds one domain and is named by its domain code (``dm.xpt``, ``lb.csv``,
``suppdm.xpt``, a sponsor domain such as ``xp.xpt``). Every problem with a file (too large,
truncated or corrupt, not the format its name says, not decodable) becomes an ``ERROR`` finding
naming the file; nothing raises for a bad file, so one run reports every bad file at once.

Encodings
---------
``encoding="auto"`` (the default) reads text as UTF-8 and, for a file that is not valid UTF-8,
falls back to Windows-1252 (the SAS default on Windows, common in submitted XPT files) with a
``WARNING`` finding saying so. An explicit encoding is used as given; a file that does not decode
with it is an error.

Large files
-----------
A file larger than ``max_file_bytes`` (default :data:`DEFAULT_MAX_FILE_BYTES`, 2 GiB) is refused
before it is read, with its size and the limit in the message: a domain is read whole into memory
(about 2-3 times its XPT size), so a larger file needs a machine sized for it and an explicit
``--max-file-size``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .._core.errors import DataValidationError
from ..compliance import SourceDomain

__all__ = ["DEFAULT_MAX_FILE_BYTES", "SUPPORTED_SUFFIXES", "SdtmFile", "read_sdtm_dir", "read_sdtm_file"]

#: Files larger than this are refused unless the caller raises the limit (2 GiB).
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3

#: File name suffixes read as SDTM domains.
SUPPORTED_SUFFIXES = (".xpt", ".csv", ".json")

_XPT_V5 = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
_XPT_V8 = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"
_DOMAIN_RE = re.compile(r"^[a-z][a-z0-9]{1,7}$")
_FALLBACK = "windows-1252"


@dataclass(frozen=True)
class SdtmFile:
    """One SDTM file read into memory.

    Attributes
    ----------
    path : pathlib.Path
    domain : str
        Lower-case domain code (the file's stem).
    format : str
        ``"xpt5"``, ``"xpt8"``, ``"csv"`` or ``"dataset-json"``.
    encoding : str
        Text encoding used.
    sha256 : str
        Hex digest of the file's bytes.
    size : int
        Bytes.
    frame : polars.DataFrame
        Records in file order (String for Char, Float64 for Num; every column String for CSV).
    labels : dict of str to str
        Variable labels where the format has them.
    """

    path: Path
    domain: str
    format: str
    encoding: str
    sha256: str
    size: int
    frame: pl.DataFrame
    labels: dict[str, str]

    def source(self) -> SourceDomain:
        """The file as input to :func:`cartlab.compliance.validate_sdtm`."""
        return SourceDomain(self.domain, self.path.name, self.frame, typed=self.format != "csv")


def _finding(path: Path, domain: str | None, severity: str, rule: str, message: str, fix: str,
             value: str | None = None) -> dict[str, object]:
    return {"SEVERITY": severity, "DOMAIN": domain, "FILE": path.name, "ROW": None, "VARIABLE": None,
            "VALUE": value, "RULE": rule, "MESSAGE": message, "FIX": fix}


def _size_text(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n / 1024**2:.1f} MiB" if n >= 1024**2 else f"{n} bytes"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _decode(data: bytes, encoding: str, path: Path, notes: list[dict[str, object]], domain: str) -> tuple[str, str]:
    if encoding != "auto":
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise DataValidationError(f"encoding {encoding!r} is not known to Python; use e.g. utf-8, "
                                      "windows-1252 or latin-1, or 'auto'") from None
        except UnicodeDecodeError as exc:
            raise _Unreadable(f"not valid {encoding} text: byte 0x{data[exc.start]:02x} at offset {exc.start}",
                              "pass the file's real encoding with --encoding, or re-save it as UTF-8") from None
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        notes.append(_finding(path, domain, "WARNING", "ENCODING",
                              f"the file is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                              f"read as {_FALLBACK}", "check accented characters, or pass --encoding",
                              value=f"0x{data[exc.start]:02x}"))
        return data.decode(_FALLBACK, errors="replace"), _FALLBACK


class _Unreadable(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _read_xpt(path: Path, encoding: str, notes: list[dict[str, object]], domain: str
              ) -> tuple[pl.DataFrame, dict[str, str], str, str]:
    import pyreadstat

    with open(path, "rb") as handle:
        head = handle.read(80)
    if head.startswith(_XPT_V5):
        fmt = "xpt5"
    elif head.startswith(_XPT_V8):
        fmt = "xpt8"
    else:
        raise _Unreadable("not a SAS transport (XPORT) file: the library header record is missing",
                          "export the dataset as SAS XPORT v5 or v8, or give CSV files a .csv name")
    tried = ["utf-8", _FALLBACK] if encoding == "auto" else [encoding]
    first: Exception | None = None
    for k, enc in enumerate(tried):
        try:
            frame, meta = pyreadstat.read_xport(str(path), encoding=enc, output_format="polars",
                                                disable_datetime_conversion=True)
        except LookupError:
            raise DataValidationError(f"encoding {encoding!r} is not known; use e.g. utf-8, windows-1252 or "
                                      "'auto'") from None
        except Exception as exc:  # noqa: BLE001 - any failure of the C parser means the file is unreadable
            # readstat reports undecodable text like any other failure: retry with the fallback
            # encoding, and report the first failure if that fails too.
            first = first or exc
            continue
        if k:
            notes.append(_finding(path, domain, "WARNING", "ENCODING",
                                  f"the file's text is not valid UTF-8 ({_reason(first)}); read as {enc}",
                                  "check accented characters, or pass --encoding", value=enc))
        labels = {c: lab for c, lab in (meta.column_names_to_labels or {}).items() if lab}
        if meta.table_name and meta.table_name.lower() != domain:
            notes.append(_finding(path, domain, "WARNING", "DATASET-NAME",
                                  f"the dataset inside is named {meta.table_name!r}, the file {path.name!r}; "
                                  f"cartlab uses the file name ({domain.upper()})",
                                  "name the file after its dataset", value=meta.table_name))
        return frame, labels, fmt, enc
    assert first is not None
    raise _Unreadable(f"cannot be read as SAS XPORT {fmt[-1]} with encoding {' or '.join(tried)} "
                      f"({_reason(first)}); the file is truncated, corrupt or in another encoding",
                      "export the dataset again from its source, or pass its encoding with --encoding")


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "…"


def _read_csv(path: Path, encoding: str, notes: list[dict[str, object]], domain: str
              ) -> tuple[pl.DataFrame, dict[str, str], str, str]:
    text, used = _decode(path.read_bytes(), encoding, path, notes, domain)
    if not text.strip():
        raise _Unreadable("the file is empty (no header line)", "write a header line with the variable names")
    try:
        # Every column is read as text; the SDTM type of each variable decides its conversion.
        frame = pl.read_csv(io.BytesIO(text.encode("utf-8")), infer_schema=False)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise _Unreadable(f"not a readable CSV file ({_reason(exc)})",
                          "write comma-separated values with one header line and the same number of fields "
                          "on every line") from None
    dup = [c for c in frame.columns if re.search(r"_duplicated_\d+$", c)]
    if dup:
        raise _Unreadable(f"the header repeats a column name ({dup[0].rsplit('_duplicated_', 1)[0]})",
                          "give every column its own name")
    return frame, {}, "csv", used


_JSON_TYPES = {"string": pl.String, "integer": pl.Float64, "float": pl.Float64, "double": pl.Float64,
               "decimal": pl.Float64, "boolean": pl.String, "date": pl.String, "datetime": pl.String,
               "time": pl.String, "URI": pl.String}


def _read_json(path: Path, encoding: str, notes: list[dict[str, object]], domain: str
               ) -> tuple[pl.DataFrame, dict[str, str], str, str]:
    text, used = _decode(path.read_bytes(), encoding, path, notes, domain)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                          "write CDISC Dataset-JSON v1.1") from None
    if not isinstance(doc, dict) or "columns" not in doc or "rows" not in doc:
        raise _Unreadable("not CDISC Dataset-JSON v1.1 (top-level 'columns' and 'rows' are missing)",
                          "write Dataset-JSON v1.1 (datasetJSONVersion 1.1.x)")
    cols, rows = doc["columns"], doc["rows"]
    if not isinstance(cols, list) or not isinstance(rows, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) for c in cols):
        raise _Unreadable("Dataset-JSON 'columns' must be a list of objects with a 'name', 'rows' a list",
                          "write Dataset-JSON v1.1")
    names = [c["name"] for c in cols]
    types = {}
    for c in cols:
        kind = c.get("dataType", "string")
        if kind not in _JSON_TYPES:
            raise _Unreadable(f"column {c['name']}: dataType {kind!r} is not a Dataset-JSON type",
                              f"use one of {', '.join(_JSON_TYPES)}")
        types[c["name"]] = _JSON_TYPES[kind]
    for k, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) != len(names):
            raise _Unreadable(f"row {k} has {len(row) if isinstance(row, list) else 'no'} values for "
                              f"{len(names)} columns", "write one value per column in every row")
    data: dict[str, list[object]] = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    series = []
    for n in names:
        values = data[n]
        if types[n] == pl.Float64:
            bad = next((k for k, v in enumerate(values, 1) if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float | str))), None)
            if bad is not None:
                raise _Unreadable(f"row {bad}, column {n}: {values[bad - 1]!r} is not a number",
                                  f"write {n} as a JSON number or null")
            series.append(pl.Series(n, [None if v is None else str(v) if isinstance(v, str) else float(v)
                                         for v in values], dtype=pl.String if any(
                                             isinstance(v, str) for v in values) else pl.Float64))
        else:
            series.append(pl.Series(n, [None if v is None else str(v) for v in values], dtype=pl.String))
    labels = {c["name"]: c["label"] for c in cols if isinstance(c.get("label"), str)}
    return pl.DataFrame(series), labels, "dataset-json", used


_READERS = {".xpt": _read_xpt, ".csv": _read_csv, ".json": _read_json}


def read_sdtm_file(path: str | os.PathLike[str], *, encoding: str = "auto",
                   max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> tuple[SdtmFile | None, list[dict[str, object]]]:
    """Read one SDTM file.

    Parameters
    ----------
    path : str or os.PathLike
        ``DOMAIN.xpt``, ``DOMAIN.csv`` or ``DOMAIN.json``.
    encoding : str, default "auto"
        Text encoding; ``"auto"`` is UTF-8 with a Windows-1252 fallback (a warning finding).
    max_file_bytes : int
        Larger files are refused with an error finding.

    Returns
    -------
    (SdtmFile or None, list of dict)
        The file (None if it could not be read) and the findings made while reading.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d, "dm.csv"); _ = p.write_text("STUDYID,USUBJID,AGE\\nS,S-1,34\\n")
    ...     f, notes = read_sdtm_file(p)
    >>> f.domain, f.format, f.frame.row(0), notes
    ('dm', 'csv', ('S', 'S-1', '34'), [])
    """
    path = Path(path)
    domain = path.stem.lower()
    notes: list[dict[str, object]] = []
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        notes.append(_finding(path, None, "ERROR", "FILE", f"not an SDTM file cartlab reads ({path.suffix or 'no suffix'})",
                              "use .xpt (SAS XPORT v5/v8), .csv or .json (Dataset-JSON v1.1)"))
        return None, notes
    if not _DOMAIN_RE.match(domain):
        notes.append(_finding(path, None, "ERROR", "FILE",
                              "the file name must be the domain code (2-8 letters or digits, starting with a "
                              "letter), e.g. dm.xpt, lb.csv, suppdm.xpt", f"rename {path.name}", value=path.stem))
        return None, notes
    try:
        size = path.stat().st_size
    except OSError as exc:
        notes.append(_finding(path, domain, "ERROR", "FILE", f"cannot be read ({exc.strerror})",
                              "check the path and permissions"))
        return None, notes
    if size > max_file_bytes:
        notes.append(_finding(path, domain, "ERROR", "FILE-SIZE",
                              f"the file is {_size_text(size)}, over the limit of {_size_text(max_file_bytes)}; "
                              "a domain is read whole into memory (2-3 times its size)",
                              "split the domain (e.g. LB by test), or raise the limit with --max-file-size on a "
                              "machine with enough memory", value=str(size)))
        return None, notes
    try:
        frame, labels, fmt, used = _READERS[suffix](path, encoding, notes, domain)
        digest = _sha256(path)
    except _Unreadable as exc:
        notes.append(_finding(path, domain, "ERROR", "FILE", str(exc), exc.fix))
        return None, notes
    except OSError as exc:
        notes.append(_finding(path, domain, "ERROR", "FILE", f"cannot be read ({exc.strerror})",
                              "check the path and permissions"))
        return None, notes
    return SdtmFile(path, domain, fmt, used, digest, size, frame, labels), notes


def read_sdtm_dir(directory: str | os.PathLike[str], *, encoding: str = "auto",
                  max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> tuple[list[SdtmFile], list[dict[str, object]]]:
    """Read every SDTM file of a directory (``*.xpt``, ``*.csv``, ``*.json``; other files are ignored).

    Returns
    -------
    (list of SdtmFile, list of dict)
        Files read, sorted by domain, and every finding made while reading (including an error
        for a domain given twice, e.g. ``lb.xpt`` and ``lb.csv``).

    Raises
    ------
    DataValidationError
        If ``directory`` is not a directory or holds no SDTM file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise DataValidationError(f"{root}: not a directory; pass the directory that holds the SDTM files")
    candidates = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
    if not candidates:
        raise DataValidationError(f"{root}: no SDTM files found (expected DOMAIN.xpt, DOMAIN.csv or DOMAIN.json, "
                                  "e.g. dm.xpt)")
    files: list[SdtmFile] = []
    notes: list[dict[str, object]] = []
    seen: dict[str, Path] = {}
    for path in candidates:
        domain = path.stem.lower()
        if domain in seen:
            notes.append(_finding(path, domain, "ERROR", "FILE",
                                  f"domain {domain.upper()} is given twice ({seen[domain].name} and {path.name})",
                                  "keep one file per domain"))
            continue
        seen[domain] = path
        f, found = read_sdtm_file(path, encoding=encoding, max_file_bytes=max_file_bytes)
        notes.extend(found)
        if f is not None:
            files.append(f)
    return files, notes
