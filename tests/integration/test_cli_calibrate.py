"""`cartlab validate-model` and `cartlab calibrate` end to end (tiny budgets; the real runs are in benchmarks/README.md)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from cartlab.calibrate import load_parameter_set
from cartlab.cli import app

runner = CliRunner()


def test_validate_model_writes_table_plot_and_html(tmp_path: Path) -> None:
    out = tmp_path / "val"
    res = runner.invoke(app, ["validate-model", "reset-myositis", "reset-ssc", "--replicates", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t = pl.read_csv(out / "validation.csv")
    assert set(t["id"]) == {"reset-myo-tis-mm", "reset-ssc-improved"}
    assert t.filter(pl.col("id") == "reset-ssc-improved")["replicates"].item() == 0  # reported, not simulated
    svg = (out / "validation.svg").read_text(encoding="utf-8")
    html = (out / "validation.html").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and 'id="validation"' in html and "reset-myo-tis-mm" in html
    assert "not simulated" in html
    inside = t.filter(pl.col("inside") == True).height  # noqa: E712
    assert f"{inside} target(s) inside their 90 % prediction interval, {1 - inside} outside, 1 not simulated" in html


def test_validate_model_user_errors_have_no_traceback(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate-model", "no-such-protocol", "--replicates", "1", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "names protocol(s) no-such-protocol" in res.output
    bad = tmp_path / "t.toml"
    bad.write_text('version = "1"\n[[target]]\nid = "x"\n', encoding="utf-8")
    res = runner.invoke(app, ["validate-model", "--targets", str(bad), "--out", str(tmp_path)])
    assert res.exit_code == 1 and "[[target]] 1 (x): protocol must be a non-empty string" in res.output


def test_calibrate_smoke_writes_a_parameter_set_with_provenance(tmp_path: Path) -> None:
    f = tmp_path / "cal.toml"
    args = ["calibrate", "breakfree1-sle", "--param", "IL6_ref=35:140", "--param", "c_icans=-4.4:-2.4:lin",
            "--target", "bf1-sle-dl1-crs-any", "--target", "bf1-sle-dl2-icans-any", "--particles", "4",
            "--generations", "2", "--seed", "3", "--out", str(f)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    ps = load_parameter_set(f)
    assert set(ps.values) == {"IL6_ref", "c_icans"} and ps.provenance["seed"] == "3"
    assert ps.provenance["targets"] == "seed-targets-v2.toml (version 2)"
    assert {"prior_p05", "posterior_p50", "width_ratio"} <= set(ps.spread["IL6_ref"])
    before = f.read_bytes()
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "exists; pass --overwrite" in res.output and f.read_bytes() == before
    res = runner.invoke(app, [*args[:-2], "--param", "IL6_ref=abc", "--out", str(tmp_path / "x.toml")])
    assert res.exit_code == 1 and "--param must look like NAME=LOW:HIGH" in res.output
    assert not (tmp_path / "x.toml").exists()


def test_calibrate_on_dask_gives_the_same_parameter_set(tmp_path: Path) -> None:
    # --dask evaluates batches of proposals on a local Dask cluster (2 in-process workers); proposals are
    # taken in order and evaluation i always uses replicate i, so the set equals the run here
    base = ["calibrate", "breakfree1-sle", "--param", "IL6_ref=35:140", "--target", "bf1-sle-dl1-crs-any",
            "--target", "bf1-sle-dl2-crs-any", "--particles", "4", "--generations", "2", "--seed", "5"]
    here, there = tmp_path / "here.toml", tmp_path / "dask.toml"
    res = runner.invoke(app, [*base, "--out", str(here)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*base, "--dask", "--batch", "3", "--out", str(there)])
    assert res.exit_code == 0, res.output
    a, b = load_parameter_set(here), load_parameter_set(there)
    assert a.values == b.values and a.spread == b.spread
    assert a.provenance["simulations"] == b.provenance["simulations"]
    assert a.provenance["virtual_patients"] == b.provenance["virtual_patients"]


def test_report_gets_the_validation_section(tmp_path: Path) -> None:
    val = tmp_path / "val"
    assert runner.invoke(app, ["validate-model", "reset-myositis", "--replicates", "2", "--out", str(val)]).exit_code == 0
    run = tmp_path / "run"
    assert runner.invoke(app, ["run", "reset-myositis", "--out", str(run)]).exit_code == 0
    res = runner.invoke(app, ["report", str(run), "--validation", str(val), "--no-save-adam"])
    assert res.exit_code == 0, res.output
    html = (run / "report.html").read_text(encoding="utf-8")
    # the trial's own sections are still there, and the validation section follows them
    assert 'id="safety"' in html and 'id="validation"' in html and "reset-myo-tis-mm" in html
    assert "simulated median [90 % PI], 2 trials" in html
    res = runner.invoke(app, ["report", str(run), "--validation", str(tmp_path / "none"), "--no-save-adam"])
    assert res.exit_code == 1 and "no validation table" in res.output
