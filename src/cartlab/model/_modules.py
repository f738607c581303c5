"""The virtual-patient model of MODEL.md, written as declarative modules.

Time is in days from infusion (day 0); lymphodepletion happens on negative days. Cell numbers
are whole-body counts unless a unit says otherwise. Every parameter carries its source; values
marked "tuned" were moved from MODEL.md's starting value so that the shipped protocols land near
the seed results (see ``TUNING`` at the bottom of this file for the record of what and why).
"""

from __future__ import annotations

from math import log

from ._dsl import Helper, Module, Parameter, State

LN2 = log(2.0)


def _p(name, value, unit, description, source, omega2=0.0, kind="model"):
    return Parameter(name, float(value), unit, description, source, float(omega2), kind)


# --------------------------------------------------------------------------------------------
# Patient covariates and event-controlled inputs (filled per patient, not estimated)
# --------------------------------------------------------------------------------------------
PATIENT = Module(
    name="patient",
    description="Per-patient covariates and piecewise-constant inputs changed by events",
    parameters=(
        _p("weight_kg", 70, "kg", "body weight", "virtual population", kind="covariate"),
        _p("bsa_m2", 1.8, "m2", "body-surface area (Mosteller)", "virtual population", kind="covariate"),
        _p("B_ul0", 150, "cells/uL", "baseline peripheral B cells", "virtual population", kind="covariate"),
        _p("ANC0", 3.5, "10^9/L", "baseline absolute neutrophil count", "virtual population", kind="covariate"),
        _p("PLT0", 230, "10^9/L", "baseline platelets", "virtual population", kind="covariate"),
        _p("L0", 1.2, "10^9/L", "baseline absolute lymphocyte count", "virtual population", kind="covariate"),
        _p("C3_nl", 1.2, "g/L", "patient's C3 without immune-complex consumption", "virtual population", kind="covariate"),
        _p("C3_0", 0.8, "g/L", "baseline C3", "virtual population", kind="covariate"),
        _p("C4_nl", 0.25, "g/L", "patient's C4 without consumption", "virtual population", kind="covariate"),
        _p("C4_0", 0.15, "g/L", "baseline C4", "virtual population", kind="covariate"),
        _p("u_crs", 0.0, "1", "patient random effect on the CRS latent", "virtual population", kind="covariate"),
        _p("u_icans", 0.0, "1", "patient random effect on the ICANS latent", "virtual population", kind="covariate"),
        _p("infl_pre", 0.0, "1", "active fever/infection at infusion (gate missed): inflammatory priming",
           "virtual site", kind="covariate"),
        _p("F_IST", 1.0, "1", "immunosuppression factor on disease drive (1 on therapy)", "protocol events", kind="input"),
    ),
)

# --------------------------------------------------------------------------------------------
# Lymphodepletion exposures, tocilizumab PK and steroid effect
# --------------------------------------------------------------------------------------------
EXPOSURE = Module(
    name="exposure",
    description="Cyclophosphamide (1-compartment), fludarabine (K-PD), tocilizumab (2-compartment, "
    "Michaelis-Menten), dexamethasone effect compartment",
    states=(
        State("C_Cy", "mg/L", "cyclophosphamide plasma concentration", "0", "1"),
        State("X_Flu", "mg/m2", "fludarabine K-PD virtual amount", "0", "1"),
        State("TOC1", "mg", "tocilizumab, central", "0", "1"),
        State("TOC2", "mg", "tocilizumab, peripheral", "0", "1"),
        State("DEX", "mg", "dexamethasone effect-compartment amount", "0", "1"),
    ),
    parameters=(
        _p("CL_Cy", 5.41 * 24, "L/d", "cyclophosphamide clearance (5.41 L/h)", "MODEL.md (popPK of cyclophosphamide)"),
        _p("V_Cy_ref", 46.5, "L", "cyclophosphamide volume at BSA 1.58 m2", "MODEL.md"),
        _p("V_Cy_exp", 0.861, "1", "BSA exponent of cyclophosphamide volume", "MODEL.md"),
        _p("k_Flu", LN2 / (20 / 24), "1/d", "fludarabine K-PD elimination (t1/2 20 h)", "MODEL.md"),
        _p("w_Cy", 1.0, "L/mg", "weight of cyclophosphamide in the LD exposure X_LD", "assumption: Cy and Flu "
           "regimens of the seeds give similar total exposure"),
        _p("w_Flu", 0.1, "m2/mg", "weight of fludarabine in the LD exposure X_LD", "assumption (as w_Cy)"),
        _p("CL_toc", 0.3, "L/d", "tocilizumab linear clearance", "Frey 2010"),
        _p("V1_toc", 3.5, "L", "tocilizumab central volume", "Frey 2010"),
        _p("Q_toc", 0.2, "L/d", "tocilizumab intercompartmental clearance", "Frey 2010"),
        _p("V2_toc", 2.9, "L", "tocilizumab peripheral volume", "Frey 2010"),
        _p("Vmax_toc", 7.5, "mg/d", "tocilizumab Michaelis-Menten Vmax", "Frey 2010"),
        _p("Km_toc", 2.7, "mg/L", "tocilizumab Michaelis-Menten Km", "Frey 2010"),
        _p("K_RO", 0.5, "mg/L", "tocilizumab concentration for half IL-6R occupancy",
           "assumption: RO > 0.95 above 10 ug/mL, about 2 weeks after 8 mg/kg (MODEL.md)"),
        _p("k_dex", LN2 / 1.5, "1/d", "dexamethasone effect decay (biological t1/2 36 h)", "assumption (dexamethasone "
           "biological half-life 36-54 h)"),
        _p("IC50_dex", 10.0, "mg", "dexamethasone amount for half-maximal effect", "assumption"),
        _p("Imax_dex", 0.7, "1", "maximal steroid inhibition of CAR-T activation and neuro-inflammation",
           "assumption"),
    ),
    helpers=(
        Helper("V_Cy", "V_Cy_ref * pow(bsa_m2 / 1.58, V_Cy_exp)", "L"),
        Helper("k_Cy", "CL_Cy / V_Cy", "1/d"),
        Helper("X_LD", "w_Cy * C_Cy + w_Flu * X_Flu", "1", "lymphodepletion exposure"),
        Helper("C_toc", "TOC1 / V1_toc", "mg/L"),
        Helper("RO", "C_toc / (C_toc + K_RO)", "1", "IL-6 receptor occupancy"),
        Helper("ster", "Imax_dex * DEX / (DEX + IC50_dex)", "1", "steroid effect"),
    ),
    equations={
        "C_Cy": "-k_Cy * C_Cy",
        "X_Flu": "-k_Flu * X_Flu",
        "TOC1": "-(CL_toc + Q_toc) / V1_toc * TOC1 + Q_toc / V2_toc * TOC2 - Vmax_toc * C_toc / (Km_toc + C_toc)",
        "TOC2": "Q_toc / V1_toc * TOC1 - Q_toc / V2_toc * TOC2",
        "DEX": "-k_dex * DEX",
    },
)

