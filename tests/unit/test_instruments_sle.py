"""SLE and lupus nephritis instruments (src/cartlab/instruments/_sle.py).

Sources of expected values are written beside each test: INSTRUMENTS.md ("SLE and lupus
nephritis", worked examples and cut-offs), the original papers, and hand arithmetic from the
published CKD-EPI 2021 equation.
"""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartlab._core.errors import DataValidationError, SpecError
from cartlab.instruments import get, registry
from cartlab.instruments._sle import (
    BILAG2004_DOMAINS,
    BLISS_LN_CRR,
    BLISS_LN_PERR,
    CSLEDAI_DESCRIPTORS,
    KDIGO_2024_COMPLETE,
    KDIGO_2024_PARTIAL,
    RenalResponseRule,
    SLEDAI2K_DESCRIPTORS,
    SLEDAI2K_WEIGHTS,
    compute_csledai,
    compute_doris_remission,
    compute_doris_remission_off_therapy,
    compute_egfr_ckd_epi_2021,
    compute_lldas,
    compute_sledai2k,
    compute_sri,
    low_complement,
    sledai2k_from_days_since,
    sledai2k_matrix,
    validate_pga,
)

DET = settings(derandomize=True, max_examples=150, deadline=None)


def record(*present: str, attributed: bool = True) -> dict:
    """A one-visit SLEDAI-2K record with the named descriptors present and attributed."""
    rec: dict = {d: False for d in SLEDAI2K_DESCRIPTORS}
    for d in present:
        rec[d] = True
        rec[f"{d}_attributed"] = attributed
    return rec


# ------------------------------------------------------------------ SLEDAI-2K and cSLEDAI

def test_weights_are_those_of_instruments_md() -> None:
    # INSTRUMENTS.md, SLEDAI-2K weights (Gladman 2002): 8 x 8, 6 x 4, 7 x 2, 3 x 1; range 0-105.
    expected = {
        **dict.fromkeys(["seizure", "psychosis", "organic_brain_syndrome", "visual_disturbance",
                         "cranial_nerve_disorder", "lupus_headache", "cva", "vasculitis"], 8),
        **dict.fromkeys(["arthritis", "myositis", "urinary_casts", "haematuria", "proteinuria", "pyuria"], 4),
        **dict.fromkeys(["rash", "alopecia", "mucosal_ulcers", "pleurisy", "pericarditis", "low_complement",
                         "increased_dna_binding"], 2),
        **dict.fromkeys(["fever", "thrombocytopenia", "leukopenia"], 1),
    }
    assert SLEDAI2K_WEIGHTS == expected
    assert len(SLEDAI2K_DESCRIPTORS) == 24
    assert int(compute_sledai2k(**record(*SLEDAI2K_DESCRIPTORS))) == 105
    assert int(compute_csledai(**record(*SLEDAI2K_DESCRIPTORS))) == 101


def test_worked_examples_of_instruments_md() -> None:
    # INSTRUMENTS.md: "arthritis + low C3 + raised anti-dsDNA -> SLEDAI-2K 8, cSLEDAI 4".
    rec = record("arthritis", "low_complement", "increased_dna_binding")
    rec["low_complement"] = bool(low_complement(True, False))  # low C3 only
    assert int(compute_sledai2k(**rec)) == 8
    assert int(compute_csledai(**rec)) == 4
    # INSTRUMENTS.md: "low C3 and low C4 -> 2" (low complement scores 2 points once).
    rec = record("low_complement")
    rec["low_complement"] = bool(low_complement(True, True, True))
    assert int(compute_sledai2k(**rec)) == 2
    assert int(compute_csledai(**rec)) == 0


