"""Virtual patients: covariates per indication and log-normal inter-individual variability.

Each patient draws everything from its own ``numpy.random.SeedSequence`` (one child per patient),
so a patient's covariates and parameters do not depend on how many others are simulated or in
which batch. Covariate distributions are assumptions chosen to match the seed cohorts' published
descriptors (EVIDENCE.md: Breakfree-1 SLE median age 30 (18–49), 15/19 BILAG A renal, median 7
prior therapies); each line says where its numbers come from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._core.errors import SpecError
from ._dsl import ModelSpec

#: SLEDAI-2K descriptors: (code, label, weight, organ, baseline frequency non-renal, frequency LN)
#: Weights: Gladman 2002 (INSTRUMENTS.md). Frequencies: assumptions for refractory SLE cohorts.
SLEDAI_DESCRIPTORS: tuple[tuple[str, str, int, str, float, float], ...] = (
    ("SEIZURE", "Seizure", 8, "cns", 0.01, 0.01),
    ("PSYCHOS", "Psychosis", 8, "cns", 0.01, 0.01),
    ("OBS", "Organic brain syndrome", 8, "cns", 0.01, 0.01),
    ("VISUAL", "Visual disturbance", 8, "cns", 0.01, 0.01),
    ("CRANIAL", "Cranial nerve disorder", 8, "cns", 0.01, 0.01),
    ("HEADACHE", "Lupus headache", 8, "cns", 0.02, 0.02),
    ("CVA", "Cerebrovascular accident", 8, "cns", 0.005, 0.005),
    ("VASCULIT", "Vasculitis", 8, "systemic", 0.08, 0.05),
    ("ARTHRIT", "Arthritis", 4, "musculoskeletal", 0.65, 0.4),
    ("MYOSIT", "Myositis", 4, "musculoskeletal", 0.05, 0.03),
    ("CASTS", "Urinary casts", 4, "renal", 0.0, 0.3),
    ("HEMATUR", "Hematuria", 4, "renal", 0.0, 0.55),
    ("PROTEIN", "Proteinuria", 4, "renal", 0.0, 0.95),
    ("PYURIA", "Pyuria", 4, "renal", 0.0, 0.3),
    ("RASH", "Rash", 2, "mucocutaneous", 0.65, 0.4),
    ("ALOPEC", "Alopecia", 2, "mucocutaneous", 0.35, 0.25),
    ("MUCOSAL", "Mucosal ulcers", 2, "mucocutaneous", 0.35, 0.2),
    ("PLEURIS", "Pleurisy", 2, "cardiorespiratory", 0.12, 0.08),
    ("PERICARD", "Pericarditis", 2, "cardiorespiratory", 0.06, 0.05),
    ("LOWCOMP", "Low complement", 2, "serology", 0.0, 0.0),
    ("DNABIND", "Increased DNA binding", 2, "serology", 0.0, 0.0),
    ("FEVER", "Fever", 1, "systemic", 0.08, 0.05),
    ("THROMBO", "Thrombocytopenia", 1, "haematological", 0.08, 0.06),
    ("LEUKOPEN", "Leukopenia", 1, "haematological", 0.2, 0.15),
)

MRSS_SITES: tuple[str, ...] = (
    "FACE", "CHEST", "ABDOMEN", "FINGER_R", "FINGER_L", "HAND_R", "HAND_L", "FOREARM_R", "FOREARM_L",
    "UPPERARM_R", "UPPERARM_L", "THIGH_R", "THIGH_L", "LOWERLEG_R", "LOWERLEG_L", "FOOT_R", "FOOT_L",
)

MMT8_GROUPS: tuple[str, ...] = (
    "NECKFLEX", "DELTOID", "BICEPS", "WRISTEXT", "QUADRICEPS", "ANKLEDORS", "GLUTMED", "GLUTMAX",
)

#: Share of IIM patients with a substantial B-cell-independent drive (partial responders; tuned to BF1 IIM TIS)
IIM_PARTIAL_FRACTION = 0.45
#: Share of SLE patients with a substantial B-cell-independent drive (non-responders who restart
#: immunosuppression; BF1 update: 92 % off SLE immunosuppression)
SLE_PARTIAL_FRACTION = 0.08

#: Default screened-population descriptors per indication (assumptions; protocol [population] overrides)
DEFAULTS = {
    "SLE": dict(age_median=35.0, age_min=18.0, age_max=65.0, female_fraction=0.9, weight_kg_median=68.0,
                lupus_nephritis_fraction=0.5, prior_ist_extra=5.0),
    "SSC": dict(age_median=48.0, age_min=18.0, age_max=75.0, female_fraction=0.75, weight_kg_median=68.0,
                lupus_nephritis_fraction=0.0, prior_ist_extra=2.0),
    "IIM": dict(age_median=48.0, age_min=18.0, age_max=75.0, female_fraction=0.7, weight_kg_median=72.0,
                lupus_nephritis_fraction=0.0, prior_ist_extra=4.0),
}


@dataclass(frozen=True)
class VirtualPopulation:
    """Covariates (a dict of equal-length arrays) and the model parameter matrix of ``n`` patients."""

    indication: str
    covariates: dict[str, np.ndarray]
    params: np.ndarray

    @property
    def n(self) -> int:
        return int(self.params.shape[0])

    def take(self, idx: np.ndarray) -> "VirtualPopulation":
        return VirtualPopulation(self.indication, {k: v[idx] for k, v in self.covariates.items()}, self.params[idx])


def _lognormal(z: float, median: float, sd_log: float) -> float:
    return float(median * np.exp(sd_log * z))


def sample_patient(spec: ModelSpec, indication: str, seed: np.random.SeedSequence,
                   overrides: dict[str, float] | None = None,
                   product_parameters: dict[str, float] | None = None) -> tuple[dict[str, float], np.ndarray]:
    """Draw one virtual patient's covariates and model parameters from ``seed``.

    Returns ``(covariates, params)``; ``params`` is in the model's parameter order with log-normal
    IIV ``exp(eta)``, ``eta ~ N(0, omega2)``, applied to every parameter with ``omega2 > 0`` around
    its typical value (product-level overrides replace the typical value first).
    """
    ind = indication.upper()
    if ind not in DEFAULTS:
        raise SpecError(f"indication must be one of SLE, SSC, IIM; got {indication!r}")
    d = dict(DEFAULTS[ind])
    for k, v in (overrides or {}).items():
        if v is not None:
            d[k] = float(v)
    rng = np.random.Generator(np.random.PCG64(seed))
    z = rng.standard_normal(64)
    u = rng.random(64)
    eta = rng.standard_normal(len(spec.parameters))

    c: dict[str, float] = {}
    sd_age = max((d["age_max"] - d["age_min"]) / 4.0, 1.0)
    c["age"] = float(np.clip(np.round(d["age_median"] + sd_age * z[0]), d["age_min"], d["age_max"]))
    female = u[0] < d["female_fraction"]
    c["sex_female"] = float(female)
    c["weight_kg"] = round(_lognormal(z[1], d["weight_kg_median"] * (1.0 if female else 1.15), 0.18), 1)
    c["height_cm"] = float(round((164.0 if female else 177.0) + 7.0 * z[2], 1))
    c["bsa_m2"] = float(np.sqrt(c["height_cm"] * c["weight_kg"] / 3600.0))  # Mosteller 1987
    lymphopenic = ind == "SLE"
    c["B_ul0"] = _lognormal(z[3], 120.0 if lymphopenic else 180.0, 0.6)
    c["ANC0"] = _lognormal(z[4], 3.4 if ind == "SLE" else 4.2, 0.3)
    c["PLT0"] = _lognormal(z[5], 230.0, 0.25)
    c["L0"] = _lognormal(z[6], 1.0 if lymphopenic else 1.4, 0.35)
    c["hgb_g_dl"] = float(round((12.0 if female else 13.6) + 1.2 * z[7], 1))
    c["prior_immunosuppressants"] = float(2 + rng.poisson(d["prior_ist_extra"]))
    ln = ind == "SLE" and u[1] < d["lupus_nephritis_fraction"]
    c["lupus_nephritis"] = float(ln)
    c["egfr_ml_min"] = float(np.clip((70.0 if ln else 98.0) + (25.0 if ln else 15.0) * z[8], 15.0, 140.0))
    c["creat_umol_l"] = float(np.clip(6200.0 / c["egfr_ml_min"] * (0.85 if female else 1.0), 35.0, 600.0))
    c["crp_mg_l"] = _lognormal(z[9], 3.0, 0.8)
    # host susceptibility beyond what IL-6 and CAR-T levels carry (their own IIV and the site's daily noise
    # already spread the latents); larger values flattened Breakfree-1's dose-toxicity relation (CRS 61.5 ->
    # 100 %, ICANS 0 -> 33 % for 2.5x cells): see TUNING in _modules.py
    c["u_crs"] = float(0.3 * z[10])
    c["u_icans"] = float(0.6 * z[11])
    # complement: normal value per patient, baseline consumed in active disease (SLE most)
    c["C3_nl"] = 1.2 * float(np.exp(0.12 * z[12]))
    c["C4_nl"] = 0.26 * float(np.exp(0.15 * z[13]))
    consume3 = {"SLE": 0.62, "SSC": 0.92, "IIM": 0.92}[ind]
    c["C3_0"] = min(c["C3_nl"] * consume3 * float(np.exp(0.18 * z[14])), 0.98 * c["C3_nl"])
    c["C4_0"] = min(c["C4_nl"] * (consume3 - 0.05) * float(np.exp(0.25 * z[15])), 0.98 * c["C4_nl"])
    c["infl_pre"] = 0.0

    if ind == "SLE":
        c["anti_dsdna_iu_ml"] = _lognormal(z[16], 150.0, 1.0)
        c["upcr_g_g"] = _lognormal(z[17], 2.2 if ln else 0.12, 0.6 if ln else 0.5)
        c["upcr_floor_g_g"] = float(min(0.1 + 0.15 * u[2], c["upcr_g_g"]))
        score = 0
        for k, (code, _label, weight, organ, f_nonrenal, f_ln) in enumerate(SLEDAI_DESCRIPTORS):
            if organ == "serology":
                present = (code == "LOWCOMP" and c["C3_0"] < 0.9) or (code == "DNABIND" and c["anti_dsdna_iu_ml"] > 30.0)
            else:
                present = u[3 + k] < (f_ln if ln else f_nonrenal)
            c[f"sledai_{code}"] = float(present)
            # activity below which the descriptor resolves (fraction of baseline activity)
            c[f"tau_{code}"] = 0.2 + 0.6 * float(rng.random())
            score += weight * present
        c["sledai2k"] = float(score)
        organ_a = [ln, u[30] < 0.45, u[31] < 0.3 * (c["sledai_PLEURIS"] + c["sledai_PERICARD"] > 0)]
        c["bilag_a_domains"] = float(sum(organ_a) if any(organ_a) else (u[32] < 0.8))
        # which BILAG-2004 domains score A (the site records them): renal with nephritis, cardiorespiratory
        # with serositis (EVIDENCE.md: BF1 BILAG A renal 15, cardiorespiratory 4); the third draw and the
        # fallback are placed in the musculoskeletal and mucocutaneous domains (assumption)
        c["bilag_a_RENAL"] = float(organ_a[0])
        c["bilag_a_MUSCULOSKELETAL"] = float(organ_a[1])
        c["bilag_a_CARDIORESPIRATORY"] = float(organ_a[2])
        c["bilag_a_MUCOCUTANEOUS"] = float(not any(organ_a) and c["bilag_a_domains"] > 0)
        c["pga"] = round(float(np.clip(1.2 + 0.07 * score + 0.3 * z[18], 0.5, 3.0)), 2)
        # a few patients whose lupus is driven largely outside the CD19+ compartment (w_0 of the disease
        # module): they flare off therapy and restart immunosuppression (BF1 update: 92 % off SLE
        # immunosuppression, all evaluable patients but one free of clinical symptoms by 6 months)
        c["w_0"] = (0.6 + 0.3 * float(u[34])) if u[33] < SLE_PARTIAL_FRACTION else _lognormal(z[23], 0.02, 0.5)
    elif ind == "SSC":
        sev = float(np.clip(0.45 + 0.2 * z[16], 0.1, 0.95))
        total = 0
        for k, site in enumerate(MRSS_SITES):
            s = int(np.clip(np.round(3.0 * sev + 0.8 * rng.standard_normal()), 0, 3))
            c[f"mrss_{site}"] = float(s)
            total += s
        c["mrss"] = float(total)
        c["fvc_pct_pred"] = round(float(np.clip(74.0 + 13.0 * z[17], 40.0, 110.0)), 1)
        c["fvc_reversible"] = 0.25 + 0.35 * float(u[3])
        c["disease_duration_years"] = round(_lognormal(z[18], 2.5, 0.7), 1)
        c["haq_di"] = round(float(np.clip(1.3 + 0.5 * z[19], 0.0, 3.0)), 3)
        c["pt_global"] = round(float(np.clip(6.0 + 1.8 * z[20], 0.0, 10.0)), 1)
        c["md_global"] = round(float(np.clip(5.5 + 1.5 * z[21], 0.0, 10.0)), 1)
    else:  # IIM
        deficit = float(np.clip(46.0 + 12.0 * z[16], 8.0, 90.0))  # MMT-8 points below 150 (tuned, see TUNING)
        c["mmt8"] = float(np.round(150.0 - deficit))
        c["ck_u_l"] = _lognormal(z[17], 1800.0, 1.0)
        c["physician_global"] = round(float(np.clip(6.0 + 1.5 * z[18], 1.0, 10.0)), 1)
        c["patient_global"] = round(float(np.clip(6.2 + 1.6 * z[19], 1.0, 10.0)), 1)
        c["haq_di"] = round(float(np.clip(1.4 + 0.5 * z[20], 0.125, 3.0)), 3)
        c["extramuscular"] = round(float(np.clip(3.5 + 1.5 * z[21], 0.5, 10.0)), 1)
        c["ck_floor_u_l"] = 60.0 + 80.0 * float(u[3])
        c["mmt8_recoverable"] = 0.75 + 0.25 * float(u[4])
        # share of each patient-reported / extramuscular measure that does not follow muscle inflammation
        # (damage, fatigue, chronic lung or skin involvement): per patient, so the six TIS core-set
        # measures dissociate as they do in trials (assumption, tuned with w_0 to BF1 IIM's TIS categories)
        c["ptga_fixed"] = 0.15 + 0.45 * float(u[5])
        c["haq_fixed"] = 0.15 + 0.45 * float(u[6])
        c["extramus_fixed"] = 0.6 * float(u[7])
        # B-cell-independent share of the myositis drive (w_0 of the disease module): a mixture, because
        # BF1 IIM had 64 % major and 27 % moderate TIS responders while the median MMT-8 still rose 22 % by
        # 6 months (ACR 2025), i.e. most patients respond almost completely and a large minority only partly;
        # a single log-normal gave either all-major or a median MMT-8 gain far below 22 % (tuned, see TUNING)
        partial = u[8] < IIM_PARTIAL_FRACTION
        c["w_0"] = (0.55 + 0.25 * float(u[9])) if partial else _lognormal(z[22], 0.04, 0.5)

    typical = spec.typical_values().copy()
    names = spec.parameter_names
    for k, v in (product_parameters or {}).items():
        if k in names:
            typical[names.index(k)] = float(v)
    omega = np.sqrt([p.omega2 for p in spec.parameters])
    params = typical * np.exp(omega * eta)
    for j, p in enumerate(spec.parameters):
        if p.kind != "model":
            params[j] = typical[j]
        if p.kind == "covariate" and p.name in c:
            params[j] = c[p.name]
    return c, params