# --------------------------------------------------------------------------------------------
# B lineage (CD19+ targets) and immune reset
# --------------------------------------------------------------------------------------------
BCELL = Module(
    name="bcell",
    description="Marrow precursors -> naive -> memory/activated -> plasmablasts; CD19+ cells are killed by CAR-T",
    states=(
        State("P", "cells", "CD19+ marrow B precursors", "P_ss", "A0"),
        State("Bn", "cells", "naive/transitional B cells", "Bn_ss", "A0"),
        State("Bm", "cells", "memory/activated B cells (autoreactive-enriched)", "Bm_ss", "A0"),
        State("PB", "cells", "plasmablasts/short-lived plasma cells", "PB_ss", "A0"),
        State("Dep", "1", "depth-time of CD19+ depletion (0 none, 1 reset complete)", "0", "1e-4"),
    ),
    parameters=(
        _p("tau_P", 20.0, "d", "precursor maturation time", "MODEL.md (20 d gave a realistic return)", 0.3),
        _p("k_Bn", 1 / 60, "1/d", "naive B turnover", "León-Triana 2021; rituximab CD19 turnover", 0.4),
        _p("k_act", 0.002, "1/d", "naive -> memory activation per unit disease activity", "MODEL.md assumption"),
        _p("k_Bm", 0.01, "1/d", "memory B loss", "MODEL.md assumption"),
        _p("k_PB", 0.02, "1/d", "memory -> plasmablast differentiation", "assumption"),
        _p("d_PB", 0.2, "1/d", "plasmablast death (t1/2 3.5 d)", "MODEL.md"),
        _p("f19", 0.75, "1", "CD19+ share of plasmablasts (exposed to killing)", "MODEL.md (0.5-1)"),
        _p("f_Bblood", 0.05, "1", "share of B cells (Bn+Bm) in the blood volume",
           "derived: healthy A0 2.5e10 cells with 200 B cells/uL (León-Triana 2021)"),
        _p("V_blood", 5e6, "uL", "blood volume", "MODEL.md"),
        _p("k_LDB", 0.04, "1/(d*X_LD)", "lymphodepletion kill rate of B-lineage cells", "tuned: ~60 % B depletion "
           "from Flu/Cy alone"),
        _p("R_max", 0.75, "1", "maximal immune reset (reduction of memory re-activation)", "MODEL.md (0.5-0.9)"),
        _p("T_dep", 30.0, "d", "time below 1 % of baseline CD19+ mass for a full reset", "MODEL.md"),
        _p("k_kE", 2e-9, "1/(cell*d)", "kill rate per effector CAR-T",
           "tuned: León-Triana 2021 gave 4.5e-11, which in these whole-body units left half the patients above "
           "the B-cell LLOQ; 2e-9 depletes every patient by day 7-10 and lets the memory pool hold aplasia "
           "(BF1: complete depletion at both doses)", 0.5),
        _p("k_kM_ratio", 1.0, "1", "memory CAR-T kill rate relative to effectors",
           "tuned within MODEL.md (0.1-1): memory cells carry the kill that keeps B cells out for 2-4 months", 0.5),
    ),
    helpers=(
        # steady state of the untreated lineage given total CD19+ mass A0 (derived once per patient)
        Helper("c_Bn", "1.0 / (tau_P * (k_Bn + k_act))"),
        Helper("c_Bm", "k_act * c_Bn / k_Bm"),
        Helper("c_PB", "k_PB * c_Bm / d_PB"),
        Helper("A0", "B_ul0 * V_blood / (f_Bblood * (c_Bn + c_Bm) / (1.0 + c_Bn + c_Bm + c_PB))", "cells",
               "baseline CD19+ mass from peripheral B cells"),
        Helper("P_ss", "A0 / (1.0 + c_Bn + c_Bm + c_PB)", "cells"),
        Helper("Bn_ss", "c_Bn * P_ss", "cells"),
        Helper("Bm_ss", "c_Bm * P_ss", "cells"),
        Helper("PB_ss", "c_PB * P_ss", "cells"),
        Helper("I_P", "P_ss / tau_P", "cells/d"),
        Helper("A", "P + Bn + Bm + PB", "cells", "CD19+ antigen mass"),
        Helper("a_dep2", "(A / (0.01 * A0)) * (A / (0.01 * A0))", "1", "(A / 1 % of A0)^2"),
        Helper("h_dep", "1.0 / (1.0 + (a_dep2 * a_dep2) * (a_dep2 * a_dep2))", "1",
               "smooth indicator of A < 1 % of A0: 1 / (1 + (A / 0.01 A0)^8), without a pow call"),
        Helper("r_reset", "1.0 - R_max * Dep", "1"),
    ),
    equations={
        "P": "I_P - P / tau_P - kappa * P - k_LDB * X_LD * P",
        "Bn": "P / tau_P - (k_Bn + k_act * D) * Bn - kappa * Bn - k_LDB * X_LD * Bn",
        "Bm": "k_act * r_reset * D * Bn - k_Bm * Bm - kappa * Bm - k_LDB * X_LD * Bm",
        "PB": "k_PB * Bm - d_PB * PB - f19 * kappa * PB",
        # saturating rather than clamped at 1 so the right-hand side stays smooth
        "Dep": "h_dep * (1.0 - Dep) / T_dep",
    },
)

