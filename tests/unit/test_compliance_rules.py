"""Protocol compliance rules on hand-built SDTM records (cartlab.compliance.check_compliance).

Expected values follow from the shipped protocols' rules: reset-sle.toml (RESET programme, seed 001
and EVIDENCE.md "RESET": fludarabine days -5, -4, -3 and cyclophosphamide day -3; non-glucocorticoid
immunosuppressants stopped by day -5; no fever >= 38.0 C or infection in the 14 days before infusion,
confirmed in writing by the investigator; ages 18-75) and breakfree1-sle.toml (BILAG A >= 1, >= 2
prior immunosuppressants, ages 18-65, no written confirmation rule).
"""

from __future__ import annotations

import polars as pl

from cartlab.compliance import VisitWindow, check_compliance, validate_sdtm, SourceDomain
from cartlab.protocol import load_protocol, resolve_protocol

RESET = load_protocol(resolve_protocol("reset-sle"))
BF1 = load_protocol(resolve_protocol("breakfree1-sle"))
INF = "2025-03-10"  # infusion, Day 0


def _base(**extra: pl.DataFrame) -> dict[str, pl.DataFrame]:
    ex = pl.DataFrame({
        "USUBJID": ["R-1"] * 5,
        "EXTRT": ["FLUDARABINE", "FLUDARABINE", "FLUDARABINE", "CYCLOPHOSPHAMIDE", "rese-cel"],
        "EXCAT": ["LYMPHODEPLETION"] * 4 + ["CAR-T INFUSION"],
        "EXSTDTC": ["2025-03-05", "2025-03-06", "2025-03-07", "2025-03-07", INF]})
    dm = pl.DataFrame({"USUBJID": ["R-1"], "AGE": [40], "RFXSTDTC": ["2025-03-05"]})
    ds = pl.DataFrame({"USUBJID": ["R-1"], "DSDECOD": ["PRE-INFUSION SAFETY CONFIRMED"], "DSSTDTC": ["2025-03-09"]})
    return {"dm": dm, "ex": ex, "ds": ds, **extra}


def _rules(dev: pl.DataFrame, severity: str = "MAJOR") -> list[tuple]:
    return dev.filter(pl.col("SEVERITY") == severity).select("RULE", "DAY").rows()


def test_a_compliant_subject_has_no_major_deviation() -> None:
    dev = check_compliance(_base(), RESET)
    assert _rules(dev) == [] and _rules(dev, "MINOR") == []
    # RFXSTDTC is the first lymphodepletion dose; the CAR-T EX record defines Day 0
    assert set(dev["SEVERITY"]) == {"NOT ASSESSABLE"}  # SLEDAI-2K and prior IS are not in these records


def test_lymphodepletion_timing() -> None:
    t = _base()
    t["ex"] = t["ex"].with_columns(pl.when(pl.col("EXTRT") == "CYCLOPHOSPHAMIDE").then(pl.lit("2025-03-08"))
                                   .otherwise(pl.col("EXSTDTC")).alias("EXSTDTC"))
    assert _rules(check_compliance(t, RESET)) == [("LD-TIMING", -3), ("LD-TIMING", -2)]


def test_immunosuppressant_withdrawal_and_restart() -> None:
    cm = pl.DataFrame({"USUBJID": ["R-1"] * 3, "CMTRT": ["MMF", "MTX", "MMF"], "CMCAT": ["IMMUNOSUPPRESSANT"] * 3,
                       "CMSTDTC": ["2024-01-01", "2024-06-01", "2025-06-01"],
                       "CMENDTC": ["2025-03-05", None, None]})
    dev = check_compliance(_base(cm=cm), RESET)
    # MMF stopped on day -5 (allowed), MTX never stopped (deviation), MMF restarted after infusion (flare rule)
    assert dev.filter(pl.col("RULE") == "IST-WITHDRAWAL").select("VALUE", "DAY").rows() == [("MTX", None)]


