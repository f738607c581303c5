"""`cartlab run` end to end on every shipped protocol, plus its failure modes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cartlab.cli import app
from cartlab.io import open_trial
from cartlab.protocol import shipped_protocols

runner = CliRunner()
SDTM = {"dm", "ds", "ex", "pr", "cm", "ae", "lb", "cp", "pc", "vs", "qs", "fa", "dv", "re"}


@pytest.mark.parametrize("name", [p.name for p in shipped_protocols()])
def test_run_every_shipped_protocol(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    res = runner.invoke(app, ["run", name, "--out", str(out), "--seed", "11"])
    assert res.exit_code == 0, res.output
    assert "n treated" in res.output and "CRS any grade" in res.output
    with open_trial(out) as st:
        assert SDTM <= set(st.tables())
        dm = st.read("dm")
        treated = dm.filter(pl.col("ARMCD") != "SCRNFAIL")
        from cartlab.protocol import load_protocol, resolve_protocol

        proto = load_protocol(resolve_protocol(name))
        if proto.design is None:
            assert treated.height == sum(a.n for a in proto.arms)
            assert set(treated["ARMCD"]) == {a.code for a in proto.arms}
        else:  # a [design] escalation treats the patients its rules call for (test_escalation.py)
            esc = st.read("escalation")
            assert sorted(treated["USUBJID"].to_list()) == sorted(esc["USUBJID"].to_list())
            assert set(treated["ARMCD"]) <= {a.code for a in proto.arms}
        # CDISC study day: infusion is Day 1 and there is no Day 0
        ex = st.read("ex").filter(pl.col("EXCAT") == "CAR-T INFUSION")
        assert ex["EXSTDY"].to_list() == [1] * treated.height
        assert 0 not in st.read("lb")["LBDY"].to_list()
        prov = st.provenance()
        assert prov["seed"] == "11" and prov["protocol_sha256"] == proto.sha256
        assert (out / "protocol.toml").read_bytes() == resolve_protocol(name).read_bytes()


def test_replicates_print_intervals(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", "breakfree1-sle", "--out", str(tmp_path / "r"), "--replicates", "3", "--n", "4"])
    assert res.exit_code == 0, res.output
    assert "median [90 % interval] of 3 replicate trials" in " ".join(res.output.split())
    with open_trial(tmp_path / "r") as st:
        assert sorted(set(st.read("sim_summary")["replicate"])) == [0, 1, 2]


def test_refuses_to_overwrite_and_leaves_store_untouched(tmp_path: Path) -> None:
    out = tmp_path / "t"
    assert runner.invoke(app, ["run", "reset-sle", "--out", str(out)]).exit_code == 0
    before = (out / "trial.duckdb").read_bytes()
    res = runner.invoke(app, ["run", "reset-sle", "--out", str(out)])
    assert res.exit_code == 1
    assert "already exists" in res.output and "--overwrite" in res.output and "Traceback" not in res.output
    assert (out / "trial.duckdb").read_bytes() == before
    assert runner.invoke(app, ["run", "reset-sle", "--out", str(out), "--overwrite", "--seed", "2"]).exit_code == 0


def test_bad_protocol_is_one_message_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(str(next(p for p in shipped_protocols() if p.name == "breakfree1-sle").path)).read_text()
                   .replace("dose = { cells = 10e6 }", "dose = { cells = -5e6 }"))
    out = tmp_path / "never"
    res = runner.invoke(app, ["run", str(bad), "--out", str(out)])
    assert res.exit_code == 1
    assert "bad.toml" in res.output and "cells" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_interrupt_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cartlab.cli._app as cli_app

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_app, "run_trial", boom)
    out = tmp_path / "x"
    res = runner.invoke(app, ["run", "breakfree1-sle", "--out", str(out)])
    assert res.exit_code == 130 and "nothing was written" in res.output
    assert not out.exists()


def test_killed_run_leaves_nothing_behind(tmp_path: Path) -> None:
    """SIGKILL at several moments of a real run: the target is absent or a complete store."""
    exe = Path(sys.executable).with_name("cartlab")
    for delay in (0.5, 1.5, 3.0):
        out = tmp_path / f"k{delay}"
        proc = subprocess.Popen([str(exe), "run", "breakfree1-ssc", "--out", str(out), "--replicates", "20"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if out.exists():  # finished before the kill: must then be complete
            with open_trial(out) as st:
                assert "dm" in st.tables()
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(f".k{delay}")]
        assert not out.exists() or not leftovers or all(".partial-" in x for x in leftovers)
        assert not out.exists() or (out / "trial.duckdb").exists()