def test_unattributed_descriptor_does_not_count_and_missing_attribution_is_an_error() -> None:
    assert int(compute_sledai2k(**record("seizure", attributed=False))) == 0
    rec = record()
    rec["seizure"] = True  # present, attribution not recorded
    with pytest.raises(DataValidationError, match=r"seizure_attributed row 0: got None .*never inferred"):
        compute_sledai2k(**rec)
    # absent descriptors need no attribution; a missing descriptor is an error
    del rec["seizure"]
    with pytest.raises(DataValidationError, match="descriptor 'seizure' is missing"):
        compute_sledai2k(**rec)


def test_vectorised_and_matrix_kernel_agree() -> None:
    recs = [record("arthritis"), record("vasculitis", "fever"), record("rash", attributed=False)]
    cols = {k: np.array([r.get(k) for r in recs], dtype=object) for k in set().union(*recs)}
    got = compute_sledai2k(**cols)
    assert got.tolist() == [4, 9, 0]
    p = np.array([[r[d] for d in SLEDAI2K_DESCRIPTORS] for r in recs])
    a = np.array([[bool(r.get(f"{d}_attributed")) for d in SLEDAI2K_DESCRIPTORS] for r in recs])
    assert sledai2k_matrix(p, a).tolist() == [4, 9, 0]


def test_registered_sledai_validates_rows() -> None:
    ins = get("SLEDAI-2K")
    rec = record("arthritis")
    rec["fever"] = [False, 2]
    rec["arthritis"] = [True, True]
    rec["arthritis_attributed"] = [True, True]
    with pytest.raises(DataValidationError, match=r"'fever' row 1: got .*2.*expected true/false"):
        ins.score(**rec)
    rec["fever"] = [False, False]
    assert ins.score(**rec).tolist() == [4, 4]


desc_sets = st.sets(st.sampled_from(SLEDAI2K_DESCRIPTORS))


@DET
@given(present=desc_sets, unattributed=desc_sets)
def test_property_range_and_unattributed_never_count(present: set, unattributed: set) -> None:
    rec = record(*present)
    for d in unattributed - present:
        rec[d] = True
        rec[f"{d}_attributed"] = False
    s = int(compute_sledai2k(**rec))
    assert 0 <= s <= 105
    assert s == sum(SLEDAI2K_WEIGHTS[d] for d in present)
    assert int(compute_csledai(**rec)) == sum(SLEDAI2K_WEIGHTS[d] for d in present if d in CSLEDAI_DESCRIPTORS)


@DET
@given(present=desc_sets, extra=st.sampled_from(SLEDAI2K_DESCRIPTORS))
def test_property_adding_a_descriptor_never_lowers_the_score(present: set, extra: str) -> None:
    before = int(compute_sledai2k(**record(*present)))
    after = int(compute_sledai2k(**record(*(present | {extra}))))
    assert after >= before
    assert int(compute_csledai(**record(*(present | {extra})))) >= int(compute_csledai(**record(*present)))


def test_look_back_window_boundaries() -> None:
    # INSTRUMENTS.md: present at the visit or in the preceding 10 days; 30-day variant exists.
    nan = float("nan")
    ds = {"pleurisy": [0.0, 9.0, 10.0, 11.0, 30.0, 31.0, nan]}
    att = {"pleurisy": [True] * 7}
    assert sledai2k_from_days_since(ds, att).tolist() == [2, 2, 2, 0, 0, 0, 0]
    assert sledai2k_from_days_since(ds, att, window_days=30).tolist() == [2, 2, 2, 2, 2, 0, 0]
    # attribution: false does not count; missing where inside the window is an error
    assert sledai2k_from_days_since(ds, {"pleurisy": [False] * 7}).tolist() == [0] * 7
    with pytest.raises(DataValidationError, match="pleurisy_attributed row 0"):
        sledai2k_from_days_since(ds, {})
    # outside the window, no attribution is needed
    assert sledai2k_from_days_since({"fever": [12.0]}, {}).tolist() == [0]
    # clinical variant ignores serology
    ser = {"increased_dna_binding": [1.0], "fever": [1.0]}
    both = {"increased_dna_binding": [True], "fever": [True]}
    assert sledai2k_from_days_since(ser, both).tolist() == [3]
    assert sledai2k_from_days_since(ser, both, clinical=True).tolist() == [1]
    with pytest.raises(DataValidationError, match=r"days_since\['fever'\] row 1: got -1.0"):
        sledai2k_from_days_since({"fever": [1.0, -1.0]}, both)
    with pytest.raises(SpecError, match="window_days"):
        sledai2k_from_days_since(ds, att, window_days=-1)


