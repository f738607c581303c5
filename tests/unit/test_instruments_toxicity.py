"""CAR-T toxicity and haematology instruments: ICE, ASTCT CRS and ICANS, episodes, CTCAE v5.0, ICAHT.

Sources of expected values (INSTRUMENTS.md, "CAR-T toxicity and haematology"):
* Lee DW et al., Biol Blood Marrow Transplant 2019;25:625 — ICE score table, CRS and ICANS
  consensus grading tables ("Lee 2019" below);
* NCI CTCAE v5.0 (27 Nov 2017), Investigations / Blood and lymphatic system disorders;
* Rejeski K et al., Blood 2023;142:865 — ICAHT grading table ("Rejeski 2023").
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartlab._core.errors import DataValidationError, SpecError
from cartlab.instruments import get
from cartlab.instruments._cart_toxicity import (
    CONSCIOUSNESS,
    ICP_FINDINGS,
    O2_DEVICES,
    SEIZURE,
    Episode,
    grade_crs_astct,
    grade_icans_astct,
    ice_score,
    toxicity_episodes,
)
from cartlab.instruments._ctcae import CRITERIA_V5_0, GRADE_0_OR_1, MISSING, ctcae_criteria, grade_ctcae
from cartlab.instruments._icaht import icaht_early, icaht_late, neutropenia_duration

FAST = settings(derandomize=True, max_examples=150, deadline=None)


def crs(temp=38.5, hypotension=False, n_vp=0, device="none", flow=np.nan, **kw) -> int:
    return int(grade_crs_astct(temp, hypotension, n_vp, device, flow, **kw))


# ------------------------------------------------------------------------------------------ ICE
def test_ice_score_sums_its_five_items() -> None:
    # Lee 2019 ICE table: orientation 4, naming 3, command 1, writing 1, attention 1 = 10
    assert int(ice_score(4, 3, 1, 1, 1)) == 10
    assert int(ice_score(0, 0, 0, 0, 0)) == 0
    assert ice_score([2, 4], [1, 3], [0, 1], [1, 0], [0, 1]).tolist() == [4, 9]


def test_ice_refuses_an_item_out_of_range_naming_input_row_value() -> None:
    with pytest.raises(DataValidationError, match=r"input 'naming' row 1: got .*4.*, expected 0 to 3"):
        get("ICE").score(orientation=[4, 4], naming=[3, 4], command=[1, 1], writing=[1, 1], attention=[1, 1])


# ------------------------------------------------------------------------------------------ CRS
@pytest.mark.parametrize(("signs", "grade"), [
    # Lee 2019 CRS consensus grading table
    (dict(), 1),  # fever only
    (dict(hypotension=True), 2),  # hypotension not requiring vasopressors
    (dict(device="blow_by"), 2),  # blow-by
    (dict(device="nasal_cannula", flow=3.0), 2),  # low-flow nasal cannula
    (dict(hypotension=True, n_vp=1), 3),  # one vasopressor
    (dict(hypotension=True, n_vp=1, vasopressin=True), 3),  # one vasopressor with vasopressin
    (dict(device="high_flow_nasal_cannula", flow=40.0), 3),
    (dict(device="facemask"), 3),
    (dict(device="non_rebreather"), 3),
    (dict(device="venturi"), 3),
    (dict(hypotension=True, n_vp=2), 4),  # multiple vasopressors (excluding vasopressin)
    (dict(device="cpap"), 4),
    (dict(device="bipap"), 4),
    (dict(device="mechanical_ventilation"), 4),
    (dict(crs_death=True), 5),
    (dict(hypotension=True, n_vp=1, device="nasal_cannula", flow=2.0), 3),  # worse of the two
    (dict(hypotension=True, device="non_rebreather"), 3),
])
def test_crs_reference_grades(signs, grade) -> None:
    assert crs(**signs) == grade


def test_crs_fever_boundary_is_inclusive_at_38_0() -> None:
    # Lee 2019: fever is temperature >= 38.0 C
    got = grade_crs_astct([37.9, 37.99, 38.0, 38.01, 38.1], True, 0, "none").tolist()
    assert got == [0, 0, 2, 2, 2]


def test_crs_low_flow_ends_at_6_l_min() -> None:
    # Lee 2019: low-flow nasal cannula is <= 6 L/min (grade 2); > 6 L/min is high-flow (grade 3)
    got = grade_crs_astct(38.5, False, 0, "nasal_cannula", [5.9, 6.0, 6.1]).tolist()
    assert got == [2, 2, 3]
    assert crs(device="nasal_cannula") == 2  # flow not recorded: low-flow


def test_crs_vasopressin_is_not_counted_among_multiple_vasopressors() -> None:
    assert crs(hypotension=True, n_vp=1, vasopressin=True) == 3
    assert crs(hypotension=True, n_vp=0, vasopressin=True) == 3  # vasopressin alone is one vasopressor
    assert crs(hypotension=True, n_vp=2, vasopressin=True) == 4


def test_crs_needs_fever_unless_masked_after_diagnosis() -> None:
    # Lee 2019: fever not required once CRS is diagnosed and antipyretic/anti-cytokine therapy given
    assert crs(temp=37.0, hypotension=True, n_vp=1) == 0
    assert crs(temp=37.0, hypotension=True, n_vp=1, fever_masked=True) == 3
    # "grading is driven by hypotension and/or hypoxia": a masked fever with neither is not CRS
    assert crs(temp=37.0, fever_masked=True) == 0
    assert crs(temp=38.5, fever_masked=True) == 1  # a fever recorded despite therapy still counts


def test_crs_signs_attributable_to_another_cause_do_not_count() -> None:
    assert crs(fever_other_cause=True) == 0
    assert crs(device="facemask", hypoxia_other_cause=True) == 1
    assert crs(hypotension=True, n_vp=2, device="blow_by", hypotension_other_cause=True) == 2


def test_crs_is_vectorised() -> None:
    g = grade_crs_astct(np.array([[38.0, 37.0], [39.0, 39.0]]), np.array([[True, True], [False, False]]), 0,
                        np.array([["none", "none"], ["venturi", "cpap"]]))
    assert g.tolist() == [[2, 0], [3, 4]]


@FAST
@given(temp=st.floats(35.0, 42.0), dt=st.floats(0.0, 3.0), hyp=st.booleans(), vp=st.integers(0, 3),
       dvp=st.integers(0, 2), dev=st.sampled_from(O2_DEVICES), dev2=st.sampled_from(O2_DEVICES),
       flow=st.floats(0.0, 60.0), dflow=st.floats(0.0, 20.0), masked=st.booleans())
def test_crs_worse_signs_never_give_a_lower_grade(temp, dt, hyp, vp, dvp, dev, dev2, flow, dflow, masked) -> None:
    order = {d: int(grade_crs_astct(39.0, False, 0, d)) for d in O2_DEVICES}
    worse_dev = dev2 if order[dev2] >= order[dev] else dev
    base = crs(temp, hyp, vp, dev, flow, fever_masked=masked)
    worse = crs(temp + dt, True, vp + dvp, worse_dev, flow + dflow if worse_dev == dev else flow,
                fever_masked=masked)
    assert 0 <= base <= worse <= 4


def test_crs_bad_input_names_input_row_value_and_expectation() -> None:
    ins = get("ASTCT-CRS")
    good = dict(temp_c=[38.5, 38.5], hypotension=[False, True], n_vasopressors=[0, 1], o2_device=["none", "none"])
    assert ins.score(**good).tolist() == [1, 3]
    with pytest.raises(DataValidationError, match=r"input 'temp_c' row 1: got .*385.*, expected 25.0 to 45.0 Cel"):
        ins.score(**{**good, "temp_c": [38.5, 385.0]})
    with pytest.raises(DataValidationError, match=r"input 'o2_device' row 0: got .*'mask'.*, expected one of none"):
        ins.score(**{**good, "o2_device": ["mask", "none"]})


# ---------------------------------------------------------------------------------------- ICANS
def test_icans_ice_bands_at_every_cut_point() -> None:
    # Lee 2019 ICANS table: ICE 7-9 -> 1, 3-6 -> 2, 0-2 -> 3; 10 is normal
    got = grade_icans_astct(np.arange(11)[::-1], "normal").tolist()
    assert got == [0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]  # ICE 10, 9 ... 0


@pytest.mark.parametrize(("kw", "grade"), [
    # Lee 2019 ICANS table
    (dict(ice=0, consciousness="unarousable"), 4),  # ICE 0 because unarousable
    (dict(ice=0, consciousness="normal"), 3),  # awake, ICE 0 (e.g. global aphasia)
    (dict(ice=10, consciousness="awakens_spontaneously"), 1),
    (dict(ice=10, consciousness="awakens_to_voice"), 2),
    (dict(ice=10, consciousness="awakens_to_tactile"), 3),
    (dict(ice=np.nan, consciousness="unarousable"), 4),  # ICE not assessable
    (dict(ice=10, consciousness="normal", seizure="rapidly_resolving"), 3),
    (dict(ice=10, consciousness="normal", seizure="prolonged_or_repetitive"), 4),
    (dict(ice=10, consciousness="normal", motor_weakness=True), 4),
    (dict(ice=10, consciousness="normal", icp="focal_oedema"), 3),
    (dict(ice=10, consciousness="normal", icp="diffuse_oedema"), 4),
    (dict(ice=10, consciousness="normal", icp="posturing"), 4),
    (dict(ice=10, consciousness="normal", icp="cranial_nerve_vi_palsy"), 4),
    (dict(ice=10, consciousness="normal", icp="papilloedema"), 4),
    (dict(ice=10, consciousness="normal", icp="cushings_triad"), 4),
    (dict(ice=8, consciousness="awakens_to_voice", icp="focal_oedema"), 3),  # worst domain
])
def test_icans_reference_grades(kw, grade) -> None:
    assert int(grade_icans_astct(**kw)) == grade


@FAST
@given(ice=st.integers(0, 10), dice=st.integers(0, 10), c=st.integers(0, 4), dc=st.integers(0, 4),
       s=st.integers(0, 2), ds=st.integers(0, 2), m=st.booleans(), o=st.integers(0, 6))
def test_icans_worse_signs_never_give_a_lower_grade(ice, dice, c, dc, s, ds, m, o) -> None:
    base = int(grade_icans_astct(ice, CONSCIOUSNESS[c], SEIZURE[s], m, ICP_FINDINGS[o]))
    worse = int(grade_icans_astct(max(ice - dice, 0), CONSCIOUSNESS[min(c + dc, 4)], SEIZURE[min(s + ds, 2)], True,
                                  ICP_FINDINGS[o]))
    assert 0 <= base <= worse <= 4


def test_icans_bad_input_is_named() -> None:
    with pytest.raises(DataValidationError, match=r"input 'ice' row 0: got .*11.*, expected 0 to 10 points"):
        get("ASTCT-ICANS").score(ice=[11], consciousness=["normal"])


# ------------------------------------------------------------------------------------- episodes
def test_episodes_keep_the_old_semantics_and_add_resolution_and_duration() -> None:
    eps = toxicity_episodes(np.array([0, 1, 2, 0, 0, 1, 0]), np.arange(7))
    assert [(e.onset_day, e.last_day, e.max_grade) for e in eps] == [(1, 2, 2), (5, 5, 1)]
    assert eps == [Episode(1, 2, 3, 2, 2), Episode(5, 5, 6, 1, 1)]
    # ongoing at the last assessment: unresolved
    assert toxicity_episodes([0, 2, 3], [0, 1, 2]) == [Episode(1, 2, None, 3, 2)]
    # irregular assessments: duration in days, resolution on the first grade-0 assessment
    assert toxicity_episodes([1, 1, 0], [3, 7, 10]) == [Episode(3, 7, 10, 1, 5)]
    assert toxicity_episodes([0, 0], [0, 1]) == []


def test_episodes_skip_missing_grades_and_refuse_unsorted_days() -> None:
    assert toxicity_episodes([1, np.nan, 2, 0], [0, 1, 2, 3]) == [Episode(0, 2, 3, 2, 3)]
    with pytest.raises(ValueError, match="strictly increasing; row 2"):
        toxicity_episodes([0, 1, 1], [0, 2, 1])


# -------------------------------------------------------------------------------------- CTCAE
@pytest.mark.parametrize(("test", "lln", "values", "grades"), [
    # CTCAE v5.0: neutrophils <LLN-1.5, <1.5-1.0, <1.0-0.5, <0.5 x10^9/L
    ("NEUT", 1.8, [1.81, 1.8, 1.79, 1.51, 1.5, 1.49, 1.01, 1.0, 0.99, 0.51, 0.5, 0.49, 0.0],
     [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4]),
    # platelets <LLN-75, <75-50, <50-25, <25
    ("PLAT", 150.0, [150.0, 149.0, 75.0, 74.9, 50.0, 49.9, 25.0, 24.9], [0, 1, 1, 2, 2, 3, 3, 4]),
    # lymphocytes <LLN-0.8, <0.8-0.5, <0.5-0.2, <0.2
    ("LYM", 1.0, [1.0, 0.99, 0.8, 0.79, 0.5, 0.49, 0.2, 0.19], [0, 1, 1, 2, 2, 3, 3, 4]),
    # white blood cells <LLN-3.0, <3.0-2.0, <2.0-1.0, <1.0
    ("WBC", 4.0, [4.0, 3.9, 3.0, 2.9, 2.0, 1.9, 1.0, 0.9], [0, 1, 1, 2, 2, 3, 3, 4]),
    # anaemia Hb <LLN-10.0, <10.0-8.0, <8.0 g/dL; grade 4 is clinical, never numeric
    ("HGB", 12.0, [12.0, 11.9, 10.0, 9.9, 8.0, 7.9, 3.0], [0, 1, 1, 2, 2, 3, 3]),
])
def test_ctcae_bands_at_every_cut_point(test, lln, values, grades) -> None:
    assert grade_ctcae(test, values, lln).tolist() == grades


def test_ctcae_criteria_are_versioned_data() -> None:
    t = ctcae_criteria("5.0")
    assert t.height == len(CRITERIA_V5_0) == 4 * 4 + 3
    assert set(t["version"]) == {"5.0"} and t.filter(t["test"] == "HGB")["grade"].max() == 3
    with pytest.raises(SpecError, match="CTCAE version '4.03' is not available; known: 5.0"):
        grade_ctcae("NEUT", 1.0, 1.8, version="4.03")


def test_ctcae_without_lln_grades_0_and_1_are_undetermined() -> None:
    got = grade_ctcae("NEUT", [2.5, 1.5, 1.49, np.nan], None).tolist()
    assert got == [GRADE_0_OR_1, GRADE_0_OR_1, 2, MISSING]
    assert grade_ctcae("NEUT", [1.6, 0.4], [np.nan, 1.8]).tolist() == [GRADE_0_OR_1, 4]
    with pytest.raises(DataValidationError, match=r"NEUT row 1: value 1.6 is at or above the grade-2 cut-off 1.5"):
        grade_ctcae("NEUT", [0.4, 1.6], None, without_lln="raise")


def test_ctcae_cut_offs_are_compared_exactly_and_units_convert() -> None:
    assert float(0.7 - 0.2) != 0.5 and int(grade_ctcae("NEUT", 0.7 - 0.2, 1.8)) == 3  # still "equal to" 0.5
    assert grade_ctcae("NEUT", [1500.0, 999.0], 1800.0, unit="cells/uL").tolist() == [1, 3]
    assert grade_ctcae("HGB", [100.0, 79.0], 120.0, unit="g/L").tolist() == [1, 3]
    assert grade_ctcae(["NEUT", "PLAT"], [0.4, 40.0], [1.8, 150.0]).tolist() == [4, 3]
    with pytest.raises(DataValidationError, match="unit 'g/L' cannot be converted to 10\\^9/L for test NEUT"):
        grade_ctcae("NEUT", 1.0, 1.8, unit="g/L")


@FAST
@given(test=st.sampled_from(["NEUT", "PLAT", "LYM", "WBC", "HGB"]), v=st.floats(0.0, 300.0),
       dv=st.floats(0.0, 300.0), lln=st.floats(0.5, 200.0))
def test_ctcae_lower_values_never_grade_milder_and_units_do_not_matter(test, v, dv, lln) -> None:
    g, g_low = grade_ctcae(test, [v, max(v - dv, 0.0)], lln).tolist()
    assert 0 <= g <= g_low <= 4
    if test != "HGB":
        assert int(grade_ctcae(test, v * 1000.0, lln * 1000.0, unit="/uL")) == g


def test_ctcae_bad_input_is_named() -> None:
    with pytest.raises(DataValidationError, match=r"input 'test' row 1: got .*'ANC'.*, expected one of NEUT"):
        get("CTCAE-HAEM").score(test=["NEUT", "ANC"], value=[1.0, 1.0], lln=[1.8, 1.8])
    with pytest.raises(DataValidationError, match=r"input 'value' row 0: got .*-1.*, expected 0.0 to inf"):
        get("CTCAE-HAEM").score(test=["NEUT"], value=[-1.0])


# -------------------------------------------------------------------------------------- ICAHT
def series(*runs: tuple[float, int], start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Daily ANC series (/uL) from (value, number of days) runs, starting on day ``start``."""
    anc = np.concatenate([np.full(n, v, dtype=float) for v, n in runs])
    return np.arange(start, start + anc.size), anc


