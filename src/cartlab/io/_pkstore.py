"""Add derived tables (ADPPK, ADPP, ...) to an existing trial store, atomically.

The trial directory is copied to a hidden sibling, the tables are written into the copy's DuckDB
file (replacing same-named tables only when asked), the provenance record gains one row per table
saying what wrote it, and the copy is swapped into place with the same atomic exchange that
:func:`cartlab.io.write_trial` uses: a failure at any point leaves the store exactly as it was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
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
    _remove_stale_siblings,
    _sibling,
    _validate_tables,
    _write_table,
    open_trial,
    store_path,
)


def add_tables(store: str | os.PathLike[str], tables: Mapping[str, pl.DataFrame], provenance: Mapping[str, str],
               *, replace: bool = False) -> Path:
    """Write ``tables`` into the existing trial store ``store`` (directory or its ``trial.duckdb``).

    Parameters
    ----------
    store : path
        An existing trial store.
    tables : Mapping[str, polars.DataFrame]
        Tables to add, named by lower-case domain code (``adppk``, ``adpp``); same rules as
        :func:`cartlab.io.write_trial`.
    provenance : Mapping[str, str]
        Rows to add to (or replace in) the store's provenance record, e.g.
        ``{"table.adppk": "cartlab 0.1.0 pk adam 2026-01-01T00:00:00Z"}``.
    replace : bool
        Replace tables of the same names; without it an existing table is refused.

    Returns
    -------
    pathlib.Path
        The store file.

    Raises
    ------
    StoreError
        No store at ``store``, a table exists and ``replace`` is False, an invalid table, or a failed
        write; the store is unchanged in every case.

    Examples
    --------
    >>> import tempfile
    >>> from cartlab.io import write_trial
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_trial(Path(d, "t"), {"dm": pl.DataFrame({"USUBJID": ["S1"]})}, {"seed": "1"})
    ...     _ = add_tables(Path(d, "t"), {"adpp": pl.DataFrame({"AVAL": [1.0]})}, {"table.adpp": "test"})
    ...     with open_trial(Path(d, "t")) as st:
    ...         print(st.tables(), st.provenance())
    ['adpp', 'dm'] {'seed': '1', 'table.adpp': 'test'}
    """
    path = store_path(store)
    shown = str(path.parent)
    checked = _validate_tables(tables, shown)
    for key, value in provenance.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise StoreError(f"{shown}: provenance rows must be non-empty str keys with str values; got {key!r}")
    with open_trial(path) as st:
        have = set(st.tables())
    clash = sorted(name for name, _ in checked if name in have)
    if clash and not replace:
        raise StoreError(f"{shown}: the store already holds table(s) {', '.join(clash)}; "
                         "replace them with --overwrite (replace=True)")
    target = Path(os.path.abspath(path.parent))
    _remove_stale_siblings(target)
    temp = _sibling(target, "partial")
    try:
        shutil.copytree(target, temp, symlinks=True)
        with duckdb.connect(str(temp / STORE_FILENAME)) as con:
            con.execute("SET preserve_insertion_order = true")
            for name, frame in checked:
                con.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
                _write_table(con, name, frame)
            for key, value in provenance.items():
                con.execute(f"DELETE FROM {PROVENANCE_TABLE} WHERE KEY = ?", [key])
                con.execute(f"INSERT INTO {PROVENANCE_TABLE} VALUES (?, ?)", [key, value])
            con.execute("CHECKPOINT")
        _fsync_path(temp / STORE_FILENAME)
        _fsync_path(temp)
        _install(temp, target, shown, overwrite=True)
    except (duckdb.Error, OSError) as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise StoreError(f"{shown}: adding tables failed ({exc}); the store is unchanged") from exc
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return target / STORE_FILENAME
