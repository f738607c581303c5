"""`cartlab design boundaries | next | simulate` and their failure modes."""

from __future__ import annotations

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
     "--design must be boin or 3+3; got 'crm'"),
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
    rows = [line.split("│") for line in res.output.splitlines() if line.count("│") == 4]
    p = [float(r[3]) for r in rows]
    assert len(p) == 3 and p[0] < p[2] and p[0] <= p[1] <= p[2]
    assert "BOIN operating characteristics: 300 trials" in res.output


def test_model_informed_scenario_refuses_bad_doses() -> None:
    res = runner.invoke(app, ["design", "scenario", "breakfree1-sle", "--doses", "25e6,5e6"])
    assert res.exit_code == 1 and "increasing" in res.output
