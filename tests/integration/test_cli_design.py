"""`cartlab design boundaries | next | simulate` and their failure modes."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from cartlab.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["design", *args], terminal_width=200)
    return res.exit_code, " ".join(res.output.split())


def test_design_boundaries_boin_prints_lambdas_and_table() -> None:
    code, text = _run("boundaries", "--design", "boin", "--target", "0.3", "--ncohort", "10", "--cohortsize", "3")
    assert code == 0, text
    # values of the R package BOIN, get.boundary(target = 0.3, ncohort = 10, cohortsize = 3); see
    # tests/unit/test_design_boin.py for the source
    assert "lambda_e = 0.2365" in text and "lambda_d = 0.3585" in text
    for row in ("│ 3 │ 0 │ 2 │ 3 │", "│ 6 │ 1 │ 3 │ 4 │", "│ 12 │ 2 │ 5 │ 7 │", "│ 30 │ 7 │ 11 │ 14 │"):
        assert row in text, text
    assert "│ 4 │ 0 │" not in text and text.count("│ 0 │") == 1  # whole cohorts only by default


def test_design_boundaries_every_n() -> None:
    code, text = _run("boundaries", "--target", "0.25", "--ncohort", "2", "--cohortsize", "3", "--every-n")
    assert code == 0, text
    assert "lambda_e = 0.1968" in text and "│ 1 │ 0 │ 1 │ NA │" in text and "│ 5 │" in text


def test_design_next_boin_and_threeplus3() -> None:
    code, text = _run("next", "--design", "boin", "--target", "0.3", "--doses", "5", "--outcomes", "1NNN 2NTN")
    assert code == 0, text
    assert "decision: stay; next cohort at dose level 2" in text and "lambda_e = 0.2365 < 1/3" in text
    code, text = _run("next", "--design", "boin", "--target", "0.3", "--doses", "5", "--outcomes", "1TTT")
    assert code == 0 and "decision: stop the trial" in text and "eliminated: dose level 1 and above" in text
    code, text = _run("next", "--design", "3+3", "--doses", "5", "--outcomes", "1NNN 2NTN")
    assert code == 0, text
    assert "decision: stay; next cohort at dose level 2" in text and "expand to 6" in text
    code, text = _run("next", "--design", "3+3", "--doses", "5", "--outcomes", "1NNN 2NNN 3TTN 2NNT")
    assert code == 0 and "decision: stop the trial; MTD = dose level 2" in text


def test_design_simulate_prints_oc_table() -> None:
    code, text = _run("simulate", "--design", "boin", "--target", "0.3", "--truth", "0.05,0.12,0.3,0.45,0.6",
                      "--ntrials", "2000", "--cohortsize", "3", "--ncohort", "10", "--seed", "1")
    assert code == 0, text
    assert "BOIN operating characteristics" in text and "P(select)" in text and "2000 trials, seed 1" in text
    assert "│ 3 │ 0.300 │ 0.548 │" in text  # pinned: simulate_oc(..., ntrials=2000, seed=1) in the unit tests
    code, text = _run("simulate", "--design", "3+3", "--truth", "0.05,0.12,0.3", "--ntrials", "500")
    assert code == 0 and "3+3 operating characteristics" in text


@pytest.mark.parametrize(("args", "needle"), [
    (["next", "--target", "0.3", "--doses", "5", "--outcomes", "1NNN 2NXN"],
     "outcomes: position 8: expected N (no DLT) or T (DLT) for a patient of the cohort at dose 2; got 'X'"),
    (["next", "--target", "0.3", "--doses", "5", "--outcomes", "1NNN 7NNN"], "dose level must be 1 to 5; got 7"),
    (["next", "--doses", "5", "--outcomes", "1NNN"], "--design boin needs --target"),
    (["next", "--design", "crm", "--target", "0.3", "--doses", "5", "--outcomes", "1NNN"],
     "--design must be boin, 3+3 or boin12; got 'crm'"),
    (["boundaries", "--target", "1.3"], "target must be a probability strictly between 0 and 1; got 1.3"),
    (["boundaries", "--design", "3+3", "--target", "0.3"], "3+3 has no boundaries"),
    (["simulate", "--target", "0.3", "--truth", "0.1,x"], "--truth must be comma-separated probabilities"),
    (["simulate", "--target", "0.3", "--truth", "0.1,1.2"], "truth must be one DLT probability in [0, 1]"),
    (["simulate", "--design", "3+3", "--truth", "0.1,0.2", "--cohortsize", "4"], "cohorts of 3"),
])
def test_design_errors_are_one_clear_message(args: list[str], needle: str) -> None:
    code, text = _run(*args)
    assert code == 1, text
    assert text.startswith("error:") and needle in text, text
    assert "Traceback" not in text


def test_simulate_on_a_local_dask_cluster_equals_the_local_run() -> None:
    """DESIGN.md scale-out: the same simulation on Dask distributed (LocalCluster) gives results
    identical to the local run for the same seed."""
    from distributed import Client, LocalCluster

    from cartlab.design import simulate_oc

    truth = [0.05, 0.12, 0.3, 0.45, 0.6]
    local = simulate_oc(truth, target=0.3, ntrials=3000, seed=11, batch_size=700)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = simulate_oc(truth, target=0.3, ntrials=3000, seed=11, batch_size=700,
                             map_fn=lambda f, items: client.gather(client.map(f, list(items), pure=False)))
    assert remote.selected.tobytes() == local.selected.tobytes()
    assert remote.p_select.tobytes() == local.p_select.tobytes()
    assert remote.mean_patients.tobytes() == local.mean_patients.tobytes()
    assert remote.p_early_stop == local.p_early_stop


def test_simulate_cli_with_dask_matches_the_local_table() -> None:
    args = ["design", "simulate", "--design", "boin", "--target", "0.3", "--truth", "0.05,0.12,0.3,0.45,0.6",
            "--ntrials", "2000", "--seed", "3", "--batch-size", "500"]
    a = runner.invoke(app, args)
    b = runner.invoke(app, [*args, "--dask"])
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    assert a.output == b.output


def test_model_informed_scenario_rises_with_dose_and_feeds_boin() -> None:
    """Virtual cohorts of the Breakfree-1 SLE population at three dose levels: the estimated P(DLT)
    (CRS or ICANS grade >= 3) rises with dose, and BOIN's operating characteristics run on it."""
    res = runner.invoke(app, ["design", "scenario", "breakfree1-sle", "--doses", "5e6,25e6,100e6", "--n", "60",
                              "--target", "0.3", "--ntrials", "300", "--seed", "5"], terminal_width=200)
    assert res.exit_code == 0, res.output
    rows = [line.split("│") for line in res.output.splitlines() if line.count("│") == 6]
    p = [float(r[4]) for r in rows]
    assert len(p) == 3 and p[0] < p[2] and p[0] <= p[1] <= p[2]
    resp = [float(r[5]) for r in rows]
    assert all(0 <= v <= 1 for v in resp)
    assert "BOIN operating characteristics: 300 trials" in res.output


