"""IIM instruments: MMT-8 and the 2016 ACR/EULAR Total Improvement Score (INSTRUMENTS.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartlab._core.errors import DataValidationError, SpecError
from cartlab.instruments import get
from cartlab.instruments._iim import (
    MMT8_INPUTS,
    TIS_CUTS,
    TIS_POINTS,
    classify_tis,
    compute_mmt8,
    compute_tis,
    tis_measure_points,
)

PROP = settings(max_examples=150, deadline=None, derandomize=True)

# INSTRUMENTS.md worked example (Aggarwal 2017 definitions): baseline (6, 7, 110, 1.5, 3000, 4) ->
# follow-up (3, 5, 130, 1.0, 600, 2), MMT-8 on 0-150 -> TIS 82.5, major.
EXAMPLE = dict(
    physician_global_baseline=6, physician_global_followup=3, patient_global_baseline=7, patient_global_followup=5,
    mmt8_baseline=110, mmt8_followup=130, haq_di_baseline=1.5, haq_di_followup=1.0,
    enzyme_baseline=3000, enzyme_followup=600, extramuscular_baseline=4, extramuscular_followup=2,
)


def _arrays(d: dict) -> dict:
    return {k: np.asarray([v], dtype=float) for k, v in d.items()}


# ---------------------------------------------------------------- MMT-8

def test_mmt8_totals() -> None:
    # INSTRUMENTS.md: unilateral 0-80, bilateral 0-150 (7 paired groups both sides + neck flexors).
    full = {k: [10, 0] for k in MMT8_INPUTS}
    assert compute_mmt8(**full).tolist() == [150.0, 0.0]
    assert compute_mmt8(**full, side="right").tolist() == [80.0, 0.0]
    right_only = {k: v for k, v in full.items() if not k.endswith("_left")}
    assert compute_mmt8(**right_only, side="right").tolist() == [80.0, 0.0]
    with pytest.raises(DataValidationError, match="middle_deltoid_left"):
        compute_mmt8(**right_only)
    with pytest.raises(SpecError, match="side"):
        compute_mmt8(**full, side="dominant")


def test_mmt8_missing_group_makes_total_missing() -> None:
    s = {k: [7] for k in MMT8_INPUTS}
    s["biceps_left"] = [None]
    assert np.isnan(compute_mmt8(**s)[0])
    assert compute_mmt8(**s, side="right")[0] == 56.0


def test_mmt8_registry_rejects_out_of_scale() -> None:
    s = {k: [5, 5] for k in MMT8_INPUTS}
    s["quadriceps_right"] = [5, 11]
    with pytest.raises(DataValidationError) as e:
        get("MMT-8").score(**s)
    msg = str(e.value)
    assert "quadriceps_right" in msg and "row 1" in msg and "11" in msg and "0 to 10" in msg


@PROP
@given(st.lists(st.integers(0, 10), min_size=15, max_size=15), st.integers(0, 14))
def test_mmt8_range_and_monotone(scores: list[int], k: int) -> None:
    s = {name: [v] for name, v in zip(MMT8_INPUTS, scores)}
    total = compute_mmt8(**s)[0]
    assert 0 <= total <= 150
    assert 0 <= compute_mmt8(**s, side="left")[0] <= 80
    if scores[k] < 10:
        s[MMT8_INPUTS[k]] = [scores[k] + 1]
        assert compute_mmt8(**s)[0] == total + 1


# ---------------------------------------------------------------- TIS reference

def test_tis_worked_example() -> None:
    r = compute_tis(**_arrays(EXAMPLE))
    assert r.total.tolist() == [82.5]
    assert r.category.tolist() == ["major"]
    # per measure: 50 % -> 20; 28.6 % -> 7.5; MMT 18.2 % -> 20; 33.3 % -> 7.5; 80 % -> 7.5; 50 % -> 20
    assert tis_measure_points("physician_global", [6], [3]).tolist() == [20.0]
    assert tis_measure_points("patient_global", [7], [5]).tolist() == [7.5]
    assert tis_measure_points("mmt8", [110], [130]).tolist() == [20.0]
    assert tis_measure_points("haq_di", [1.5], [1.0]).tolist() == [7.5]
    assert tis_measure_points("enzyme", [3000], [600]).tolist() == [7.5]
    assert tis_measure_points("extramuscular", [4], [2]).tolist() == [20.0]


def test_tis_worked_example_through_registry() -> None:
    r = get("TIS").score(**_arrays(EXAMPLE))
    assert r.total.tolist() == [82.5]


def test_tis_maximum_is_100() -> None:
    # every measure in its top band: 20 + 10 + 32.5 + 10 + 7.5 + 20 = 100 (INSTRUMENTS.md table)
    best = dict(EXAMPLE, physician_global_followup=0, patient_global_followup=0, mmt8_followup=150,
                haq_di_followup=0, enzyme_followup=100, extramuscular_followup=0)
    assert compute_tis(**_arrays(best)).total.tolist() == [100.0]


# ---------------------------------------------------------------- TIS boundaries

@pytest.mark.parametrize("measure", sorted(TIS_POINTS))
def test_tis_band_boundaries(measure: str) -> None:
    """At each cut-point (upper bounds inclusive), just below and just above (INSTRUMENTS.md table)."""
    cuts = TIS_CUTS.get(measure, TIS_CUTS["default"])
    pts = TIS_POINTS[measure]
    up = measure == "mmt8"
    base = 100.0
    for i, c in enumerate(cuts):
        for imp, band in ((c, i), (c - 0.01, i), (c + 0.01, i + 1)):
            f = base + imp if up else base - imp
            got = tis_measure_points(measure, [base], [round(f, 2)])[0]
            assert got == pts[band], (measure, imp, got)


@pytest.mark.parametrize(("measure", "b", "f", "points"), [
    # entered values whose exact improvement is ON a cut-point but whose binary float ratio is not
    ("haq_di", 2.0, 1.7, 5.0),            # exactly 15 % (float gives 15.000000000000002)
    ("haq_di", 1.5, 1.425, 0.0),          # exactly 5 % (float gives 4.9999999999999964)
    ("physician_global", 0.6, 0.57, 0.0),  # exactly 5 % (float gives 5.000000000000004)
    ("physician_global", 7, 5.95, 7.5),   # exactly 15 % (float gives 14.999999999999996)
    ("mmt8", 110, 112.2, 0.0),            # exactly 2 % (float gives 2.0000000000000027)
    ("mmt8", 70, 77, 10.0),               # exactly 10 %
    ("mmt8", 60, 72, 20.0),               # exactly 20 %
    ("mmt8", 130, 169, 27.5),             # exactly 30 %
    ("enzyme", 1000, 750, 5.0),           # exactly 25 %
    ("extramuscular", 5, 3, 15.0),        # exactly 40 %
])
def test_tis_exact_boundaries_defeat_float(measure: str, b: float, f: float, points: float) -> None:
    assert tis_measure_points(measure, [b], [f])[0] == points


def test_tis_worsening_scores_zero() -> None:
    assert tis_measure_points("physician_global", [5, 5], [6, 5]).tolist() == [0.0, 0.0]
    assert tis_measure_points("mmt8", [100, 100], [90, 100]).tolist() == [0.0, 0.0]


@pytest.mark.parametrize(("population", "cuts"), [("adult", (20, 40, 60)), ("juvenile", (30, 45, 70))])
def test_tis_category_thresholds(population: str, cuts: tuple[int, int, int]) -> None:
    # Aggarwal 2017 (adult) and Rider 2017 (juvenile): minimal / moderate / major, thresholds inclusive
    for k, c in enumerate(cuts):
        got = classify_tis([c - 2.5, c, c + 2.5], population).tolist()
        names = ("none", "minimal", "moderate", "major")
        assert got == [names[k], names[k + 1], names[k + 1]]
    with pytest.raises(SpecError):
        classify_tis([50], "paediatric")


def test_tis_juvenile_example() -> None:
    r = compute_tis(**_arrays(EXAMPLE), population="juvenile")
    assert r.category.tolist() == ["major"]  # 82.5 >= 70


def test_tis_baseline_zero_conventions() -> None:
    d = dict(EXAMPLE, extramuscular_baseline=0, extramuscular_followup=0)
    with pytest.raises(DataValidationError, match=r"extramuscular_baseline row 0: got 0.*baseline_zero"):
        compute_tis(**_arrays(d))
    # alternative: the measure scores 0, the others as in the worked example (82.5 - 20)
    r = compute_tis(**_arrays(d), baseline_zero="zero")
    assert r.total.tolist() == [62.5] and r.category.tolist() == ["major"]
    with pytest.raises(SpecError):
        compute_tis(**_arrays(EXAMPLE), baseline_zero="ignore")


def test_tis_registry_bad_input() -> None:
    d = {k: [v, v] for k, v in EXAMPLE.items()}
    d["haq_di_followup"] = [1.0, 3.5]
    with pytest.raises(DataValidationError) as e:
        get("TIS").score(**d)
    msg = str(e.value)
    assert "haq_di_followup" in msg and "row 1" in msg and "3.5" in msg and "0 to 3" in msg
    d["haq_di_followup"] = [1.0, "n/a"]
    with pytest.raises(DataValidationError, match="haq_di_followup"):
        get("TIS").score(**d)


# ---------------------------------------------------------------- TIS properties

_value = st.decimals(min_value="0.1", max_value="10", places=2).map(float)


@PROP
@given(st.lists(st.tuples(_value, _value), min_size=6, max_size=6))
def test_tis_range_and_steps(pairs: list[tuple[float, float]]) -> None:
    names = ("physician_global", "patient_global", "mmt8", "haq_di", "enzyme", "extramuscular")
    d = {}
    for m, (b, f) in zip(names, pairs):
        scale = {"mmt8": 15, "haq_di": 0.3, "enzyme": 100}.get(m, 1)
        d[f"{m}_baseline"], d[f"{m}_followup"] = [round(b * scale, 4)], [round(f * scale, 4)]
    t = compute_tis(**d).total[0]
    assert 0 <= t <= 100
    assert t % 2.5 == 0


@PROP
@given(st.sampled_from(sorted(TIS_POINTS)), _value, _value, _value)
def test_tis_monotone_in_followup(measure: str, b: float, f1: float, f2: float) -> None:
    lo, hi = sorted((f1, f2))
    p_lo, p_hi = tis_measure_points(measure, [b, b], [lo, hi])
    assert p_lo >= 0 and p_hi >= 0
    if measure == "mmt8":
        assert p_hi >= p_lo  # higher MMT-8 at follow-up never scores fewer points
    else:
        assert p_lo >= p_hi  # lower activity at follow-up never scores fewer points
