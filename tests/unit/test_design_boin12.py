"""BOIN12 (Lin et al., JCO Precis Oncol 2020;4:1393-1402): outcome strings with responses, design
parameters, the rank-based desirability table, decisions, OBD selection, simulated operating
characteristics and the OC figure; plus the BOIN options n_earlystop / extrasafe of ``simulate_oc``.

Reference values come from
* Lin et al. 2020, Table 3 (RDS), p. 1396 (worked example) and Data Supplement section 6 / Figure S2
  (a whole trial), as transcribed in the tests of the ``escalation`` R package (Brock K; files
  ``tests/testthat/test_boin12_rds.R`` and ``tests/testthat/test_boin12.R``);
* the MD Anderson BOIN12 Shiny application (https://biostatistics.mdanderson.org/shinyapps/BOIN12/),
  whose next-dose recommendations for every outcome of a first cohort of 3 the same
  ``test_boin12.R`` records ("BOIN12 matches MDAnderson Shiny app - parameterisation 1 / 2").
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cartlab._core.errors import DataValidationError, SpecError
from cartlab.design import (
    boin12_design,
    boin12_next_decision,
    boin12_select_obd,
    parse_outcomes12,
    plot_oc,
    simulate_oc,
    tally_outcomes12,
)
from cartlab.design._boin import _boin_thresholds, boin_boundaries
from cartlab.design._oc import _extrasafe_table

# ---------------------------------------------------------------------------------------------
# Outcome strings


def test_parse_outcomes12_letters_and_tally() -> None:
    # E response only, T DLT only, B both, N neither (escalation's parse_phase1_2_outcomes convention)
    cohorts = parse_outcomes12(" 1NEN\t2btE ", 3)
    assert [c.dose for c in cohorts] == [1, 2]
    assert cohorts[1].dlt == (True, True, False) and cohorts[1].eff == (True, False, True)
    n, yt, ye, y11 = tally_outcomes12(cohorts, 3)
    assert n.tolist() == [3, 3, 0] and yt.tolist() == [0, 2, 0] and ye.tolist() == [1, 2, 0]
    assert y11.tolist() == [0, 1, 0]
    assert parse_outcomes12("") == ()


@pytest.mark.parametrize(("text", "needles"), [
    ("1NEX", ["position 4", "'X'", "E (efficacy, no toxicity), T (toxicity, no efficacy), N (neither) or B (both)",
              "dose 1"]),
    ("1NNN 9E", ["position 6", "dose level must be 1 to 5", "got 9"]),
    ("1NNN 2", ["position 7", "at least one patient (E or T or N or B)", "end of string"]),
])
def test_parse_outcomes12_errors_name_position_and_expectation(text: str, needles: list[str]) -> None:
    with pytest.raises(DataValidationError) as exc:
        parse_outcomes12(text, 5)
    for needle in needles:
        assert needle in str(exc.value), str(exc.value)


# ---------------------------------------------------------------------------------------------
# Design parameters


def test_design_defaults_boundaries_and_benchmark() -> None:
    d = boin12_design(0.35, 0.25)
    # BOIN boundaries (Liu & Yuan 2015 eq. 2) for phi = 0.35, phi1 = 0.21, phi2 = 0.49, by hand:
    # lambda_e = log(0.79/0.65) / log(0.35*0.79/(0.21*0.65)) = 0.19506/0.70589 = 0.2763
    # lambda_d = log(0.65/0.51) / log(0.49*0.65/(0.35*0.51)) = 0.24256/0.57903 = 0.4189
    assert d.lambda_e == pytest.approx(0.2763, abs=1e-4) and d.lambda_d == pytest.approx(0.4189, abs=1e-4)
    # ubar = 100*0.25*0.65 + 40*0.75*0.65 + 60*0.25*0.35 + 0*0.75*0.35 = 16.25 + 19.5 + 5.25 = 41;
    # u_b = 41 + (100 - 41)/2 = 70.5 (Lin et al. 2020: ubar is the utility at (phi_T, phi_E))
    assert d.u_bar == 41.0 and d.u_b == 70.5
    assert (d.u11, d.u00, d.u10, d.u01, d.c_t, d.c_e, d.n_star, d.n_explore) == (60, 40, 0, 100, 0.95, 0.9, 6, 9)
    # utility of (p_T, p_E) = (0.2, 0.55) with independence: 100*.55*.8 + 40*.45*.8 + 60*.55*.2 + 0 = 65
    assert float(d.utility(0.2, 0.55)) == pytest.approx(65.0)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"target": 1.2, "lower_e": 0.25}, "target must be a probability strictly between 0 and 1; got 1.2"),
    ({"target": 0.35, "lower_e": 0}, "lower_e must be a probability strictly between 0 and 1; got 0"),
    ({"target": 0.35, "lower_e": 0.25, "u11": 120}, "u11 must be a utility from 0 to 100; got 120"),
    ({"target": 0.35, "lower_e": 0.25, "u10": 50}, "utilities must order u10 <= u00, u11 <= u01"),
    ({"target": 0.35, "lower_e": 0.25, "c_e": 1.0}, "c_e must be in [0.5, 1); got 1.0"),
    ({"target": 0.35, "lower_e": 0.25, "n_earlystop": 0}, "n_earlystop must be an integer >= 1; got 0"),
])
def test_design_rejects_bad_parameters(kwargs: dict, needle: str) -> None:
    with pytest.raises(SpecError) as exc:
        boin12_design(**kwargs)
    assert needle in str(exc.value)


# ---------------------------------------------------------------------------------------------
# Rank-based desirability scores: Lin et al. 2020 Table 3 (phi_T 0.35, phi_E 0.25, u11 60, u00 40,
# c_T 0.95, c_E 0.9, n = 0, 3, 6, 9), as reproduced by escalation::boin12_rds in test_boin12_rds.R


@pytest.mark.parametrize(("n", "tox", "eff", "rds"), [
    (0, 0, 0, 60), (3, 0, 3, 91), (6, 1, 5, 87), (6, 5, 1, None), (9, 0, 8, 99),
    (9, 2, 3, 32.5), (9, 5, 5, 32.5),  # a tie: both have 4.6 utility "successes" in 9
    (9, 3, 1, 7), (9, 4, 0, None), (9, 6, 9, None),
])
def test_rds_table_matches_lin_2020_table_3(n: int, tox: int, eff: int, rds: float | None) -> None:
    t = boin12_design(0.35, 0.25).rds_table([0, 3, 6, 9])
    row = t.filter((pl.col("n") == n) & (pl.col("tox") == tox) & (pl.col("eff") == eff))
    assert row.height == 1
    assert row["rds"].item() == rds


def test_rds_table_needs_additive_utilities() -> None:
    with pytest.raises(SpecError, match="u11 \\+ u00 = u01 \\+ u10"):
        boin12_design(0.15, 0.4, u11=30, u00=50).rds_table([3])


# ---------------------------------------------------------------------------------------------
# Decisions against the MD Anderson Shiny application (via escalation's test_boin12.R)

# "outcomes:recommended dose", 5 dose levels
_APP1 = dict(target=0.35, lower_e=0.25, u11=60, u00=40, c_t=0.95, c_e=0.9)
_APP1_CASES = (
    "1EBB:1 1EEB:1 1EEE:1 1EET:1 1ETB:1 1ETT:1 1NBB:1 1NEB:1 1NEE:1 1NET:2 1NNB:2 1NNE:2 1NNN:2 1NNT:2 1NTB:1 "
    "1NTT:1 2BBB:1 2EBB:1 2EEB:2 2EEE:2 2EET:2 2ETB:1 2ETT:1 2NBB:1 2NEB:2 2NEE:2 2NET:3 2NNB:3 2NNE:3 2NNN:3 "
    "2NNT:3 2NTB:1 2NTT:1 2TBB:1 2TTB:1 2TTT:1 5BBB:4 5EBB:4 5EEB:5 5EEE:5 5EET:5 5ETB:4 5ETT:4 5NBB:4 5NEB:5 "
    "5NEE:5 5NET:4 5NNB:4 5NNE:4 5NNN:4 5NNT:4 5NTB:4 5NTT:4 5TBB:4 5TTB:4 5TTT:4").split()
# parameterisation 2: u11 + u00 != 100, so the decision needs the joint (DLT, response) counts
_APP2 = dict(target=0.15, lower_e=0.4, u11=30, u00=50, c_t=0.9, c_e=0.8)
_APP2_CASES = (
    "1EEB:1 1EEE:1 1EET:1 1NEB:1 1NEE:1 1NET:1 1NNB:1 1NNE:2 1NNN:2 2BBB:1 2EBB:1 2EEB:1 2EEE:2 2EET:1 2ETB:1 "
    "2ETT:1 2NBB:1 2NEB:1 2NEE:2 2NET:1 2NNB:1 2NNN:3 2NNT:1 2NTB:1 2NTT:1 2TBB:1 2TTB:1 2TTT:1 5BBB:4 5EBB:4 "
    "5EEB:4 5EEE:5 5EET:4 5ETB:4 5ETT:4 5NBB:4 5NEB:4 5NEE:5 5NET:4 5NNB:4 5NNE:4 5NNN:4 5NNT:4 5NTB:4 5NTT:4 "
    "5TBB:4 5TTB:4 5TTT:4").split()


@pytest.mark.parametrize(("params", "case"), [(_APP1, c) for c in _APP1_CASES] + [(_APP2, c) for c in _APP2_CASES])
def test_next_dose_matches_the_shiny_app(params: dict, case: str) -> None:
    outcomes, expected = case.split(":")
    d = boin12_next_decision(outcomes, 5, boin12_design(**params))
    assert d.action != "stop" and d.next_dose == int(expected), d.reason


@pytest.mark.parametrize("outcomes", ["1EBB", "1ETB", "1ETT", "1NBB", "1NTB"])
def test_lowest_dose_over_the_toxicity_limit_stops_unlike_the_app(outcomes: str) -> None:
    """Deliberate difference: with phi_T 0.15 and c_T 0.9, 2 DLTs in 3 at dose 1 give
    P(p_T > 0.15 | beta(3, 2)) = 1 - 0.15^3 (4 - 3*0.15) = 0.988 > 0.9, so dose 1 and every dose above
    are closed. The Shiny app (per escalation's test_boin12.R, parameterisation 2) still recommends
    dose 1; cartlab stops without a dose, as BOIN does when its lowest dose is eliminated and as the
    authors' simulation code for BOIN12 does (``if (d == 1) earlystop``, phase12designs::oc_boin12)."""
    d = boin12_next_decision(outcomes, 5, boin12_design(**_APP2))
    assert d.action == "stop" and d.next_dose is None and d.eliminated_from == 1
    assert "no admissible dose" in d.reason


def test_worked_example_of_the_paper() -> None:
    # Lin et al. 2020, p. 1396: after 1NNN 2ENT 3ETT 2EEN the next cohort is treated at dose 2
    d = boin12_next_decision("1NNN 2ENT 3ETT 2EEN", 5, boin12_design(0.35, 0.25))
    assert (d.action, d.next_dose, d.current_dose, d.n, d.y) == ("stay", 2, 2, 6, 1)


def test_whole_trial_of_the_data_supplement() -> None:
    """Data Supplement section 6 / Figure S2 of Lin et al. 2020 (escalation's test_boin12.R): 30
    patients at most, 12 at a dose stops the trial; after the last cohort the OBD is dose 4."""
    design = boin12_design(0.35, 0.25, n_earlystop=12)
    cohorts = "1NNN 2NNB 3NEE 3NTN 4ETE 4NBE 4BNN 5BEN 5NBT 4NEN".split()
    expected = [2, 3, 3, 4, 4, 4, 5, 5, 4]
    for k, dose in enumerate(expected, 1):
        d = boin12_next_decision(" ".join(cohorts[:k]), 5, design)
        assert d.action != "stop" and d.next_dose == dose, (k, d)
    last = boin12_next_decision(" ".join(cohorts), 5, design)
    assert last.action == "stop" and last.obd == 4 and "n_earlystop = 12" in last.reason


def test_rules_by_hand() -> None:
    design = boin12_design(0.35, 0.25)
    # 1/6 DLT at dose 3 (< lambda_e 0.276), 12 patients: exploration rule (n >= 9, next dose untried)
    d = boin12_next_decision("1NNN 2NEN 3EEE 3NEN 3ENE 3TEN", 5, design)
    assert d.next_dose == 4 and "explore the untried dose level 4" in d.reason
    # futility: 0 responses in 9 at dose 1: P(p_E < 0.25 | beta(1, 10)) = 1 - 0.75^10 = 0.944 > 0.9
    d = boin12_next_decision("1NNN 1NNN 1NNN", 5, design)
    assert d.next_dose == 2 and "closed for futility: dose level 1" in d.reason
    # a first cohort is always at dose 1
    assert boin12_next_decision("", 5, design).next_dose == 1


def test_select_obd_by_hand() -> None:
    design = boin12_design(0.35, 0.25)
    # n (3, 6, 9, 3), DLTs (0, 1, 2, 2), responses (0, 2, 6, 2). DLT rates (y + 0.05)/(n + 0.1) =
    # (0.016, 0.172, 0.225, 0.661) are already increasing, so isotonic regression keeps them: the MTD is
    # dose 3 (|0.225 - 0.35| smallest). Response rates (y + 0.05)/(n + 0.1) = (0.016, 0.336, 0.665); with
    # u11 + u00 = 100 the utility is u11 p_E + u00 (1 - p_T): 60*0.016 + 40*0.984 = 40.3,
    # 60*0.336 + 40*0.828 = 53.3, 60*0.665 + 40*0.775 = 70.9 -> dose 3
    assert boin12_select_obd([3, 6, 9, 3, 0], [0, 1, 2, 2, 0], [0, 2, 6, 2, 0], design) == 3
    # dose 1 too toxic (3/3: P(p_T > 0.35 | beta(4, 1)) = 1 - 0.35^4 = 0.985 > 0.95): nothing selectable
    assert boin12_select_obd([3, 0], [3, 0], [3, 0], design) is None
    with pytest.raises(DataValidationError, match="0 <= yt, ye <= n"):
        boin12_select_obd([3], [4], [0], design)


# ---------------------------------------------------------------------------------------------
# Operating characteristics


_T = [0.05, 0.10, 0.20, 0.30, 0.45]
_E = [0.10, 0.30, 0.55, 0.60, 0.62]


def test_boin12_oc_same_results_whatever_the_batch_size() -> None:
    design = boin12_design(0.35, 0.25)
    a = simulate_oc(_T, design="boin12", boin12=design, truth_eff=_E, ntrials=1500, seed=3)
    b = simulate_oc(_T, design="boin12", boin12=design, truth_eff=_E, ntrials=1500, seed=3, batch_size=301)
    assert a.selected.tobytes() == b.selected.tobytes() and a.mean_responses.tobytes() == b.mean_responses.tobytes()
    assert a.p_select.sum() + a.p_no_selection == pytest.approx(1.0)
    assert a.mean_patients.sum() <= 30 and a.design == "BOIN12"
    # true utilities (independence): 100*pE*(1-pT) + 40*(1-pE)*(1-pT) + 60*pE*pT; dose 3 is the OBD (65.0)
    assert np.argmax(a.true_utility) == 2 and a.true_utility[2] == pytest.approx(65.0)
    # the design finds it more often than any other dose
    assert int(np.argmax(a.p_select)) == 2


def test_boin12_oc_futile_and_toxic_scenarios() -> None:
    design = boin12_design(0.35, 0.25)
    toxic = simulate_oc([0.7, 0.8, 0.9], design="boin12", boin12=design, truth_eff=[0.5, 0.5, 0.5], ntrials=400,
                        seed=1)
    assert toxic.p_early_stop > 0.8 and toxic.p_no_selection == toxic.p_early_stop
    futile = simulate_oc([0.05, 0.05, 0.05], design="boin12", boin12=design, truth_eff=[0.01, 0.01, 0.01],
                         ntrials=400, seed=1)
    assert futile.p_no_selection > 0.8


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"design": "boin12"}, "needs boin12=boin12_design"),
    ({"design": "boin12", "boin12": "x"}, "needs boin12=boin12_design"),
    ({"design": "boin12", "boin12": boin12_design(0.35, 0.25)}, "needs truth_eff"),
    ({"design": "boin12", "boin12": boin12_design(0.35, 0.25), "truth_eff": [0.1]}, "one response probability"),
    ({"design": "boin", "target": 0.3, "n_earlystop": 0}, "n_earlystop must be an integer >= 1"),
    ({"design": "boin", "target": 0.3, "window_days": -1}, "window_days must be a number of days >= 0"),
])
def test_simulate_oc_boin12_errors(kwargs: dict, needle: str) -> None:
    with pytest.raises(SpecError) as exc:
        simulate_oc([0.1, 0.2], ntrials=10, **kwargs)
    assert needle in str(exc.value)