# ------------------------------------------------------------------ PGA

def test_pga_validation() -> None:
    assert validate_pga([0, 0.5, 2.99, 3]).tolist() == [0.0, 0.5, 2.99, 3.0]
    with pytest.raises(DataValidationError, match=r"pga row 1: got 1.005, expected at most 2 decimals"):
        validate_pga([1.0, 1.005])
    with pytest.raises(DataValidationError, match=r"pga row 0: got 3.01, expected 0 to 3 points"):
        validate_pga([3.01])
    # through the registry: names the input, row, value and expectation
    with pytest.raises(DataValidationError, match=r"input 'pga' row 2: got .*-0.1.*expected 0 to 3"):
        get("PGA (SLE)").score(pga=[0.0, 1.0, -0.1])


# ------------------------------------------------------------------ SRI

E9 = ["E"] * 9


def sri(s0, s1, p0=1.0, p1=1.0, b0=E9, b1=E9, ice=False, **kw):
    return bool(compute_sri([s0], [s1], [p0], [p1], [b0], [b1], [ice], **kw)[0])


def test_sri4_sledai_reduction_boundary() -> None:
    # Furie 2009: SLEDAI-2K reduction >= 4.
    assert sri(10, 6)        # exactly 4
    assert sri(10, 5)        # 5
    assert not sri(10, 7)    # 3
    assert not sri(10, 6, threshold=5)  # SRI-5 needs 5
    assert sri(10, 5, threshold=5)
    assert sri(12, 4, threshold=8) and not sri(12, 5, threshold=8)
    with pytest.raises(SpecError, match="threshold"):
        sri(10, 6, threshold=3)


def test_sri_pga_increase_is_exact() -> None:
    # Furie 2009: PGA increase < 0.30. In binary floats 0.40 - 0.10 = 0.30000000000000004 and
    # 3.00 - 2.70 = 0.2999999999999998; both are exactly 0.30 and not responders.
    assert 3.0 - 2.7 < 0.3  # the trap
    assert not sri(10, 6, 0.10, 0.40)
    assert not sri(10, 6, 2.70, 3.00)
    assert sri(10, 6, 2.71, 3.00)      # 0.29
    assert not sri(10, 6, 0.10, 0.41)  # 0.31
    assert sri(10, 6, 1.00, 0.20)      # improvement


def test_sri_bilag_rules() -> None:
    base = ["C"] * 9
    one_b = ["B"] + ["C"] * 8
    two_b = ["B", "B"] + ["C"] * 7
    assert sri(10, 6, b0=base, b1=one_b)            # <= 1 new B
    assert not sri(10, 6, b0=base, b1=two_b)        # 2 new B
    assert not sri(10, 6, b0=base, b1=["A"] + ["C"] * 8)  # new A
    assert sri(10, 6, b0=["A", "A"] + ["C"] * 7, b1=two_b)  # A -> B is improvement, not new
    assert sri(10, 6, b0=["A"] + ["C"] * 8, b1=["A"] + ["C"] * 8)  # persistent A is not new
    with pytest.raises(DataValidationError, match=r"bilag_renal_followup row 0: got 'F'"):
        sri(10, 6, b1=["C"] * 7 + ["F", "C"])


def test_sri_intercurrent_event_strategies() -> None:
    assert not sri(10, 2, ice=True)                                # composite (default)
    assert sri(10, 2, ice=True, intercurrent="treatment_policy")   # flag ignored
    with pytest.raises(SpecError, match="intercurrent"):
        sri(10, 2, intercurrent="hypothetical")


