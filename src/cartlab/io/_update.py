"""Add or replace tables of an existing trial store, atomically (the store is rewritten and swapped in)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import polars as pl

from .._core.errors import StoreError
from .store import (
    STORE_FILENAME,
    _build,
    _install,
    _sibling,
    _validate_provenance,
    _validate_tables,
    open_trial,
    store_path,
)


def update_trial(dir_or_file: str | os.PathLike[str], tables: Mapping[str, pl.DataFrame], *,
                 drop: Iterable[str] = (), provenance: Mapping[str, str] | None = None) -> Path:
    """Write ``tables`` into an existing trial store, replacing tables of the same name.

    The whole trial directory is rebuilt in a hidden sibling (every existing table, the
    provenance record and every file beside the store copied over, ``tables`` added) and swapped
    in with the same atomic rename as :func:`cartlab.io.write_trial`: a failure or Ctrl-C leaves
    the store exactly as it was.

    Parameters
    ----------
    dir_or_file : str or os.PathLike
        The trial directory or its ``trial.duckdb``.
    tables : mapping of str -> polars.DataFrame
        Tables to add or replace (lower-case names, e.g. ``adsl``).
    drop : iterable of str
        Tables to remove (e.g. ADaM tables of an earlier derivation that no longer apply).
    provenance : mapping, optional
        Keys to add to (or update in) the provenance record.

    Returns
    -------
    pathlib.Path
        The store file.

    Raises
    ------
    StoreError
        If there is no store, a table name is invalid, or writing fails (nothing changed).
    """
    path = store_path(dir_or_file)
    new_tables = _validate_tables(tables, str(path))
    with open_trial(path) as st:
        names = st.tables()
        existing = {n: st.read(n) for n in names if n not in tables and n not in set(drop)}
        prov = st.provenance()
    prov.update({k: str(v) for k, v in (provenance or {}).items()})
    directory = path.parent
    if path.name != STORE_FILENAME:
        raise StoreError(f"{path}: only a trial directory's {STORE_FILENAME} can be updated in place")
    files = [(p.name, p.read_bytes()) for p in sorted(directory.iterdir())
             if p.is_file() and p.name != STORE_FILENAME and not p.name.startswith(".")]
    merged = {**existing, **dict(new_tables)}
    prov_frame = _validate_provenance(prov, str(path))
    absolute = Path(os.path.abspath(directory))
    temp = _sibling(absolute, "partial")
    try:
        temp.mkdir()
    except OSError as exc:
        raise StoreError(f"{directory}: cannot create a temporary directory beside it ({exc.strerror})") from exc
    try:
        _build(temp, sorted(merged.items()), prov_frame, files, str(directory))
        _install(temp, absolute, str(directory), overwrite=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return path