def test_trial_duration_follows_the_stated_timing() -> None:
    oc = simulate_oc([0.05, 0.3, 0.6], target=0.3, ntrials=300, seed=2, accrual_days=10, window_days=28)
    # a cohort of 3 takes 3 x 10 days to enrol plus 28 days to assess its last patient = 58 days
    assert oc.cohort_days == 58.0
    assert np.array_equal(oc.duration_days, oc.cohorts * 58.0)
    assert oc.cohorts.max() <= 10 and oc.cohorts.min() >= 1
    assert "duration: mean" in oc.summary()


def test_boin_extrasafe_threshold_by_hand() -> None:
    # target 0.3, cutoff 0.95 - offset 0.05 = 0.9, n = 3: 2 DLTs give P(p > 0.3 | beta(3, 2)) =
    # 1 - 0.3^3 (4 - 3*0.3) = 0.916 (> 0.9, < 0.95), 1 DLT gives 1 - (6*0.09 - 8*0.027 + 3*0.0081) = 0.652
    safe = _extrasafe_table(0.3, 0.9, 6)
    _, _, eli = _boin_thresholds(boin_boundaries(0.3), 6)
    assert safe[3] == 2 and eli[3] == 3


def test_boin_extrasafe_and_n_earlystop_only_stop_earlier() -> None:
    truth = [0.25, 0.4, 0.5]
    plain = simulate_oc(truth, target=0.3, ntrials=2000, seed=4)
    safe = simulate_oc(truth, target=0.3, ntrials=2000, seed=4, extrasafe=True)
    early = simulate_oc(truth, target=0.3, ntrials=2000, seed=4, n_earlystop=9)
    # same draws: a trial that selects no dose under BOIN also selects none with the stricter stop
    assert np.all(safe.selected[plain.selected == 0] == 0)
    assert safe.p_early_stop >= plain.p_early_stop
    # n.earlystop can only shorten a trial
    assert np.all(early.cohorts <= plain.cohorts) and early.mean_patients.sum() < plain.mean_patients.sum()