def test_model_informed_scenario_refuses_bad_doses() -> None:
    res = runner.invoke(app, ["design", "scenario", "breakfree1-sle", "--doses", "25e6,5e6"])
    assert res.exit_code == 1 and "increasing" in res.output


# ---------------------------------------------------------------------------------------------
# BOIN12 (Lin et al., JCO Precis Oncol 2020;4:1393); the reference values are those of
# tests/unit/test_design_boin12.py (paper p. 1396, Table 3)


def test_design_next_boin12_worked_example() -> None:
    code, text = _run("next", "--design", "boin12", "--target", "0.35", "--lower-e", "0.25", "--doses", "5",
                      "--outcomes", "1NNN 2ENT 3ETT 2EEN")
    assert code == 0, text
    assert "decision: stay; next cohort at dose level 2" in text and "P(utility > 70.5)" in text
    code, text = _run("next", "--design", "boin12", "--target", "0.35", "--lower-e", "0.25", "--doses", "5",
                      "--n-earlystop", "12", "--outcomes", "1NNN 2NNB 3NEE 3NTN 4ETE 4NBE 4BNN 5BEN 5NBT 4NEN")
    assert code == 0 and "decision: stop the trial; OBD = dose level 4" in text, text


def test_design_boundaries_boin12_prints_futility_and_rds() -> None:
    code, text = _run("boundaries", "--design", "boin12", "--target", "0.35", "--lower-e", "0.25",
                      "--ncohort", "3", "--cohortsize", "3")
    assert code == 0, text
    assert "futility if" in text and "responses <=" in text and "benchmark u_b 70.5" in text
    # n = 9 with 0 responses closes a dose for futility (1 - 0.75^10 = 0.944 > 0.9); n = 6 does not
    # (1 - 0.75^7 = 0.867): the futility column reads NA at 3 and 6, 0 at 9. The DLT columns are BOIN's
    # for target 0.35 (lambda_e 0.2763 x 9 = 2.49 -> escalate if <= 2; lambda_d 0.4189 x 9 = 3.77 -> >= 4)
    assert "│ 9 │ 2 │ 4 │ 6 │ 0 │" in text and "│ 6 │ 1 │ 3 │ 5 │ NA │" in text, text
    # Table 3 of the paper: n = 0 scores 60; n = 3 with 0 DLTs and 3 responses scores 91
    assert "│ 0 │ 60 │" in text
    assert re.search(r"│ 0 │ \S+ │ \S+ │ \S+ │ 91 │", text), text


