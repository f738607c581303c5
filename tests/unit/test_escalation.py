"""A protocol's [design] table: validation, and ``run_trial`` executing Part A (escalation) then
Part B (expansion at the selected dose) on the shipped example protocol."""

from __future__ import annotations

import numba
import polars as pl
import pytest

from cartlab._core.errors import SpecError
from cartlab.design import Cohort, boin_boundaries, boin_next_decision, boin_select_mtd
from cartlab.protocol import load_protocol, load_protocol_bytes, resolve_protocol
from cartlab.trial import run_trial

EXAMPLE = resolve_protocol("breakfree1-sle-escalation")
CRS = "Cytokine release syndrome"
ICANS = "Immune effector cell-associated neurotoxicity syndrome"


def _with_design(design: str, arms_tail: str = "") -> bytes:
    """The example file with its [design] table replaced (and text appended to the last arm)."""
    text = EXAMPLE.read_text()
    text = text[: text.index("\n[design]\n") + 1] + design
    if arms_tail:
        text = text.replace('dose = { cells = 50e6 }', arms_tail, 1)
    return text.encode()


def test_example_protocol_loads_with_its_design() -> None:
    p = load_protocol(EXAMPLE)
    assert p.design is not None and p.design.method == "boin" and p.design.target == 0.3
    assert (p.design.cohort_size, p.design.max_cohorts, p.design.n_earlystop, p.design.expansion_n) == (3, 6, 9, 6)
    assert [a.code for a in p.arms] == ["DL1", "DL2", "DL3"]


