"""The compiled simulation kernel against its oracles.

Oracles used here, and where each expected number comes from:

* the scipy reference :func:`cartlab.model.simulate_reference` — ``scipy.integrate.solve_ivp`` on the
  same generated equations (the kernel module's plain-Python ``rhs_py``), segment by segment
  between the kernel's stops, ``method="LSODA", rtol=1e-10, atol=1e-12 * scale_i``;
* closed-form solutions of the parts of the model that have one (first-order elimination,
  linear two-compartment kinetics via the matrix exponential, relaxation of C3 with fixed
  immune-complex consumption, the linear steady state of the B lineage);
* invariants: an untreated patient is at steady state; same inputs give the same bytes.

The first run compiles each indication's kernel (~20 s each); later runs load numba's cache.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numba
import numpy as np
import pytest
import scipy
import scipy.linalg
from scipy.sparse.csgraph import connected_components

import cartlab
from cartlab.model import (
    INDICATIONS,
    PatientInputs,
    Regimen,
    SimulationResult,
    SolveStatus,
    SolverOptions,
    build_model,
    load_kernel,
    simulate,
    simulate_reference,
)
from cartlab.model._codegen import LOG_NAMES, LOG_UNITS, SLAVED_NAMES, log_states
from cartlab.protocol import load_protocol
from cartlab.trial import regimen_for

BF1_SLE = Path(cartlab.__file__).parent / "protocols" / "breakfree1-sle.toml"
N_PAT = 8
DOSE_LEVELS = (10e6, 25e6)  # Breakfree-1 DL1 and DL2 (CAR+ T cells)
#: kernel options of the agreement test, written out (the defaults: max-norm error test; at atol 1e-8
#: a state at 1e-6 of its scale was off by ~1e-3 relative, e.g. C_Cy on day 3)
AGREE_OPTIONS = SolverOptions(rtol=1e-5, atol=1e-12)
#: options for the closed-form checks, which test equations and dose handling, not error control
TIGHT = SolverOptions(rtol=1e-10, atol=1e-14)
REF_CALL = (f"scipy {scipy.__version__} solve_ivp(rhs_py, (t_k, t_k+1), y, method='LSODA', rtol=1e-10, "
            "atol=1e-12*scale) between the kernel's stops (cartlab.model.simulate_reference)")


# ------------------------------------------------------------------------------------- helpers
def bf1_regimen(*, crs_trigger: int | None = None, icans_trigger: int | None = None) -> Regimen:
    """The Breakfree-1 SLE schedule and rescue rules, as ``cartlab run`` builds them."""
    reg = regimen_for(load_protocol(BF1_SLE))
    return dataclasses.replace(
        reg,
        crs_trigger=reg.crs_trigger if crs_trigger is None else crs_trigger,
        icans_trigger=reg.icans_trigger if icans_trigger is None else icans_trigger,
    )


def iiv_params(spec, n: int, seed: int) -> np.ndarray:
    """Typical values with log-normal IIV: theta_i = theta * exp(eta), eta ~ N(0, omega2)."""
    rng = np.random.default_rng(seed)
    tv = spec.typical_values()
    omega = np.sqrt(np.array([p.omega2 for p in spec.parameters]))
    P = tv * np.exp(rng.standard_normal((n, tv.size)) * omega)
    # covariates spread too, so the BSA scaling and the B-cell baseline are exercised
    P[:, spec.parameter_index("bsa_m2")] = rng.uniform(1.5, 2.1, n)
    P[:, spec.parameter_index("weight_kg")] = rng.uniform(50.0, 110.0, n)
    P[:, spec.parameter_index("B_ul0")] = rng.uniform(60.0, 300.0, n)
    return P


def v_cy(spec, P: np.ndarray) -> np.ndarray:
    """Cyclophosphamide volume V_ref * (BSA / 1.58) ** exponent (MODEL.md), per patient."""
    col = spec.parameter_index
    return P[:, col("V_Cy_ref")] * (P[:, col("bsa_m2")] / 1.58) ** P[:, col("V_Cy_exp")]


def bf1_inputs(spec, P: np.ndarray, n_check: int, *, rng: np.random.Generator | None = None,
               forced_crs_days: int = 0, forced_icans_days: int = 0, eps: float = 10.0) -> PatientInputs:
    """Flu 30 mg/m2 + Cy 300 mg/m2 on days -5..-3, DL1/DL2 alternating, tocilizumab 8 mg/kg (max 800)."""
    n = P.shape[0]
    col = spec.parameter_index
    bsa = P[:, col("bsa_m2")]
    ld_day = np.tile([-5.0, -4.0, -3.0], (n, 1))
    ld_cy = np.tile((300.0 * bsa)[:, None], (1, 3))  # mg; the kernel divides by V_Cy
    ld_flu = np.full((n, 3), 30.0)
    dose = np.array([DOSE_LEVELS[i % 2] for i in range(n)])
    toci = np.minimum(8.0 * P[:, col("weight_kg")], 800.0)
    eps_crs = np.zeros((n, n_check))
    eps_icans = np.zeros((n, n_check))
    if forced_crs_days or forced_icans_days:
        assert rng is not None
        for i in range(n):
            eps_crs[i, rng.choice(n_check, forced_crs_days, replace=False)] = eps
            eps_icans[i, rng.choice(n_check, forced_icans_days, replace=False)] = eps
    return PatientInputs(P, ld_day, ld_cy, ld_flu, dose, np.zeros(n), toci, eps_crs, eps_icans)


def scales(spec, P: np.ndarray) -> np.ndarray:
    """Each state's scale (the generated ``scales_py``), per patient: (n, n_states)."""
    k = load_kernel(spec)
    out = np.empty((P.shape[0], len(spec.states)))
    for i, p in enumerate(P):
        q = k.derive_py(p.copy(), np.empty(k.NQ))
        k.scales_py(p, q, out[i])
    return out