@pytest.mark.parametrize(("days_500", "grade"), [
    # Rejeski 2023 ICAHT table, early: 1-6 d <= 500 -> 1; 7-13 -> 2; 14-30 -> 3; >= 30 -> 4
    (0, 0), (1, 1), (6, 1), (7, 2), (13, 2), (14, 3), (29, 3), (30, 4), (31, 4),
])
def test_icaht_early_by_days_at_or_below_500(days_500, grade) -> None:
    d, a = series((300.0, days_500), (2000.0, 40 - days_500))
    assert icaht_early(d, a) == grade


@pytest.mark.parametrize(("days_100", "grade"), [
    # Rejeski 2023: 7-13 d <= 100 -> 3; >= 14 d <= 100 -> 4 (days <= 500 kept < 7 where possible)
    (6, 1), (7, 3), (13, 3), (14, 4),
])
def test_icaht_early_by_days_at_or_below_100(days_100, grade) -> None:
    d, a = series((50.0, days_100), (2000.0, 40 - days_100))
    assert icaht_early(d, a) == grade


def test_icaht_thresholds_are_inclusive() -> None:
    # "ANC <= 500/uL": exactly 500 (0.5 x10^9/L) is neutropenic, 501 is not; same for 100
    for v, g in ((500.0, 2), (0.5 * 1000, 2), (501.0, 0), (499.0, 2)):
        assert icaht_early(*series((v, 7), (2000.0, 30))) == g
    assert icaht_early(*series((100.0, 7), (2000.0, 30))) == 3
    assert icaht_early(*series((101.0, 7), (2000.0, 30))) == 2