def test_registered_sri() -> None:
    v = {"sledai_baseline": [10, 10], "sledai_followup": [6, 5], "pga_baseline": [1.0, 1.0],
         "pga_followup": [1.0, 1.0], "intercurrent_event": [False, False]}
    for d in BILAG2004_DOMAINS:
        v[f"bilag_{d}_baseline"] = ["D", "D"]
        v[f"bilag_{d}_followup"] = ["D", "D"]
    assert get("SRI-4").score(**v).tolist() == [True, True]
    assert get("SRI-5").score(**v).tolist() == [False, True]
    v["sledai_followup"] = [6, 106]
    with pytest.raises(DataValidationError, match=r"'sledai_followup' row 1: got .*106.*expected 0 to 105"):
        get("SRI-4").score(**v)


# ------------------------------------------------------------------ DORIS, LLDAS

def test_doris_boundaries() -> None:
    # van Vollenhoven 2021: cSLEDAI = 0, PGA < 0.5, prednisolone <= 5 mg/day.
    n = 6
    got = compute_doris_remission([0, 0, 0, 0, 0, 0], [0.49, 0.5, 0.51, 0.0, 0.0, 0.0],
                                  [5.0, 0.0, 0.0, 4.99, 5.01, 5.0], [True] * n)
    assert got.tolist() == [True, False, False, True, False, True]
    assert compute_doris_remission([1], [0.0], [0.0], [True]).tolist() == [False]
    assert compute_doris_remission([0], [0.0], [0.0], [False]).tolist() == [False]
    # serology alone does not prevent remission: cSLEDAI leaves it out
    rec = record("low_complement", "increased_dna_binding")
    assert compute_doris_remission(compute_csledai(**rec), 0.0, 0.0, True).tolist() is True


def test_doris_off_therapy_options() -> None:
    args = ([0, 0, 0, 0], [0.0] * 4, [0.0, 0.01, 0.0, 0.0], [False, False, True, False],
            [False, False, False, True])
    assert compute_doris_remission_off_therapy(*args, [False] * 4).tolist() == [True, False, False, False]
    # biologics_are_immunosuppressants=False: a biologic alone no longer excludes it
    assert compute_doris_remission_off_therapy(*args, [False] * 4, biologics_are_immunosuppressants=False
                                               ).tolist() == [True, False, False, True]
    # allow_antimalarials (default True) vs False
    am = ([0], [0.0], [0.0], [False], [False], [True])
    assert compute_doris_remission_off_therapy(*am).tolist() == [True]
    assert compute_doris_remission_off_therapy(*am, allow_antimalarials=False).tolist() == [False]


def lldas(s=4, pga=1.0, pred=7.5, maint=True, **flags):
    names = ["renal_activity", "cns_activity", "cardiopulmonary_activity", "vasculitis", "fever",
             "haemolytic_anaemia", "gi_activity", "new_features"]
    fl = {k: [flags.get(k, False)] for k in names}
    return bool(compute_lldas([s], **fl, pga=[pga], prednisolone_mg_day=[pred], standard_maintenance=[maint])[0])


def test_lldas_boundaries() -> None:
    # Franklyn 2016 / INSTRUMENTS.md: SLEDAI-2K <= 4, PGA <= 1, prednisolone <= 7.5 mg/day.
    assert lldas()
    assert not lldas(s=5) and lldas(s=3)
    assert lldas(pga=0.99) and not lldas(pga=1.01)
    assert lldas(pred=7.49) and not lldas(pred=7.51)
    assert not lldas(maint=False)
    for k in ("renal_activity", "cns_activity", "cardiopulmonary_activity", "vasculitis", "fever",
              "haemolytic_anaemia", "gi_activity", "new_features"):
        assert not lldas(s=2, **{k: True}), k


# ------------------------------------------------------------------ renal response

