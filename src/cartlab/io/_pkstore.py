"""Add derived tables (ADPPK, ADPP, ...) to an existing trial store, atomically, refusing to replace
tables that are already there unless asked (:func:`cartlab.io.update_trial` does the write: a copy
beside the trial, swapped in with the same atomic exchange as :func:`cartlab.io.write_trial`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from .._core.errors import StoreError
from ._update import update_trial
from .store import _validate_tables, open_trial, store_path


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
    return update_trial(path, dict(checked), provenance=provenance)
