"""Tests of the trial store: exact round trips, refusal to overwrite, atomic writes."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from polars.testing import assert_frame_equal
from polars.testing.parametric import dataframes

import cartlab
import cartlab.io.store as store_module
from cartlab._core.errors import StoreError
from cartlab.io import (
    PROVENANCE_TABLE,
    STORE_FILENAME,
    TrialStore,
    check_writable,
    open_trial,
    store_path,
    write_trial,
)

_UTC = {"A": pl.Datetime("us", "UTC")}
PROV = {"cartlab_version": "0.1.0", "seed": "20250301", "input:protocol:sha256": "ab" * 32}


def _dm() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "STUDYID": ["CA061-1000", "CA061-1000", None],
            "USUBJID": ["CA061-1000-001", "CA061-1000-002", "CA061-1000-003"],
            "AGE": pl.Series([34, None, 51], dtype=pl.Int64),
            "WEIGHT": pl.Series([61.5, float("nan"), None], dtype=pl.Float64),
            "SAFFL": pl.Series([True, None, False], dtype=pl.Boolean),
            "ARMCD": ["DL1", "DL2", "DL1"],
        }
    )


def _lb(n: int = 50) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "USUBJID": [f"S-{i % 7:03d}" for i in range(n)],
            "LBTESTCD": ["CD19" if i % 2 else "NEUT" for i in range(n)],
            "LBSTRESN": [None if i % 11 == 0 else i * 0.25 for i in range(n)],
            "LBDY": pl.Series([None if i % 13 == 0 else i - 3 for i in range(n)], dtype=pl.Int64),
        }
    )


def _tree_digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------


def test_round_trip_is_exact_including_nulls_nan_and_order(tmp_path: Path) -> None:
    dm, lb = _dm(), _lb()
    extra = pl.DataFrame(
        {
            "D": pl.Series([dt.date(2025, 3, 1), None], dtype=pl.Date),
            "T": pl.Series([dt.datetime(2025, 3, 1, 8, 30, 0, 123456), None], dtype=pl.Datetime),
            "TMS": pl.Series([None, dt.datetime(1999, 12, 31, 23, 59)], dtype=pl.Datetime("ms")),
            "TNS": pl.Series([dt.datetime(2025, 3, 1), None], dtype=pl.Datetime("ns")),
            "NEGZERO": pl.Series([-0.0, float("inf")], dtype=pl.Float64),
            "I32": pl.Series([None, -(2**31)], dtype=pl.Int32),
            "U64": pl.Series([2**64 - 1, None], dtype=pl.UInt64),
            "F32": pl.Series([1.5, None], dtype=pl.Float32),
            "TXT": ["a\x00b é 😀", ""],
        }
    )
    path = write_trial(tmp_path / "bf1", {"dm": dm, "lb": lb, "suppae": extra}, PROV)

    assert path == tmp_path / "bf1" / STORE_FILENAME
    with open_trial(tmp_path / "bf1") as store:
        assert store.tables() == ["dm", "lb", "suppae"]
        for name, frame in {"dm": dm, "lb": lb, "suppae": extra}.items():
            back = store.read(name)
            assert back.columns == frame.columns
            assert back.dtypes == frame.dtypes
            assert_frame_equal(back, frame, check_exact=True)
        back = store.read("suppae")
        assert math.copysign(1.0, back["NEGZERO"][0]) == -1.0
        assert math.isnan(store.read("dm")["WEIGHT"][1])
        assert store.read("dm")["WEIGHT"][2] is None


def test_empty_frame_keeps_its_schema(tmp_path: Path) -> None:
    empty = _dm().clear()
    write_trial(tmp_path / "t", {"dm": empty}, PROV)
    with open_trial(tmp_path / "t") as store:
        back = store.read("dm")
    assert back.height == 0
    assert back.schema == empty.schema


@settings(max_examples=30, deadline=None)
@given(
    frame=dataframes(
        min_cols=1,
        max_cols=6,
        max_size=20,
        allowed_dtypes=[
            pl.Float64,
            pl.Int64,
            pl.String,
            pl.Boolean,
            pl.Int32,
            pl.Float32,
            pl.Date,
            pl.Datetime("us"),
        ],
        allow_time_zones=False,
    )
)
def test_round_trip_property_over_random_frames(frame: pl.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_trial(Path(tmp, "t"), {"xx": frame}, PROV)
        with open_trial(Path(tmp, "t")) as store:
            back = store.read("xx")
    assert back.columns == frame.columns
    assert back.dtypes == frame.dtypes
    assert_frame_equal(back, frame, check_exact=True)


def test_provenance_table_keeps_insertion_order(tmp_path: Path) -> None:
    prov = {"zeta": "1", "alpha": "2", "mid": "3", "seed": "none"}
    write_trial(tmp_path / "t", {"dm": _dm()}, prov)
    with open_trial(tmp_path / "t") as store:
        assert store.provenance() == prov
        assert list(store.provenance()) == list(prov)
        table = store.read(PROVENANCE_TABLE)
    assert table.columns == ["KEY", "VALUE"]
    assert table.dtypes == [pl.String, pl.String]
    assert table["KEY"].to_list() == list(prov)


def test_extra_files_are_written_beside_the_store(tmp_path: Path) -> None:
    out = tmp_path / "t"
    write_trial(out, {"dm": _dm()}, PROV, extra_files={"protocol.toml": b"id = 'bf1'\n"})
    assert (out / "protocol.toml").read_bytes() == b"id = 'bf1'\n"
    assert sorted(p.name for p in out.iterdir()) == ["protocol.toml", STORE_FILENAME]


def test_store_path_and_open_accept_directory_or_file(tmp_path: Path) -> None:
    out = tmp_path / "t"
    assert store_path(out) == out / STORE_FILENAME
    assert store_path(out / STORE_FILENAME) == out / STORE_FILENAME
    written = write_trial(out / STORE_FILENAME, {"dm": _dm()}, PROV)
    assert written == out / STORE_FILENAME
    for where in (out, written, str(out)):
        with open_trial(where) as store:
            assert isinstance(store, TrialStore)
            assert store.path == written


def test_sql_queries_and_read_only(tmp_path: Path) -> None:
    write_trial(tmp_path / "t", {"lb": _lb()}, PROV)
    with open_trial(tmp_path / "t") as store:
        counts = store.sql(
            "SELECT LBTESTCD, count(*) AS N FROM lb WHERE LBDY > ? GROUP BY 1 ORDER BY 1", [10]
        )
        assert counts.columns == ["LBTESTCD", "N"]
        assert counts["LBTESTCD"].to_list() == ["CD19", "NEUT"]
        with pytest.raises(StoreError, match="SQL query failed"):
            store.sql("SELECT nope FROM lb")
        with pytest.raises(StoreError, match="read-only"):
            store.sql("CREATE TABLE x (a INTEGER)")


# ---------------------------------------------------------------------------------------------
# Errors at open and read
# ---------------------------------------------------------------------------------------------


def test_open_missing_store_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no trial store found.*trial\.duckdb"):
        open_trial(tmp_path / "nowhere")


def test_open_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / STORE_FILENAME).write_bytes(b"not a database" * 1000)
    with pytest.raises(StoreError, match="cannot open the file as a trial store"):
        open_trial(tmp_path / "t")


def test_missing_table_lists_what_exists(tmp_path: Path) -> None:
    write_trial(tmp_path / "t", {"dm": _dm(), "lb": _lb()}, PROV)
    with open_trial(tmp_path / "t") as store:
        with pytest.raises(StoreError, match=r"no table 'ae'.*holds: dm, lb"):
            store.read("ae")
        with pytest.raises(StoreError, match="did you mean 'dm'"):
            store.read("DM")


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    write_trial(tmp_path / "t", {"dm": _dm()}, PROV)
    store = open_trial(tmp_path / "t")
    store.close()
    store.close()
    assert "closed" in repr(store)
    with pytest.raises(StoreError, match="closed"):
        store.tables()


def test_store_without_provenance_is_reported(tmp_path: Path) -> None:
    import duckdb

    (tmp_path / "t").mkdir()
    with duckdb.connect(str(tmp_path / "t" / STORE_FILENAME)) as con:
        con.execute("CREATE TABLE dm (USUBJID VARCHAR)")
    with open_trial(tmp_path / "t") as store:
        with pytest.raises(StoreError, match="no 'provenance' table"):
            store.provenance()


# ---------------------------------------------------------------------------------------------
# Validation before any work
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tables", "provenance", "extra_files", "message"),
    [
        ({"DM": _dm()}, PROV, {}, "table name 'DM' is invalid"),
        ({"1dm": _dm()}, PROV, {}, "table name '1dm' is invalid"),
        ({"provenance": _dm()}, PROV, {}, "reserved"),
        ({"dm": _dm().lazy()}, PROV, {}, r"collect\(\)"),
        ({"dm": pl.DataFrame()}, PROV, {}, "no columns"),
        ({"dm": pl.DataFrame({"A": [1], "a": [2]})}, PROV, {}, "differ only in case"),
        ({"dm": pl.DataFrame({"A": [None]})}, PROV, {}, "dtype Null"),
        ({"dm": pl.DataFrame({"A": ["x"]}, schema={"A": pl.Categorical})}, PROV, {}, "Categ"),
        ({"dm": pl.DataFrame({"A": [dt.datetime(2025, 1, 1)]}, schema=_UTC)}, PROV, {}, "a zone"),
        ({"dm": pl.DataFrame({"A": [[1]]})}, PROV, {}, "does not keep exactly"),
        ({"dm": pl.DataFrame({"A": [dt.time(8, 30)]})}, PROV, {}, "does not keep exactly"),
        ({"dm": _dm()}, {"seed": 1}, {}, "must be a str"),
        ({"dm": _dm()}, PROV, {"../x.toml": b""}, "extra file name"),
        ({"dm": _dm()}, PROV, {".hidden": b""}, "extra file name"),
        ({"dm": _dm()}, PROV, {"trial.duckdb.wal": b""}, "extra file name"),
        ({"dm": _dm()}, PROV, {"p.toml": "text"}, r"encode"),
    ],
)
def test_invalid_arguments_are_refused_before_any_work(
    tmp_path: Path, tables: dict, provenance: dict, extra_files: dict, message: str
) -> None:
    out = tmp_path / "runs" / "t"
    with pytest.raises(StoreError, match=message):
        write_trial(out, tables, provenance, extra_files=extra_files)
    assert not (tmp_path / "runs").exists()


def test_other_duckdb_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="always named trial.duckdb"):
        write_trial(tmp_path / "mine.duckdb", {"dm": _dm()}, PROV)


# ---------------------------------------------------------------------------------------------
# Existing output: refusal and overwrite
# ---------------------------------------------------------------------------------------------


def test_refuses_existing_store_without_overwrite_and_leaves_it_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "bf1-sle"
    write_trial(out, {"dm": _dm()}, PROV, extra_files={"protocol.toml": b"old"})
    before = _tree_digest(out)

    with pytest.raises(StoreError) as info:
        write_trial(out, {"lb": _lb()}, PROV)
    message = str(info.value)
    assert str(out) in message
    assert "a trial store already exists (trial.duckdb)" in message
    assert "--overwrite" in message
    with pytest.raises(StoreError, match="already exists"):
        check_writable(out, overwrite=False)

    assert _tree_digest(out) == before
    assert _siblings(out) == []


def test_check_writable_cases(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "deeper")
    (tmp_path / "empty").mkdir()
    check_writable(tmp_path / "empty")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match=r"holds no trial store \(found notes.txt\)"):
        check_writable(tmp_path / "busy")
    check_writable(tmp_path / "busy", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="exists and is not a directory"):
        check_writable(tmp_path / "file", overwrite=True)
    with pytest.raises(StoreError, match=r"file is not a directory|is not a directory"):
        check_writable(tmp_path / "file" / "sub")


def test_refuses_to_replace_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "project" / "src").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project" / "src")
    with pytest.raises(StoreError, match="current working directory"):
        check_writable(tmp_path / "project", overwrite=True)


def test_writes_into_an_empty_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    write_trial(tmp_path / "t", {"dm": _dm()}, PROV)
    with open_trial(tmp_path / "t") as store:
        assert store.tables() == ["dm"]


@pytest.mark.parametrize("atomic_exchange", [True, False])
def test_overwrite_replaces_the_whole_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, atomic_exchange: bool
) -> None:
    if not atomic_exchange:
        monkeypatch.setattr(store_module, "_exchange", lambda a, b: False)
    out = tmp_path / "t"
    write_trial(out, {"dm": _dm()}, PROV, extra_files={"old.txt": b"old"})
    write_trial(out, {"lb": _lb()}, {"seed": "2"}, overwrite=True)
    with open_trial(out) as store:
        assert store.tables() == ["lb"]
        assert store.provenance() == {"seed": "2"}
        assert_frame_equal(store.read("lb"), _lb())
    assert not (out / "old.txt").exists()
    assert _siblings(out) == []


def test_overwrite_replaces_a_non_trial_directory(tmp_path: Path) -> None:
    out = tmp_path / "t"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    write_trial(out, {"dm": _dm()}, PROV, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [STORE_FILENAME]


# ---------------------------------------------------------------------------------------------
# Atomicity: exceptions, Ctrl-C, SIGKILL
# ---------------------------------------------------------------------------------------------


def _fail_on_second_table(
    monkeypatch: pytest.MonkeyPatch, error: type[BaseException], *args: object
) -> None:
    original = store_module._write_table
    calls = []

    def failing(con, name, frame):  # type: ignore[no-untyped-def]
        calls.append(name)
        if len(calls) == 2:
            # A fresh instance each time: a shared one would keep its traceback (and the
            # frames' DuckDB objects) alive for the whole session.
            raise error(*args)
        original(con, name, frame)

    monkeypatch.setattr(store_module, "_write_table", failing)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_midway_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    _fail_on_second_table(monkeypatch, error)
    out = tmp_path / "t"
    with pytest.raises(error):
        write_trial(out, {"dm": _dm(), "lb": _lb()}, PROV)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_midway_leaves_previous_store_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    out = tmp_path / "t"
    write_trial(out, {"dm": _dm()}, PROV, extra_files={"protocol.toml": b"v1"})
    before = _tree_digest(out)
    _fail_on_second_table(monkeypatch, error)
    with pytest.raises(error):
        write_trial(out, {"dm": _lb(), "lb": _lb()}, PROV, overwrite=True)
    assert _tree_digest(out) == before
    assert _siblings(out) == []


def test_database_error_is_wrapped_and_cleaned_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    _fail_on_second_table(monkeypatch, duckdb.IOException, "disk full")
    with pytest.raises(StoreError, match=r"writing table 'lb' failed \(disk full\)"):
        write_trial(tmp_path / "t", {"dm": _dm(), "lb": _lb()}, PROV)
    assert list(tmp_path.iterdir()) == []


_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import polars as pl
    import cartlab.io.store as store

    original = store._write_table

    def slow(con, name, frame):
        original(con, name, frame)
        print("wrote", name, flush=True)
        time.sleep(0.5)

    store._write_table = slow
    frame = pl.DataFrame({"X": list(range(10_000)), "Y": [str(i) for i in range(10_000)]})
    store.write_trial(
        Path(sys.argv[1]), {f"t{i:03d}": frame for i in range(100)}, {"seed": "1"},
        overwrite=sys.argv[2] == "1",
    )
    """
)


