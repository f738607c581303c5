"""`cartlab pk fit` and `cartlab pk adam` on a simulated trial store; atomic table additions."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cartlab._core.errors import StoreError
from cartlab.cli import app
from cartlab.io import open_trial, update_trial, write_trial

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("popfit") / "trial"
    res = runner.invoke(app, ["run", "breakfree1-sle", "--out", str(out), "--n", "10"])
    assert res.exit_code == 0, res.output
    return out


def test_pk_fit_prints_estimates_and_writes_files(store: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["pk", "fit", str(store), "--out", str(tmp_path / "fit"), "--vpc-replicates", "40"],
                        terminal_width=200)
    assert res.exit_code == 0, res.output
    for needle in ("Population CK model of TRANSGENE", "RSE %", "shrinkage %", "omega2 ALPHA", "C0~DOSE", "OFV"):
        assert needle in res.output
    est = pl.read_csv(tmp_path / "fit" / "estimates.csv")
    assert {"PARAMETER", "ESTIMATE", "SE", "RSE_PCT", "SHRINKAGE_PCT"} <= set(est.columns)
    ind = pl.read_csv(tmp_path / "fit" / "individual.csv")
    assert ind.height == 20 and {"ETA_C0", "CMAX", "TMAX"} <= set(ind.columns)
    pred = pl.read_csv(tmp_path / "fit" / "predictions.csv")
    assert {"PRED", "IPRED", "CWRES", "IWRES"} <= set(pred.columns)
    for name in ("gof.svg", "residuals.svg", "vpc.svg", "vpc.csv"):
        assert (tmp_path / "fit" / name).stat().st_size > 0


def test_pk_fit_user_errors(store: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["pk", "fit", str(tmp_path / "nope"), "--out", str(tmp_path / "f")])
    assert res.exit_code == 1 and "no trial store found" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["pk", "fit", str(store), "--out", str(tmp_path / "f"), "--iiv", "C0,KA"])
    assert res.exit_code == 1 and "iiv must be distinct names" in res.output


def test_pk_adam_writes_adppk_and_adpp_then_refuses_without_overwrite(store: Path) -> None:
    before = {p.name for p in store.parent.iterdir()}
    res = runner.invoke(app, ["pk", "adam", str(store)], terminal_width=200)
    assert res.exit_code == 0, res.output
    with open_trial(store) as st:
        adppk, adpp, prov = st.read("adppk"), st.read("adpp"), st.provenance()
        dm = st.read("dm")
    assert "table.adppk" in prov and "seed" in prov  # the run's provenance kept, the addition recorded
    treated = dm.filter(pl.col("RFXSTDTC").is_not_null())["USUBJID"].n_unique()
    assert adppk.filter(pl.col("EVID") == 1).height == treated
    obs = adppk.filter(pl.col("EVID") == 0)
    # BLQ samples: flagged, no AVAL, DV = LLOQ (M3); quantified: AVAL = DV
    blq = obs.filter(pl.col("BLQFN") == 1)
    assert blq.height > 0 and (blq["BLQFL"] == "Y").all() and blq["AVAL"].null_count() == blq.height
    assert (blq["DV"] == blq["ALLOQ"]).all()
    q = obs.filter(pl.col("BLQFN") == 0)
    assert (q["AVAL"] == q["DV"]).all() and (q["AFRLT"] == q["NFRLT"]).all()
    assert {"STUDYID", "USUBJIDN", "PARAMCD", "DVL", "DOSEA", "WTBL", "COHORT", "ASEQ"} <= set(adppk.columns)
    assert set(adpp["PARAMCD"]) >= {"CMAX", "TMAX", "AUCINT"} and set(adpp["ARMCD"]) == {"DL1", "DL2"}
    res = runner.invoke(app, ["pk", "adam", str(store)], terminal_width=200)
    assert res.exit_code == 1 and "already holds table(s) adpp, adppk" in res.output
    res = runner.invoke(app, ["pk", "adam", str(store), "--overwrite"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert {p.name for p in store.parent.iterdir()} == before  # no partial siblings left


def test_a_failed_store_update_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cartlab.io import _update

    dm = pl.DataFrame({"USUBJID": ["S1"]})
    write_trial(tmp_path / "t", {"dm": dm}, {"seed": "1"})
    raw = (tmp_path / "t" / "trial.duckdb").read_bytes()

    def boom(con, name, frame):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_update, "_write_table", boom)
    with pytest.raises(StoreError, match="writing table 'adpp' failed.*nothing was changed"):
        update_trial(tmp_path / "t", {"adpp": pl.DataFrame({"AVAL": [1.0]})})
    assert (tmp_path / "t" / "trial.duckdb").read_bytes() == raw
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    with pytest.raises(StoreError, match="table name 'ADPP' is invalid"):
        update_trial(tmp_path / "t", {"ADPP": pl.DataFrame({"AVAL": [1.0]})})
