"""Add or replace tables of an existing trial store, atomically (a copy is changed and swapped in)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb
import polars as pl

from .._core.errors import StoreError
from .store import (
    PROVENANCE_TABLE,
    STORE_FILENAME,
    _fsync_path,
    _install,
    _quote,
    _sibling,
    _validate_provenance,
    _validate_tables,
    _write_table,
    open_trial,
    store_path,
)


def update_trial(dir_or_file: str | os.PathLike[str], tables: Mapping[str, pl.DataFrame], *,
                 drop: Iterable[str] = (), provenance: Mapping[str, str] | None = None,
                 replace: bool = True) -> Path:
    """Write ``tables`` into an existing trial store, replacing tables of the same name.

    The trial directory is copied to a hidden sibling, the copy's store is changed (tables
    replaced or added, ``drop`` removed, provenance keys added) and the copy is swapped in with
    the same atomic rename as :func:`cartlab.io.write_trial`: a failure or Ctrl-C at any point
    leaves the store exactly as it was. Tables not named are kept byte for byte in the copy.

    Parameters
    ----------
    dir_or_file : str or os.PathLike
        The trial directory or its ``trial.duckdb``.
    tables : mapping of str -> polars.DataFrame
        Tables to add or replace (lower-case names, e.g. ``adsl``; the rules of ``write_trial``).
    drop : iterable of str
        Tables to remove.
    provenance : mapping, optional
        Keys to add to (or update in) the provenance record.
    replace : bool
        Replace tables of the same names (the default); with False a table already in the store is
        refused (``cartlab pk adam`` without ``--overwrite``).

    Returns
    -------
    pathlib.Path
        The store file.

    Raises
    ------
    StoreError
        If there is no store, a table is invalid, or writing fails (nothing changed).
    """
    path = store_path(dir_or_file)
    shown = str(path.parent)
    checked = _validate_tables(tables, str(path))
    with open_trial(path) as st:  # also: a clear error when there is no store
        prov = st.provenance() if PROVENANCE_TABLE in st._all_tables() else {}
        clash = sorted(name for name, _ in checked if name in st.tables())
    if clash and not replace:
        raise StoreError(f"{shown}: the store already holds table(s) {', '.join(clash)}; "
                         "replace them with --overwrite (replace=True)")
    prov.update({k: v for k, v in (provenance or {}).items()})
    prov_frame = _validate_provenance(prov, str(path))
    if path.name != STORE_FILENAME:
        raise StoreError(f"{path}: only a trial directory's {STORE_FILENAME} can be updated in place")
    absolute = Path(os.path.abspath(path.parent))
    temp = _sibling(absolute, "partial")
    try:
        shutil.copytree(absolute, temp, symlinks=True)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise StoreError(f"{shown}: cannot copy the trial beside it to update it ({exc}); nothing was changed") from exc
    current = "(opening the copy)"
    try:
        try:
            with duckdb.connect(str(temp / STORE_FILENAME)) as con:
                con.execute("SET preserve_insertion_order = true")
                for name in [*drop, *(n for n, _ in checked)]:
                    current = f"table {name!r}"
                    con.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
                for name, frame in checked:
                    current = f"table {name!r}"
                    _write_table(con, name, frame)
                current = "the provenance table"
                con.execute(f"DROP TABLE IF EXISTS {PROVENANCE_TABLE}")
                _write_table(con, PROVENANCE_TABLE, prov_frame)
                current = "(checkpoint)"
                con.execute("CHECKPOINT")
            _fsync_path(temp / STORE_FILENAME)
            _fsync_path(temp)
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"{shown}: writing {current} failed ({exc}); nothing was changed at {shown}") from exc
        _install(temp, absolute, shown, overwrite=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return path