def test_icaht_stable_recovery_needs_three_days_and_short_ones_count() -> None:
    # 4 d low, 2 d above (not stable), 4 d low -> one episode of 10 days -> grade 2
    d, a = series((300.0, 4), (800.0, 2), (300.0, 4), (2000.0, 30))
    assert neutropenia_duration(d, a, 500).episodes == ((0, 9),)
    assert icaht_early(d, a) == 2
    # 3 d above is a stable recovery: two episodes of 4 days
    d, a = series((300.0, 4), (800.0, 3), (300.0, 4), (2000.0, 30))
    assert neutropenia_duration(d, a, 500).episodes == ((0, 3), (7, 10))


def test_icaht_option_cumulative_vs_longest_episode() -> None:
    d, a = series((300.0, 5), (800.0, 3), (300.0, 5), (2000.0, 30))
    assert neutropenia_duration(d, a, 500).days == 10
    assert neutropenia_duration(d, a, 500, duration="longest").days == 5
    assert icaht_early(d, a) == 2  # default: cumulative (Rejeski, Blood Adv 2024 T-ICAHT note)
    assert icaht_early(d, a, duration="longest") == 1
    with pytest.raises(ValueError, match="duration must be 'cumulative' or 'longest'"):
        icaht_early(d, a, duration="total")


