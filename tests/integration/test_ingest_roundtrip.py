"""Simulate a trial, export its SDTM (XPT v5 and CSV), ingest it, and get identical data and
identical instrument-derived grades and scores; versions and the audit of changed files;
protocol compliance on a simulated trial whose site infuses through the fever gate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cartlab.cli import app
from cartlab.compliance import check_compliance
from cartlab.instruments import (
    derive_crs_astct,
    derive_ctcae_haem,
    derive_haq_di,
    derive_icaht_early,
    derive_icans_astct,
    derive_sledai2k,
)
from cartlab.io import export_sdtm, ingest_sdtm, open_trial, write_trial
from cartlab.protocol import load_protocol, resolve_protocol
from cartlab.trial import run_trial, summarize

runner = CliRunner()
CUTOFF = dt.date(2035, 1, 1)  # simulated follow-up runs past today; the cut-off is the trial's own


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory):
    proto = load_protocol(resolve_protocol("breakfree1-sle")).with_arm_sizes(4)
    run = run_trial(proto, seed=5)
    root = tmp_path_factory.mktemp("sim")
    write_trial(root / "sim", run.tables, {"seed": "5"})
    return proto, run.tables, root


def _derived(t: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return {
        "crs": derive_crs_astct(t["vs"], t["pr"], t["cm"])[0],
        "icans": derive_icans_astct(t["qs"], t["fa"])[0],
        "ctcae": derive_ctcae_haem(t["lb"])[0],
        "icaht": derive_icaht_early(t["lb"])[0],
        "sledai": derive_sledai2k(t["qs"], t["fa"])[0],
        "haq": derive_haq_di(t["qs"])[0],
        "summary": summarize(t, "sledai2k_change", 180),
    }


@pytest.mark.parametrize("fmt", ["xpt", "csv"])
def test_roundtrip_gives_identical_tables_and_derivations(simulated, tmp_path: Path, fmt: str) -> None:
    proto, tables, root = simulated
    files = export_sdtm(root / "sim", tmp_path / "files", fmt=fmt)
    assert {p.name for p in files} == {f"{d}.{fmt}" for d in tables}
    result = ingest_sdtm(tmp_path / "files", tmp_path / "ingested", protocol=resolve_protocol("breakfree1-sle"),
                         data_cutoff=CUTOFF)
    assert result.status == "created"
    assert result.findings.filter(pl.col("SEVERITY") != "INFO").height == 0
    with open_trial(tmp_path / "ingested") as st:
        back = {d: st.read(d) for d in tables}
    for d, frame in tables.items():
        assert back[d].schema == frame.schema, d
        assert back[d].equals(frame), d
    before, after = _derived(tables), _derived(back)
    for name in before:
        assert after[name].equals(before[name]), name
    # the deviations of the ingested trial are those of the simulated one
    assert result.deviations.equals(check_compliance(tables, proto.with_arm_sizes(4)))


def test_changed_files_make_a_new_version_with_an_audit(simulated, tmp_path: Path) -> None:
    _, tables, root = simulated
    src = tmp_path / "files"
    export_sdtm(root / "sim", src, fmt="csv")
    first = ingest_sdtm(src, tmp_path / "t", data_cutoff=CUTOFF)
    v1 = (tmp_path / "t" / "trial.duckdb").read_bytes()
    lb = pl.read_csv(src / "lb.csv", infer_schema=False)
    changed = lb.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("9.99"))
                              .otherwise(pl.col("LBSTRESN")).alias("LBSTRESN"))
    extra = changed.tail(1).with_columns(pl.lit("99999").alias("LBSEQ"))
    pl.concat([changed.slice(0, lb.height - 2), changed.tail(1), extra]).write_csv(src / "lb.csv")
    second = ingest_sdtm(src, tmp_path / "t", data_cutoff=CUTOFF)
    assert (first.version, second.status, second.version) == (1, "new version", 2)
    audit = {r["DOMAIN"]: r for r in second.audit.iter_rows(named=True)}
    assert (audit["lb"]["ADDED"], audit["lb"]["CHANGED"], audit["lb"]["REMOVED"]) == (1, 1, 1)
    assert audit["lb"]["ROWS_AFTER"] == audit["lb"]["ROWS_BEFORE"]
    assert all(audit[d]["ADDED"] + audit[d]["CHANGED"] + audit[d]["REMOVED"] == 0 for d in audit if d != "lb")
    # the previous version is kept byte for byte; the versions table holds both
    assert (tmp_path / "t" / "trial.v1.duckdb").read_bytes() == v1
    with open_trial(tmp_path / "t") as st:
        assert st.read("ingest_versions")["VERSION"].to_list() == [1, 2]
        assert st.read("ingest_audit").filter(pl.col("VERSION") == 2).height == len(tables)
        assert st.read("lb").filter(pl.col("LBSEQ") == 99999).height == 1


def test_compliance_flags_every_infusion_through_a_fever(tmp_path: Path) -> None:
    # A site that always has a fever in the window and always misses the gate (Breakfree-1 has no
    # written-confirmation rule, so the miss probability is not reduced): the virtual site records
    # a DV for each such infusion; the compliance check must find each one from VS/AE alone.
    base = load_protocol(resolve_protocol("breakfree1-sle")).with_arm_sizes(3)
    proto = base.model_copy(update={"site": base.site.model_copy(update={"pre_infusion_fever_prob": 1.0,
                                                                           "gate_miss_prob": 1.0})})
    tables = run_trial(proto, seed=3).tables
    site_dv = set(tables["dv"].filter(pl.col("DVDECOD") == "PRE-INFUSION SAFETY WINDOW")["USUBJID"])
    assert len(site_dv) == 6
    dev = check_compliance(tables, proto)
    fever = dev.filter(pl.col("RULE") == "PRE-INFUSION-FEVER")
    assert set(fever["USUBJID"]) == site_dv
    assert (fever["DAY"] < 0).all() and (fever["DAY"] >= -proto.safety_window.fever_free_days).all()
    # the RESET rule: with written confirmation required and none recorded, each is MAJOR
    reset = proto.model_copy(update={"safety_window": proto.safety_window.model_copy(
        update={"written_confirmation": True})})
    conf = check_compliance(tables, reset).filter(pl.col("RULE") == "PRE-INFUSION-CONFIRMATION")
    assert set(conf.filter(pl.col("SEVERITY") == "MAJOR")["USUBJID"]) == site_dv


def test_cli_check_and_export(simulated, tmp_path: Path) -> None:
    _, tables, root = simulated
    (root / "sim" / "protocol.toml").write_bytes(resolve_protocol("breakfree1-sle").read_bytes())
    res = runner.invoke(app, ["check", str(root / "sim"), "--out", str(tmp_path / "dev.csv")])
    assert res.exit_code == 0, res.output
    assert "Protocol deviations" in res.output or "no protocol deviations" in res.output
    assert (tmp_path / "dev.csv").is_file()
    res = runner.invoke(app, ["export", "sdtm", str(root / "sim"), "--out", str(tmp_path / "x"), "--format", "xpt"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "x" / "dm.xpt").read_bytes()[:20] == b"HEADER RECORD*******"
    res = runner.invoke(app, ["check", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "Traceback" not in res.output
