"""Ingesting real SDTM written by someone else: the CDISC pilot study CDISCPILOT01.

Source of the files and of every expected value: CDISCPILOT01 SDTM as published in PHUSE
phuse-scripts data/sdtm/cdiscpilot01 (vendored unchanged in tests/data/cdiscpilot01). The counts
below were obtained by reading the files independently with pyreadstat 1.3.x,
``pyreadstat.read_xport(path, output_format="polars")`` (ts.xpt with ``encoding="windows-1252"``),
and counting with polars: DM 306 records and 306 distinct USUBJID, ARMCD Pbo 86 / Xan_Hi 84 /
Xan_Lo 84 / Scrnfail 52; AE 1191 records for 225 subjects, AESER "Y" 3; SV rows 2555 and 2556
(1-based) both USUBJID 01-711-1143 VISITNUM 9.2; ts.xpt holds byte 0x92 (Windows-1252 right single
quotation mark), which is not UTF-8.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pyreadstat
import pytest
from typer.testing import CliRunner

from cartlab.cli import app
from cartlab.io import ingest_sdtm, open_trial

PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"
runner = CliRunner()


def test_vendored_files_are_byte_identical_to_the_published_checksums() -> None:
    sums = dict(reversed(line.split()) for line in (PILOT / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == sorted(p.name for p in PILOT.glob("*.xpt"))
    for name, digest in sums.items():
        assert hashlib.sha256((PILOT / name).read_bytes()).hexdigest() == digest
    shared = PILOT.parents[3] / "shared" / "data" / "cdiscpilot01"
    if shared.is_dir():  # beside the project in development and CI: compare with the originals too
        for name in sums:
            assert (shared / name).read_bytes() == (PILOT / name).read_bytes()


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("pilot") / "cdiscpilot01"
    return ingest_sdtm(PILOT, out), out


def test_pilot_loads_with_its_real_problems_as_warnings(pilot) -> None:
    result, out = pilot
    assert result.status == "created" and result.version == 1
    f = result.findings
    assert f.filter(pl.col("SEVERITY") == "ERROR").height == 0
    warn = f.filter(pl.col("SEVERITY") == "WARNING")
    assert sorted(warn.select("FILE", "ROW", "RULE").rows(), key=str) == sorted(
        [("sv.xpt", 2555, "KEY"), ("sv.xpt", 2556, "KEY"), ("ts.xpt", None, "ENCODING")], key=str)
    assert set(warn.filter(pl.col("RULE") == "KEY")["VALUE"]) == {"CDISCPILOT01/01-711-1143/9.2"}


def test_pilot_store_holds_every_domain_with_the_published_counts(pilot) -> None:
    _, out = pilot
    with open_trial(out) as st:
        assert {"ae", "dm", "ds", "ex", "suppdm", "sv", "ta", "te", "ts"} <= set(st.tables())
        dm = st.read("dm")
        assert dm.height == 306 and dm["USUBJID"].n_unique() == 306
        arms = dict(dm.group_by("ARMCD").len().iter_rows())
        assert arms == {"Pbo": 86, "Xan_Hi": 84, "Xan_Lo": 84, "Scrnfail": 52}
        ae = st.read("ae")
        assert ae.height == 1191 and ae["USUBJID"].n_unique() == 225
        assert int((ae["AESER"] == "Y").sum()) == 3
        # types as SDTM declares them; blanks are nulls
        assert ae.schema["AESEQ"] == pl.Int64 and dm.schema["AGE"] == pl.Int64
        assert dm["DTHDTC"].null_count() == 303
        # the supplemental qualifiers and the trial design datasets are kept, not dropped
        assert st.read("suppdm").height == 1197 and st.read("ts").height == 33
        assert st.read("ingest_files").height == 9
        assert st.read("validation_findings").height >= 3


def test_pilot_values_equal_an_independent_read(pilot) -> None:
    _, out = pilot
    raw, _meta = pyreadstat.read_xport(str(PILOT / "ae.xpt"), output_format="polars")
    with open_trial(out) as st:
        ae = st.read("ae")
    assert ae["AEDECOD"].fill_null("").to_list() == raw["AEDECOD"].to_list()
    assert ae["AESEQ"].to_list() == [int(x) for x in raw["AESEQ"].to_list()]


def test_pilot_partial_dates_are_recorded_with_their_interval(pilot) -> None:
    result, _ = pilot
    imp = result.imputations
    assert imp.height > 0 and set(imp["PRECISION"]) <= {"Y", "M"}
    assert (imp["EARLIEST"] <= imp["LATEST"]).all()
    year_only = imp.filter(pl.col("PRECISION") == "Y").row(0, named=True)
    assert year_only["EARLIEST"].month == 1 and year_only["LATEST"].month == 12


def test_pilot_reingestion_is_a_no_op_byte_for_byte(pilot) -> None:
    _, out = pilot
    before = (out / "trial.duckdb").read_bytes()
    again = ingest_sdtm(PILOT, out)
    assert again.status == "unchanged" and again.version == 1
    assert (out / "trial.duckdb").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["trial.duckdb"]


def test_cli_ingest_pilot(tmp_path: Path) -> None:
    res = runner.invoke(app, ["ingest", str(PILOT), "--out", str(tmp_path / "t")])
    assert res.exit_code == 0, res.output
    assert "created: version 1" in res.output and "suppdm" in res.output
    res = runner.invoke(app, ["ingest", str(PILOT), "--out", str(tmp_path / "t")])
    assert res.exit_code == 0 and "unchanged" in res.output