# --------------------------------------------------------------------------------------------
# CAR-T cellular kinetics
# --------------------------------------------------------------------------------------------
CART = Module(
    name="cart",
    description="Effector and memory CAR-T: antigen-driven expansion in a window, contraction, memory",
    states=(
        State("E", "cells", "effector CAR-T", "0", "1e6"),
        State("M", "cells", "memory CAR-T", "0", "1e6"),
    ),
    parameters=(
        _p("rho", 0.9, "1/d", "maximal expansion rate",
           "Stein 2019: ln(3900)/9.3; IIV tuned: rho acts over the whole window, so omega2 0.3 gave a "
           ">2 log10 Cmax spread and erased the dose response", 0.001),
        _p("T_exp", 9.3, "d", "end of the expansion window",
           "Stein 2019 Tmax; IIV tuned: +-1 day of window is ~1 log of expansion, omega2 0.38 erased the "
           "dose response", 0.002),
        _p("s_w", 0.5, "d", "smoothness of the window end", "MODEL.md"),
        _p("K_A", 1e5, "cells", "antigen mass for half-maximal drive",
           "tuned: expansion in SLE matches lymphoma despite far less CD19+ mass (Müller 2025) and scales "
           "with dose (BF1 DL1 vs DL2), so the drive saturates at residual marrow antigen; 2e9 made "
           "expansion antigen-limited", 0.5),
        _p("n_A", 1.0, "1", "Hill coefficient of antigen drive", "assumption"),
        _p("alpha_E", 0.3, "1/d", "effector contraction",
           "tuned: Stein 2019 0.16 (oncology); shorter persistence in SLE (Müller 2025) and ~1e4-fold "
           "expansion of BMS-986353 at DL1; IIV tuned down (acts inside the expansion window)", 0.01),
        _p("k_EM", 0.02, "1/d", "effector -> memory",
           "tuned: Stein 2019 F_B*alpha 0.0012 left no memory pool to hold B-cell aplasia; 0.02 gives "
           "return of naive B cells after ~2-4 months", 0.8),
        _p("beta", 0.0032, "1/d", "memory decay", "Stein 2019", 0.86),
        _p("k_ME", 0.05, "1/d", "antigen-driven memory -> effector re-activation", "assumption"),
        _p("theta_LD", 0.35, "1", "lymphodepletion 'space' boost of expansion",
           "tuned: Kimmel 2021; Hanson 2016 mechanism; Stein's rho is already the net rate after lymphodepletion, "
           "theta_LD 1 gave 1e5-1e6-fold expansion"),
    ),
    helpers=(
        Helper("phi", "1.0 / (1.0 + pow(K_A / A, n_A))", "1", "antigen drive A^n / (A^n + K_A^n)"),
        Helper("w", "0.5 * (1.0 - tanh(0.5 * (t - T_exp) / s_w))", "1",
               "expansion window 1/(1 + exp((t - T_exp)/s_w)), in its overflow-free tanh form"),
        Helper("Hld", "1.0 + theta_LD * max(0.0, 1.0 - L / L0)", "1", "lymphodepletion boost"),
        Helper("kappa", "k_kE * E + k_kE * k_kM_ratio * M", "1/d", "kill hazard per CD19+ cell"),
    ),
    equations={
        "E": "rho * (1.0 - ster) * phi * Hld * w * E - (alpha_E + k_EM) * E + k_ME * phi * M",
        "M": "k_EM * E - beta * M - k_ME * phi * M",
    },
)