def test_plot_oc_writes_a_deterministic_svg(tmp_path) -> None:
    oc = simulate_oc(_T, design="boin12", boin12=boin12_design(0.35, 0.25), truth_eff=_E, ntrials=200, seed=5)
    a = plot_oc(oc, tmp_path / "a.svg").read_bytes()
    b = plot_oc(oc, tmp_path / "b.svg").read_bytes()
    assert a == b and b"<svg" in a
    assert b"BOIN12 operating characteristics: 200 trials, seed 5" in a and b"true P(response)" in a
    with pytest.raises(SpecError, match="OperatingCharacteristics"):
        plot_oc("x", tmp_path / "c.svg")  # type: ignore[arg-type]


def test_custom_boin_limits_reach_the_decision_kernel() -> None:
    # a DLT limit of 0.8 needs phi2 < 1 given explicitly (1.4 x 0.8 >= 1); the kernel must use the design's
    # boundaries, not recompute them from defaults. lambda_e for phi 0.8, phi1 0.6 (Liu & Yuan eq. 2):
    # log(0.4/0.2) / log(0.8*0.4/(0.6*0.2)) = 0.6931/0.9808 = 0.7067
    d = boin12_design(0.8, 0.25, phi1=0.6, phi2=0.9)
    assert d.lambda_e == pytest.approx(0.7067, abs=1e-4) and (d.phi1, d.phi2) == (0.6, 0.9)
    # 1NNN: no DLT, no response -> escalation allowed; an untried dose has P(u > u_b) = 1 - u_b/100 under
    # the beta(1, 1) prior (u_b = 61.5 here), more than dose 1's beta(1 + 1.2, 1 + 1.8) tail: escalate
    d1 = boin12_next_decision("1NNN", 3, d)
    assert d1.next_dose == 2 and "escalation allowed" in d1.reason
    # ubar = 100*0.25*0.2 + 40*0.75*0.2 + 60*0.25*0.8 + 0 = 5 + 6 + 12 = 23; u_b = 23 + 77/2 = 61.5
    assert d.u_b == 61.5