def test_kdigo_complete_boundaries_and_options() -> None:
    r = KDIGO_2024_COMPLETE  # UPCR < 0.5 g/g, eGFR within 15 % (default) of baseline
    assert r.evaluate([0.49, 0.5, 0.51], [100.0] * 3, [100.0] * 3).tolist() == [True, False, False]
    # eGFR exactly 15 % below passes, just below fails; improvement passes (one-sided default)
    assert r.evaluate([0.2] * 3, [85.0, 84.99, 130.0], [100.0] * 3).tolist() == [True, False, True]
    # option: the 10 % end of KDIGO's "10-15 %"
    r10 = replace(r, egfr_max_decline_pct=10.0)
    assert r10.evaluate([0.2] * 3, [90.0, 89.99, 85.0], [100.0] * 3).tolist() == [True, False, False]
    # option: two-sided "within +-15 %"
    r2 = replace(r, egfr_two_sided=True)
    assert r2.evaluate([0.2] * 3, [115.0, 115.01, 85.0], [100.0] * 3).tolist() == [True, False, True]


def test_kdigo_partial_boundaries() -> None:
    r = KDIGO_2024_PARTIAL  # >= 50 % UPCR reduction and UPCR < 3 g/g
    got = r.evaluate([2.5, 2.51, 2.49, 3.0, 2.99], upcr_baseline_g_g=[5.0, 5.0, 5.0, 8.0, 8.0])
    assert got.tolist() == [True, False, True, False, True]
    with pytest.raises(DataValidationError, match="upcr_baseline_g_g"):
        r.evaluate([1.0])


def test_bliss_ln_perr_and_crr_boundaries() -> None:
    # Furie 2020 (BLISS-LN): PERR UPCR <= 0.7 and eGFR not > 20 % below pre-flare or >= 60.
    p = BLISS_LN_PERR
    assert p.evaluate([0.69, 0.7, 0.71], [100.0] * 3, [100.0] * 3).tolist() == [True, True, False]
    # 20 % below 41 is 32.8; in binary floats 41 * (1 - 0.2) = 32.800000000000004 > 32.8
    assert 41 * (1 - 0.2) > 32.8  # the trap
    assert p.evaluate([0.5] * 3, [32.8, 32.79, 32.81], [41.0] * 3).tolist() == [True, False, True]
    # floor: eGFR >= 60 passes however far it fell
    assert p.evaluate([0.5] * 2, [60.0, 59.99], [120.0] * 2).tolist() == [True, False]
    # CRR: UPCR < 0.5 and eGFR not > 10 % below pre-flare or >= 90
    c = BLISS_LN_CRR
    assert c.evaluate([0.49, 0.5], [100.0] * 2, [100.0] * 2).tolist() == [True, False]
    assert 42 * (1 - 0.1) > 37.8  # the same trap at 10 %
    assert c.evaluate([0.2] * 2, [37.8, 37.79], [42.0] * 2).tolist() == [True, False]
    assert c.evaluate([0.2] * 2, [90.0, 89.99], [150.0] * 2).tolist() == [True, False]
    # treatment failure (intercurrent event) makes a non-responder
    assert c.evaluate([0.2], [100.0], [100.0], intercurrent_event=[True]).tolist() == [False]


def test_renal_rule_validation_and_registry() -> None:
    with pytest.raises(SpecError, match="upcr_max_g_g"):
        RenalResponseRule("x", "c", upcr_max_g_g=0)
    with pytest.raises(SpecError, match="egfr_floor needs"):
        RenalResponseRule("x", "c", upcr_max_g_g=0.5, egfr_floor=60)
    ins = get("BLISS-LN primary efficacy renal response")
    assert ins.score(upcr_g_g=[0.7], egfr=[32.8], egfr_reference=[41.0]).tolist() == [True]
    with pytest.raises(DataValidationError, match=r"'upcr_g_g' row 0: got .*-0.1"):
        ins.score(upcr_g_g=[-0.1], egfr=[56.0], egfr_reference=[70.0])