# --------------------------------------------------------------------------------------------
# Humoral, complement, cytokine, lymphocytes
# --------------------------------------------------------------------------------------------
HUMORAL = Module(
    name="humoral",
    description="Autoantibody (fold of baseline), complement C3/C4 with immune-complex consumption",
    states=(
        State("Ab", "fold", "autoantibody (e.g. anti-dsDNA) relative to baseline", "1", "1"),
        State("C3", "g/L", "complement C3", "C3_0", "1"),
        State("C4", "g/L", "complement C4", "C4_0", "0.1"),
    ),
    parameters=(
        _p("k_Ab", LN2 / 21, "1/d", "autoantibody elimination (IgG t1/2 21 d)", "IgG half-life", 0.1),
        _p("f_LL", 0.15, "1", "share of autoantibody made by CD19- long-lived plasma cells", "MODEL.md (0-0.5)"),
        _p("k_C3", LN2 / 1.5, "1/d", "C3 turnover (t1/2 1.5 d)", "MODEL.md"),
        _p("k_C4", LN2 / 1.5, "1/d", "C4 turnover", "assumption: as C3"),
    ),
    helpers=(
        Helper("kIC3", "max(C3_nl / C3_0 - 1.0, 0.0)", "1", "C3 consumption per unit autoantibody (baseline steady state)"),
        Helper("kIC4", "max(C4_nl / C4_0 - 1.0, 0.0)", "1"),
    ),
    equations={
        "Ab": "k_Ab * ((1.0 - f_LL) * PB / PB_ss + f_LL) - k_Ab * Ab",
        "C3": "k_C3 * C3_nl - k_C3 * C3 * (1.0 + kIC3 * Ab)",
        "C4": "k_C4 * C4_nl - k_C4 * C4 * (1.0 + kIC4 * Ab)",
    },
)

CYTOKINE = Module(
    name="cytokine",
    description="Serum IL-6 from killing and CAR-T activation; tocilizumab blocks signalling and receptor clearance",
    states=(
        State("IL6", "pg/mL", "serum IL-6", "IL6_b", "1"),
        State("IL6e", "pg/mL", "lagged IL-6 signalling in the CNS compartment (drives ICANS)", "IL6_b", "1"),
        State("L", "10^9/L", "endogenous lymphocytes (ALC)", "L0", "0.1"),
    ),
    parameters=(
        _p("IL6_b", 3.0, "pg/mL", "baseline IL-6", "Hardiansyah & Ng 2019"),
        _p("k_IL6", 3.96, "1/d", "IL-6 elimination (t1/2 4.2 h)", "Hardiansyah & Ng 2019"),
        _p("p_kill", 5.0, "pg/mL per 10^9 cells killed", "IL-6 from CD19+ killing",
           "tuned: killing IL-6 does not scale with dose; kept small so CRS follows dose (BF1 61.5 vs 100 %)", 0.1),
        _p("p_act", 10.0, "pg/mL/d per 10^9 CAR-T", "IL-6 from antigen-activated CAR-T",
           "tuned: peak IL-6 median ~70 pg/mL at DL1, ~150 at DL2; omega2 1.0 erased the dose-CRS relation", 0.1),
        _p("f_R", 0.5, "1", "share of IL-6 clearance that is receptor-mediated (blocked by tocilizumab)", "assumption"),
        _p("k_e0", 0.35, "1/d", "equilibration of the CNS IL-6 effect compartment", "tuned: ICANS onset days 4-10"),
        _p("k_L", LN2 / 14, "1/d", "lymphocyte recovery", "MODEL.md"),
        _p("k_LDL", 0.12, "1/(d*X_LD)", "lymphodepletion kill rate of lymphocytes", "tuned: ALC nadir ~0.1-0.2"),
    ),
    helpers=(
        Helper("S_IL6", "IL6 * (1.0 - RO)", "pg/mL", "IL-6 signalling"),
    ),
    equations={
        "IL6": "k_IL6 * IL6_b * (1.0 + infl_pre) + (1.0 - ster) * (p_kill * kappa * A + p_act * phi * E) * 1e-9"
        " - k_IL6 * (1.0 - f_R * RO) * IL6",
        "IL6e": "k_e0 * (S_IL6 - IL6e)",
        "L": "k_L * (L0 - L) - k_LDL * X_LD * L",
    },
)


