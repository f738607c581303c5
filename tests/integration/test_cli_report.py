"""`cartlab report`, `cartlab run --report` and `cartlab export adam` end to end."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cartlab.analysis import derive_adam, safety_table
from cartlab.cli import app
from cartlab.io import open_trial
from cartlab.trial import summarize

runner = CliRunner()
SDTM = ("dm", "ds", "ex", "pr", "cm", "ae", "lb", "cp", "pc", "vs", "qs", "fa", "dv", "re")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rep") / "bf1"
    res = runner.invoke(app, ["run", "breakfree1-sle", "--out", str(out), "--n", "5", "--replicates", "3",
                              "--report"])
    assert res.exit_code == 0, res.output
    return out


def test_run_report_writes_html_and_adam(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Replicated virtual trials" in html and "reported" in html
    # every table carries the median and 90 % interval across the 3 replicates
    assert html.count("3 replicates, median [90 % interval]") >= 2 * 4  # 2 arms x (safety, efficacy, kinetics, B cells)
    assert html.count("<svg") >= 5
    with open_trial(run_dir) as st:
        assert {"adsl", "adae", "adlb", "adeff", "adpc", "adtte"} <= set(st.tables())
        assert st.provenance()["adam_derived_by"] == "cartlab report"
        assert sorted(set(st.read("rep_tables")["replicate"])) == [0, 1, 2]
        assert st.read("adsl").filter(pl.col("SAFFL") == "Y").height == 10  # 5 per arm


def test_report_safety_agrees_with_the_run_summary(run_dir: Path) -> None:
    """The report's safety table and `cartlab run`'s per-arm summary count the same events on the same store."""
    with open_trial(run_dir) as st:
        tables = {n: st.read(n) for n in SDTM}
    summary = summarize(tables, "sledai2k_change", 180)
    table = safety_table(derive_adam(tables, efficacy_day=180))
    for row, col in (("CRS, any grade", "crs_any"), ("CRS, grade ≥ 3", "crs_grade3plus"),
                     ("ICANS, any grade", "icans_any"), ("ICANS, grade ≥ 3", "icans_grade3plus"),
                     ("Grade 3/4 neutropenia", "neutropenia_grade3plus")):
        for arm in ("DL1", "DL2"):
            assert table.cell(row, arm)["VALUE"] == pytest.approx(
                summary.filter(pl.col("arm") == arm)[col][0]), (row, arm)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "xpt"])
def test_export_adam(run_dir: Path, tmp_path: Path, fmt: str) -> None:
    res = runner.invoke(app, ["export", "adam", str(run_dir), "--format", fmt, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}.{fmt}" for n in ("adsl", "adae", "adlb", "adeff", "adpc", "adtte"))
    if fmt == "parquet":
        with open_trial(run_dir) as st:
            assert pl.read_parquet(tmp_path / "adsl.parquet").equals(st.read("adsl"))


def test_report_user_errors_are_one_line(tmp_path: Path, run_dir: Path) -> None:
    res = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "no trial store found" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["export", "adam", str(run_dir), "--format", "sas7bdat", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "--format must be one of parquet, csv, xpt" in res.output
    before = (run_dir / "trial.duckdb").read_bytes()
    res = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "no" / "such" / "dir" / "r.html")])
    assert res.exit_code == 1 and "cannot write" in res.output
    assert (run_dir / "trial.duckdb").read_bytes() == before


def test_report_on_real_sdtm_cdisc_pilot(tmp_path: Path) -> None:
    """Real third-party SDTM (CDISC pilot study CDISCPILOT01, not a CAR-T trial; /work/shared/data/README.md):
    ingested as is into a store, reported by `cartlab report` without a protocol."""
    import pyreadstat

    from cartlab.analysis import disposition_table
    from cartlab.io import write_trial

    src = Path("/work/shared/data/cdiscpilot01")
    if not src.is_dir():
        pytest.skip(f"{src}: the CDISC pilot SDTM files are not on this machine")
    tables = {d: pl.from_pandas(pyreadstat.read_xport(str(src / f"{d}.xpt"))[0]) for d in ("dm", "ae", "ex", "ds")}
    adam = derive_adam(tables, efficacy_day=182)
    d = dict(disposition_table(adam).rows)
    # CDISC Pilot 01 safety population: placebo 86, xanomeline high dose 84, low dose 84 (the column headers of the
    # pilot's Table 14-1.02 "Summary of End of Study Data", Total N=254, as mocked in PHUSE/tfrmt examples)
    assert d["Treated (safety population)"] == ("86 (100.0 %)", "84 (100.0 %)", "84 (100.0 %)")
    # completers: counted here straight from the raw files (DS disposition events "COMPLETED" joined to DM arms)
    ds, dm = tables["ds"], tables["dm"]
    done = (ds.filter((pl.col("DSCAT") == "DISPOSITION EVENT") & (pl.col("DSDECOD") == "COMPLETED"))
            .join(dm, on="USUBJID").group_by("ARMCD").len())
    k = dict(done.iter_rows())
    assert (k["Pbo"], k["Xan_Hi"], k["Xan_Lo"]) == (58, 27, 25)
    assert d["Completed the study"] == ("58 (67.4 %)", "27 (32.1 %)", "25 (29.8 %)")
    assert "Immunosuppression-free at last follow-up" not in d  # no CM domain: unknown, not reported
    write_trial(tmp_path / "pilot", tables, {"source": "CDISCPILOT01"})
    res = runner.invoke(app, ["report", str(tmp_path / "pilot"), "--efficacy-day", "182"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "pilot" / "report.html").read_text(encoding="utf-8")
    assert "CDISCPILOT01: trial report" in html and "Xan_Hi (N=84)" in html
