"""`cartlab pk nca` on a simulated trial store, and its failure modes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cartlab.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pk") / "trial"
    res = runner.invoke(app, ["run", "breakfree1-sle", "--out", str(out), "--n", "6"])
    assert res.exit_code == 0, res.output
    return out


def test_pk_nca_transgene_prints_both_arms_and_writes_csv(store: Path, tmp_path: Path) -> None:
    csv = tmp_path / "pp.csv"
    res = runner.invoke(app, ["pk", "nca", str(store), "--out", str(csv)], terminal_width=200)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    for needle in ("Cmax (copies/ug)", "Tmax (day)", "AUC0-28", "DL1", "DL2", "median [range]"):
        assert needle in text
    pp = pl.read_csv(csv)
    assert {"USUBJID", "ARMCD", "PPTESTCD", "PPSTRESN", "PPSTRESU", "PPSTINT", "PPENINT"} <= set(pp.columns)
    assert pp["USUBJID"].n_unique() == 12
    assert set(pp["ARMCD"]) == {"DL1", "DL2"}
    cmax = pp.filter(pl.col("PPTESTCD") == "CMAX")
    assert cmax.height == 12 and cmax["PPSTRESN"].min() > 0 and set(cmax["PPSTRESU"]) == {"copies/ug"}
    auc = pp.filter(pl.col("PPTESTCD") == "AUCINT")
    assert set(auc["PPENINT"]) == {"P28D"} and set(auc["PPSTRESU"]) == {"day*copies/ug"}
    tmax = pp.filter(pl.col("PPTESTCD") == "TMAX")["PPSTRESN"]
    assert tmax.min() > 0  # expansion peaks after infusion


def test_pk_nca_car_cells(store: Path) -> None:
    res = runner.invoke(app, ["pk", "nca", str(store), "--analyte", "carcells"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "Cmax (cells/uL)" in res.output and "DL2" in res.output


def test_pk_nca_errors(tmp_path: Path, store: Path) -> None:
    res = runner.invoke(app, ["pk", "nca", str(tmp_path / "missing")])
    assert res.exit_code == 1
    assert "no trial store found" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["pk", "nca", str(store), "--analyte", "PLASMA"])
    assert res.exit_code == 1 and "--analyte must be one of TRANSGENE, CARCELLS" in res.output


def test_pk_nca_store_without_the_domain(tmp_path: Path) -> None:
    from cartlab.io import write_trial

    dm = pl.DataFrame({"USUBJID": ["S1"], "ARMCD": ["DL1"]})
    write_trial(tmp_path / "t", {"dm": dm}, {"package_version": "test"})
    res = runner.invoke(app, ["pk", "nca", str(tmp_path / "t"), "--analyte", "CARCELLS"], terminal_width=200)
    assert res.exit_code == 1
    assert "has no CP domain" in res.output and "Traceback" not in res.output


def test_export_nonmem_writes_the_dataset(tmp_path) -> None:
    from typer.testing import CliRunner as _Runner

    from cartlab.cli import app as _app

    r = _Runner()
    trial = tmp_path / "t"
    assert r.invoke(_app, ["run", "breakfree1-sle", "--out", str(trial), "--n", "3"]).exit_code == 0
    out = tmp_path / "nm.csv"
    res = r.invoke(_app, ["export", "nonmem", str(trial), "--out", str(out)])
    assert res.exit_code == 0, res.output
    import polars as _pl

    data = _pl.read_csv(out, null_values=".")
    assert data.columns[:9] == ["ID", "USUBJID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "BLQ"]
    assert (data["EVID"] == 1).sum() == data["ID"].n_unique() == 6
    bad = r.invoke(_app, ["export", "nonmem", str(tmp_path / "nope"), "--out", str(out)])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