def _friberg(prefix: str, circ0: str, mtt_h: float, gamma: float, slopes: tuple[float, float, float],
             unit: str, what: str) -> Module:
    names = [f"{prefix}_{s}" for s in ("Prol", "T1", "T2", "T3")] + [prefix]
    st = tuple(State(n, unit, f"{what}: {n.split('_')[-1] if n != prefix else 'circulating'}", circ0, circ0)
               for n in names)
    pr = (
        _p(f"MTT_{prefix}", mtt_h / 24, "d", f"{what} mean transit time", "Friberg 2002", 0.03),
        _p(f"gamma_{prefix}", gamma, "1", f"{what} feedback exponent", "Friberg 2002"),
        _p(f"slope_Cy_{prefix}", slopes[0], "L/mg", f"cyclophosphamide effect on {what} proliferation",
           "MODEL.md start 0.06 L/mg; tuned", 0.2),
        _p(f"slope_Flu_{prefix}", slopes[1], "m2/mg", f"fludarabine effect on {what} proliferation", "tuned", 0.2),
        _p(f"slope_inf_{prefix}", slopes[2], "1", f"inflammatory (IL-6) suppression of {what} proliferation",
           "tuned to the dose-neutropenia relation of Breakfree-1", 0.2),
    )
    ktr = f"(4.0 / MTT_{prefix})"
    drug = f"(slope_Cy_{prefix} * C_Cy + slope_Flu_{prefix} * X_Flu + slope_inf_{prefix} * max(S_IL6 - IL6_b, 0.0) / IL6_ref)"
    eq = {
        names[0]: f"{ktr} * {names[0]} * (1.0 - {drug}) * pow({circ0} / {prefix}, gamma_{prefix}) - {ktr} * {names[0]}",
        names[1]: f"{ktr} * ({names[0]} - {names[1]})",
        names[2]: f"{ktr} * ({names[1]} - {names[2]})",
        names[3]: f"{ktr} * ({names[2]} - {names[3]})",
        names[4]: f"{ktr} * ({names[3]} - {prefix})",
    }
    return Module(f"myeloid_{prefix.lower()}", f"Friberg 2002 transit model of {what}", st, pr, (), eq)


ANC = _friberg("ANC", "ANC0", 110.0, 0.2, (0.06, 0.004, 0.45), "10^9/L", "neutrophils")
PLT = _friberg("PLT", "PLT0", 150.0, 0.2, (0.02, 0.0015, 0.015), "10^9/L", "platelets")

TOXICITY = Module(
    name="toxicity",
    description="Latent CRS and ICANS severities (the site turns them into signs; rescue follows the protocol)",
    parameters=(
        _p("IL6_ref", 70.0, "pg/mL", "IL-6 signalling at which fever appears (latent 0)",
           "tuned: CRS any grade ~60 % at DL1 (BF1 SLE 61.5 %)"),
        _p("CAR_ref", 50.0, "cells/uL", "blood CAR-T reference for the ICANS latent", "tuned"),
        _p("a_icans", 0.8, "1", "weight of CNS IL-6 signalling on the ICANS latent", "tuned"),
        _p("b_icans", 0.8, "1", "weight of blood CAR-T level on the ICANS latent",
           "tuned: ICANS rises steeply with dose (BF1 none at DL1, 2/6 at DL2)"),
        _p("c_icans", -3.4, "1", "ICANS latent offset",
           "tuned: ICANS ~6 % (grade 3 ~4 %) at DL1, ~28 % at DL2 (BF1 SLE; BF1 SSc/IIM grade 3 2/26, 1/13)"),
        _p("theta_crs2", 1.6, "1", "latent threshold of CRS grade 2",
           "tuned: CRS grade 2 (and tocilizumab) ~5 % at DL1, ~20 % at DL2; all BF1 CRS low grade and brief"),
        _p("theta_crs3", 2.1, "1", "latent threshold of CRS grade 3",
           "tuned: one grade 3 CRS in 26 at DL1 (BF1 SLE update, ACR 2025): ~0.5 % per patient at DL1"),
        _p("theta_crs4", 3.6, "1", "latent threshold of CRS grade 4", "tuned"),
        _p("theta_icans2", 0.15, "1", "latent threshold of ICANS grade 2", "tuned: reported ICANS is mostly grade 3"),
        _p("theta_icans3", 0.25, "1", "latent threshold of ICANS grade 3",
           "tuned: every ICANS reported in Breakfree-1 was grade 3 (SLE DL2 2/6, SSc 2, IIM 1)"),
        _p("theta_icans4", 2.6, "1", "latent threshold of ICANS grade 4", "tuned"),
        _p("f_blood", 0.09, "1", "share of CAR-T in blood", "MODEL.md"),
    ),
    helpers=(
        Helper("CAR_ul", "f_blood * (E + M) / V_blood", "cells/uL", "blood CAR+ T cells"),
        Helper("z_crs", "log(max(S_IL6, 1e-3) / IL6_ref) + u_crs", "1", "CRS latent (fever above 0)"),
        # steroids lower the latent (log of the remaining neuro-inflammatory drive); multiplying the
        # whole latent by (1 - ster) moved a negative (no-ICANS) latent up, towards ICANS
        Helper("z_icans", "a_icans * log(max(IL6e, 1e-3) / IL6_ref) + b_icans * log(max(CAR_ul, 1e-3) / CAR_ref)"
               " + c_icans + u_icans + infl_pre + log(1.0 - ster)", "1", "ICANS latent (grade 1 above 0)"),
    ),
)