def test_icaht_option_the_30_day_boundary() -> None:
    # exactly 30 days <= 500: "14-30 days" (grade 3) or ">= 30 days" (grade 4)
    d, a = series((300.0, 30), (2000.0, 10))
    assert icaht_early(d, a) == 4 and icaht_early(d, a, exactly_30_days=3) == 3
    # the early window ends on day 30 (default) or day 29: days 24-40 low, recovered from day 41
    d, a = series((2000.0, 24), (300.0, 17), (2000.0, 10))
    assert neutropenia_duration(d, a, 500).episodes == ((24, 30),)
    assert icaht_early(d, a) == 2 and icaht_early(d, a, early_end_day=29) == 1


def test_icaht_never_recovered_is_grade_4() -> None:
    d, a = series((2000.0, 20), (300.0, 25))  # from day 20, no recovery up to day 44
    assert neutropenia_duration(d, a, 500).never_recovered
    assert icaht_early(d, a) == 4
    # the series ends inside the window: graded by what was observed
    d, a = series((2000.0, 20), (300.0, 5))
    assert icaht_early(d, a) == 1


def test_icaht_irregular_series_carries_values_forward() -> None:
    # weekly values: <= 500 on days 0 and 7, recovered on day 14 -> days 0-13 -> 14 days -> grade 3
    assert icaht_early([0, 7, 14, 21], [300.0, 400.0, 900.0, 1500.0]) == 3
    assert icaht_early([], []) == 0