def worst_disagreement(spec, a: SimulationResult, b: SimulationResult, sc: np.ndarray,
                       floor: float = 1e-6) -> tuple[float, str]:
    """Max |a - b| / |b| over save days and states with |b| > floor * scale; and where it is."""
    worst, where = 0.0, "nowhere"
    for j, name in enumerate(spec.state_names):
        ref = b.states[:, :, j]
        mask = np.abs(ref) > floor * sc[:, j : j + 1]
        if not mask.any():
            continue
        rel = np.where(mask, np.abs(a.states[:, :, j] - ref) / np.where(mask, np.abs(ref), 1.0), 0.0)
        i, d = np.unravel_index(np.argmax(rel), rel.shape)
        if rel[i, d] > worst:
            worst = float(rel[i, d])
            where = (f"state {name}, day {a.days[d]:g}, patient {i} (kernel {a.states[i, d, j]:.10g}, "
                     f"reference {ref[i, d]:.10g}, scale {sc[i, j]:.3g})")
    return worst, where


def same_bytes(a: SimulationResult, b: SimulationResult) -> bool:
    return all(getattr(a, f).tobytes() == getattr(b, f).tobytes()
               for f in ("states", "outputs", "crs_level", "icans_level", "toci_day", "dex_day",
                         "ist_restart_day", "status", "n_steps"))


def concat(parts: list[SimulationResult]) -> SimulationResult:
    f = {name: np.concatenate([getattr(r, name) for r in parts])
         for name in ("states", "outputs", "crs_level", "icans_level", "toci_day", "dex_day", "ist_restart_day",
                      "status", "n_steps")}
    return SimulationResult(parts[0].spec, parts[0].days, **f)


def with_param(inputs: PatientInputs, spec, row: int | slice, **values: float) -> PatientInputs:
    P = inputs.params.copy()
    for name, v in values.items():
        P[row, spec.parameter_index(name)] = v
    return PatientInputs(P, *(getattr(inputs, f) for f in PatientInputs.__slots__[1:]))


def untreated_inputs(spec, P: np.ndarray, n_check: int) -> PatientInputs:
    n = P.shape[0]
    return PatientInputs(P, np.full((n, 1), np.nan), np.zeros((n, 1)), np.zeros((n, 1)), np.zeros(n), np.zeros(n),
                         np.zeros(n), np.zeros((n, n_check)), np.zeros((n, n_check)))


# --------------------------------------------------------------------- kernel vs scipy reference
@pytest.mark.parametrize("rescue", [False, True], ids=["no-rescue", "forced-rescue"])
@pytest.mark.parametrize("indication", INDICATIONS)
def test_kernel_agrees_with_scipy_reference(indication: str, rescue: bool) -> None:
    spec = build_model(indication)
    trig = 1 if rescue else None  # grade-1 triggers plus latent noise of +10 on a few days force rescue
    reg = bf1_regimen(crs_trigger=trig, icans_trigger=trig)
    rng = np.random.default_rng(20240 + INDICATIONS.index(indication))
    P = iiv_params(spec, N_PAT, int(rng.integers(1 << 30)))
    inp = bf1_inputs(spec, P, reg.check_days, rng=rng, forced_crs_days=3 * rescue, forced_icans_days=2 * rescue)

    kern = simulate(spec, reg, inp, AGREE_OPTIONS)
    ref = simulate_reference(spec, reg, inp, kern, decisions="replay")

    assert not kern.status.any() and not ref.status.any()
    if rescue:
        assert np.isfinite(kern.toci_day).any() and np.isfinite(kern.dex_day).any(), "rescue was not forced"
        assert np.isfinite(ref.states[:, :, spec.state_index("TOC1")]).all()
    assert np.array_equal(ref.toci_day, kern.toci_day, equal_nan=True)
    assert np.array_equal(ref.dex_day, kern.dex_day, equal_nan=True)
    # expected values: REF_CALL; criterion: 1e-4 relative for every state above 1e-6 of its scale
    worst, where = worst_disagreement(spec, kern, ref, scales(spec, P))
    assert worst <= 1e-4, f"max relative difference kernel vs reference {worst:.3g} at {where}; reference: {REF_CALL}"


def test_kernel_default_tolerance_meets_the_agreement_criterion() -> None:
    spec = build_model("SLE")
    reg = bf1_regimen()
    P = iiv_params(spec, N_PAT, 11)
    inp = bf1_inputs(spec, P, reg.check_days)
    kern = simulate(spec, reg, inp)  # SolverOptions() defaults
    ref = simulate_reference(spec, reg, inp, kern)
    # expected values: REF_CALL
    worst, where = worst_disagreement(spec, kern, ref, scales(spec, P))
    assert worst <= 1e-4, f"max relative difference kernel vs reference {worst:.3g} at {where}; reference: {REF_CALL}"


