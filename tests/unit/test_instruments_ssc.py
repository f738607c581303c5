"""SSc instruments: mRSS, HAQ-DI (with / without aids), ACR CRISS, FVC reference (GLI via pyspiro)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartlab._core.errors import DataValidationError, SpecError
from cartlab.instruments import get
from cartlab.instruments._gli import compute_fvc_reference
from cartlab.instruments._ssc import (
    HAQ_AIDS,
    HAQ_ITEM_CATEGORY,
    HAQ_ITEMS,
    MRSS_SITES,
    compute_criss,
    compute_haq_di,
    compute_haq_di_no_aids,
    compute_mrss,
    fvc_decline_step1,
)
from cartlab.trial._execute import HAQ_ITEMS as SITE_HAQ_ITEMS
from cartlab.trial._execute import haq_di as site_haq_di

PROP = settings(max_examples=150, deadline=None, derandomize=True)


# ---------------------------------------------------------------- mRSS

def test_mrss_sum_and_range() -> None:
    # INSTRUMENTS.md: 17 sites 0-3, total 0-51
    assert len(MRSS_SITES) == 17
    s = {k: [0, 3, 1] for k in MRSS_SITES}
    assert compute_mrss(**s).tolist() == [0.0, 51.0, 17.0]


def test_mrss_missing_site() -> None:
    s = {k: [2, 2] for k in MRSS_SITES}
    s["thigh_left"] = [2, None]
    out = compute_mrss(**s)
    assert out[0] == 34.0 and math.isnan(out[1])  # default: no imputation -> total missing
    # prorate: 32 over 16 assessed sites -> 32 * 17 / 16 = 34
    assert compute_mrss(**s, impute="prorate").tolist() == [34.0, 34.0]
    with pytest.raises(SpecError, match="impute"):
        compute_mrss(**s, impute="locf")
    with pytest.raises(DataValidationError, match="face"):
        compute_mrss(**{k: v for k, v in s.items() if k != "face"})


def test_mrss_registry_bad_input() -> None:
    s = {k: [1, 1, 1] for k in MRSS_SITES}
    s["forearm_right"] = [1, 2, 4]
    with pytest.raises(DataValidationError) as e:
        get("mRSS").score(**s)
    msg = str(e.value)
    assert "forearm_right" in msg and "row 2" in msg and "4" in msg and "0 to 3" in msg
    s["forearm_right"] = [1, 1.5, 1]
    with pytest.raises(DataValidationError, match="row 1.*whole number"):
        get("mRSS").score(**s)


@PROP
@given(st.lists(st.integers(0, 3), min_size=17, max_size=17), st.integers(0, 16))
def test_mrss_range_and_monotone(scores: list[int], k: int) -> None:
    s = {name: [v] for name, v in zip(MRSS_SITES, scores)}
    t = compute_mrss(**s)[0]
    assert 0 <= t <= 51 and t == sum(scores)
    if scores[k] < 3:
        s[MRSS_SITES[k]] = [scores[k] + 1]
        assert compute_mrss(**s)[0] == t + 1


# ---------------------------------------------------------------- HAQ-DI

def _items(values: list[float | None]) -> dict:
    return {k: [v] for k, v in zip(HAQ_ITEMS, values)}


def test_haq_categories_match_site_records() -> None:
    # the 20 items recorded by the virtual site (trial/_execute.py) fall in the same categories
    assert [cat for _c, _n, cat in SITE_HAQ_ITEMS] == list(HAQ_ITEM_CATEGORY)


@pytest.mark.parametrize("seed", range(5))
def test_haq_no_aids_matches_site_formula(seed: int) -> None:
    items = np.random.default_rng(seed).integers(0, 4, 20).tolist()
    assert compute_haq_di_no_aids(**_items(items))[0] == pytest.approx(site_haq_di(items), abs=1e-12)


def test_haq_category_is_worst_item_and_mean() -> None:
    # Bruce & Fries 2003 scoring: category = highest item; index = mean of categories
    items = [0] * 20
    items[2] = 3  # arising: stand up from chair
    items[14], items[16] = 1, 2  # grip: worst is 2
    assert compute_haq_di_no_aids(**_items(items))[0] == (3 + 2) / 8


def test_haq_aids_raise_category_to_two() -> None:
    items = [0] * 20
    items[7] = 1  # walking = 1
    items[0] = 3  # dressing = 3
    base = _items(items)
    assert compute_haq_di(**base)[0] == 4 / 8
    assert compute_haq_di(**base, aid_walking=[True])[0] == 5 / 8  # 1 -> 2
    assert compute_haq_di(**base, aid_dressing=[True])[0] == 4 / 8  # 3 stays 3
    assert compute_haq_di(**base, aid_eating=[True])[0] == 6 / 8  # 0 -> 2
    assert compute_haq_di_no_aids(**base)[0] == 4 / 8
    # the labelled no-aids instrument does not accept aid inputs at all
    with pytest.raises(DataValidationError, match="aid_walking"):
        compute_haq_di_no_aids(**base, aid_walking=[True])
    with pytest.raises(DataValidationError, match="aid_walking"):
        get("HAQ-DI (no aids)").score(**base, aid_walking=[True])
    assert get("HAQ-DI").score(**base, aid_walking=[True])[0] == 5 / 8


def test_haq_aid_on_unanswered_category_stays_unanswered() -> None:
    items: list[float | None] = [1] * 20
    items[7] = items[8] = None  # walking unanswered
    got = compute_haq_di(**_items(items), aid_walking=[True])[0]
    assert got == 1.0  # mean of the 7 answered categories


@pytest.mark.parametrize(("answered", "min6", "min7"), [(8, True, True), (7, True, True), (6, True, False),
                                                        (5, False, False)])
def test_haq_minimum_categories(answered: int, min6: bool, min7: bool) -> None:
    items: list[float | None] = [2] * 20
    for k, cat in enumerate(HAQ_ITEM_CATEGORY):
        if cat >= answered:
            items[k] = None
    s = _items(items)
    for rule, ok in ((6, min6), (7, min7)):
        v = compute_haq_di(**s, min_categories=rule)[0]
        assert (v == 2.0) if ok else math.isnan(v)
    with pytest.raises(SpecError):
        compute_haq_di(**s, min_categories=9)


def test_haq_registry_bad_input() -> None:
    s = {k: [0, 1] for k in HAQ_ITEMS}
    s["haq12"] = [0, 5]
    with pytest.raises(DataValidationError) as e:
        get("HAQ-DI").score(**s)
    msg = str(e.value)
    assert "haq12" in msg and "row 1" in msg and "5" in msg and "0 to 3" in msg
    s["haq12"] = [0, 1]
    with pytest.raises(DataValidationError, match="aid_reach.*row 0.*true/false"):
        get("HAQ-DI").score(**s, aid_reach=["yes", True])


@PROP
@given(st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=20, max_size=20),
       st.lists(st.booleans(), min_size=8, max_size=8))
def test_haq_range_and_aids_never_lower(items: list[int | None], aids: list[bool]) -> None:
    s = _items(items)
    plain = compute_haq_di_no_aids(**s)[0]
    aided = compute_haq_di(**s, **{a: [f] for a, f in zip(HAQ_AIDS, aids)})[0]
    if math.isnan(plain):
        assert math.isnan(aided)
    else:
        assert 0 <= plain <= aided <= 3


# ---------------------------------------------------------------- ACR CRISS

def _criss(**kw):
    base = dict(mrss_baseline=[25.0], mrss_followup=[25.0], fvc_pct_pred_baseline=[85.0],
                fvc_pct_pred_followup=[85.0], patient_global_baseline=[5.0], patient_global_followup=[5.0],
                physician_global_baseline=[5.0], physician_global_followup=[5.0], haq_di_baseline=[1.0],
                haq_di_followup=[1.0], new_renal_crisis=[False], new_lv_failure=[False], new_pah=[False])
    base.update(kw)
    return base


def test_criss_worked_example_all_deltas_zero() -> None:
    # INSTRUMENTS.md / Khanna 2016: all deltas 0 -> P = logistic(-5.54) = 0.0039
    r = get("ACR CRISS").score(**_criss())
    assert round(float(r.probability[0]), 4) == 0.0039
    assert r.probability[0] == pytest.approx(1 / (1 + math.exp(5.54)), rel=1e-12)
    assert not r.improved[0] and not r.step1[0]


def test_criss_step2_formula() -> None:
    # lin = -5.54 - 0.81*(-8) + 0.21*(3) - 0.40*(-2) - 0.44*(-3) - 3.41*(-0.5) = 5.395 (Khanna 2016 model)
    r = compute_criss(**_criss(mrss_followup=[17.0], fvc_pct_pred_followup=[88.0], patient_global_followup=[3.0],
                               physician_global_followup=[2.0], haq_di_followup=[0.5]))
    assert r.probability[0] == pytest.approx(1 / (1 + math.exp(-5.395)), rel=1e-12)
    assert r.improved[0]


def test_criss_threshold_boundary() -> None:
    # choose ΔHAQ so that lin = logit(0.60) = ln(1.5): P exactly at, just above and just below 0.60
    d = (math.log(1.5) + 5.54) / -3.41
    for eps, improved in ((0.0, True), (-1e-6, True), (1e-6, False)):
        r = compute_criss(**_criss(haq_di_baseline=[2.9], haq_di_followup=[2.9 + d + eps]))
        assert r.probability[0] == pytest.approx(0.60, abs=1e-5)
        if eps:
            assert bool(r.improved[0]) is improved
    exact = compute_criss(**_criss(haq_di_baseline=[2.9], haq_di_followup=[2.9 + d]), threshold=0.6)
    assert exact.probability[0] == pytest.approx(0.6, abs=1e-12)


@pytest.mark.parametrize("flag", ["new_renal_crisis", "new_lv_failure", "new_pah"])
def test_criss_step1_events(flag: str) -> None:
    strong = dict(mrss_followup=[5.0], haq_di_followup=[0.0])
    r = compute_criss(**_criss(**strong, **{flag: [True]}))
    assert r.step1[0] and r.probability[0] == 0.0 and not r.improved[0]
    assert r.step2_probability[0] > 0.99  # kept separately


@pytest.mark.parametrize(("b", "f", "step1"), [
    (90, 76.5, True),    # exactly 15 % relative decline, to < 80 (Khanna 2016 Step 1)
    (90, 76.6, False),   # 14.9 %: not enough
    (90, 76.4, True),
    (100, 80, False),    # 20 % decline but not below 80 %
    (100, 79.9, True),
    (94.1, 79.985, True),  # exactly 15 % in decimals; binary floats put it at 14.999...
])
def test_criss_step1_fvc_boundaries(b: float, f: float, step1: bool) -> None:
    assert fvc_decline_step1([b], [f])[0] == step1
    r = compute_criss(**_criss(fvc_pct_pred_baseline=[b], fvc_pct_pred_followup=[f]))
    assert r.step1[0] == step1


def test_criss_unconfirmed_fvc_decline() -> None:
    r = compute_criss(**_criss(fvc_pct_pred_baseline=[90.0, 90.0], fvc_pct_pred_followup=[70.0, 70.0],
                               fvc_decline_confirmed=[True, False]))
    assert r.step1.tolist() == [True, False]


def test_criss_registry_bad_input() -> None:
    with pytest.raises(DataValidationError) as e:
        get("ACR CRISS").score(**_criss(patient_global_followup=[12.0]))
    msg = str(e.value)
    assert "patient_global_followup" in msg and "row 0" in msg and "12" in msg and "0 to 10" in msg
    with pytest.raises(DataValidationError, match="new_pah"):
        get("ACR CRISS").score(**{k: v for k, v in _criss().items() if k != "new_pah"})


@PROP
@given(st.floats(-30, 30), st.floats(-20, 20), st.floats(-10, 10), st.floats(-10, 10), st.floats(-3, 3),
       st.floats(0.1, 10))
def test_criss_probability_range_and_monotone(dm: float, dfvc: float, dpt: float, dmd: float, dhaq: float,
                                              step: float) -> None:
    kw = _criss(mrss_baseline=[30.0], mrss_followup=[30.0 + dm], fvc_pct_pred_baseline=[100.0],
                fvc_pct_pred_followup=[100.0 + dfvc], patient_global_baseline=[0.0], patient_global_followup=[dpt],
                physician_global_baseline=[0.0], physician_global_followup=[dmd], haq_di_baseline=[0.0],
                haq_di_followup=[dhaq])
    p = compute_criss(**kw).step2_probability[0]
    assert 0.0 <= p <= 1.0
    worse = compute_criss(**dict(kw, mrss_followup=[30.0 + dm + step])).step2_probability[0]
    assert worse <= p  # more skin thickening never raises the probability of improvement


# ---------------------------------------------------------------- FVC reference (GLI via pyspiro)

def test_fvc_gli2012_worked_example() -> None:
    # INSTRUMENTS.md worked example, GLI-2012 (Quanjer 2012), female, 40 y, 170 cm: M = 4.0750 L, LLN = 3.2504 L
    r = compute_fvc_reference(sex=["F"], age_years=[40.0], height_cm=[170.0], equation="GLI-2012", fvc_l=[4.075])
    assert round(float(r.predicted_l[0]), 4) == 4.0750
    assert round(float(r.lln_l[0]), 4) == 3.2504
    assert r.percent_predicted[0] == pytest.approx(100 * 4.075 / r.predicted_l[0])
    assert r.zscore[0] == pytest.approx(0.0, abs=1e-3)


def test_fvc_gli_global_2022_same_person() -> None:
    # pyspiro 1.0.0: BOWERMAN_2022().lms(0, 40, 170, 2, 0) -> M = 3.86660586809028,
    # BOWERMAN_2022().lln(0, 40, 170, 2, 0) -> 2.9481150852774514 (GLI Global 2022, Bowerman 2023)
    r = get("FVC % predicted").score(sex=["F"], age_years=[40.0], height_cm=[170.0], fvc_l=[3.5],
                                     equation=["GLI-Global-2022"])
    assert round(float(r.predicted_l[0]), 4) == 3.8666
    assert round(float(r.lln_l[0]), 4) == 2.9481
    assert r.equation == "GLI-Global-2022"
    # z at the LLN is -1.645 by construction of the LMS centiles
    at_lln = compute_fvc_reference(sex=["F"], age_years=[40.0], height_cm=[170.0], fvc_l=r.lln_l,
                                   equation="GLI-Global-2022")
    assert at_lln.zscore[0] == pytest.approx(-1.645, abs=1e-9)


def test_fvc_reference_bad_input() -> None:
    with pytest.raises(DataValidationError, match=r"'sex' row 1: got .*X.*expected one of F, M"):
        get("FVC % predicted").score(sex=["F", "X"], age_years=[40.0, 40.0], height_cm=[170.0, 170.0],
                                     equation=["GLI-2012", "GLI-2012"])
    with pytest.raises(DataValidationError, match=r"'age_years' row 0: got .*2\.0.*3 to 95 years"):
        get("FVC % predicted").score(sex=["F"], age_years=[2.0], height_cm=[170.0], equation=["GLI-2012"])
    with pytest.raises(DataValidationError, match="equation"):
        get("FVC % predicted").score(sex=["F"], age_years=[40.0], height_cm=[170.0], equation=["ECSC-1993"])
