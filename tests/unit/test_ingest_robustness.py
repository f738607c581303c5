"""Bad input gives a clear finding or message naming file, row, variable and value, never a
traceback, and never changes an existing store.

Expected rules are cartlab's own validation rules (cartlab.compliance._validate module notes);
the clinical/standard sources of each rule are in cartlab.compliance._sdtm_spec.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cartlab.cli import app
from cartlab.io import IngestError, ingest_sdtm, read_sdtm_file

PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"
runner = CliRunner()
CUT = dt.date(2025, 1, 1)

DM = ("STUDYID,DOMAIN,USUBJID,SUBJID,SITEID,SEX,COUNTRY,ARMCD,ARM,ACTARMCD,ACTARM,AGE,AGEU,RFSTDTC\n"
      "S,DM,S-1,1,01,F,USA,A,Arm A,A,Arm A,34,YEARS,2024-03-01\n"
      "S,DM,S-2,2,01,M,USA,A,Arm A,A,Arm A,51,YEARS,2024-03-08\n")
LB = ("STUDYID,DOMAIN,USUBJID,LBSEQ,LBTESTCD,LBTEST,LBORRES,LBSTRESN,LBSTRESU,LBDTC\n"
      "S,LB,S-1,1,NEUT,Neutrophils,2.1,2.1,10^9/L,2024-03-02\n"
      "S,LB,S-1,2,PLAT,Platelets,180,180,10^9/L,2024-03-02\n"
      "S,LB,S-2,1,NEUT,Neutrophils,1500,1500,cells/uL,2024-03\n")


def _trial(tmp: Path, **files: str) -> Path:
    d = tmp / "files"
    d.mkdir(exist_ok=True)
    for name, text in {"dm.csv": DM, "lb.csv": LB, **files}.items():
        if text is None:
            (d / name).unlink(missing_ok=True)
        else:
            (d / name).write_text(text)
    return d


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    out = tmp_path / "store"
    ingest_sdtm(_trial(tmp_path), out, data_cutoff=CUT)
    return out


def _rejected(src: Path, out: Path, **kw) -> pl.DataFrame:
    before = _snapshot(out) if out.exists() else None
    with pytest.raises(IngestError) as info:
        ingest_sdtm(src, out, data_cutoff=CUT, **kw)
    assert "nothing was written" in str(info.value)
    if before is not None:
        assert _snapshot(out) == before  # byte for byte
    return info.value.findings.filter(pl.col("SEVERITY") == "ERROR")


def test_good_csv_loads_and_converts_units(tmp_path: Path) -> None:
    res = ingest_sdtm(_trial(tmp_path), tmp_path / "s", data_cutoff=CUT)
    conv = res.findings.filter(pl.col("RULE") == "UNIT-CONVERTED")
    # 1500 cells/uL = 1.5 x 10^9/L (1 uL = 1e-6 L: 1500 / 1e-6 = 1.5e9 per L)
    assert conv.height == 1 and conv["VALUE"][0] == "cells/uL"
    from cartlab.io import open_trial

    with open_trial(tmp_path / "s") as st:
        lb = st.read("lb")
    assert lb["LBSTRESN"].to_list() == [2.1, 180.0, 1.5] and lb["LBSTRESU"][2] == "10^9/L"
    assert lb["LBORRES"][2] == "1500"
    assert res.imputations.select("VARIABLE", "VALUE").row(0) == ("LBDTC", "2024-03")


def test_wrong_type_names_file_row_variable_value(existing: Path, tmp_path: Path) -> None:
    bad = LB.replace("S,LB,S-1,2,PLAT,Platelets,180,180,", "S,LB,S-1,2,PLAT,Platelets,180,one-eighty,")
    err = _rejected(_trial(tmp_path, **{"lb.csv": bad}), existing)
    assert err.select("FILE", "ROW", "VARIABLE", "VALUE", "RULE").rows() == [
        ("lb.csv", 2, "LBSTRESN", "one-eighty", "TYPE")]


def test_duplicate_keys(existing: Path, tmp_path: Path) -> None:
    bad = LB.replace("S,LB,S-1,2,PLAT", "S,LB,S-1,1,PLAT")
    err = _rejected(_trial(tmp_path, **{"lb.csv": bad}), existing)
    assert err["RULE"].unique().to_list() == ["KEY"] and err["ROW"].to_list() == [1, 2]
    assert err["VALUE"][0] == "S/S-1/1"


def test_future_date_and_date_before_birth(existing: Path, tmp_path: Path) -> None:
    bad = LB.replace("2024-03-02\nS,LB,S-1,2", "2031-01-05\nS,LB,S-1,2").replace("2024-03\n", "1950-06-01\n")
    err = _rejected(_trial(tmp_path, **{"lb.csv": bad}), existing)
    got = {(r["ROW"], r["RULE"], r["VALUE"]) for r in err.iter_rows(named=True)}
    # S-2 is 51 at RFSTDTC 2024-03-08, so born after 1972-03-08: 1950 is before birth
    assert got == {(1, "DATE-FUTURE", "2031-01-05"), (3, "DATE-BIRTH", "1950-06-01")}


def test_unparseable_date_unknown_unit_subject_not_in_dm_and_bad_codelist(existing: Path, tmp_path: Path) -> None:
    lb = LB.replace("2024-03-02\nS,LB,S-1,2", "02/03/2024\nS,LB,S-1,2").replace("cells/uL", "furlongs") \
        .replace("S,LB,S-2,1", "S,LB,S-9,1")
    dm = DM.replace(",F,USA", ",Female,USA")
    err = _rejected(_trial(tmp_path, **{"lb.csv": lb, "dm.csv": dm}), existing)
    got = {(r["FILE"], r["ROW"], r["VARIABLE"], r["RULE"]) for r in err.iter_rows(named=True)}
    assert got == {("lb.csv", 1, "LBDTC", "DATE"), ("lb.csv", 3, "LBSTRESU", "UNIT"),
                   ("lb.csv", 3, "USUBJID", "DM"), ("dm.csv", 1, "SEX", "CT")}


def test_missing_required_variable_and_missing_dm(tmp_path: Path) -> None:
    err = _rejected(_trial(tmp_path, **{"dm.csv": None, "lb.csv": LB.replace("LBTEST,", "LBTESTX,")}),
                    tmp_path / "new")
    assert {(r["VARIABLE"], r["RULE"]) for r in err.iter_rows(named=True)} == {("LBTEST", "REQ"), ("USUBJID", "DM")}
    assert not (tmp_path / "new").exists()


def test_truncated_and_corrupt_xpt(existing: Path, tmp_path: Path) -> None:
    data = (PILOT / "ae.xpt").read_bytes()
    src = _trial(tmp_path)
    (src / "ae.xpt").write_bytes(data[:5000])  # cut inside the observations
    (src / "ex.xpt").write_bytes(b"this is not a transport file" * 10)
    err = _rejected(src, existing)
    rows = {r["FILE"]: r["MESSAGE"] for r in err.iter_rows(named=True)}
    assert set(rows) == {"ae.xpt", "ex.xpt"}
    assert "truncated, corrupt" in rows["ae.xpt"] and "not a SAS transport" in rows["ex.xpt"]


def test_wrong_encoding_explicit_is_an_error_auto_is_a_warning(tmp_path: Path) -> None:
    f, notes = read_sdtm_file(PILOT / "ts.xpt", encoding="utf-8")
    assert f is None and notes[0]["SEVERITY"] == "ERROR" and "encoding" in notes[0]["MESSAGE"]
    csv = tmp_path / "cm.csv"
    csv.write_bytes("STUDYID,DOMAIN,USUBJID,CMSEQ,CMTRT\nS,CM,S-1,1,Parac\xe9tamol\n".encode("windows-1252"))
    f, notes = read_sdtm_file(csv)
    assert f is not None and f.frame["CMTRT"][0] == "Paracétamol" and f.encoding == "windows-1252"
    assert notes[0]["RULE"] == "ENCODING" and notes[0]["VALUE"] == "0xe9"


def test_large_file_is_refused_before_reading(existing: Path, tmp_path: Path) -> None:
    err = _rejected(_trial(tmp_path), existing, max_file_bytes=100)
    assert set(err["RULE"]) == {"FILE-SIZE"}
    assert "over the limit of 100 bytes" in err["MESSAGE"][0] and "--max-file-size" in err["FIX"][0]


def test_cli_reports_without_traceback_and_writes_findings(existing: Path, tmp_path: Path) -> None:
    bad = LB.replace("180,180,", "180,abc,")
    src = _trial(tmp_path, **{"lb.csv": bad})
    before = _snapshot(existing)
    res = runner.invoke(app, ["ingest", str(src), "--out", str(existing), "--data-cutoff", "2025-01-01",
                              "--findings", str(tmp_path / "f.csv")])
    assert res.exit_code == 1
    assert "Traceback" not in res.output and "lb.csv row 2 LBSTRESN='abc' [TYPE]" in res.output
    assert pl.read_csv(tmp_path / "f.csv")["RULE"].to_list()[0] == "TYPE"
    assert _snapshot(existing) == before
    for args in (["ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                 ["ingest", str(src), "--out", str(tmp_path / "o"), "--max-file-size", "lots"],
                 ["ingest", str(src), "--out", str(tmp_path / "o"), "--data-cutoff", "tomorrow"],
                 ["export", "sdtm", str(existing), "--out", str(tmp_path / "e"), "--format", "sas7bdat"]):
        res = runner.invoke(app, args)
        assert res.exit_code != 0 and "Traceback" not in res.output and "error" in res.output, args


def test_a_simulated_store_is_not_replaced_without_overwrite(tmp_path: Path) -> None:
    from cartlab.io import write_trial

    write_trial(tmp_path / "sim", {"dm": pl.DataFrame({"USUBJID": ["X"]})}, {"seed": "1"})
    from cartlab._core.errors import StoreError

    with pytest.raises(StoreError, match="not written by `cartlab ingest`"):
        ingest_sdtm(_trial(tmp_path), tmp_path / "sim", data_cutoff=CUT)


def test_dataset_json_v11_is_read_with_its_types(tmp_path: Path) -> None:
    # CDISC Dataset-JSON v1.1: top-level "columns" (name, dataType, label) and "rows" (arrays)
    import json

    doc = {"datasetJSONVersion": "1.1.0", "name": "LB", "records": 2,
           "columns": [{"itemOID": "IT.LB.USUBJID", "name": "USUBJID", "label": "Unique Subject Identifier",
                        "dataType": "string"},
                       {"itemOID": "IT.LB.LBSEQ", "name": "LBSEQ", "dataType": "integer"},
                       {"itemOID": "IT.LB.LBSTRESN", "name": "LBSTRESN", "dataType": "double"}],
           "rows": [["S-1", 1, 2.5], ["S-2", 2, None]]}
    (tmp_path / "lb.json").write_text(json.dumps(doc))
    f, notes = read_sdtm_file(tmp_path / "lb.json")
    assert notes == [] and f.format == "dataset-json" and f.labels == {"USUBJID": "Unique Subject Identifier"}
    assert f.frame.schema == {"USUBJID": pl.String, "LBSEQ": pl.Float64, "LBSTRESN": pl.Float64}
    doc["rows"][1] = ["S-2", "two", None]
    (tmp_path / "lb.json").write_text(json.dumps(doc).replace('"two"', '{"x": 1}'))
    f, notes = read_sdtm_file(tmp_path / "lb.json")
    assert f is None and "row 2, column LBSEQ" in notes[0]["MESSAGE"]