def test_fever_infection_and_the_reset_confirmation_rule() -> None:
    vs = pl.DataFrame({"USUBJID": ["R-1"] * 3, "VSTESTCD": ["TEMP"] * 3, "VSSTRESN": [38.0, 37.9, 39.0],
                       "VSSTRESU": ["C"] * 3, "VSDTC": ["2025-03-07", "2025-03-08", "2025-02-20"]})
    ae = pl.DataFrame({"USUBJID": ["R-1", "R-1"], "AEDECOD": ["Urinary tract infection", "Nasopharyngitis"],
                       "AEBODSYS": ["Infections and infestations"] * 2,
                       "AESTDTC": ["2025-02-01", "2025-01-02"], "AEENDTC": [None, "2025-01-09"]})
    t = _base(vs=vs, ae=ae)
    dev = check_compliance(t, RESET)
    # 38.0 C on day -3 is fever (>= 38.0, ASTCT/protocol threshold); 39.0 C on day -18 is outside 14 days;
    # the UTI is ongoing at the window's start; the nasopharyngitis ended before it
    assert _rules(dev) == [("PRE-INFUSION-FEVER", -3), ("PRE-INFUSION-INFECTION", -37)]
    no_confirmation = {k: v for k, v in t.items() if k != "ds"}
    dev = check_compliance(no_confirmation, RESET)
    assert ("PRE-INFUSION-CONFIRMATION", 0) in _rules(dev)
    clean = check_compliance({k: v for k, v in _base().items() if k != "ds"}, RESET)
    assert _rules(clean, "MINOR") == [("PRE-INFUSION-CONFIRMATION", 0)]


def test_eligibility_from_the_data() -> None:
    qs = pl.DataFrame({"USUBJID": ["R-1"] * 9, "QSCAT": ["BILAG-2004"] * 9,
                       "QSTESTCD": [f"BILAG{k}" for k in range(9)], "QSSTRESC": ["C"] * 9,
                       "QSDTC": ["2025-02-10"] * 9})
    cm = pl.DataFrame({"USUBJID": ["R-1"] * 3, "CMTRT": ["MMF", "AZATHIOPRINE", "MMF"],
                       "CMCAT": ["IMMUNOSUPPRESSANT"] * 3, "CMSTDTC": ["2020-01-01", "2021-01-01", "2022-01-01"],
                       "CMENDTC": ["2020-12-31", "2021-12-31", "2025-03-04"]})
    t = _base(qs=qs, cm=cm)
    t["dm"] = t["dm"].with_columns(pl.lit(70).alias("AGE"))
    dev = check_compliance(t, BF1)
    elig = dev.filter(pl.col("CATEGORY") == "ELIGIBILITY").select("RULE", "SEVERITY", "VALUE").rows()
    # age 70 > 65; no BILAG A domain (>= 1 required); two distinct prior immunosuppressants meet >= 2
    assert elig == [("ELIG-AGE", "MAJOR", "70"), ("ELIG-BILAG_A_DOMAINS", "MAJOR", "0")]


def test_visit_windows() -> None:
    lb = pl.DataFrame({"USUBJID": ["R-1"] * 3, "LBTESTCD": ["NEUT"] * 3, "LBDTC": ["2025-02-10", "2025-03-11",
                                                                                   "2025-03-20"]})
    dev = check_compliance(_base(lb=lb), RESET, visit_window=VisitWindow(0.1, 1, 14))
    missed = dev.filter(pl.col("RULE") == "VISIT-LB")["DAY"].to_list()
    # last contact day 10; lab days up to 10 are -28, -5, 0, 1, 2, 3, 4, 5, 7, 10 (reset-sle.toml);
    # records on days -28, 1 and 10 (windows +-3, +-1, +-1) cover -28, 0, 1, 2 and 10
    assert missed == [-5, 3, 4, 5, 7]


def test_fahrenheit_is_converted_before_the_fever_check() -> None:
    vs = pl.DataFrame({"STUDYID": ["S"], "DOMAIN": ["VS"], "USUBJID": ["R-1"], "VSSEQ": [1.0], "VSTESTCD": ["TEMP"],
                       "VSTEST": ["Temperature"], "VSSTRESN": [100.4], "VSSTRESU": ["F"], "VSDTC": ["2025-03-08"]})
    res = validate_sdtm([SourceDomain("vs", "vs.xpt", vs)])
    # 100.4 F = (100.4 - 32) * 5/9 = 38.0 C
    assert abs(res.tables["vs"]["VSSTRESN"][0] - 38.0) < 1e-12 and res.tables["vs"]["VSSTRESU"][0] == "C"
    dev = check_compliance(_base(vs=res.tables["vs"]), RESET)
    assert ("PRE-INFUSION-FEVER", -2) in _rules(dev)