@pytest.mark.parametrize(("design", "needle"), [
    ('[design]\nmethod = "boin"\n', "x.toml [design] target: is required when method is 'boin' (a DLT probability, e.g. 0.3)"),
    ('[design]\nmethod = "boin12"\ntarget = 0.35\n', "x.toml [design] lower_e: is required when method is 'boin12'"),
    ('[design]\nmethod = "crm"\ntarget = 0.3\n', "x.toml [design] method"),
    ('[design]\nmethod = "boin"\ntarget = 0.3\nmetod = 1\n', "unknown key 'metod'"),
    ('[design]\nmethod = "boin"\ntarget = 1.3\n', "x.toml [design] target"),
    ('[design]\nmethod = "3+3"\ncohort_size = 4\n', "x.toml [design] cohort_size: must be 3 when method is '3+3'; got 4"),
    ('[design]\nmethod = "boin12"\ntarget = 0.35\nlower_e = 0.25\nresponse_day = 91\n',
     "x.toml [design] response_day: must be one of [schedule] disease_days, so the response is assessed; got 91"),
    ('[design]\nmethod = "boin"\ntarget = 0.3\nresponse_day = 90\n',
     "x.toml [design] response_day: is only used when method is 'boin12', not 'boin'; got 90"),
])
def test_design_table_errors_name_file_key_and_value(design: str, needle: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_protocol_bytes(_with_design(design), source="x.toml")
    assert needle in str(exc.value), str(exc.value)


def test_dose_levels_must_increase() -> None:
    data = _with_design('[design]\nmethod = "boin"\ntarget = 0.3\n', "dose = { cells = 20e6 }")
    with pytest.raises(SpecError) as exc:
        load_protocol_bytes(data, source="x.toml")
    assert "x.toml [[arms]] 3" in str(exc.value) and "must be higher than the dose of [[arms]] 2" in str(exc.value)
    assert "20000000" in str(exc.value)


@pytest.fixture(scope="module")
def escalation_run():
    return run_trial(load_protocol(EXAMPLE), seed=7)


def test_part_a_then_part_b_follow_the_design_rules(escalation_run) -> None:
    t = escalation_run.tables
    pts, dec = t["escalation"], t["escalation_decisions"]
    part_a = pts.filter(pl.col("PART") == "A")
    # replay Part A with cartlab.design's BOIN (target 0.3; the rules are tested against the BOIN
    # package in test_design_boin.py): every recorded decision is the rule's decision on the data so far
    cohorts: list[Cohort] = []
    for r in dec.filter(pl.col("ACTION") != "select").iter_rows(named=True):
        c = part_a.filter(pl.col("COHORT") == r["COHORT"])
        assert c.height == 3 and c["DOSE_LEVEL"].unique().to_list() == [r["DOSE_LEVEL"]]
        cohorts.append(Cohort(r["DOSE_LEVEL"], tuple(c["DLT"].to_list())))
        d = boin_next_decision(tuple(cohorts), 3, 0.3)
        if r["ACTION"] == "stop" and "n_earlystop" in r["REASON"]:
            assert r["N_AT_DOSE"] >= 9 and d.next_dose == r["DOSE_LEVEL"]
        else:
            assert (d.action, d.next_dose) == (r["ACTION"], r["NEXT_DOSE_LEVEL"])
    assert len(cohorts) <= 6
    n = [part_a.filter(pl.col("DOSE_LEVEL") == k).height for k in (1, 2, 3)]
    y = [int(part_a.filter(pl.col("DOSE_LEVEL") == k)["DLT"].sum()) for k in (1, 2, 3)]
    selected = boin_select_mtd(n, y, 0.3)
    sel_row = dec.filter(pl.col("ACTION") == "select").row(0, named=True)
    assert sel_row["DOSE_LEVEL"] == selected
    part_b = pts.filter(pl.col("PART") == "B")
    assert part_b.height == 6 and part_b["DOSE_LEVEL"].unique().to_list() == [selected]
    assert boin_boundaries(0.3).lambda_e > 0  # the design module is the one replayed above


def test_stored_sdtm_is_the_trial_that_was_run(escalation_run) -> None:
    t = escalation_run.tables
    pts = t["escalation"]
    dm = t["dm"].filter(pl.col("RFXSTDTC").is_not_null())
    assert sorted(dm["USUBJID"].to_list()) == sorted(pts["USUBJID"].to_list())
    per_arm = dict(dm.group_by("ARMCD").len().iter_rows())
    assert per_arm == dict(pts.group_by("ARMCD").len().iter_rows())
    assert [a.n for a in escalation_run.protocol.arms] == [per_arm[a.code] for a in escalation_run.protocol.arms]
    # the DLT flag is what the site graded in AE: CRS or ICANS grade >= 3 starting by study day 29
    ae = t["ae"].filter(pl.col("AEDECOD").is_in([CRS, ICANS]) & (pl.col("AETOXGR").cast(pl.Int64) >= 3)
                        & (pl.col("AESTDY") <= 29))
    assert set(ae["USUBJID"].to_list()) == set(pts.filter(pl.col("DLT"))["USUBJID"].to_list())
    assert escalation_run.protocol.design is None


def test_same_seed_same_tables_whatever_the_thread_count(escalation_run) -> None:
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        again = run_trial(load_protocol(EXAMPLE), seed=7)
    finally:
        numba.set_num_threads(threads)
    assert again.tables.keys() == escalation_run.tables.keys()
    for name, frame in escalation_run.tables.items():
        assert frame.equals(again.tables[name]), name
    other = run_trial(load_protocol(EXAMPLE), seed=8)
    assert not other.tables["escalation"].equals(escalation_run.tables["escalation"])


@pytest.mark.parametrize("design", [
    '[design]\nmethod = "3+3"\nexpansion_n = 3\n',
    '[design]\nmethod = "boin12"\ntarget = 0.35\nlower_e = 0.25\nresponse_day = 90\nmax_cohorts = 5\nexpansion_n = 3\n',
])
def test_other_methods_replay(design: str) -> None:
    from cartlab.design import Cohort12, boin12_design, boin12_next_decision, threeplus3_next_decision

    p = load_protocol_bytes(_with_design(design), source="x.toml")
    t = run_trial(p, seed=3).tables
    pts, dec = t["escalation"], t["escalation_decisions"]
    part_a = pts.filter(pl.col("PART") == "A")
    history: list = []
    last = None
    for r in dec.filter(pl.col("ACTION") != "select").iter_rows(named=True):
        c = part_a.filter(pl.col("COHORT") == r["COHORT"])
        if p.design.method == "3+3":
            history.append(Cohort(r["DOSE_LEVEL"], tuple(c["DLT"].to_list())))
            last = threeplus3_next_decision(tuple(history), 3)
        else:
            history.append(Cohort12(r["DOSE_LEVEL"], tuple(c["DLT"].to_list()), tuple(c["RESPONSE"].to_list())))
            last = boin12_next_decision(tuple(history), 3, boin12_design(0.35, 0.25))
        assert (last.action, last.next_dose) == (r["ACTION"], r["NEXT_DOSE_LEVEL"]), r
    sel = dec.filter(pl.col("ACTION") == "select")["DOSE_LEVEL"].item()
    if p.design.method == "3+3":
        assert last is not None and last.action == "stop" and sel == last.mtd
        assert part_a.group_by("DOSE_LEVEL").len()["len"].max() <= 6
    assert pts.filter(pl.col("PART") == "B").height == (3 if sel is not None else 0)


def test_dose_outcomes_rejects_bad_arguments(escalation_run) -> None:
    from cartlab.trial import dose_outcomes

    with pytest.raises(SpecError, match="indication must be one of SLE, SSC, IIM; got 'RA'"):
        dose_outcomes(escalation_run.tables, "RA", 90)
    with pytest.raises(SpecError, match="dlt_window_days must be an integer >= 1; got 0"):
        dose_outcomes(escalation_run.tables, "SLE", 90, dlt_window_days=0)
    # SLE response = SLEDAI-2K fall >= 4 (SRI-4 component); a day without assessment leaves everyone a
    # non-responder (non-responder imputation)
    out = dose_outcomes(escalation_run.tables, "SLE", 91)
    assert out["RESPONSE"].sum() == 0 and out.height == escalation_run.tables["escalation"].height