@pytest.mark.parametrize(("values", "grade"), [
    # Rejeski 2023 ICAHT table, late: nadir <= 1500 -> 1, <= 1000 -> 2, <= 500 -> 3, <= 100 -> 4,
    # at least two values (not transient)
    ([1501.0, 1501.0], 0), ([1500.0, 1500.0], 1), ([1001.0, 1400.0], 1), ([1000.0, 1000.0], 2),
    ([501.0, 900.0], 2), ([500.0, 500.0], 3), ([101.0, 300.0], 3), ([100.0, 100.0], 4), ([0.0, 50.0], 4),
    ([100.0, 2000.0], 0),  # a single low value is transient
    ([100.0, 900.0, 2000.0], 2),  # graded by the second-lowest value
])
def test_icaht_late_nadir_bands(values, grade) -> None:
    assert icaht_late(np.arange(40, 40 + len(values)), values) == grade


def test_icaht_late_window_and_exclusions() -> None:
    assert icaht_late([30, 31], [400.0, 400.0]) == 0  # day 30 belongs to the early window
    assert icaht_late([30, 31], [400.0, 400.0], early_end_day=29) == 3
    assert icaht_late([40, 50, 60], [400.0, 400.0, 1200.0], [False, True, False]) == 1  # relapse excluded
    assert icaht_late([40], [50.0], min_values=1) == 4


