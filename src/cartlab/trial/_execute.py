"""The virtual site: screening, the infusion timeline, the pre-infusion gate, simulation, and the
raw observations a real site records, written as SDTM tables.

Grades and scores are not written by the model: the site records signs (temperatures, blood
pressure, vasopressors, oxygen, ICE items, disease descriptors, lab values with assay noise and
LLOQs) and the instruments of :mod:`cartlab.instruments` (ASTCT CRS/ICANS, ICE, CTCAE v5.0) turn
them into AE records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from .._core.errors import SpecError
from ..model import (
    MMT8_GROUPS,
    MRSS_SITES,
    SLEDAI_DESCRIPTORS,
    PatientInputs,
    Regimen,
    SimulationResult,
    SolverOptions,
    build_model,
    sample_patient,
    simulate,
)
from ..instruments._cart_toxicity import grade_crs_astct, grade_icans_astct, ice_score, toxicity_episodes
from ..instruments._ctcae import grade_ctcae
from ..instruments._derive_scores import MMT8_LABELS, MMT8_TESTCD, MRSS_LABELS, MRSS_TESTCD
from ..protocol import Protocol

#: QS test codes (at most 8 characters, unique per side) of the mRSS sites and MMT-8 groups the site records,
#: as the instrument derivations read them
_MRSS_CODE = {label: code for code, name in MRSS_TESTCD.items() for label, n2 in MRSS_LABELS.items() if n2 == name}
_MMT8_CODE = {label: code for code, name in MMT8_TESTCD.items() for label, n2 in MMT8_LABELS.items() if n2 == name}

STUDY_START = dt.date(2024, 1, 8)
LLOQ_TRANSGENE = 5.0  # copies/µg gDNA (ddPCR; assumption in the range reported for CAR-T assays)
LLOQ_B = 1.0  # B cells/µL (flow, MODEL.md)
LLOQ_CART = 0.5  # CAR+ T cells/µL (flow, assumption)
VCN = 1.5  # vector copies per transduced cell (assumption)
CELLS_PER_UG_DNA = 1.5e5  # MODEL.md
ULN_DSDNA = 30.0  # IU/mL (assay-dependent; assumption)
LLN = {"NEUT": 1.8, "PLAT": 150.0, "LYM": 1.0, "WBC": 4.0, "C3": 0.9, "C4": 0.1}


@dataclass(frozen=True)
class TrialRun:
    """One simulated trial: SDTM tables plus the kernel result of the treated subjects."""

    protocol: Protocol
    seed: int
    replicate: int
    tables: dict[str, pl.DataFrame]
    n_screened: int
    n_failed_solves: int


def _dy(day: int) -> int:
    """SDTM study day: no day 0, infusion (protocol day 0) is Day 1."""
    return day + 1 if day >= 0 else day


def _noise(rng: np.random.Generator, value: np.ndarray, cv: float) -> np.ndarray:
    return value * np.exp(cv * rng.standard_normal(np.shape(value)))


def regimen_for(protocol: Protocol) -> Regimen:
    s = protocol.schedule
    r = protocol.rescue
    check = s.daily_monitoring_days + 1
    save = sorted(set(s.all_days) | set(range(check)))
    return Regimen(
        save_days=tuple(float(d) for d in save), check_days=check,
        disease_days=tuple(float(d) for d in s.disease_days),
        withdrawal_day=float(protocol.immunosuppression.withdrawal_day),
        restart_on_flare=bool(protocol.immunosuppression.restart_on_flare),
        crs_trigger=r.tocilizumab_crs_grade, icans_trigger=r.steroid_icans_grade,
        toci_max=r.tocilizumab_max_doses, dex_mg_per_day=r.dexamethasone_mg_per_day, dex_days=r.dexamethasone_days,
    )


#: immunosuppressive therapies a refractory patient may have had before enrolment, by indication (drugs
#: named in the seeds' eligibility and in EULAR management recommendations; the site records a patient's
#: ``prior_immunosuppressants`` count as that many of these, the current one included)
_PRIOR_IST = {
    "SLE": ("MYCOPHENOLATE MOFETIL", "AZATHIOPRINE", "CYCLOPHOSPHAMIDE", "TACROLIMUS", "BELIMUMAB", "RITUXIMAB",
            "METHOTREXATE", "ANIFROLUMAB", "VOCLOSPORIN", "CICLOSPORIN"),
    "SSC": ("MYCOPHENOLATE MOFETIL", "METHOTREXATE", "CYCLOPHOSPHAMIDE", "AZATHIOPRINE", "RITUXIMAB", "TOCILIZUMAB"),
    "IIM": ("METHOTREXATE", "AZATHIOPRINE", "MYCOPHENOLATE MOFETIL", "TACROLIMUS", "RITUXIMAB", "CYCLOPHOSPHAMIDE",
            "CICLOSPORIN"),
}
#: BILAG-2004 domains (Isenberg DA et al. Rheumatology 2005;44:902), recorded at every SLE assessment
_BILAG_DOMAINS = ("CONSTITUTIONAL", "MUCOCUTANEOUS", "NEUROPSYCHIATRIC", "MUSCULOSKELETAL", "CARDIORESPIRATORY",
                  "GASTROINTESTINAL", "OPHTHALMIC", "RENAL", "HAEMATOLOGICAL")
#: the BILAG-2004 domain in which each SLE-attributed SLEDAI-2K descriptor is activity (serology has none;
#: cutaneous vasculitis is scored in the mucocutaneous domain, retinal changes in the ophthalmic domain)
_BILAG_OF_SLEDAI = {
    "SEIZURE": "NEUROPSYCHIATRIC", "PSYCHOS": "NEUROPSYCHIATRIC", "OBS": "NEUROPSYCHIATRIC",
    "VISUAL": "OPHTHALMIC", "CRANIAL": "NEUROPSYCHIATRIC", "HEADACHE": "NEUROPSYCHIATRIC", "CVA": "NEUROPSYCHIATRIC",
    "VASCULIT": "MUCOCUTANEOUS", "ARTHRIT": "MUSCULOSKELETAL", "MYOSIT": "MUSCULOSKELETAL", "CASTS": "RENAL",
    "HEMATUR": "RENAL", "PROTEIN": "RENAL", "PYURIA": "RENAL", "RASH": "MUCOCUTANEOUS", "ALOPEC": "MUCOCUTANEOUS",
    "MUCOSAL": "MUCOCUTANEOUS", "PLEURIS": "CARDIORESPIRATORY", "PERICARD": "CARDIORESPIRATORY",
    "FEVER": "CONSTITUTIONAL", "THROMBO": "HAEMATOLOGICAL", "LEUKOPEN": "HAEMATOLOGICAL",
}


def _bilag_grade(domain: str, a_at_baseline: bool, active: bool, seen: bool, baseline: bool) -> str:
    """A virtual assessor's BILAG-2004 grade. The model decides which domains are A at screening (the
    population's ``bilag_a_*``); afterwards a domain is A while one of its SLEDAI-2K descriptors is active
    (baseline-A domains) or B (others: the model has no severity within a domain), D once activity has
    gone from a domain that had it (improving/inactive, BILAG-2004 'D'), E if never involved."""
    if baseline and a_at_baseline:
        return "A"
    if active:
        return "A" if a_at_baseline else "B"
    return "D" if (seen or a_at_baseline) else "E"


def _eligible(protocol: Protocol, c: dict[str, float], arm: int) -> tuple[bool, str]:
    el = protocol.eligibility
    if not (el.age_min <= c["age"] <= el.age_max):
        return False, f"age {c['age']:.0f} outside {el.age_min}-{el.age_max}"
    for crit in el.criteria + protocol.arms[arm].criteria:
        if not bool(crit.evaluate(np.array([c[crit.variable]]))[0]):
            return False, f"not {crit.text} (value {c[crit.variable]:g})"
    return True, ""


def run_trial(protocol: Protocol, *, seed: int, replicate: int = 0,
              progress: Callable[[int, int], None] | None = None,
              options: SolverOptions = SolverOptions(), arm_keys: tuple[int, ...] | None = None) -> TrialRun:
    """Screen, enrol, treat and follow the protocol's virtual patients; return SDTM tables.

    Patient ``j`` of arm ``a`` draws everything from ``SeedSequence(seed, spawn_key=(replicate, a, j))``
    (screening candidates included), so results do not depend on thread count or batching.
    ``arm_keys`` replaces ``a`` by ``arm_keys[a]`` in that key, so that a protocol holding a subset
    of another's arms draws the same patients for them (dose escalation treats only some levels).

    A protocol with a ``[design]`` table is run as a dose-escalation trial (Part A, then Part B at
    the selected dose): see :func:`cartlab.trial.run_escalation`.
    """
    if protocol.design is not None:
        from ._escalation import run_escalation

        return run_escalation(protocol, seed=seed, replicate=replicate, progress=progress, options=options)
    if arm_keys is not None and (len(arm_keys) != len(protocol.arms) or len(set(arm_keys)) != len(arm_keys)):
        raise SpecError(f"arm_keys must give one distinct key per arm ({len(protocol.arms)}); got {arm_keys!r}")
    spec = build_model(protocol.trial.indication)
    pop_over = {k: getattr(protocol.population, k) for k in
                ("age_median", "age_min", "age_max", "female_fraction", "weight_kg_median", "lupus_nephritis_fraction")}
    site = protocol.site
    subjects: list[dict] = []
    screen_fail: list[dict] = []
    params: list[np.ndarray] = []
    for a, arm in enumerate(protocol.arms):
        j = 0
        while sum(1 for s in subjects if s["arm"] == a) < arm.n:
            if j > 50 * arm.n + 100:
                raise SpecError(f"{protocol.trial.study_id}: eligibility excludes nearly every virtual patient of "
                                f"arm {arm.code} ({j} screened); check [eligibility] against [population]")
            ss = np.random.SeedSequence(seed, spawn_key=(replicate, a if arm_keys is None else arm_keys[a], j))
            phys, site_ss = ss.spawn(2)
            c, p = sample_patient(spec, protocol.trial.indication, phys, pop_over, dict(protocol.product.model_parameters))
            ok, why = _eligible(protocol, c, a)
            subj = {"arm": a, "screen_no": j, "cov": c, "site_seed": site_ss, "why": why}
            if ok:
                subjects.append(subj)
                params.append(p)
            else:
                screen_fail.append(subj)
            j += 1
    n = len(subjects)
    n_check = protocol.schedule.daily_monitoring_days + 1
    ld = protocol.lymphodepletion
    k_ld = sum(len(agent.days) for agent in ld)
    P = np.array(params)
    ld_day = np.full((n, max(k_ld, 1)), np.nan)
    ld_cy = np.zeros_like(ld_day)
    ld_flu = np.zeros_like(ld_day)
    dose = np.zeros(n)
    toci = np.zeros(n)
    eps_crs = np.zeros((n, n_check))
    eps_icans = np.zeros((n, n_check))
    ip = {name: i for i, name in enumerate(spec.parameter_names)}
    for i, s in enumerate(subjects):
        c = s["cov"]
        rng = np.random.Generator(np.random.PCG64(s["site_seed"]))
        s["rng"] = rng
        # pre-infusion gate: fever/infection inside the window before the planned infusion
        fever = rng.random() < site.pre_infusion_fever_prob
        missed = rng.random() < site.gate_miss_prob * (0.2 if protocol.safety_window.written_confirmation else 1.0)
        delay = 0
        s["fever_day"] = None
        s["gate"] = "none"
        if fever:
            s["fever_day"] = -int(rng.integers(1, max(protocol.safety_window.fever_free_days, 2)))
            if missed:
                s["gate"] = "missed"
                P[i, ip["infl_pre"]] = 1.0
            else:
                s["gate"] = "delayed"
                delay = site.infusion_delay_days
        s["delay"] = delay
        col = 0
        for agent in ld:
            for d in agent.days:
                ld_day[i, col] = d - delay
                if agent.drug == "cyclophosphamide":
                    ld_cy[i, col] = agent.dose_mg_m2 * c["bsa_m2"]  # mg; the model divides by its V_Cy
                elif agent.drug == "fludarabine":
                    ld_flu[i, col] = agent.dose_mg_m2
                else:  # bendamustine: treated as fludarabine-like exposure scaled by dose (assumption)
                    ld_flu[i, col] = agent.dose_mg_m2 * 0.3
                col += 1
        arm = protocol.arms[s["arm"]]
        dose[i] = float(arm.dose.total_cells(c["weight_kg"])) * protocol.product.viable_fraction
        toci[i] = min(protocol.rescue.tocilizumab_mg_kg * c["weight_kg"], protocol.rescue.tocilizumab_max_mg)
        eps_crs[i] = 0.35 * rng.standard_normal(n_check)
        eps_icans[i] = 0.35 * rng.standard_normal(n_check)
    inputs = PatientInputs(P, ld_day, ld_cy, ld_flu, dose, np.zeros(n), toci, eps_crs, eps_icans)
    regimen = regimen_for(protocol)
    if progress:
        progress(0, n)
    sim = simulate(spec, regimen, inputs, options)
    if progress:
        progress(n, n)
    tables = _sdtm(protocol, subjects, screen_fail, sim, inputs, replicate)
    return TrialRun(protocol, seed, replicate, tables, n + len(screen_fail), int(np.sum(sim.status != 0)))


# ------------------------------------------------------------------------------------------ SDTM
class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, **kw) -> None:
        self.rows.append(kw)

    def frame(self, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=schema, orient="row") if self.rows else pl.DataFrame(schema=schema)


def _date(d0: dt.date, day: float) -> str:
    return (d0 + dt.timedelta(days=int(day))).isoformat()


S, F, I = pl.Utf8, pl.Float64, pl.Int64


def _sdtm(protocol: Protocol, subjects, screen_fail, sim: SimulationResult, inputs: PatientInputs,
          replicate: int) -> dict[str, pl.DataFrame]:
    study = protocol.trial.study_id
    ind = protocol.trial.indication
    sch = protocol.schedule
    days = sim.days
    dm, ds, ex, pr, cm, ae, lb, cp, pc, vs, qs, fa, dv, re_ = (_Rows() for _ in range(14))
    lab_days = set(sch.lab_days)
    pk_days = set(sch.pk_days)
    dis_days = set(sch.disease_days)
    prod = protocol.product
    ist_drug = {"SLE": "MYCOPHENOLATE MOFETIL", "SSC": "MYCOPHENOLATE MOFETIL", "IIM": "METHOTREXATE"}[ind]
    # earlier immunosuppressive therapies recorded in CM (the count is the patient's covariate; the drugs are
    # taken in turn from the indication's usual list, without a random draw, so other records do not move)
    prior_drugs = [d for d in _PRIOR_IST[ind] if d != ist_drug]

    for s in screen_fail:
        uid = f"{study}-S{s['arm'] + 1}{s['screen_no']:03d}" + (f"-R{replicate}" if replicate else "")
        consent = STUDY_START + dt.timedelta(days=14 * s["screen_no"] + 150 * s["arm"])
        dm.add(STUDYID=study, DOMAIN="DM", USUBJID=uid, SUBJID=uid.split("-")[-1], SITEID="001", RFSTDTC=None,
               RFXSTDTC=None, RFICDTC=consent.isoformat(), AGE=int(s["cov"]["age"]), AGEU="YEARS",
               SEX="F" if s["cov"]["sex_female"] else "M", ARMCD="SCRNFAIL", ARM="Screen Failure",
               ACTARMCD="SCRNFAIL", ACTARM="Screen Failure", COUNTRY="USA", ARMNRS=None)
        ds.add(STUDYID=study, DOMAIN="DS", USUBJID=uid, DSSEQ=1, DSTERM=f"SCREEN FAILURE: {s['why']}",
               DSDECOD="SCREEN FAILURE", DSCAT="DISPOSITION EVENT", DSSTDTC=consent.isoformat(), DSSTDY=None)

    idx_s = {name: i for i, name in enumerate(sim.spec.state_names)}
    pidx = {name: i for i, name in enumerate(sim.spec.parameter_names)}
    save_pos = {int(d): k for k, d in enumerate(days)}
    for i, s in enumerate(subjects):
        arm = protocol.arms[s["arm"]]
        c = s["cov"]
        rng: np.random.Generator = s["rng"]
        uid = f"{study}-{arm.code}-{s['screen_no'] + 1:03d}" + (f"-R{replicate}" if replicate else "")
        d0 = STUDY_START + dt.timedelta(days=14 * s["screen_no"] + 150 * s["arm"] + 60)  # infusion date
        ok = sim.status[i] == 0
        Y = sim.states[i]
        O = sim.outputs[i]
        val = lambda name: Y[:, idx_s[name]]  # noqa: E731
        # a failed solve leaves NaN from the failure on: nothing is recorded after it (like a lost patient)
        solved = np.isfinite(Y).all(axis=1)
        out = lambda name: O[:, sim.output_names.index(name)]  # noqa: E731
        dm.add(STUDYID=study, DOMAIN="DM", USUBJID=uid, SUBJID=uid.split("-", 1)[1], SITEID="001",
               RFSTDTC=d0.isoformat(), RFXSTDTC=d0.isoformat(), RFICDTC=_date(d0, sch.screening_day),
               AGE=int(c["age"]), AGEU="YEARS", SEX="F" if c["sex_female"] else "M", ARMCD=arm.code, ARM=arm.name,
               ACTARMCD=arm.code, ACTARM=arm.name, COUNTRY="USA", ARMNRS=None)
        ds.add(STUDYID=study, DOMAIN="DS", USUBJID=uid, DSSEQ=1, DSTERM="INFORMED CONSENT OBTAINED",
               DSDECOD="INFORMED CONSENT OBTAINED", DSCAT="PROTOCOL MILESTONE",
               DSSTDTC=_date(d0, sch.screening_day), DSSTDY=_dy(sch.screening_day))
        for code, name, v, u in (("WEIGHT", "Weight", c["weight_kg"], "kg"), ("HEIGHT", "Height", c["height_cm"], "cm")):
            vs.add(STUDYID=study, DOMAIN="VS", USUBJID=uid, VSTESTCD=code, VSTEST=name, VSSTRESN=float(v),
                   VSSTRESU=u, VSDTC=_date(d0, sch.screening_day), VSDY=_dy(sch.screening_day), VISIT="SCREENING")
        end_day = sch.follow_up_days
        ds.add(STUDYID=study, DOMAIN="DS", USUBJID=uid, DSSEQ=2,
               DSTERM="COMPLETED" if ok else f"SIMULATION FAILED: {sim.status_messages()[i]}",
               DSDECOD="COMPLETED" if ok else "OTHER", DSCAT="DISPOSITION EVENT", DSSTDTC=_date(d0, end_day),
               DSSTDY=_dy(end_day))
        # timeline: apheresis -> manufacture -> lymphodepletion -> infusion
        first_ld = int(np.nanmin(inputs.ld_day[i])) if np.isfinite(inputs.ld_day[i]).any() else 0
        aph = first_ld - prod.manufacturing_days - 3
        pr.add(STUDYID=study, DOMAIN="PR", USUBJID=uid, PRTRT="LEUKAPHERESIS", PRCAT="CAR-T PROCESS", PRDOSE=None,
               PRDOSU=None, PRSTDTC=_date(d0, aph), PRSTDY=_dy(aph))
        ex_seq = 0
        for agent in protocol.lymphodepletion:
            for d in agent.days:
                dd = d - s["delay"]
                ex_seq += 1
                ex.add(STUDYID=study, DOMAIN="EX", USUBJID=uid, EXSEQ=ex_seq, EXTRT=agent.drug.upper(),
                       EXCAT="LYMPHODEPLETION", EXDOSE=round(agent.dose_mg_m2 * c["bsa_m2"], 1), EXDOSU="mg",
                       EXROUTE="INTRAVENOUS", EXSTDTC=_date(d0, dd), EXSTDY=_dy(dd))
        ex_seq += 1
        ex.add(STUDYID=study, DOMAIN="EX", USUBJID=uid, EXSEQ=ex_seq, EXTRT=prod.name, EXCAT="CAR-T INFUSION",
               EXDOSE=float(inputs.dose_effector[i]), EXDOSU="CELLS", EXROUTE="INTRAVENOUS",
               EXSTDTC=d0.isoformat(), EXSTDY=1)
        # pre-infusion gate
        if s["fever_day"] is not None:
            fd = s["fever_day"] - (s["delay"] if s["gate"] == "delayed" else 0)
            vs.add(STUDYID=study, DOMAIN="VS", USUBJID=uid, VSTESTCD="TEMP", VSTEST="Temperature",
                   VSSTRESN=round(38.0 + 0.2 + 0.4 * abs(rng.standard_normal()), 1), VSSTRESU="C",
                   VSDTC=_date(d0, fd), VSDY=_dy(fd), VISIT="UNSCHEDULED")
            ae.add(STUDYID=study, DOMAIN="AE", USUBJID=uid, AETERM="Fever before infusion", AEDECOD="Pyrexia",
                   AEBODSYS="General disorders and administration site conditions", AETOXGR="1", AESER="N",
                   AESTDTC=_date(d0, fd), AESTDY=_dy(fd), AEENDTC=_date(d0, fd + 1), AEENDY=_dy(fd + 1),
                   AEREL="NOT RELATED", AEACN=None)
            if s["gate"] == "missed":
                dv.add(STUDYID=study, DOMAIN="DV", USUBJID=uid, DVTERM="Infused despite fever within "
                       f"{protocol.safety_window.fever_free_days} days before infusion; medical monitor not informed",
                       DVDECOD="PRE-INFUSION SAFETY WINDOW", DVCAT="MAJOR", DVSTDTC=d0.isoformat(), DVSTDY=1)
        if protocol.safety_window.written_confirmation and s["gate"] != "missed":
            ds.add(STUDYID=study, DOMAIN="DS", USUBJID=uid, DSSEQ=3, DSTERM="PRE-INFUSION SAFETY CONFIRMED",
                   DSDECOD="PRE-INFUSION SAFETY CONFIRMED", DSCAT="PROTOCOL MILESTONE", DSSTDTC=_date(d0, -1),
                   DSSTDY=_dy(-1))
        # background immunosuppression and its withdrawal / restart
        wd = protocol.immunosuppression.withdrawal_day
        restart = sim.ist_restart_day[i]
        n_prior = min(max(int(c["prior_immunosuppressants"]) - 1, 0), len(prior_drugs))
        for k in range(n_prior):
            drug = prior_drugs[(s["screen_no"] + k) % len(prior_drugs)]
            start, stop = sch.screening_day - 365 * (n_prior - k + 1), sch.screening_day - 365 * (n_prior - k) - 30
            cm.add(STUDYID=study, DOMAIN="CM", USUBJID=uid, CMTRT=drug, CMCAT="IMMUNOSUPPRESSANT", CMDOSE=None,
                   CMDOSU=None, CMSTDTC=_date(d0, start), CMSTDY=_dy(start), CMENDTC=_date(d0, stop), CMENDY=_dy(stop))
        cm.add(STUDYID=study, DOMAIN="CM", USUBJID=uid, CMTRT=ist_drug, CMCAT="IMMUNOSUPPRESSANT", CMDOSE=None,
               CMDOSU=None, CMSTDTC=_date(d0, sch.screening_day - 365), CMSTDY=_dy(sch.screening_day - 365),
               CMENDTC=_date(d0, wd), CMENDY=_dy(wd))
        if np.isfinite(restart):
            cm.add(STUDYID=study, DOMAIN="CM", USUBJID=uid, CMTRT=ist_drug, CMCAT="IMMUNOSUPPRESSANT", CMDOSE=None,
                   CMDOSU=None, CMSTDTC=_date(d0, restart), CMSTDY=_dy(int(restart)), CMENDTC=None, CMENDY=None)
        for td in sim.toci_day[i][np.isfinite(sim.toci_day[i])]:
            cm.add(STUDYID=study, DOMAIN="CM", USUBJID=uid, CMTRT="TOCILIZUMAB", CMCAT="CRS/ICANS RESCUE",
                   CMDOSE=float(inputs.toci_mg[i]), CMDOSU="mg", CMSTDTC=_date(d0, td), CMSTDY=_dy(int(td)),
                   CMENDTC=_date(d0, td), CMENDY=_dy(int(td)))
        for xd in sim.dex_day[i][np.isfinite(sim.dex_day[i])]:
            end = int(xd) + protocol.rescue.dexamethasone_days - 1
            cm.add(STUDYID=study, DOMAIN="CM", USUBJID=uid, CMTRT="DEXAMETHASONE", CMCAT="CRS/ICANS RESCUE",
                   CMDOSE=protocol.rescue.dexamethasone_mg_per_day, CMDOSU="mg/day", CMSTDTC=_date(d0, xd),
                   CMSTDY=_dy(int(xd)), CMENDTC=_date(d0, end), CMENDY=_dy(end))

        # ---- daily inpatient signs from the latent CRS/ICANS levels
        n_check = sim.crs_level.shape[1]
        crs_lvl = sim.crs_level[i].astype(int)
        icans_lvl = sim.icans_level[i].astype(int)
        toci_days = sim.toci_day[i][np.isfinite(sim.toci_day[i])]
        organ_type = rng.random(n_check) < 0.5  # True: hypotension, False: hypoxia
        temp = np.where(crs_lvl >= 1, 38.2 + 0.5 * np.abs(rng.standard_normal(n_check)),
                        36.8 + 0.3 * np.clip(rng.standard_normal(n_check), -2, 2.5))
        anti_before = np.array([(toci_days < d).any() for d in range(n_check)])
        masked = anti_before & (crs_lvl >= 1) & (rng.random(n_check) < 0.6)  # antipyretic/anti-IL-6 masking
        temp = np.where(masked, 37.3 + 0.2 * rng.standard_normal(n_check), temp)
        sbp = 118 + 10 * rng.standard_normal(n_check)
        sbp = np.where((crs_lvl >= 2) & organ_type, 82 + 4 * rng.standard_normal(n_check), np.maximum(sbp, 95))
        vaso = np.where(organ_type & (crs_lvl >= 3), crs_lvl - 2, 0)
        o2 = np.where(~organ_type & (crs_lvl >= 2), crs_lvl - 1, 0)
        spo2 = np.where(o2 > 0, 93 + rng.integers(0, 3, n_check), 96 + rng.integers(0, 4, n_check))
        ice = np.select([icans_lvl == 4, icans_lvl == 3, icans_lvl == 2, icans_lvl == 1],
                        [0, rng.integers(0, 3, n_check), rng.integers(3, 7, n_check), rng.integers(7, 10, n_check)], 10)
        consc = np.where(icans_lvl == 4, 3, 0)
        seizure = np.zeros(n_check, dtype=int)
        # grade from the values as recorded below (rounded as in VS, devices and ICE items as recorded);
        # CRS is diagnosed once a fever (>= 38.0 C) has been recorded, on or before the day
        temp_rec = np.array([round(float(x), 1) for x in temp])
        sbp_rec = np.array([float(round(float(x))) for x in sbp])
        crs_ongoing = np.maximum.accumulate(temp_rec >= 38.0)
        crs_grade = grade_crs_astct(temp_rec, sbp_rec < 90.0, vaso, _O2_DEVICE[o2], _O2_FLOW[o2],
                                    fever_masked=anti_before & crs_ongoing)
        ice_items = np.array([_ice_items(int(x)) for x in ice]).reshape(n_check, len(ICE_ITEMS))
        icans_grade = grade_icans_astct(ice_score(*ice_items.T), _CONSCIOUSNESS[consc],
                                        np.where(seizure == 2, "prolonged_or_repetitive",
                                                 np.where(seizure == 1, "rapidly_resolving", "none")))
        for d in range(n_check):
            dtc = _date(d0, d)
            for code, name, v, u in (("TEMP", "Temperature", round(float(temp[d]), 1), "C"),
                                     ("SYSBP", "Systolic Blood Pressure", round(float(sbp[d])), "mmHg"),
                                     ("OXYSAT", "Oxygen Saturation", float(spo2[d]), "%")):
                vs.add(STUDYID=study, DOMAIN="VS", USUBJID=uid, VSTESTCD=code, VSTEST=name, VSSTRESN=float(v),
                       VSSTRESU=u, VSDTC=dtc, VSDY=_dy(d), VISIT=f"DAY {d}")
            if vaso[d] > 0:
                for v_i, drug in enumerate(("NOREPINEPHRINE", "PHENYLEPHRINE")[: int(vaso[d])]):
                    cm.add(STUDYID=study, DOMAIN="CM", USUBJID=uid, CMTRT=drug, CMCAT="VASOPRESSOR", CMDOSE=None,
                           CMDOSU=None, CMSTDTC=dtc, CMSTDY=_dy(d), CMENDTC=dtc, CMENDY=_dy(d))
            if o2[d] > 0:
                route = {1: "LOW-FLOW NASAL CANNULA", 2: "HIGH-FLOW NASAL CANNULA", 3: "NON-INVASIVE POSITIVE PRESSURE"}
                pr.add(STUDYID=study, DOMAIN="PR", USUBJID=uid, PRTRT="OXYGEN THERAPY", PRCAT=route[int(o2[d])],
                       PRDOSE={1: 3.0, 2: 30.0, 3: None}[int(o2[d])], PRDOSU="L/min", PRSTDTC=dtc, PRSTDY=_dy(d))
            for (tc, tname), sc in zip(ICE_ITEMS, ice_items[d].tolist()):
                qs.add(STUDYID=study, DOMAIN="QS", USUBJID=uid, QSCAT="ICE", QSTESTCD=tc, QSTEST=tname,
                       QSSTRESC=str(sc), QSSTRESN=float(sc), QSDTC=dtc, QSDY=_dy(d), VISIT=f"DAY {d}")
            fa.add(STUDYID=study, DOMAIN="FA", USUBJID=uid, FATESTCD="LOC", FATEST="Level of Consciousness",
                   FAOBJ="ICANS", FASTRESC=("ALERT", "AWAKENS TO VOICE", "AWAKENS TO TACTILE STIMULUS",
                                             "UNAROUSABLE")[int(consc[d])], FADTC=dtc, FADY=_dy(d))
        for onset, last, _, g, _ in toxicity_episodes(crs_grade, np.arange(n_check)):
            ae.add(STUDYID=study, DOMAIN="AE", USUBJID=uid, AETERM="Cytokine release syndrome",
                   AEDECOD="Cytokine release syndrome", AEBODSYS="Immune system disorders", AETOXGR=str(g),
                   AESER="Y" if g >= 2 else "N", AESTDTC=_date(d0, onset), AESTDY=_dy(onset),
                   AEENDTC=_date(d0, last + 1), AEENDY=_dy(last + 1), AEREL="RELATED", AEACN=None)
        for onset, last, _, g, _ in toxicity_episodes(icans_grade, np.arange(n_check)):
            ae.add(STUDYID=study, DOMAIN="AE", USUBJID=uid, AETERM="ICANS",
                   AEDECOD="Immune effector cell-associated neurotoxicity syndrome", AEBODSYS="Nervous system disorders",
                   AETOXGR=str(g), AESER="Y" if g >= 2 else "N", AESTDTC=_date(d0, onset), AESTDY=_dy(onset),
                   AEENDTC=_date(d0, last + 1), AEENDY=_dy(last + 1), AEREL="RELATED", AEACN=None)

        # ---- labs, flow, qPCR at scheduled days
        anc = _noise(rng, val("ANC"), 0.08)
        plt_ = _noise(rng, val("PLT"), 0.06)
        lym = _noise(rng, val("L") + out("CAR_ul") / 1000.0, 0.08)
        wbc = anc + lym + 0.45
        car_ul = out("CAR_ul")
        leuk_ul = 1000.0 * (val("ANC") + val("L")) + car_ul
        transgene = _noise(rng, car_ul / np.maximum(leuk_ul, 1.0) * VCN * CELLS_PER_UG_DNA, 0.25)
        b_ul = _noise(rng, sim.spec.parameters[pidx["f_Bblood"]].value * (val("Bn") + val("Bm")) / 5e6, 0.15)
        naive_pct = 100.0 * val("Bn") / np.maximum(val("Bn") + val("Bm"), 1e-30)
        il6 = _noise(rng, val("IL6"), 0.2)
        crp = _noise(rng, c["crp_mg_l"] * (val("IL6") / 3.0) ** 0.8, 0.15)
        c3 = _noise(rng, val("C3"), 0.05)
        c4 = _noise(rng, val("C4"), 0.08)
        labs = [("NEUT", "Neutrophils", anc, "10^9/L", LLN["NEUT"], 7.5, 2), ("PLAT", "Platelets", plt_, "10^9/L",
                LLN["PLAT"], 400.0, 0), ("LYM", "Lymphocytes", lym, "10^9/L", LLN["LYM"], 4.0, 2),
                ("WBC", "Leukocytes", wbc, "10^9/L", LLN["WBC"], 11.0, 2),
                ("IL6", "Interleukin 6", il6, "pg/mL", None, 7.0, 1), ("CRP", "C Reactive Protein", crp, "mg/L",
                None, 5.0, 1), ("C3", "Complement C3", c3, "g/L", LLN["C3"], 1.8, 2),
                ("C4", "Complement C4", c4, "g/L", LLN["C4"], 0.4, 2)]
        D = val("D")
        if ind == "SLE":
            dsdna = _noise(rng, c["anti_dsdna_iu_ml"] * val("Ab"), 0.15)
            upcr = _noise(rng, c["upcr_floor_g_g"] + (c["upcr_g_g"] - c["upcr_floor_g_g"]) * val("D_kid"), 0.2)
            labs += [("DSDNA", "Anti-dsDNA Antibody", dsdna, "IU/mL", None, ULN_DSDNA, 0),
                     ("PROTCRT", "Protein/Creatinine", upcr, "g/g", None, 0.2, 2)]
        if ind == "IIM":
            ck = _noise(rng, c["ck_floor_u_l"] + (c["ck_u_l"] - c["ck_floor_u_l"]) * val("D_musc"), 0.12)
            labs += [("CK", "Creatine Kinase", ck, "U/L", None, 200.0, 0)]
        for d in sorted(lab_days):
            kpos = save_pos[d]
            if not solved[kpos]:
                continue
            dtc = _date(d0, d)
            for code, name, arr, unit, lo, hi, dec in labs:
                v = float(arr[kpos])
                lb.add(STUDYID=study, DOMAIN="LB", USUBJID=uid, LBTESTCD=code, LBTEST=name,
                       LBSTRESN=round(v, dec) if np.isfinite(v) else None, LBSTRESU=unit, LBSTNRLO=lo, LBSTNRHI=hi,
                       LBDTC=dtc, LBDY=_dy(d), VISIT="SCREENING" if d == sch.screening_day else f"DAY {d}",
                       NFRLT=float(d))
        for d in sorted(pk_days | {0}):
            kpos = save_pos[d]
            if not solved[kpos]:
                continue
            dtc = _date(d0, d)
            v = float(transgene[kpos])
            blq = not (v >= LLOQ_TRANSGENE)
            pc.add(STUDYID=study, DOMAIN="PC", USUBJID=uid, PCTESTCD="TRANSGEN", PCTEST="CAR Transgene",
                   PCORRES="<LLOQ" if blq else f"{v:.1f}", PCSTRESN=None if blq else round(v, 1),
                   PCSTRESU="copies/ug", PCLLOQ=LLOQ_TRANSGENE, PCSPEC="BLOOD", PCDTC=dtc, PCDY=_dy(d), NFRLT=float(d))
            for code, name, arr, lloq in (("CARTCELL", "CAR+ T Cells", _noise(rng, car_ul, 0.2), LLOQ_CART),
                                          ("CD19", "CD19+ B Cells", b_ul, LLOQ_B)):
                v = float(arr[kpos])
                blq = not (v >= lloq)
                cp.add(STUDYID=study, DOMAIN="CP", USUBJID=uid, CPTESTCD=code, CPTEST=name,
                       CPORRES="<LLOQ" if blq else f"{v:.2f}", CPSTRESN=None if blq else round(v, 2),
                       CPSTRESU="cells/uL", CPLLOQ=lloq, CPDTC=dtc, CPDY=_dy(d), NFRLT=float(d))
            if b_ul[kpos] >= LLOQ_B:
                cp.add(STUDYID=study, DOMAIN="CP", USUBJID=uid, CPTESTCD="NAIVEB", CPTEST="Naive B Cells of CD19+",
                       CPORRES=f"{naive_pct[kpos]:.1f}", CPSTRESN=round(float(naive_pct[kpos]), 1), CPSTRESU="%",
                       CPLLOQ=None, CPDTC=dtc, CPDY=_dy(d), NFRLT=float(d))

        # ---- disease assessments
        haq_profile = _haq_profile(rng) if ind in ("SSC", "IIM") else None
        bilag_seen: set[str] = set()  # BILAG-2004 domains with SLE activity at an earlier assessment
        for d in sorted(dis_days):
            kpos = save_pos[d]
            if not solved[kpos]:
                continue
            dtc = _date(d0, d)
            visit = "SCREENING" if d == sch.screening_day else f"DAY {d}"
            act = float(D[kpos])

            def q(cat, code, name, value, *, text=None, derived=False):
                qs.add(STUDYID=study, DOMAIN="QS", USUBJID=uid, QSCAT=cat, QSTESTCD=code, QSTEST=name,
                       QSSTRESC=text if text is not None else f"{value:g}", QSSTRESN=None if text else float(value),
                       QSDRVFL="Y" if derived else None, QSDTC=dtc, QSDY=_dy(d), VISIT=visit)

            def haq(level):
                items, total = _haq_items(rng, level, haq_profile)
                for (code, name, _cat), v in zip(HAQ_ITEMS, items):
                    q("HAQ-DI", code, name, v)
                q("HAQ-DI", "HAQDI", "HAQ Disability Index", total, derived=True)

            if ind == "SLE":
                kid = float(val("D_kid")[kpos])
                active: set[str] = set()
                for code, label, _w, organ, _f1, _f2 in SLEDAI_DESCRIPTORS:
                    attributed = True
                    if organ == "serology":
                        present = (c3[kpos] < LLN["C3"] or c4[kpos] < LLN["C4"]) if code == "LOWCOMP" \
                            else dsdna[kpos] > ULN_DSDNA
                    elif organ == "haematological":
                        low = (plt_[kpos] < 100.0) if code == "THROMBO" else (wbc[kpos] < 3.0)
                        by_sle = c[f"sledai_{code}"] > 0 and act > c[f"tau_{code}"]
                        present = bool(low)
                        attributed = by_sle  # cytopenias from CAR-T/lymphodepletion are not SLE
                    elif code == "PROTEIN":  # SLEDAI-2K proteinuria > 0.5 g/24 h, read from the recorded UPCR
                        present = c["sledai_PROTEIN"] > 0 and upcr[kpos] > 0.5
                    else:
                        latent = kid if organ == "renal" else act
                        present = c[f"sledai_{code}"] > 0 and latent > c[f"tau_{code}"]
                    q("SLEDAI-2K", code, label, 0, text="Y" if present else "N")
                    if present:
                        fa.add(STUDYID=study, DOMAIN="FA", USUBJID=uid, FATESTCD="ATTRIB", FATEST="Attribution",
                               FAOBJ=code, FASTRESC="SLE" if attributed else "NOT SLE", FADTC=dtc, FADY=_dy(d))
                        if attributed and code in _BILAG_OF_SLEDAI:
                            active.add(_BILAG_OF_SLEDAI[code])
                for dom in _BILAG_DOMAINS:
                    grade = _bilag_grade(dom, c.get(f"bilag_a_{dom}", 0.0) > 0.0, dom in active,
                                         dom in bilag_seen, d == sch.screening_day)
                    q("BILAG-2004", f"BILAG{dom[:3]}", f"BILAG-2004 {dom.title()} Domain Grade", 0, text=grade)
                bilag_seen |= active | {dom for dom in _BILAG_DOMAINS if c.get(f"bilag_a_{dom}", 0.0) > 0.0}
                q("PGA", "PGA", "Physician Global Assessment (0-3)",
                  round(float(np.clip(c["pga"] * act + 0.15 * rng.standard_normal(), 0, 3)), 2))
            elif ind == "SSC":
                skin = float(val("D_skin")[kpos])
                for site_name in MRSS_SITES:
                    base = c[f"mrss_{site_name}"]
                    sv = int(np.clip(np.round(base * (0.35 + 0.65 * skin) + 0.3 * rng.standard_normal()), 0, 3))
                    q("MRSS", _MRSS_CODE[site_name], f"mRSS {site_name}", sv)
                lung = float(val("D_lung")[kpos])
                fvc = c["fvc_pct_pred"] + c["fvc_reversible"] * (100 - c["fvc_pct_pred"]) * (1 - lung)
                re_.add(STUDYID=study, DOMAIN="RE", USUBJID=uid, RETESTCD="FVCPP", RETEST="FVC Percent Predicted",
                        RESTRESN=round(float(fvc + 2.0 * rng.standard_normal()), 1), RESTRESU="%", REDTC=dtc,
                        REDY=_dy(d))
                haq(c["haq_di"] * (0.4 + 0.6 * act))
                q("GLOBAL", "PTGLOBAL", "Patient Global (0-10)", round(float(np.clip(c["pt_global"] * act, 0, 10)), 1))
                q("GLOBAL", "MDGLOBAL", "Physician Global (0-10)", round(float(np.clip(c["md_global"] * act, 0, 10)), 1))
            else:
                strength = float(val("D_str")[kpos])
                deficit = (150 - c["mmt8"]) * (1 - c["mmt8_recoverable"] * (1 - strength))
                total = int(np.clip(np.round(150 - deficit + 1.5 * rng.standard_normal()), 0, 150))
                for g_name, v in zip(("NECKFLEX",) + tuple(f"{g}_{s}" for g in MMT8_GROUPS[1:] for s in ("R", "L")),
                                     _split_mmt8(total)):
                    q("MMT-8", _MMT8_CODE[g_name], f"MMT-8 {g_name}", v)
                q("GLOBAL", "MDGLOBAL", "Physician Global (0-10)",
                  round(float(np.clip(c["physician_global"] * act, 0, 10)), 1))
                q("GLOBAL", "PTGLOBAL", "Patient Global (0-10)",
                  round(float(np.clip(c["patient_global"] * (c["ptga_fixed"] + (1 - c["ptga_fixed"]) * act), 0, 10)), 1))
                haq(c["haq_di"] * (c["haq_fixed"] + (1 - c["haq_fixed"]) * act))
                q("GLOBAL", "EXTRAMUS", "Extramuscular Activity (0-10)", round(float(np.clip(
                    c["extramuscular"] * (c["extramus_fixed"] + (1 - c["extramus_fixed"]) * act), 0, 10)), 1))

        # ---- cytopenia AEs from the recorded counts (CTCAE v5.0)
        lab_sorted = sorted(d for d in lab_days if solved[save_pos[d]])
        kp = [save_pos[d] for d in lab_sorted]
        post = np.array(lab_sorted) >= 0
        for code, decod, arr, dec in (("NEUT", "Neutrophil count decreased", anc, 2),
                                      ("PLAT", "Platelet count decreased", plt_, 0)):
            g = grade_ctcae(code, np.array([round(float(x), dec) for x in arr[kp]]), LLN[code])  # as recorded in LB
            g = np.where(post, g, 0)
            if (g >= 3).any():
                onset = lab_sorted[int(np.argmax(g >= 3))]
                after = [d for d, gg in zip(lab_sorted, g) if d > onset and gg < 3]
                end = after[0] if after else None
                ae.add(STUDYID=study, DOMAIN="AE", USUBJID=uid, AETERM=decod, AEDECOD=decod,
                       AEBODSYS="Investigations", AETOXGR=str(int(g.max())), AESER="N", AESTDTC=_date(d0, onset),
                       AESTDY=_dy(onset), AEENDTC=_date(d0, end) if end is not None else None,
                       AEENDY=_dy(end) if end is not None else None, AEREL="RELATED", AEACN=None)

    schemas = {
        "dm": dict(STUDYID=S, DOMAIN=S, USUBJID=S, SUBJID=S, SITEID=S, RFSTDTC=S, RFXSTDTC=S, RFICDTC=S, AGE=I, AGEU=S,
                   SEX=S, ARMCD=S, ARM=S, ACTARMCD=S, ACTARM=S, COUNTRY=S, ARMNRS=S),
        "ds": dict(STUDYID=S, DOMAIN=S, USUBJID=S, DSSEQ=I, DSTERM=S, DSDECOD=S, DSCAT=S, DSSTDTC=S, DSSTDY=I),
        "ex": dict(STUDYID=S, DOMAIN=S, USUBJID=S, EXSEQ=I, EXTRT=S, EXCAT=S, EXDOSE=F, EXDOSU=S, EXROUTE=S,
                   EXSTDTC=S, EXSTDY=I),
        "pr": dict(STUDYID=S, DOMAIN=S, USUBJID=S, PRTRT=S, PRCAT=S, PRDOSE=F, PRDOSU=S, PRSTDTC=S, PRSTDY=I),
        "cm": dict(STUDYID=S, DOMAIN=S, USUBJID=S, CMTRT=S, CMCAT=S, CMDOSE=F, CMDOSU=S, CMSTDTC=S, CMSTDY=I,
                   CMENDTC=S, CMENDY=I),
        "ae": dict(STUDYID=S, DOMAIN=S, USUBJID=S, AETERM=S, AEDECOD=S, AEBODSYS=S, AETOXGR=S, AESER=S, AESTDTC=S,
                   AESTDY=I, AEENDTC=S, AEENDY=I, AEREL=S, AEACN=S),
        "lb": dict(STUDYID=S, DOMAIN=S, USUBJID=S, LBTESTCD=S, LBTEST=S, LBSTRESN=F, LBSTRESU=S, LBSTNRLO=F,
                   LBSTNRHI=F, LBDTC=S, LBDY=I, VISIT=S, NFRLT=F),
        "cp": dict(STUDYID=S, DOMAIN=S, USUBJID=S, CPTESTCD=S, CPTEST=S, CPORRES=S, CPSTRESN=F, CPSTRESU=S,
                   CPLLOQ=F, CPDTC=S, CPDY=I, NFRLT=F),
        "pc": dict(STUDYID=S, DOMAIN=S, USUBJID=S, PCTESTCD=S, PCTEST=S, PCORRES=S, PCSTRESN=F, PCSTRESU=S,
                   PCLLOQ=F, PCSPEC=S, PCDTC=S, PCDY=I, NFRLT=F),
        "vs": dict(STUDYID=S, DOMAIN=S, USUBJID=S, VSTESTCD=S, VSTEST=S, VSSTRESN=F, VSSTRESU=S, VSDTC=S, VSDY=I,
                   VISIT=S),
        "qs": dict(STUDYID=S, DOMAIN=S, USUBJID=S, QSCAT=S, QSTESTCD=S, QSTEST=S, QSSTRESC=S, QSSTRESN=F, QSDRVFL=S,
                   QSDTC=S, QSDY=I, VISIT=S),
        "fa": dict(STUDYID=S, DOMAIN=S, USUBJID=S, FATESTCD=S, FATEST=S, FAOBJ=S, FASTRESC=S, FADTC=S, FADY=I),
        "dv": dict(STUDYID=S, DOMAIN=S, USUBJID=S, DVTERM=S, DVDECOD=S, DVCAT=S, DVSTDTC=S, DVSTDY=I),
        "re": dict(STUDYID=S, DOMAIN=S, USUBJID=S, RETESTCD=S, RETEST=S, RESTRESN=F, RESTRESU=S, REDTC=S, REDY=I),
    }
    rows = dict(dm=dm, ds=ds, ex=ex, pr=pr, cm=cm, ae=ae, lb=lb, cp=cp, pc=pc, vs=vs, qs=qs, fa=fa, dv=dv, re=re_)
    tables = {}
    for name, r in rows.items():
        df = r.frame(schemas[name])
        seq = f"{name.upper()}SEQ"
        if seq not in df.columns and name != "dm":
            df = df.with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").cast(pl.Int64).alias(seq))
        tables[name] = df
    return tables


#: site codes -> instrument categories (oxygen 0 none, 1 low-flow, 2 high-flow, 3 NIPPV; LOC 0-3)
_O2_DEVICE = np.array(["none", "nasal_cannula", "high_flow_nasal_cannula", "noninvasive_positive_pressure"])
_O2_FLOW = np.array([np.nan, 3.0, 30.0, np.nan])
_CONSCIOUSNESS = np.array(["normal", "awakens_to_voice", "awakens_to_tactile", "unarousable"])

ICE_ITEMS = (("ICE01", "Orientation (0-4)"), ("ICE02", "Naming (0-3)"), ("ICE03", "Following Commands (0-1)"),
             ("ICE04", "Writing (0-1)"), ("ICE05", "Attention (0-1)"))
_ICE_MAX = (4, 3, 1, 1, 1)
_ICE_LOSS_ORDER = (3, 4, 1, 0, 2)  # writing, attention, naming, orientation, command are lost in this order


def _ice_items(total: int) -> list[int]:
    """Split an ICE total (0–10) into its five items, losing points in a fixed clinical order."""
    items = list(_ICE_MAX)
    loss = 10 - total
    for k in _ICE_LOSS_ORDER:
        take = min(loss, items[k])
        items[k] -= take
        loss -= take
    return items


#: Stanford HAQ Disability Index: 20 items (0 without difficulty … 3 unable to do) in 8 categories
#: (Fries JF et al., Arthritis Rheum 1980;23:137; Bruce B, Fries JF, J Rheumatol 2003;30:167)
HAQ_CATEGORIES = ("Dressing and grooming", "Arising", "Eating", "Walking", "Hygiene", "Reach", "Grip",
                  "Activities")
HAQ_ITEMS = tuple((f"HAQ{k + 1:02d}", name, cat) for k, (name, cat) in enumerate((
    ("Dress yourself, including tying shoelaces and doing buttons", 0), ("Shampoo your hair", 0),
    ("Stand up from a straight chair", 1), ("Get in and out of bed", 1),
    ("Cut your meat", 2), ("Lift a full cup or glass to your mouth", 2), ("Open a new milk carton", 2),
    ("Walk outdoors on flat ground", 3), ("Climb up five steps", 3),
    ("Wash and dry your body", 4), ("Take a tub bath", 4), ("Get on and off the toilet", 4),
    ("Reach and get down a 5-pound object from just above your head", 5),
    ("Bend down to pick up clothing from the floor", 5),
    ("Open car doors", 6), ("Open jars which have been previously opened", 6), ("Turn faucets on and off", 6),
    ("Run errands and shop", 7), ("Get in and out of a car", 7), ("Do chores such as vacuuming or yardwork", 7),
)))


def haq_di(items: list[int]) -> float:
    """HAQ-DI from the 20 item scores: mean of the 8 category scores, each the worst item of its
    category (Bruce & Fries 2003; aids and devices are not recorded by the virtual site)."""
    worst = [0] * len(HAQ_CATEGORIES)
    for (_c, _n, cat), v in zip(HAQ_ITEMS, items):
        worst[cat] = max(worst[cat], v)
    return sum(worst) / len(worst)


def _haq_profile(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """A patient's fixed pattern: how much harder each category is for them, and which item of each
    category is their worst."""
    offsets = 0.4 * rng.standard_normal(len(HAQ_CATEGORIES))
    lead = [int(rng.integers(sum(1 for it in HAQ_ITEMS if it[2] == k))) for k in range(len(HAQ_CATEGORIES))]
    return offsets, lead


def _haq_items(rng: np.random.Generator, level: float, profile) -> tuple[list[int], float]:
    """The 20 answers of a patient whose disability is ``level`` (0–3) at this visit, and their
    HAQ-DI: each category's score is the level plus the patient's offset and visit noise, rounded;
    the patient's lead item of the category takes it, the others the same or one less."""
    offsets, lead = profile
    items: list[int] = []
    for k in range(len(HAQ_CATEGORIES)):
        score = int(np.clip(np.round(level + offsets[k] + 0.3 * rng.standard_normal()), 0, 3))
        members = [i for i, it in enumerate(HAQ_ITEMS) if it[2] == k]
        for pos, _ in enumerate(members):
            items.append(score if pos == lead[k] else max(0, score - int(rng.integers(2))))
    return items, haq_di(items)


def _split_mmt8(total: int) -> list[int]:
    """Split a bilateral MMT-8 total (0–150) over neck flexors + 7 paired groups (15 scores of 0–10)."""
    base, extra = divmod(total, 15)
    return [min(10, base + (1 if k < extra else 0)) for k in range(15)]