# --------------------------------------------------------------------------------------------
# Disease modules
# --------------------------------------------------------------------------------------------
def _disease(indication: str, organs: tuple[tuple[str, str, float, str], ...], weights: tuple[float, float, float],
             k_D: float, delta_IST: float, w_0: float = 0.0) -> Module:
    st = [State("D", "1", "disease activity (1 = baseline, 0 = inactive)", "1", "1")]
    pr = [
        _p("k_D", k_D, "1/d", "disease activity turnover", "tocilizumab DAS28 k_out 0.038/d (Levi 2013)", 0.3),
        _p("w_0", w_0, "1", "share of disease drive independent of B cells (T-cell, innate, damage-driven "
           "inflammation: not reset by CD19 CAR-T; capped at 0.95); drawn per patient where the population "
           "defines it (IIM)", "assumption: 0 unless the virtual population draws it", kind="covariate"),
        _p("w_Ab", weights[0], "1", "autoantibody share of disease drive", "assumption"),
        _p("w_B", weights[1], "1", "memory-B share of disease drive", "assumption"),
        _p("w_C", weights[2], "1", "complement-consumption share of disease drive", "assumption"),
        _p("delta_IST", delta_IST, "1", "rise in disease drive after immunosuppressant withdrawal", "assumption"),
        _p("D_flare", 0.8, "1", "disease activity counted as flare (two consecutive assessments restart therapy)",
           "assumption"),
        _p("F_restart", 1.0, "1", "disease-drive factor once immunosuppressants are restarted", "assumption"),
    ]
    # complement enters as its consumption relative to baseline, (C3_nl - C3) / (C3_nl - C3_0): 1 at
    # baseline, 0 once C3 has normalised (C3_0 <= 0.98 C3_nl in the virtual population)
    eq = {"D": "k_D * ((min(w_0, 0.95) + (1.0 - min(w_0, 0.95)) * (w_Ab * Ab + w_B * Bm / Bm_ss"
               " + w_C * (C3_nl - C3) / (C3_nl - C3_0))) * F_IST - D)"}
    for name, desc, k, src in organs:
        st.append(State(name, "1", desc, "1", "1"))
        pr.append(_p(f"k_{name}", k, "1/d", f"turnover of {desc}", src, 0.3))
        eq[name] = f"k_{name} * (D - {name})"
    return Module(f"disease_{indication.lower()}", f"{indication} disease activity (indirect response)",
                  tuple(st), tuple(pr), (), eq)


SLE = _disease("SLE", (("D_kid", "kidney activity latent", 0.04,
                         "tuned: complete renal response by day 90 possible (RESET-SLE LN 1/1), SLEDAI-2K change "
                         "at 6 months (BF1 DL1 -9); see TUNING"),),
               (0.25, 0.55, 0.2), 0.06, 0.3)
SSC = _disease("SSC", (("D_skin", "skin activity latent (mRSS)", 0.012, "assumption: mRSS improves over 6-12 months"),
                       ("D_lung", "lung activity latent (FVC)", 0.015, "assumption")),
               (0.3, 0.5, 0.2), 0.04, 0.3)
IIM = _disease("IIM", (("D_musc", "muscle inflammation latent (CK)", 0.1, "assumption: CK falls within weeks"),
                       ("D_str", "strength-deficit latent (MMT-8)", 0.07,
                        "tuned: MMT-8 median +17 % at 3 months, +22 % at 6 months (BF1 IIM, ACR 2025)")),
               (0.3, 0.5, 0.2), 0.04, 0.3)

CORE = (PATIENT, EXPOSURE, BCELL, CART, HUMORAL, CYTOKINE, ANC, PLT, TOXICITY)
DISEASE = {"SLE": SLE, "SSC": SSC, "IIM": IIM}