def _kill_writer_midway(out: Path, overwrite: bool) -> None:
    env = dict(os.environ)
    src = str(Path(cartlab.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(out), "1" if overwrite else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("wrote t000"), proc.stderr.read() if proc.stderr else line
        partial = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial-")]
        assert len(partial) == 1
        assert (partial[0] / STORE_FILENAME).exists()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_midway_leaves_no_trial_and_next_write_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "t"
    _kill_writer_midway(out, overwrite=False)
    assert not out.exists()
    leftovers = _siblings(out)
    assert len(leftovers) == 1 and ".partial-" in leftovers[0]

    write_trial(out, {"dm": _dm()}, PROV)
    assert _siblings(out) == []
    with open_trial(out) as store:
        assert store.tables() == ["dm"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_midway_overwrite_keeps_previous_store(tmp_path: Path) -> None:
    out = tmp_path / "t"
    write_trial(out, {"dm": _dm()}, PROV)
    before = _tree_digest(out)
    _kill_writer_midway(out, overwrite=True)
    assert _tree_digest(out) == before


def test_stale_partial_of_dead_process_is_removed_but_live_one_kept(tmp_path: Path) -> None:
    out = tmp_path / "t"
    dead = tmp_path / f".t.partial-{_dead_pid()}-0123abcd"
    live = tmp_path / f".t.partial-{os.getpid()}-4567cdef"
    for d in (dead, live):
        d.mkdir()
        (d / STORE_FILENAME).write_bytes(b"half")
    write_trial(out, {"dm": _dm()}, PROV)
    assert not dead.exists()
    assert live.exists()


def test_swap_interrupted_between_renames_is_repaired(tmp_path: Path) -> None:
    out = tmp_path / "t"
    write_trial(out, {"dm": _dm()}, PROV)
    before = _tree_digest(out)
    aside = tmp_path / f".t.old-{_dead_pid()}-89abcdef"
    out.rename(aside)

    with pytest.raises(StoreError, match="already exists"):
        check_writable(out)
    assert _tree_digest(out) == before
    assert not aside.exists()