def test_design_simulate_boin12_writes_table_trials_and_figure(tmp_path) -> None:
    out = tmp_path / "oc"
    code, text = _run("simulate", "--design", "boin12", "--target", "0.35", "--lower-e", "0.25",
                      "--truth", "0.05,0.1,0.2,0.3,0.45", "--truth-eff", "0.1,0.3,0.55,0.6,0.62",
                      "--ntrials", "500", "--seed", "2", "--window-days", "90", "--out", str(out))
    assert code == 0, text
    assert "BOIN12 operating characteristics" in text and "mean responses" in text and "mean duration" in text
    import polars as pl

    table = pl.read_csv(out / "oc.csv")
    assert table.columns[:4] == ["dose", "true_p_dlt", "true_p_response", "true_utility"] and table.height == 5
    trials = pl.read_csv(out / "oc_trials.csv")
    # one cohort of 3 = 3 x 14 days of enrolment + 90 days of assessment
    assert trials.height == 500 and (trials["duration_days"] == trials["cohorts"] * 132.0).all()
    assert (out / "oc.svg").read_text().count("<svg") == 1
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize(("args", "needle"), [
    (["next", "--design", "boin12", "--target", "0.35", "--doses", "5", "--outcomes", "1NNN"], "--lower-e"),
    (["next", "--design", "boin12", "--target", "0.35", "--lower-e", "0.25", "--doses", "5", "--outcomes", "1NNX"],
     "outcomes: position 4: expected E (efficacy, no toxicity), T (toxicity, no efficacy), N (neither) or B (both)"),
    (["simulate", "--design", "boin12", "--target", "0.35", "--lower-e", "0.25", "--truth", "0.1,0.2"],
     "--truth-eff"),
    (["simulate", "--design", "boin12", "--target", "0.35", "--lower-e", "0.25", "--truth", "0.1,0.2",
      "--truth-eff", "0.1"], "truth_eff must be one response probability in [0, 1] per dose level"),
    (["next", "--design", "boin12", "--target", "0.35", "--lower-e", "0.25", "--u11", "120", "--doses", "5",
      "--outcomes", "1NNN"], "u11 must be a utility from 0 to 100; got 120"),
])
def test_design_boin12_errors_are_one_clear_message(args: list[str], needle: str) -> None:
    code, text = _run(*args)
    assert code == 1 and text.startswith("error:") and needle in text, text


def test_simulate_out_not_writable_is_one_message(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, text = _run("simulate", "--target", "0.3", "--truth", "0.1,0.3", "--ntrials", "50", "--out",
                      str(blocker / "oc"))
    assert code == 1 and "cannot write" in text and "Traceback" not in text, text


def test_model_informed_scenario_with_boin12() -> None:
    """Response from the virtual cohorts (SLE: SLEDAI-2K reduction >= 4 at day 90) next to P(DLT), and
    BOIN12 run on both."""
    res = runner.invoke(app, ["design", "scenario", "breakfree1-sle", "--doses", "5e6,25e6,100e6", "--n", "40",
                              "--design", "boin12", "--target", "0.35", "--lower-e", "0.25", "--response-day", "90",
                              "--ntrials", "200", "--seed", "5"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "SLEDAI-2K reduction >= 4 from baseline (SRI-4 component) at day 90" in " ".join(res.output.split())
    assert "BOIN12 operating characteristics: 200 trials" in res.output and "true P(response)" in res.output
    res = runner.invoke(app, ["design", "scenario", "breakfree1-sle", "--doses", "5e6", "--response-day", "91"])
    assert res.exit_code == 1 and "--response-day must be a disease-assessment day" in res.output


def test_run_a_protocol_with_a_design_escalates_then_expands(tmp_path) -> None:
    """`cartlab run` on the shipped escalation example: Part A by BOIN, Part B at the selected dose,
    both stored with the SDTM tables."""
    from cartlab.io import open_trial

    res = runner.invoke(app, ["run", "breakfree1-sle-escalation", "--out", str(tmp_path / "esc"), "--seed", "7"],
                        terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "Part A: dose escalation" in res.output and "Part A: selected dose level" in res.output
    with open_trial(tmp_path / "esc") as st:
        tables = st.tables()
        assert "escalation" in tables and "escalation_decisions" in tables
        esc = st.read("escalation")
        dm = st.read("dm")
    assert set(esc["PART"].to_list()) <= {"A", "B"}
    assert sorted(esc["USUBJID"].to_list()) == sorted(dm.filter(dm["RFXSTDTC"].is_not_null())["USUBJID"].to_list())