# ------------------------------------------------------------------ eGFR CKD-EPI 2021

def test_egfr_ckd_epi_2021_hand_values() -> None:
    # Inker 2021 (NEJM 385:1737), eGFR = 142 min(S/k,1)^a max(S/k,1)^-1.200 0.9938^age [x1.012 F].
    # Woman, 50 y, Scr 0.7 mg/dL: S/k = 1, so both power terms are 1;
    #   0.9938^50 = exp(50 ln 0.9938) = exp(50 x -0.0062193) = exp(-0.310965) = 0.732740
    #   142 x 0.732740 x 1.012 = 105.298
    # Man, 60 y, Scr 1.2 mg/dL: S/k = 1.2/0.9 = 1.33333;
    #   1.33333^-1.2 = exp(-1.2 x 0.287682) = exp(-0.345218) = 0.708066
    #   0.9938^60 = exp(-0.373158) = 0.688556;  142 x 0.708066 x 0.688556 = 69.231
    # Woman, 40 y, Scr 0.5 mg/dL: S/k = 0.714286; 0.714286^-0.241 = exp(0.241 x 0.336472) = 1.084468
    #   0.9938^40 = exp(-0.248772) = 0.779758;  142 x 1.084468 x 0.779758 x 1.012 = 121.519
    got = compute_egfr_ckd_epi_2021([0.7, 1.2, 0.5], [50, 60, 40], ["F", "M", "F"])
    np.testing.assert_allclose(got, [105.298, 69.231, 121.519], atol=2e-3)
    # umol/L option: 106.08 umol/L / 88.4 = 1.2 mg/dL
    np.testing.assert_allclose(compute_egfr_ckd_epi_2021(106.08, 60, "M", creatinine_unit="umol/L"), 69.231,
                               atol=2e-3)
    with pytest.raises(SpecError, match="creatinine_unit"):
        compute_egfr_ckd_epi_2021(1.0, 60, "M", creatinine_unit="mmol/L")


def test_egfr_registered_input_errors() -> None:
    ins = get("eGFR CKD-EPI 2021")
    with pytest.raises(DataValidationError, match=r"'sex' row 1: got .*'X'.*expected one of F, M"):
        ins.score(creatinine=[1.0, 1.0], age_years=[50, 50], sex=["F", "X"])
    with pytest.raises(DataValidationError, match=r"'age_years' row 0: got .*17.*expected 18"):
        ins.score(creatinine=[1.0], age_years=[17], sex=["F"])


@DET
@given(scr=st.floats(0.2, 15.0), age=st.floats(18, 100), sex=st.sampled_from(["F", "M"]))
def test_property_egfr_falls_with_creatinine_and_unit_invariant(scr: float, age: float, sex: str) -> None:
    e1 = compute_egfr_ckd_epi_2021(scr, age, sex)
    assert compute_egfr_ckd_epi_2021(scr * 1.1, age, sex) < e1
    np.testing.assert_allclose(compute_egfr_ckd_epi_2021(scr * 88.4, age, sex, creatinine_unit="umol/L"), e1,
                               rtol=1e-12)


# ------------------------------------------------------------------ registry

def test_registry_metadata() -> None:
    names = {"SLEDAI-2K", "cSLEDAI", "PGA (SLE)", "SRI-4", "SRI-5", "SRI-6", "SRI-7", "SRI-8",
             "DORIS 2021 remission", "DORIS remission off therapy", "LLDAS",
             "KDIGO 2024 complete renal response", "KDIGO 2024 partial renal response",
             "BLISS-LN primary efficacy renal response", "BLISS-LN complete renal response",
             "eGFR CKD-EPI 2021"}
    reg = registry()
    assert names <= set(reg)
    for n in names:
        ins = reg[n]
        assert ins.citation and ins.version and ins.unit and ins.output_range is not None, n
        assert ins.description, n