#: The record of every parameter moved from its starting value (MODEL.md, or the first value in this file
#: where MODEL.md says "calibrate"), as (parameter, from, to, why). Targets: the Breakfree-1 SLE cohort
#: (ACR 2025 abstract 1529; EVIDENCE.md), checked at 150 patients per arm, seed 7. Values before the
#: first calibration pass (issue 2, item 3) that this pass did not move keep their own entries at the end.
TUNING = (
    # CAR-T kinetics: expansion that scales with dose, peaks near day 10 and ends in a memory phase
    ("K_A", "2e9 cells", "1e5 cells", "with 2e9 expansion stopped once B cells were cleared, so 2.5x more cells "
     "gave ~1.2x the peak and no dose response; expansion in SLE is as large as in lymphoma (Müller, Blood 2025) "
     "and BF1 toxicity rises steeply with dose, so the drive saturates at residual marrow antigen"),
    ("theta_LD", "1", "0.35", "Stein's rho (0.89/d) is already the net rate after lymphodepletion; with theta_LD 1 the "
     "net rate rho*H - alpha_E reached ~1.6/d (1e5-1e6-fold). 0.35 gives ~1e4-fold at DL1 (BMS-986353 'higher "
     "than liso-cel') and ~3000-fold for the default rho 0.9 (Stein 3900-fold)"),
    ("alpha_E", "0.16 /d (oncology)", "0.3 /d", "MODEL.md marks the autoimmune value as 'to calibrate'; shorter "
     "persistence in SLE (Müller 2025); transgene Cmax 36k copies/ug at DL1 (liso-cel 33,766), Tmax day 10"),
    ("rho omega2", "0.3", "0.001", "rho acts over the whole ~9-day window (d ln Cmax / d ln rho ~ 10), so Stein's "
     "IIV gave a >2 log10 Cmax spread that swamped the 2.5-fold dose difference"),
    ("T_exp omega2", "0.38", "0.002", "one day of window is ~1 log of expansion; same reason as rho omega2"),
    ("alpha_E omega2", "0.91", "0.01", "alpha_E acts inside the expansion window; same reason as rho omega2"),
    ("k_kE", "4.5e-11 /(cell*d)", "2e-9 /(cell*d)", "with 4.5e-11 the peak kill hazard was ~0.4/d and half the "
     "patients never went below the B-cell LLOQ; BF1 reports complete peripheral depletion at both doses"),
    ("k_kM_ratio", "0.3", "1.0", "upper end of MODEL.md's 0.1-1: memory CAR-T carry the kill after contraction"),
    ("k_EM", "0.0012 /d", "0.02 /d", "Stein's F_B*alpha left ~1e8 memory cells, too few to keep B cells out past "
     "day ~40; 0.02 gives B-cell return (naive) at a median ~3 months at DL1, 10th-90th percentile ~2-6 months"),
    # cytokine and toxicity
    ("p_kill", "30 (omega2 1.0)", "5 (omega2 0.1)", "IL-6 from killing peaks when the B-cell mass is cleared and its "
     "height does not depend on dose; kept small so that CRS follows the activated CAR-T mass (dose)"),
    ("p_act", "8 (omega2 1.0)", "10 (omega2 0.1)", "median peak IL-6 ~70 pg/mL at DL1, ~150 at DL2; omega2 1.0 "
     "alone made CRS nearly dose-independent"),
    ("IL6_ref", "40 pg/mL", "70 pg/mL", "CRS any grade 63 % at DL1 (BF1 61.5 %), 89 % at DL2 (BF1 6/6)"),
    ("theta_crs2", "1.2", "1.6", "CRS grade 2 ~5 % at DL1, ~20 % at DL2, grade >= 3 < 1 % (BF1: all low grade, "
     "brief); fewer tocilizumab doses also keep the IL-6-driven neutropenia dose-dependent"),
    ("b_icans", "0.5", "0.8", "ICANS must rise ~6-fold for 2.5-fold cells (BF1 none at DL1, 2/6 grade 3 at DL2)"),
    ("c_icans", "-3.2", "-3.4", "ICANS ~6 % (grade 3 ~4 %) at DL1, ~28 % (grade 3 ~19 %) at DL2; pooled over the "
     "BF1 cohorts at DL1 grade 3 ICANS was 3/65 (SLE 0/13, SSc 2/26, IIM 1/13), the ACR 2025 SLE update had no "
     "high-grade ICANS in 26"),
    ("theta_icans2, theta_icans3", "0.7, 1.2", "0.15, 0.25", "every ICANS reported in Breakfree-1 was grade 3; "
     "about 2/3 of simulated ICANS now reach grade 3"),
    ("slope_inf_ANC", "0.05", "0.45", "MODEL.md 0.4-0.6: grade 3/4 neutropenia 54 % at DL1, 79 % at DL2 (BF1 46.2 %, "
     "83.3 %), ANC < 1.0 after day 28 in < 6 % (all resolved); platelets stay above 50 (no grade 3/4)"),
    # disease
    ("k_D_kid", "0.02 /d", "0.01 /d", "renal descriptors (proteinuria) lag the systemic response; SLEDAI-2K median "
     "change at day 180 -10 at DL1 (BF1 -9), -12 with 0.02"),
    # third pass (issue 8: validation against every seed target, 1,000 replicate trials of the reported sizes)
    ("complement term of the disease drive", "w_C * C3_0 / C3", "w_C * (C3_nl - C3) / (C3_nl - C3_0)",
     "structural: C3_0/C3 stayed at C3_0/C3_nl (~0.6) once complement normalised, so the drive never fell below "
     "~0.2 of baseline and no patient reached DORIS remission (RESET-SLE 3/3 at >= 3 months); consumption is 1 at "
     "baseline and 0 when C3 is normal"),
    ("SLE w_Ab, w_B (k_D)", "0.4, 0.4 (0.04 /d)", "0.25, 0.55 (0.06 /d)", "clinical activity follows the CD19+ "
     "memory/plasmablast compartment faster than the IgG autoantibody (t1/2 21 d): DORIS remission at day 90 "
     "~45 % in non-renal SLE (RESET-SLE 3/3); SLEDAI-2K change at day 180 median -12 [-16, -8] for 11 patients "
     "(BF1 -9). Still slower than the BF1 update's 'all but one resolved clinical symptoms by 6 months' (not a "
     "numeric target): renal descriptors keep cSLEDAI above 0 in about half of BF1-like patients (79 % nephritis) "
     "at 6 months"),
    ("k_D_kid", "0.01 /d", "0.04 /d", "with the proteinuria descriptor now read from the recorded UPCR (> 0.5 g/g) "
     "and the RESET-SLE LN arm enrolling only nephritis patients, 0.01 gave no complete renal response by day 90 "
     "in 1,000 replicates (RESET-SLE LN 1/1) and 0.02 about 5 % (at the edge of the interval); 0.04 gives UPCR "
     "< 0.5 g/g in ~18 % at day 90 and ~44 % at day 180 (100 LN patients, seed 4), BF1 SLEDAI-2K change at day "
     "180 unchanged (median -12)"),
    ("theta_crs3", "2.6", "2.1", "grade 3 CRS ~0.1 % per patient at DL1 made 1/26 (BF1 SLE update) impossible; "
     "2.1 gives ~0.5 % at DL1 and ~2 % at DL2 (1,000 patients per arm, seed 3) and keeps 0/13, 0/6 and SSc 0/26 "
     "inside their intervals"),
    ("k_D_str", "0.015 /d", "0.07 /d", "MMT-8 median +17 % at 3 months, +22 % at 6 months (BF1 IIM); strength "
     "recovered over a year with 0.015"),
    ("IIM B-cell-independent drive w_0 (_population.py)", "none (0)", "mixture: 45 % of patients U(0.55, 0.80), "
     "others log-normal median 0.04", "BF1 IIM: TIS moderate-or-major 91 %, major 64 %, moderate 27 % at the same "
     "time as a median MMT-8 gain of 22 %: most patients respond almost completely and a large minority only in "
     "part. A B-cell-only drive made every patient a major responder; a single log-normal w_0 could not give both "
     "the moderate third and the MMT-8 median"),
    ("SLE B-cell-independent drive w_0 (_population.py)", "none (0)", "mixture: 8 % of patients U(0.6, 0.9), "
     "others log-normal median 0.02", "with a purely CD19+-driven disease no SLE patient ever flared off therapy "
     "(0 restarts in 200), where the BF1 update reports 92 % off SLE immunosuppression and all evaluable patients "
     "but one free of clinical symptoms by 6 months; 8 % gives ~7 % restarts by day 90"),
    ("IIM MMT-8 deficit, recoverable share (_population.py)", "35 +- 12 points, U(0.6, 0.95)",
     "46 +- 12 points, U(0.75, 1.0)", "the relative MMT-8 gain is bounded by deficit x recoverable share / baseline; "
     "+22 % at 6 months needs a baseline near 104/150"),
    ("IIM patient global, HAQ-DI, extramuscular fixed shares (_population.py)", "0.2, 0.3, 0 for every patient",
     "U(0.15, 0.6), U(0.15, 0.6), U(0, 0.6) per patient", "damage and chronic extramuscular disease differ "
     "between patients, so the TIS core-set measures dissociate"),
    ("Dep scale (error control)", "1", "1e-4", "Dep sits at 1e-6-1e-5 while CD19+ mass crosses 1 % of baseline "
     "(days 5-10); with absolute tolerance 1e-12 x 1 its relative error reached 1.2e-4 against the converged "
     "solution for some parameter draws (tests/unit/test_kernel.py); same step count"),
    # virtual population (_population.py)
    ("u_crs sd", "1.0", "0.3", "the CRS latent already varies with IL-6 (p_act, expansion) and daily noise; a host "
     "effect of sd 1 flattened the dose-CRS relation (BF1 61.5 -> 100 %) to ~60 -> 78 %"),
    ("u_icans sd", "0.8", "0.6", "same reason, for the dose-ICANS relation"),
    # earlier entries (first pass), not moved by this pass
    ("k_LDB, k_LDL", "no starting value in MODEL.md", "0.04, 0.12", "Flu/Cy alone depletes ~60 % of B cells and "
     "~85 % of lymphocytes"),
)