@FAST
@given(anc=st.lists(st.sampled_from([0.0, 50.0, 100.0, 101.0, 300.0, 500.0, 501.0, 1000.0, 2000.0]),
                    min_size=1, max_size=45),
       drop=st.lists(st.floats(0.0, 1.0), min_size=45, max_size=45),
       duration=st.sampled_from(["cumulative", "longest"]))
def test_icaht_lower_counts_never_grade_milder(anc, drop, duration) -> None:
    a = np.array(anc)
    lower = a * np.array(drop[: a.size])
    d = np.arange(a.size)
    assert 0 <= icaht_early(d, a, duration=duration) <= icaht_early(d, lower, duration=duration) <= 4
    assert 0 <= icaht_late(d, a) <= icaht_late(d, lower) <= 4


def test_icaht_bad_input_is_named() -> None:
    with pytest.raises(DataValidationError, match=r"input 'anc_cells_ul' row 2: got .*-5.*, expected 0.0 to"):
        get("ICAHT-early").score(day=[0, 1, 2], anc_cells_ul=[300.0, 300.0, -5.0])
    assert get("ICAHT-early").score(day=[0, 1, 2, 3, 4], anc_cells_ul=[300.0, 900.0, 900.0, 900.0, 900.0]) == 1
    assert get("ICAHT-late").score(day=[40, 50], anc_cells_ul=[900.0, 900.0]) == 2
