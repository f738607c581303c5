"""Export ADaM datasets as Parquet, CSV or SAS transport (XPT version 5)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from .._core.errors import CartlabError

FORMATS = ("parquet", "csv", "xpt")
#: XPT v5 limits (SAS TS-140): names <= 8 characters (letters, digits, _), labels <= 40, text <= 200 bytes
XPT_NAME_MAX, XPT_LABEL_MAX, XPT_TEXT_MAX = 8, 40, 200


def xpt_names(columns: list[str]) -> dict[str, str]:
    """Map column names to unique XPT v5 names: upper case, ``[A-Z0-9_]``, at most 8 characters.

    Names that already fit are kept; longer ones are cut to 8 characters, and a clash is
    resolved by replacing the tail with a counter (``LONGNAME`` → ``LONGNA_1``).

    >>> xpt_names(["USUBJID", "verylongname", "verylongname2"])
    {'USUBJID': 'USUBJID', 'verylongname': 'VERYLONG', 'verylongname2': 'VERYLO_1'}
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for c in columns:
        base = re.sub(r"[^A-Z0-9_]", "_", c.upper())
        if not base or base[0].isdigit():
            base = "V" + base
        name = base[:XPT_NAME_MAX]
        k = 1
        while name in used:
            tail = f"_{k}"
            name = base[: XPT_NAME_MAX - len(tail)] + tail
            k += 1
        used.add(name)
        out[c] = name
    return out


def export_adam(tables: Mapping[str, pl.DataFrame], labels: Mapping[str, Mapping[str, str]],
                out_dir: str | os.PathLike[str], fmt: str) -> list[Path]:
    """Write each dataset to ``out_dir/<name>.<fmt>``.

    XPT is version 5 (the FDA submission format), written by pyreadstat: variable names are
    made XPT-safe by :func:`xpt_names` (cartlab's ADaM names already are), labels are cut to 40
    characters, dataset labels are the upper-case dataset names, text longer than 200 bytes is
    refused (XPT v5 cannot hold it). Dates stay dates.

    Raises
    ------
    CartlabError
        An unknown format, or a value XPT v5 cannot hold (named with dataset, column and row).
    """
    if fmt not in FORMATS:
        raise CartlabError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        target = out / f"{name}.{fmt}"
        tmp = out / f".{name}.{fmt}.partial"
        try:
            if fmt == "parquet":
                df.write_parquet(tmp)
            elif fmt == "csv":
                df.write_csv(tmp)
            else:
                _write_xpt(df, name, labels.get(name, {}), tmp)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        written.append(target)
    return written


def _write_xpt(df: pl.DataFrame, name: str, labels: Mapping[str, str], path: Path) -> None:
    import pyreadstat

    names = xpt_names(df.columns)
    for c in df.columns:
        if df[c].dtype == pl.String:
            too_long = df.select(pl.col(c).str.len_bytes() > XPT_TEXT_MAX).to_series().arg_true()
            if too_long.len():
                row = int(too_long[0])
                raise CartlabError(f"{name}.{c} row {row + 1}: text of {df[c][row].encode().__len__()} bytes; "
                                   f"XPT v5 holds at most {XPT_TEXT_MAX}")
    renamed = df.rename(names)
    pdf = renamed.to_pandas()
    col_labels = [(labels.get(c) or c)[:XPT_LABEL_MAX] for c in df.columns]
    pyreadstat.write_xport(pdf, str(path), file_format_version=5, table_name=name.upper()[:XPT_NAME_MAX],
                           file_label=name.upper(), column_labels=col_labels)
