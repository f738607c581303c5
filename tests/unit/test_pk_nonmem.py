"""NONMEM-style dataset from SDTM: layout, time from infusion, BLQ for M3, covariates, findings.

Layout conventions (NONMEM Users Guide, data items): EVID 1 = dose with AMT, EVID 0 = observation;
MDV 1 on dose records; one record per row sorted by ID and TIME. SDTM study days have no Day 0
(SDTM IG 3.4, --DY), so Day 1 (the infusion) is TIME 0 and Day 8 is TIME 7.
"""

from __future__ import annotations

import polars as pl

from cartlab.pk import nonmem_dataset
from cartlab.protocol import load_protocol, resolve_protocol
from cartlab.trial import run_trial


def _tiny():
    dm = pl.DataFrame({"USUBJID": ["A", "B", "C"], "AGE": [30, 40, 50], "SEX": ["F", "M", "F"],
                       "ARMCD": ["DL1", "DL2", "DL1"]})
    ex = pl.DataFrame({"USUBJID": ["A", "A", "B"], "EXCAT": ["LYMPHODEPLETION", "CAR-T INFUSION", "CAR-T INFUSION"],
                       "EXDOSE": [500.0, 1e7, 2.5e7], "EXSTDY": [-4, 1, 1]})
    pc = pl.DataFrame({"USUBJID": ["A", "A", "A", "A", "B", "C"], "PCTESTCD": ["TRANSGEN"] * 6,
                       "PCDY": [-2, 1, 8, 29, 11, 5], "PCSTRESN": [None, None, 900.0, 120.0, 50.0, 10.0],
                       "PCLLOQ": [5.0] * 6})
    vs = pl.DataFrame({"USUBJID": ["A", "A", "B"], "VSTESTCD": ["WEIGHT", "WEIGHT", "WEIGHT"],
                       "VSSTRESN": [60.0, 61.0, 80.0], "VSDY": [-30, 40, -20]})
    return dm, ex, pc, vs


def test_layout_time_blq_and_covariates() -> None:
    data, findings = nonmem_dataset(*_tiny())
    a = data.filter(pl.col("USUBJID") == "A")
    assert a["EVID"].to_list() == [1, 0, 0, 0] and a["TIME"].to_list() == [0.0, 0.0, 7.0, 28.0]
    assert a["AMT"].to_list()[0] == 1e7 and a["MDV"].to_list() == [1, 0, 0, 0] and a["CMT"].to_list() == [1, 2, 2, 2]
    assert a["BLQ"].to_list() == [0, 1, 0, 0] and a["DV"].to_list()[1] == 5.0  # BLQ kept at the LLOQ (M3)
    assert set(a["WT"].to_list()) == {60.0}  # the weight before Day 1, not the later one
    assert a["SEXF"][0] == 1 and a["DOSE"][0] == 1e7 and a["ID"][0] == 1
    b = data.filter(pl.col("USUBJID") == "B")
    assert b["TIME"].to_list() == [0.0, 10.0] and b["ID"][0] == 2
    # C has observations but no infusion: left out with a finding
    assert "C" not in data["USUBJID"].to_list()
    assert findings.row(0) == ("C", None, "EX", "TRANSGEN observations but no CAR-T INFUSION record")


def test_pre_infusion_samples_are_left_out() -> None:
    data, _ = nonmem_dataset(*_tiny())
    assert (data["TIME"] >= 0).all() and data.filter(pl.col("USUBJID") == "A").height == 4


def test_simulated_trial_round_trip() -> None:
    t = run_trial(load_protocol(resolve_protocol("breakfree1-sle")).with_arm_sizes(3), seed=4).tables
    data, findings = nonmem_dataset(t["dm"], t["ex"], t["pc"], t["vs"])
    assert findings.height == 0
    treated = t["ex"].filter(pl.col("EXCAT") == "CAR-T INFUSION")["USUBJID"].n_unique()
    assert data["ID"].n_unique() == treated and (data["EVID"] == 1).sum() == treated
    post = t["pc"].filter((pl.col("PCTESTCD") == "TRANSGEN") & (pl.col("NFRLT") >= 0))
    assert (data["EVID"] == 0).sum() == post.height
    # simulated study days: TIME equals the nominal time from infusion
    obs = data.filter(pl.col("EVID") == 0).sort("USUBJID", "TIME")
    assert obs["TIME"].to_list() == post.sort("USUBJID", "NFRLT")["NFRLT"].to_list()
    assert data["WT"].null_count() == 0
    assert data.sort(["ID", "TIME", "EVID"], descending=[False, False, True]).equals(data)