def test_reference_own_decisions_match_the_kernel_away_from_thresholds() -> None:
    """Rescue forced far beyond every threshold (+50 on the latents), so no decision is a knife edge."""
    spec = build_model("SLE")
    reg = bf1_regimen(crs_trigger=1, icans_trigger=1)
    rng = np.random.default_rng(5)
    P = iiv_params(spec, 6, 6)
    inp = bf1_inputs(spec, P, reg.check_days, rng=rng, forced_crs_days=2, forced_icans_days=2, eps=50.0)
    kern = simulate(spec, reg, inp, AGREE_OPTIONS)
    own = simulate_reference(spec, reg, inp, decisions="own")
    for f in ("toci_day", "dex_day", "ist_restart_day"):
        assert np.array_equal(getattr(own, f), getattr(kern, f), equal_nan=True), f
    assert np.array_equal(own.crs_level, kern.crs_level) and np.array_equal(own.icans_level, kern.icans_level)
    # expected values: REF_CALL, with the reference's own rescue decisions
    worst, where = worst_disagreement(spec, kern, own, scales(spec, P))
    assert worst <= 1e-4, f"max relative difference kernel vs reference {worst:.3g} at {where}; reference: {REF_CALL}"


# --------------------------------------------------------------------------------- steady state
MYELOID = ("ANC", "PLT")


def _is_myeloid(name: str) -> bool:
    return name in MYELOID or name.startswith(tuple(f"{m}_" for m in MYELOID))


def _steady_case(indication: str):
    spec = build_model(indication)
    P = np.vstack([spec.typical_values(), iiv_params(spec, 5, 99)])
    horizon = 730.0
    # no LD, dose 0, withdrawal beyond the horizon, no restart rule: nothing should move
    reg = Regimen(tuple(float(d) for d in (-28, 0, 1, 7, 28, 90, 180, 365, 540, horizon)), 15,
                  (-28.0, 90.0, 365.0, horizon), horizon + 1.0, False, 2, 2, 3, 40.0, 3)
    inp = untreated_inputs(spec, P, reg.check_days)
    # tight tolerances: the drift allowed by error control must stay below the 1e-8 criterion
    return spec, P, simulate(spec, reg, inp, SolverOptions(rtol=1e-10, atol=1e-12))


def _rhs_at_initial(spec, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = load_kernel(spec)
    dy = np.empty((P.shape[0], len(spec.states)))
    for i, p in enumerate(P):
        q = k.derive_py(p.copy(), np.empty(k.NQ))
        y = k.initial_py(p, q, np.empty(k.NY))
        k.rhs_py(0.0, y, p, q, dy[i])
    return dy, scales(spec, P)


@pytest.mark.parametrize("indication", INDICATIONS)
def test_untreated_patient_stays_at_steady_state(indication: str) -> None:
    spec, P, r = _steady_case(indication)
    assert not r.status.any()
    sc = scales(spec, P)
    y0 = r.states[:, :1, :]
    # expected: the initial value (the model's steady state by construction); relative to max(|y0|, scale)
    dev = np.abs(r.states - y0) / np.maximum(np.abs(y0), sc[:, None, :])
    for j, name in enumerate(spec.state_names):
        if _is_myeloid(name):
            continue  # see test_myeloid_chain_is_at_steady_state_without_treatment
        i, d = np.unravel_index(np.argmax(dev[:, :, j]), dev.shape[:2])
        assert dev[i, d, j] <= 1e-8, (f"{name} drifted by {dev[i, d, j]:.3g} (relative) by day {r.days[d]:g}, "
                                      f"patient {i}")
    dy, sc = _rhs_at_initial(spec, P)
    for j, name in enumerate(spec.state_names):
        if not _is_myeloid(name):
            # expected: d/dt = 0 at the steady state
            assert np.all(np.abs(dy[:, j]) <= 1e-10 * sc[:, j]), f"d{name}/dt at the initial state: {dy[:, j]}"


@pytest.mark.parametrize("indication", ["SLE"])
def test_myeloid_chain_is_at_steady_state_without_treatment(indication: str) -> None:
    spec, P, r = _steady_case(indication)
    sc = scales(spec, P)
    dy, _ = _rhs_at_initial(spec, P)
    for j, name in enumerate(spec.state_names):
        if _is_myeloid(name):
            # expected: the initial value / d/dt = 0 (Friberg 2002 steady state Circ = Circ0)
            dev = np.abs(r.states[:, :, j] - r.states[:, :1, j]) / sc[:, None, j]
            assert dev.max() <= 1e-8, f"{name} drifted by {dev.max():.3g} of its scale"
            assert np.all(np.abs(dy[:, j]) <= 1e-10 * sc[:, j]), f"d{name}/dt at the initial state: {dy[:, j]}"


# ------------------------------------------------------------------------------ closed forms
def _short_regimen(save_days, check_days: int = 0) -> Regimen:
    # the kernel integrates up to the last stop, withdrawal day included: keep it just past the saves
    return Regimen(tuple(float(d) for d in save_days), check_days, (), max(save_days) + 1.0, False, 1, 1, 3, 40.0, 3)


@pytest.mark.parametrize("n_doses", [1, 3])
def test_lymphodepletion_exposures_follow_first_order_elimination(n_doses: int) -> None:
    spec = build_model("SLE")
    P = iiv_params(spec, 4, 3)
    n = P.shape[0]
    dose_days = np.array([-5.0, -4.0, -3.0][:n_doses])
    save = [-5, -4.9, -4.5, -4, -3.5, -3, -2.5, -2, -1, 0, 1, 2, 4, 7]
    reg = _short_regimen(save)
    dose_mg = 300.0 * P[:, spec.parameter_index("bsa_m2")]  # 300 mg/m2 per dose, as given to the kernel
    c0 = dose_mg / v_cy(spec, P)  # mg/L per dose
    x0 = 30.0  # mg/m2 per dose
    inp = PatientInputs(P, np.tile(dose_days, (n, 1)), np.tile(dose_mg[:, None], (1, n_doses)), np.full((n, n_doses), x0),
                        np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((n, 0)), np.zeros((n, 0)))
    t = np.array(sorted(save), dtype=float)
    k_cy = P[:, spec.parameter_index("CL_Cy")] / v_cy(spec, P)  # k = CL / V, V = V_ref (BSA/1.58)^0.861
    k_flu = P[:, spec.parameter_index("k_Flu")]
    # analytic: superposition of boluses, C(t) = sum_{d < t} C0 exp(-k (t - d)) (saves are pre-dose)
    lag = t[None, :, None] - dose_days[None, None, :]
    on = lag > 0
    cy = (c0[:, None, None] * np.exp(-k_cy[:, None, None] * np.where(on, lag, 0.0)) * on).sum(axis=2)
    flu = (x0 * np.exp(-k_flu[:, None, None] * np.where(on, lag, 0.0)) * on).sum(axis=2)
    for result in (simulate(spec, reg, inp, TIGHT), simulate_reference(spec, reg, inp, decisions="own")):
        for name, exact in (("C_Cy", cy), ("X_Flu", flu)):
            got = result.state(name)
            assert np.all(got[exact == 0.0] == 0.0)
            keep = exact > 1e-4  # below that the absolute tolerance, not the equations, sets the error
            rel = np.abs(got[keep] - exact[keep]) / exact[keep]
            assert rel.max() <= 1e-6, f"{name}: max relative error {rel.max():.3g} vs C0 exp(-k t)"


def test_dexamethasone_and_linear_tocilizumab_follow_their_closed_forms() -> None:
    spec = build_model("SLE")
    P = iiv_params(spec, 3, 4)
    n = P.shape[0]
    P[:, spec.parameter_index("Vmax_toc")] = 0.0  # no Michaelis-Menten elimination: linear 2-compartment PK
    reg = _short_regimen([0, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 14, 21], check_days=4)
    eps_crs = np.zeros((n, 4))
    eps_crs[:, 1] = 100.0  # CRS (grade >= 1) on day 1 only: one tocilizumab dose
    eps_icans = np.zeros((n, 4))
    eps_icans[:, 2] = 100.0  # ICANS on day 2 only: one 3-day dexamethasone course, days 2, 3, 4
    toci = np.array([400.0, 560.0, 800.0])
    inp = PatientInputs(P, np.full((n, 1), np.nan), np.zeros((n, 1)), np.zeros((n, 1)), np.zeros(n), np.zeros(n),
                        toci, eps_crs, eps_icans)
    r = simulate(spec, reg, inp, TIGHT)
    assert np.all(r.toci_day[:, 0] == 1.0) and np.all(np.isnan(r.toci_day[:, 1:]))
    assert np.all(r.dex_day[:, 0] == 2.0) and np.all(np.isnan(r.dex_day[:, 1:]))
    t = r.days
    col = spec.parameter_index
    # analytic: DEX(t) = sum_{d in {2,3,4}, d < t} 40 mg exp(-k_dex (t - d))
    lag = t[:, None] - np.array([2.0, 3.0, 4.0])[None, :]
    for i in range(n):
        k_dex = P[i, col("k_dex")]
        dex = (40.0 * np.exp(-k_dex * np.where(lag > 0, lag, 0.0)) * (lag > 0)).sum(axis=1)
        got = r.state("DEX")[i]
        np.testing.assert_array_equal(got[dex == 0.0], 0.0)
        np.testing.assert_allclose(got[dex > 0], dex[dex > 0], rtol=1e-6)
        # closed form of the linear system: [TOC1, TOC2](t) = expm(K (t - 1)) [dose, 0], K from Frey 2010's
        # two-compartment model; source scipy.linalg.expm (scipy as installed)
        cl, v1, qq, v2 = (P[i, col(c)] for c in ("CL_toc", "V1_toc", "Q_toc", "V2_toc"))
        K = np.array([[-(cl + qq) / v1, qq / v2], [qq / v1, -qq / v2]])
        for d, day in enumerate(t):
            exact = scipy.linalg.expm(K * (day - 1.0)) @ np.array([toci[i], 0.0]) if day > 1.0 else np.zeros(2)
            got = np.array([r.state("TOC1")[i, d], r.state("TOC2")[i, d]])
            np.testing.assert_allclose(got, exact, rtol=1e-6, atol=0.0, err_msg=f"tocilizumab, patient {i}, day {day}")


@pytest.mark.parametrize("dose_cells", [0.0, 25e6])
def test_c3_relaxes_in_closed_form_when_immune_complex_consumption_is_fixed(dose_cells: float) -> None:
    """f_LL = 1 pins the autoantibody at 1 (all of it from CD19- plasma cells), so consumption is constant.

    With C3_nl < C3_0 the consumption coefficient kIC3 = max(C3_nl / C3_0 - 1, 0) is 0, the
    equation is dC3/dt = k_C3 (C3_nl - C3), and C3 relaxes from C3_0 to C3_nl; with C3_nl > C3_0
    the baseline is the steady state. This holds whatever CAR-T does, so one case infuses DL2.
    """
    spec = build_model("SLE")
    P = iiv_params(spec, 4, 8)
    n = P.shape[0]
    col = spec.parameter_index
    P[:, col("f_LL")] = 1.0
    P[:, col("C3_nl")] = [0.9, 1.0, 1.2, 1.4]
    P[:, col("C3_0")] = [1.3, 1.1, 0.8, 0.6]
    P[:, col("C4_nl")] = [0.12, 0.2, 0.25, 0.3]
    P[:, col("C4_0")] = [0.2, 0.25, 0.15, 0.1]
    save = [-28, -27.5, -27, -26, -25, -20, -10, 0, 5, 28, 90, 365, 730]
    reg = Regimen(tuple(float(d) for d in save), 15, (), 731.0, False, 2, 2, 3, 40.0, 3)
    inp = PatientInputs(P, np.tile([-5.0, -4.0, -3.0], (n, 1)), np.full((n, 3), 6.0), np.full((n, 3), 30.0),
                        np.full(n, dose_cells), np.zeros(n), np.full(n, 560.0), np.zeros((n, 15)), np.zeros((n, 15)))
    r = simulate(spec, reg, inp, TIGHT)
    assert not r.status.any()
    t = r.days - r.days[0]
    for comp in ("C3", "C4"):
        nl, c0, k = P[:, col(f"{comp}_nl")], P[:, col(f"{comp}_0")], P[:, col(f"k_{comp}")]
        # analytic: C(t) = C_nl + (C_0 - C_nl) exp(-k t) if C_nl < C_0, else C_0 (steady state)
        exact = np.where((nl < c0)[:, None], nl[:, None] + (c0 - nl)[:, None] * np.exp(-k[:, None] * t[None, :]),
                         c0[:, None])
        np.testing.assert_allclose(r.state(comp), exact, rtol=1e-6, atol=0.0, err_msg=comp)
    np.testing.assert_array_equal(r.state("Ab"), 1.0)


@pytest.mark.parametrize("indication", INDICATIONS)
def test_b_lineage_steady_state_matches_the_helper_formulas(indication: str) -> None:
    spec = build_model(indication)
    P = iiv_params(spec, 6, 21)
    col = spec.parameter_index
    k = load_kernel(spec)
    for p in P:
        q = k.derive_py(p.copy(), np.empty(k.NQ))
        y = k.initial_py(p, q, np.empty(k.NY))
        tau, kbn, kact, kbm, kpb, dpb = (p[col(c)] for c in ("tau_P", "k_Bn", "k_act", "k_Bm", "k_PB", "d_PB"))
        # helper formulas of _modules.BCELL, written out
        c_bn = 1.0 / (tau * (kbn + kact))
        c_bm = kact * c_bn / kbm
        c_pb = kpb * c_bm / dpb
        got = np.array([y[spec.state_index(s)] for s in ("P", "Bn", "Bm", "PB")])
        np.testing.assert_allclose(got[1:] / got[0], [c_bn, c_bm, c_pb], rtol=1e-12)
        # independent: the B-lineage equations at D = 1, no killing, no LD, r_reset = 1 are linear,
        # 0 = I_P e1 + M x; solve for unit input with numpy.linalg.solve, then scale the input so
        # that blood B cells f_Bblood (Bn + Bm) / V_blood equal the patient's B_ul0
        M = np.array([[-1 / tau, 0, 0, 0], [1 / tau, -(kbn + kact), 0, 0], [0, kact, -kbm, 0], [0, 0, kpb, -dpb]])
        x = np.linalg.solve(M, np.array([-1.0, 0.0, 0.0, 0.0]))
        x *= p[col("B_ul0")] * p[col("V_blood")] / (p[col("f_Bblood")] * (x[1] + x[2]))
        np.testing.assert_allclose(got, x, rtol=1e-12)


# ------------------------------------------------------------------------------- determinism
@pytest.fixture(scope="module")
def rescue_batch():
    spec = build_model("SLE")
    reg = bf1_regimen(crs_trigger=1, icans_trigger=1)
    rng = np.random.default_rng(77)
    P = iiv_params(spec, N_PAT, 78)
    return spec, reg, bf1_inputs(spec, P, reg.check_days, rng=rng, forced_crs_days=2, forced_icans_days=1)


def on_one_and_two_threads(spec, reg, inp) -> tuple[SimulationResult, SimulationResult]:
    """The same batch simulated with numba on 1 thread, then on 2 (the thread count restored after)."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(spec, reg, inp)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        return one, simulate(spec, reg, inp)
    finally:
        numba.set_num_threads(before)


def test_same_bytes_whatever_the_thread_count(rescue_batch) -> None:
    spec, reg, inp = rescue_batch
    one, two = on_one_and_two_threads(spec, reg, inp)
    assert np.isfinite(one.toci_day).any()
    assert same_bytes(one, two)
    assert np.array_equal(one.states, two.states, equal_nan=True)


def test_same_bytes_whatever_the_batch_split(rescue_batch) -> None:
    spec, reg, inp = rescue_batch
    whole = simulate(spec, reg, inp)
    half = inp.n // 2
    split = concat([simulate(spec, reg, inp.take(np.arange(half))),
                    simulate(spec, reg, inp.take(np.arange(half, inp.n)))])
    assert same_bytes(whole, split)


def test_same_bytes_whatever_the_batch_split_with_different_ld_days(rescue_batch) -> None:
    spec, reg, inp = rescue_batch
    ld = inp.ld_day.copy()
    ld[inp.n // 2:] -= 1.0  # second half lymphodepleted on days -6..-4
    inp = PatientInputs(inp.params, ld, *(getattr(inp, f) for f in PatientInputs.__slots__[2:]))
    whole = simulate(spec, reg, inp)
    half = inp.n // 2
    split = concat([simulate(spec, reg, inp.take(np.arange(half))),
                    simulate(spec, reg, inp.take(np.arange(half, inp.n)))])
    assert same_bytes(whole, split)


# ---------------------------------------------------------------------------- failure is data
@pytest.mark.parametrize(("name", "value", "expected"), [
    # expansion at 1e5/d: the CAR-T pool (integrated as ln E) passes the largest double within hours
    ("rho", 1e5, SolveStatus.NON_FINITE),
    # tocilizumab exchange at 1e6/d: the off-diagonal coupling is explicit and exhausts the step budget
    ("Q_toc", 1e6, SolveStatus.MAX_STEPS),
    ("k_IL6", np.nan, SolveStatus.NON_FINITE),
])
def test_a_failing_patient_does_not_disturb_the_batch(rescue_batch, name, value, expected) -> None:
    spec, reg, inp = rescue_batch
    bad = 2
    inp = with_param(inp, spec, bad, **{name: value})
    r = simulate(spec, reg, inp)
    assert r.status[bad] == expected, r.status_messages()[bad]
    finite = np.isfinite(r.states[bad]).all(axis=1)
    nan = np.isnan(r.states[bad]).all(axis=1)
    assert (finite | nan).all() and nan.any()
    first_nan = int(np.argmax(nan))
    assert nan[first_nan:].all() and np.isnan(r.outputs[bad, first_nan:]).all()
    others = np.array([i for i in range(inp.n) if i != bad])
    alone = simulate(spec, reg, inp.take(others))
    assert not alone.status.any()
    assert same_bytes(alone, concat([SimulationResult(r.spec, r.days, **{
        f: getattr(r, f)[others] for f in ("states", "outputs", "crs_level", "icans_level", "toci_day", "dex_day",
                                           "ist_restart_day", "status", "n_steps")})]))


def test_step_budget_failure_keeps_the_solved_prefix(rescue_batch) -> None:
    spec, reg, inp = rescue_batch
    full = simulate(spec, reg, inp)
    cut = simulate(spec, reg, inp, SolverOptions(max_steps=300))
    assert np.all(cut.status == SolveStatus.MAX_STEPS)
    for i in range(inp.n):
        nan = np.isnan(cut.states[i]).all(axis=1)
        first_nan = int(np.argmax(nan))
        assert nan.any() and nan[first_nan:].all() and np.isfinite(cut.states[i, :first_nan]).all()
        # the same steps were taken up to the failure, so the saved prefix is bit-identical
        assert cut.states[i, :first_nan].tobytes() == full.states[i, :first_nan].tobytes()


# ------------------------------------------------------- integration variables and error filter
# The kernel integrates the cell populations and the depletion depth-time as u = ln x and filters
# the error estimate of states on no feedback loop (cartlab/model/_solver_src.py). Both change how
# the equations are integrated, never the equations: the oracles are the scipy reference on the
# untouched equations (REF_CALL), the Jacobian's sparsity measured by finite differences of the
# generated right-hand side, and math.pow.


@pytest.mark.parametrize("indication", INDICATIONS)
def test_log_integrated_states_are_the_cell_populations_and_dep(indication: str) -> None:
    spec = build_model(indication)
    k = load_kernel(spec)
    expected = [s.name for s in spec.states if s.unit == "cells"] + ["Dep"]
    assert LOG_UNITS == {"cells"} and LOG_NAMES == {"Dep"}
    assert sorted(log_states(spec)) == sorted(expected)
    assert sorted(expected) == sorted(["P", "Bn", "Bm", "PB", "E", "M", "Dep"])  # MODEL.md's cell states
    assert [spec.state_names[i] for i, a in zip(k.LOG_IDX, k.LOG_ALWAYS) if a == 1.0] == list(log_states(spec))


def treated_state(spec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p, q, y, sc)``: typical parameters and a perturbed, treated-looking state (every state
    positive, CAR-T expanded, tocilizumab and dexamethasone on board)."""
    k = load_kernel(spec)
    p = spec.typical_values()
    q = k.derive_py(p.copy(), np.empty(k.NQ))
    sc = k.scales_py(p, q, np.empty(k.NY))
    y = np.abs(k.initial_py(p, q, np.empty(k.NY))) * np.exp(rng.normal(0.0, 0.3, k.NY)) + 0.1 * sc
    y[spec.state_index("E")], y[spec.state_index("M")] = 1e9, 1e8
    y[spec.state_index("TOC1")], y[spec.state_index("DEX")] = 300.0, 5.0
    return p, q, y, sc


def _strong_components(spec) -> np.ndarray:
    """Component label of every state in the directed graph ``j -> i`` when ``f_i`` moves with
    ``y_j``, the pattern measured by central differences of ``rhs_py`` at a treated-looking state."""
    k = load_kernel(spec)
    p, q, y, sc = treated_state(spec, np.random.default_rng(4))
    n = k.NY
    adj = np.zeros((n, n), dtype=bool)
    for j in range(n):
        d = 1e-4 * max(abs(y[j]), sc[j])
        up, dn = y.copy(), y.copy()
        up[j] += d
        dn[j] -= d
        df = k.rhs_py(5.0, up, p, q, np.empty(n)) - k.rhs_py(5.0, dn, p, q, np.empty(n))
        adj[j] = np.abs(df) > 0.0  # row j: the equations y_j appears in
    np.fill_diagonal(adj, False)
    return connected_components(adj, directed=True, connection="strong")[1]


@pytest.mark.parametrize("indication", INDICATIONS)
def test_filtered_states_are_those_on_no_feedback_loop(indication: str) -> None:
    """The error filter is for the states on no feedback loop, except the slaved ones (solved exactly)."""
    spec = build_model(indication)
    k = load_kernel(spec)
    labels = _strong_components(spec)
    alone = {spec.state_names[i] for i in range(k.NY) if np.sum(labels == labels[i]) == 1}
    slaved = {spec.state_names[i] for i in k.SLAVED_IDX}
    assert {spec.state_names[i] for i in range(k.NY) if k.DAMPED[i] == 1.0} == alone - slaved
    # MODEL.md: IL-6 and its CNS compartment feed toxicity and myelopoiesis, nothing feeds back
    assert {"IL6", "IL6e"} <= alone and not ({"P", "E", "Dep", "D", "ANC"} & alone)


@pytest.mark.parametrize("indication", INDICATIONS)
def test_slaved_il6_solves_its_stage_equation_exactly(indication: str) -> None:
    """IL-6 (SLAVED_NAMES) is on no feedback loop and linear in itself, so ``rhs_stage`` solves
    ``y = bse + hg f(y)`` for it exactly; every other component is ``rhs_py`` at the solved state.
    Oracle: the generated plain-Python ``rhs_py`` (the scipy reference's right-hand side)."""
    assert SLAVED_NAMES == {"IL6"}
    spec = build_model(indication)
    k = load_kernel(spec)
    j = spec.state_index("IL6")
    assert list(k.SLAVED_IDX) == [j] and k.NSL == 1
    rng = np.random.default_rng(9)
    for t, hg in [(2.0, 0.05), (5.0, 0.8), (120.0, 2.5)]:
        p, q, y, _ = treated_state(spec, rng)
        bse = np.full(k.NY, np.nan)
        bse[j] = 40.0 * rng.uniform(0.5, 2.0)
        out = k.rhs_stage(t, y, p, q, np.empty(k.NY), bse, hg)
        assert y[j] == pytest.approx(bse[j] + hg * out[j], rel=1e-14)
        # the compiled code contracts a * b + c to FMA: the same expressions to ~1e-14 (the myeloid terms cancel)
        np.testing.assert_allclose(out, k.rhs_py(t, y, p, q, np.empty(k.NY)), rtol=1e-12, atol=0.0)


def test_cart_stays_exactly_zero_until_the_infusion_then_agrees_with_the_reference() -> None:
    spec = build_model("SLE")
    P = iiv_params(spec, 4, 12)
    reg = _short_regimen([-5, -4, -1, 0, 0.25, 1, 2, 5, 9, 14])
    # memory CAR-T infused in half the patients: M starts at 0 (from effectors) or at the dose
    inp = dataclasses.replace(bf1_inputs(spec, P, reg.check_days), dose_memory=np.where(np.arange(4) % 2, 2e6, 0.0))
    r = simulate(spec, reg, inp)
    assert not r.status.any()
    pre = r.days <= 0.0  # day 0 is saved before the infusion
    for name in ("E", "M"):
        assert np.all(r.state(name)[:, pre] == 0.0), name  # 0 is integrated as it stands, not as ln 0
    assert np.all(r.state("E")[:, ~pre] > 0.0)
    assert np.all(r.state("M")[:, ~pre] > 0.0)  # memory from the infused memory cells or from E
    ref = simulate_reference(spec, reg, inp, r)
    worst, where = worst_disagreement(spec, r, ref, scales(spec, P))
    assert worst <= 1e-4, f"max relative difference kernel vs reference {worst:.3g} at {where}; reference: {REF_CALL}"


def test_extreme_killing_keeps_the_b_lineage_positive_and_agrees_with_the_reference() -> None:
    """500x the kill rate: B cells fall hundreds of e-folds in days; ln x keeps them positive."""
    spec = build_model("SLE")
    reg = bf1_regimen()
    P = iiv_params(spec, 3, 21)
    P[:, spec.parameter_index("k_kE")] = 1e-6
    inp = bf1_inputs(spec, P, reg.check_days)
    r = simulate(spec, reg, inp)
    assert not r.status.any()
    for name in ("P", "Bn", "Bm", "PB"):
        assert np.all(r.state(name) > 0.0), name
    assert r.state("Bm").min() < 1e-12 * r.state("Bm")[:, 0].min()  # > 27 e-folds down
    ref = simulate_reference(spec, reg, inp, r)
    worst, where = worst_disagreement(spec, r, ref, scales(spec, P))
    assert worst <= 1e-4, f"max relative difference kernel vs reference {worst:.3g} at {where}; reference: {REF_CALL}"


def test_the_integration_converges_to_the_reference_as_the_tolerance_tightens() -> None:
    """A change of variable and an error filter move the error, not the solution: at rtol 1e-9
    the kernel meets a reference at rtol 1e-12 (atol 1e-16 x scale) 1000x tighter than the
    criterion of the default tolerance. (At the usual reference tolerances, atol 1e-12 leaves
    ~4e-6 relative on Dep ~3e-6 at day 5: that reference is the less accurate of the two.)"""
    spec = build_model("SLE")
    reg = bf1_regimen()
    P = iiv_params(spec, 2, 31)
    inp = bf1_inputs(spec, P, reg.check_days)
    r = simulate(spec, reg, inp, SolverOptions(rtol=1e-9, atol=1e-14))
    ref = simulate_reference(spec, reg, inp, r, rtol=1e-12, atol=1e-16)
    worst, where = worst_disagreement(spec, r, ref, scales(spec, P))
    assert worst <= 1e-7, f"max relative difference kernel vs reference {worst:.3g} at {where}; reference: " \
                          "simulate_reference(..., method='LSODA', rtol=1e-12, atol=1e-16)"


def test_same_bytes_for_one_and_two_threads_with_log_integration() -> None:
    spec = build_model("SLE")
    reg = bf1_regimen(crs_trigger=1, icans_trigger=1)
    rng = np.random.default_rng(41)
    P = iiv_params(spec, 96, 42)  # two work chunks of 64 and 32 patients
    inp = bf1_inputs(spec, P, reg.check_days, rng=rng, forced_crs_days=1)
    assert same_bytes(*on_one_and_two_threads(spec, reg, inp))


@pytest.mark.parametrize("a", [1e-300, 1e-3, 0.37, 1.0, 1.5, 3.5, 230.0, 1e300])
@pytest.mark.parametrize("b", [-2.5, -0.2, 0.2, 0.861, 1.0, 2.0, 8.0])
def test_pow_of_the_kernel_matches_math_pow_for_positive_bases(a: float, b: float) -> None:
    k = load_kernel(build_model("SLE"))
    got = k._pow(a, b)
    try:
        want = math.pow(a, b)
    except OverflowError:
        want = math.inf
    if b == 1.0:
        assert got == a  # exact
    elif math.isinf(want) or want == 0.0:
        assert got == want
    else:
        # exp(b log a) is within ~|b log a| + 1 ulp (math.pow within 1 ulp)
        assert got == pytest.approx(want, rel=2.3e-16 * (abs(b * math.log(a)) + 2.0))


@pytest.mark.parametrize(("a", "b"), [(0.0, 0.2), (0.0, -0.2), (-2.0, 2.0), (-2.0, 3.0), (-2.0, 0.5), (-0.0, 1.0),
                                      (math.nan, 1.0), (math.nan, 0.5), (2.0, math.nan)])
def test_pow_of_the_kernel_is_c_pow_off_the_positive_axis(a: float, b: float) -> None:
    """Expected: C99 pow as the scipy reference spells it for Python floats (``_reference._pow``:
    0 to a negative power is inf, a negative base to a fractional power is nan)."""
    from cartlab.model._reference import _pow as c_pow

    got, want = load_kernel(build_model("SLE"))._pow(a, b), c_pow(a, b)
    assert (math.isnan(got) and math.isnan(want)) or (got == want and math.copysign(1, got) == math.copysign(1, want))


@pytest.mark.parametrize("indication", INDICATIONS)
def test_states_proportional_to_themselves_go_to_ln_x_once_collapsed(indication: str) -> None:
    """Besides the cells and Dep, the states whose right-hand side vanishes with them (f = x g) are
    in LOG_IDX, switched on only below LOG_BELOW of their scale: the myeloid proliferating pools."""
    spec = build_model(indication)
    k = load_kernel(spec)
    switched = [spec.state_names[i] for i, a in zip(k.LOG_IDX, k.LOG_ALWAYS) if a == 0.0]
    assert switched == ["ANC_Prol", "PLT_Prol"]
    assert [spec.state_names[i] for i, a in zip(k.LOG_IDX, k.LOG_ALWAYS) if a == 1.0] == list(log_states(spec))
    # expected: f_j = 0 when y_j = 0 (the generated right-hand side, any other state)
    p = spec.typical_values()
    q = k.derive_py(p.copy(), np.empty(k.NQ))
    y = k.initial_py(p, q, np.empty(k.NY)) * np.exp(np.random.default_rng(5).normal(0.0, 0.3, k.NY))
    y[spec.state_index("E")] = 1e9
    for name in switched:
        z = y.copy()
        z[spec.state_index(name)] = 0.0
        assert k.rhs_py(3.0, z, p, q, np.empty(k.NY))[spec.state_index(name)] == 0.0


@pytest.mark.parametrize("factor", [100.0, 300.0])
def test_a_collapsing_neutrophil_pool_stays_positive(factor: float) -> None:
    """Cyclophosphamide effect on neutrophil proliferation far above 1 (slope x factor): the pool
    falls 60-190 e-folds. Integrated linearly, a step far below atol took it through 0 and the
    feedback pow(ANC0 / ANC, gamma) of a negative count gave NaN (status NON_FINITE); in ln x it
    stays positive."""
    spec = build_model("SLE")
    reg = bf1_regimen()
    P = spec.typical_values()[None, :].copy()
    P[:, spec.parameter_index("slope_Cy_ANC")] *= factor
    r = simulate(spec, reg, bf1_inputs(spec, P, reg.check_days))
    assert r.status[0] == SolveStatus.OK, r.status_messages()[0]
    prol = r.state("ANC_Prol")[0]
    assert np.all(prol > 0.0) and prol.min() < 1e-25 * prol[0]
    assert np.isfinite(r.states).all()


@pytest.mark.parametrize("z", [-30.0, -22.0, -9.3, -1.0, -0.55, -0.5499, -0.3, -1e-9, -0.0, 0.0, 1e-300, 0.2, 0.55,
                               0.7, 2.0, 9.3, 21.9, 22.1, 700.0, math.inf, -math.inf])
def test_tanh_of_the_kernel_matches_math_tanh(z: float) -> None:
    """``_tanh`` (one ``exp`` for |z| >= 0.55, the library below): expected math.tanh within 4 ulp."""
    got, want = load_kernel(build_model("SLE"))._tanh(z), math.tanh(z)
    assert got == pytest.approx(want, rel=4 * 2.2e-16, abs=0.0)
    assert math.copysign(1.0, got) == math.copysign(1.0, want)
    assert math.isnan(load_kernel(build_model("SLE"))._tanh(math.nan))
