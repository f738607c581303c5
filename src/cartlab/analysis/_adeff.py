"""ADEFF: efficacy parameters by visit — SLE, SSc and IIM instruments computed from SDTM by the instruments layer."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from ..instruments import (
    KDIGO_2024_COMPLETE,
    SLEDAI2K_DESCRIPTORS,
    SLEDAI2K_TESTCD,
    compute_doris_remission,
    compute_sri,
    compute_lldas,
    derive_criss,
    derive_haq_di,
    derive_mmt8,
    derive_mrss,
    derive_sledai2k,
    derive_tis,
)
from ..instruments._sle import BILAG2004_DOMAINS, SLEDAI2K_ORGAN_GROUPS
from ._common import day_from_infusion, empty_findings, tag_findings

ADEFF_LABELS: dict[str, str] = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "ARMCD": "Planned Arm Code",
    "PARAMCD": "Parameter Code", "PARAM": "Parameter", "PARAMTYP": "Parameter Type (CONT or RESP)",
    "ADY": "Analysis Relative Day", "AFRLT": "Days from Infusion", "AVISITN": "Analysis Visit (month)",
    "AVAL": "Analysis Value", "AVALC": "Analysis Value (C)", "ABLFL": "Baseline Record Flag",
    "BASE": "Baseline Value", "CHG": "Change from Baseline", "PCHG": "Percent Change from Baseline",
}

#: PARAMCD -> (PARAM, type): CONT = continuous score, RESP = responder flag (AVAL 1/0)
EFFICACY_PARAMS: dict[str, tuple[str, str]] = {
    "SLEDAI2K": ("SLEDAI-2K (0-105)", "CONT"), "CSLEDAI": ("Clinical SLEDAI (0-101)", "CONT"),
    "PGA": ("Physician Global Assessment (0-3)", "CONT"),
    "SRI4": ("SLE Responder Index 4 (Furie 2009)", "RESP"),
    "DORIS": ("DORIS 2021 remission", "RESP"), "LLDAS": ("LLDAS (Franklyn 2016)", "RESP"),
    "RENALCR": ("Complete renal response (UPCR < 0.5 g/g)", "RESP"),
    "MRSS": ("Modified Rodnan skin score (0-51)", "CONT"), "FVCPP": ("FVC % predicted", "CONT"),
    "CRISS": ("ACR CRISS improved (probability >= 0.60)", "RESP"),
    "MMT8": ("MMT-8 (0-150)", "CONT"), "CK": ("Creatine kinase (U/L)", "CONT"),
    "TIS": ("Total Improvement Score (0-100)", "CONT"),
    "TISMM": ("TIS moderate or major improvement (>= 40)", "RESP"),
    "TISMOD": ("TIS moderate improvement (40 to < 60)", "RESP"),
    "TISMAJ": ("TIS major improvement (>= 60)", "RESP"),
    "HAQDI": ("HAQ Disability Index, without aids (0-3)", "CONT"),
}

#: prednisolone-equivalent factor per mg of each glucocorticoid (CM CMTRT, upper case): equipotent
#: doses 5 mg prednisolone = 5 mg prednisone = 4 mg methylprednisolone = 0.75 mg dexamethasone =
#: 20 mg hydrocortisone (Liu D et al. Allergy Asthma Clin Immunol 2013;9:30, Table 1)
PREDNISOLONE_EQUIVALENT = {"PREDNISOLONE": 1.0, "PREDNISONE": 1.0, "METHYLPREDNISOLONE": 5.0 / 4.0,
                           "DEXAMETHASONE": 5.0 / 0.75, "HYDROCORTISONE": 5.0 / 20.0}

#: the renal response rule: KDIGO 2024 complete response on UPCR alone (no creatinine/eGFR in the store)
RENAL_RULE = dataclasses.replace(KDIGO_2024_COMPLETE, egfr_max_decline_pct=None,
                                 name="KDIGO 2024 complete renal response, UPCR criterion only")
#: baseline UPCR (g/g) from which a subject is counted as having active lupus nephritis
ACTIVE_LN_UPCR = 0.5


def _cont(df: pl.DataFrame, code: str, day: str, value: str) -> pl.DataFrame:
    return df.select("USUBJID", pl.col(day).cast(pl.Int64).alias("ADY"), pl.col(value).cast(pl.Float64).alias("AVAL"),
                     pl.lit(None, pl.String).alias("AVALC"), pl.lit(code).alias("PARAMCD"))


def _resp(df: pl.DataFrame, code: str, day: str, flag: str, avalc: str | None = None) -> pl.DataFrame:
    return df.select("USUBJID", pl.col(day).cast(pl.Int64).alias("ADY"), pl.col(flag).cast(pl.Float64).alias("AVAL"),
                     (pl.col(avalc) if avalc else pl.when(pl.col(flag)).then(pl.lit("Y")).otherwise(pl.lit("N")))
                     .cast(pl.String).alias("AVALC"), pl.lit(code).alias("PARAMCD"))


def prednisolone_dose(cm: pl.DataFrame | None, visits: pl.DataFrame) -> pl.Series:
    """Prednisolone-equivalent glucocorticoid dose (mg/day) on each (USUBJID, ADY) visit day, from CM.

    A CM record counts on a day from CMSTDY to CMENDY (open-ended: to the end); its CMDOSE is
    mg per day (CMDOSU ``mg/day`` or ``mg``), converted by :data:`PREDNISOLONE_EQUIVALENT`. CM is
    read as the complete medication log: no record means 0 mg.
    """
    if cm is None or cm.height == 0 or not {"CMTRT", "CMDOSE", "CMSTDY"} <= set(cm.columns):
        return pl.Series("PRED", np.zeros(visits.height))
    gc = cm.filter(pl.col("CMTRT").str.to_uppercase().is_in(list(PREDNISOLONE_EQUIVALENT))).select(
        "USUBJID", "CMSTDY", (pl.col("CMENDY") if "CMENDY" in cm.columns else pl.lit(None, pl.Int64)).alias("EN"),
        (pl.col("CMDOSE").fill_null(0.0) * pl.col("CMTRT").str.to_uppercase().replace_strict(PREDNISOLONE_EQUIVALENT,
                                                                                              return_dtype=pl.Float64)
         ).alias("MG"))
    v = visits.with_row_index("_i")
    hit = v.join(gc, on="USUBJID").filter((pl.col("CMSTDY") <= pl.col("ADY")) &
                                          (pl.col("EN").is_null() | (pl.col("EN") >= pl.col("ADY"))))
    dose = hit.group_by("_i").agg(pl.col("MG").sum())
    return v.join(dose, on="_i", how="left")["MG"].fill_null(0.0).alias("PRED")


def _sle(tables: dict[str, pl.DataFrame]) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    qs, fa, lb = tables["qs"], tables.get("fa"), tables.get("lb")
    if fa is None:
        fa = pl.DataFrame(schema={"USUBJID": pl.String, "FATESTCD": pl.String, "FADY": pl.Int64,
                                  "FAOBJ": pl.String, "FASTRESC": pl.String})
    parts, finds = [], []
    s2k, f1 = derive_sledai2k(qs, fa)
    cs, _f = derive_sledai2k(qs, fa, clinical=True)
    finds.append(tag_findings(f1, "ADEFF"))
    parts += [_cont(s2k, "SLEDAI2K", "QSDY", "SCORE"), _cont(cs, "CSLEDAI", "QSDY", "SCORE")]
    pga = qs.filter(pl.col("QSTESTCD") == "PGA").select("USUBJID", "QSDY", pl.col("QSSTRESN").alias("PGA"))
    parts.append(_cont(pga, "PGA", "QSDY", "PGA"))
    vis = (s2k.join(cs.rename({"SCORE": "CS"}), on=["USUBJID", "QSDY"]).join(pga, on=["USUBJID", "QSDY"])
           .drop_nulls(["SCORE", "CS", "PGA"]).sort("USUBJID", "QSDY"))
    if vis.height:
        pred = prednisolone_dose(tables.get("cm"), vis.select("USUBJID", pl.col("QSDY").alias("ADY"))).to_numpy()
        pga_v = np.round(vis["PGA"].to_numpy(), 2)
        doris = compute_doris_remission(vis["CS"].to_numpy().astype(int), pga_v, pred, np.ones(vis.height, bool))
        parts.append(_resp(vis.with_columns(pl.Series("F", doris)), "DORIS", "QSDY", "F"))
        # organ activity flags for LLDAS from the SLE-attributed descriptors of each visit
        name = dict(zip(SLEDAI2K_TESTCD, SLEDAI2K_DESCRIPTORS))
        att = fa.filter(pl.col("FATESTCD") == "ATTRIB").select("USUBJID", pl.col("FADY").alias("QSDY"),
                                                               pl.col("FAOBJ").alias("QSTESTCD"), "FASTRESC")
        act = (qs.filter((pl.col("QSCAT") == "SLEDAI-2K") & (pl.col("QSSTRESC") == "Y"))
               .select("USUBJID", "QSDY", "QSTESTCD").join(att, on=["USUBJID", "QSDY", "QSTESTCD"], how="left")
               .filter(pl.col("FASTRESC") == "SLE").with_columns(pl.col("QSTESTCD").replace_strict(name, default=None)
                                                                  .alias("D")))
        key = vis.select("USUBJID", "QSDY")
        sets = act.group_by("USUBJID", "QSDY").agg(pl.col("D"))
        k = key.join(sets, on=["USUBJID", "QSDY"], how="left").with_columns(pl.col("D").fill_null([]))
        now = [set(x) for x in k["D"].to_list()]
        subj = k["USUBJID"].to_list()
        organ = {g: np.array([bool(s & set(m)) for s in now]) for g, m in SLEDAI2K_ORGAN_GROUPS.items()}
        new = np.array([i > 0 and subj[i - 1] == subj[i] and bool(now[i] - now[i - 1]) for i in range(len(now))])
        no = np.zeros(len(now), bool)  # haemolytic anaemia and GI activity are not recorded in SLEDAI-2K
        lldas = compute_lldas(vis["SCORE"].to_numpy().astype(int), organ["renal"], organ["cns"],
                              organ["cardiopulmonary"], organ["vasculitis"], organ["fever"], no, no, new,
                              pga_v, pred, np.ones(len(now), bool))
        parts.append(_resp(vis.with_columns(pl.Series("F", lldas)), "LLDAS", "QSDY", "F"))
        sri = _sri4(qs, tables.get("cm"), vis)
        if sri is not None:
            parts.append(_resp(sri, "SRI4", "QSDY", "F"))
    if lb is not None and lb.height:
        upcr = (lb.filter((pl.col("LBTESTCD") == "PROTCRT") & pl.col("LBSTRESN").is_not_null())
                .select("USUBJID", "LBDY", "LBSTRESN").sort("USUBJID", "LBDY"))
        base = upcr.filter(pl.col("LBDY") < 1).group_by("USUBJID").agg(pl.col("LBSTRESN").last().alias("B"))
        ln = upcr.join(base.filter(pl.col("B") >= ACTIVE_LN_UPCR), on="USUBJID").filter(pl.col("LBDY") > 1)
        if ln.height:
            ok = RENAL_RULE.evaluate(np.round(ln["LBSTRESN"].to_numpy(), 3))
            parts.append(_resp(ln.with_columns(pl.Series("F", ok)), "RENALCR", "LBDY", "F"))
    return parts, finds


def _sri4(qs: pl.DataFrame, cm: pl.DataFrame | None, vis: pl.DataFrame) -> pl.DataFrame | None:
    """SRI-4 at every post-infusion visit with SLEDAI-2K, PGA and all nine BILAG-2004 domain grades, against
    the last such visit before Day 1; intercurrent event = immunosuppression restarted after infusion on or
    before the visit (composite strategy: a non-responder). None when no BILAG-2004 grades are recorded."""
    code_of = {f"BILAG{d[:3].upper()}": d for d in BILAG2004_DOMAINS}
    b = qs.filter((pl.col("QSCAT") == "BILAG-2004") & pl.col("QSTESTCD").is_in(list(code_of)))
    if b.height == 0:
        return None
    wide = (b.select("USUBJID", "QSDY", pl.col("QSTESTCD").replace_strict(code_of).alias("DOM"), "QSSTRESC")
            .pivot(on="DOM", index=["USUBJID", "QSDY"], values="QSSTRESC", aggregate_function="last")
            .drop_nulls([d for d in BILAG2004_DOMAINS if d in set(code_of.values())]))
    if not set(BILAG2004_DOMAINS) <= set(wide.columns):
        return None
    v = vis.join(wide, on=["USUBJID", "QSDY"])
    base = v.filter(pl.col("QSDY") < 1).sort("QSDY").group_by("USUBJID").last()
    fu = v.filter(pl.col("QSDY") >= 1).join(base, on="USUBJID", suffix="_b")
    if fu.height == 0:
        return None
    restart = pl.DataFrame(schema={"USUBJID": pl.String, "RESTART": pl.Int64})
    if cm is not None and cm.height and {"CMCAT", "CMSTDY"} <= set(cm.columns):
        restart = (cm.filter((pl.col("CMCAT") == "IMMUNOSUPPRESSANT") & (pl.col("CMSTDY") >= 1))
                   .group_by("USUBJID").agg(pl.col("CMSTDY").min().cast(pl.Int64).alias("RESTART")))
    fu = fu.join(restart, on="USUBJID", how="left")
    event = (pl.col("RESTART").is_not_null() & (pl.col("RESTART") <= pl.col("QSDY"))).fill_null(False)
    fu = fu.with_columns(event.alias("EVENT"))
    ok = compute_sri(fu["SCORE_b"].to_numpy().astype(int), fu["SCORE"].to_numpy().astype(int),
                     np.round(fu["PGA_b"].to_numpy(), 2), np.round(fu["PGA"].to_numpy(), 2),
                     fu.select([f"{d}_b" for d in BILAG2004_DOMAINS]).to_numpy(),
                     fu.select(list(BILAG2004_DOMAINS)).to_numpy(), fu["EVENT"].to_numpy(), threshold=4)
    return fu.select("USUBJID", "QSDY").with_columns(pl.Series("F", np.asarray(ok, dtype=bool)))


def _pairs_days(df: pl.DataFrame, day: str) -> list[int]:
    return sorted(d for d in df[day].unique().to_list() if d is not None and d > 1)


def derive_adeff(tables: dict[str, pl.DataFrame], adsl: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """ADEFF (BDS, one row per subject, parameter and visit) from the SDTM domains present.

    Parameters are derived wherever their records exist, whatever the indication: SLE
    (QSCAT ``SLEDAI-2K``): SLEDAI2K, CSLEDAI, PGA, DORIS, LLDAS, RENALCR; SSc (QSCAT ``MRSS``):
    MRSS, FVCPP (RE), CRISS; IIM (QSCAT ``MMT-8``): MMT8, CK (LB), TIS, TISMM, TISMOD, TISMAJ; any indication (QSCAT
    ``HAQ-DI``): HAQDI from the 20 items (``derive_haq_di``, without the aids correction). Scores come from
    :mod:`cartlab.instruments` (``derive_sledai2k``, ``derive_mrss``, ``derive_mmt8``,
    ``derive_tis``, ``derive_criss``, ``compute_doris_remission``, ``compute_lldas``,
    ``RenalResponseRule``); assessments with an instrument finding get a null value and the
    finding is returned.

    Definitions where the instruments leave a choice:

    * baseline = last non-missing value before Day 1 (``ABLFL``); ``CHG``, ``PCHG`` (%);
    * ``AVISITN`` = month = round(AFRLT / 30.4375);
    * DORIS: prednisolone-equivalent dose from CM (:func:`prednisolone_dose`); maintenance
      immunosuppression counted as stable (CM has no dose records to show a change);
    * LLDAS: organ activity from the SLE-attributed SLEDAI-2K descriptors; haemolytic anaemia and
      gastrointestinal activity are not recorded and count as absent; "new features" = an
      attributed descriptor present that was absent at the subject's previous assessment;
    * RENALCR: subjects with baseline UPCR >= 0.5 g/g; response on UPCR alone (:data:`RENAL_RULE`);
    * TIS and CRISS are scored at every post-baseline visit against the last pre-infusion values
      (TIS: a baseline of 0 scores 0 points for that measure, as ``cartlab run`` does).

    * SRI4: at each post-infusion visit with SLEDAI-2K, PGA and the nine BILAG-2004 domain grades (QSCAT
      ``BILAG-2004``, QSTESTCD ``BILAG`` + the domain's first three letters), against the last such visit
      before Day 1 (``compute_sri``, threshold 4); immunosuppression restarted after infusion on or before
      the visit is the intercurrent event (composite strategy: non-responder).

    Returns ``(adeff, findings)``.
    """
    qs = tables.get("qs")
    parts: list[pl.DataFrame] = []
    finds: list[pl.DataFrame] = [empty_findings()]
    if qs is not None and qs.height and "QSCAT" in qs.columns:
        cats = set(qs["QSCAT"].unique().to_list())
        if "SLEDAI-2K" in cats:
            p, f = _sle(tables)
            parts += p
            finds += f
        if "MRSS" in cats:
            m, f = derive_mrss(qs)
            finds.append(tag_findings(f, "ADEFF"))
            parts.append(_cont(m, "MRSS", "QSDY", "MRSS"))
            re_ = tables.get("re")
            if re_ is not None and re_.height:
                parts.append(_cont(re_.filter(pl.col("RETESTCD") == "FVCPP"), "FVCPP", "REDY", "RESTRESN"))
                for d in _pairs_days(m, "QSDY"):
                    c, f = derive_criss(qs, re_, day=d)
                    finds.append(tag_findings(f, "ADEFF"))
                    parts.append(_resp(c.drop_nulls("CRISSIMP"), "CRISS", "DY", "CRISSIMP"))
        if "MMT-8" in cats:
            m, f = derive_mmt8(qs)
            finds.append(tag_findings(f, "ADEFF"))
            parts.append(_cont(m, "MMT8", "QSDY", "MMT8"))
            lb = tables.get("lb")
            if lb is not None and lb.height:
                parts.append(_cont(lb.filter(pl.col("LBTESTCD") == "CK"), "CK", "LBDY", "LBSTRESN"))
                for d in _pairs_days(m, "QSDY"):
                    t, f = derive_tis(qs, lb, day=d, baseline_zero="zero")
                    finds.append(tag_findings(f, "ADEFF"))
                    t = t.drop_nulls("TIS")
                    parts.append(t.select("USUBJID", pl.col("DY").alias("ADY"), pl.col("TIS").alias("AVAL"),
                                          pl.col("TISCAT").alias("AVALC"), pl.lit("TIS").alias("PARAMCD")))
                    parts.append(_resp(t.with_columns(pl.col("TISCAT").is_in(["moderate", "major"]).alias("F")),
                                       "TISMM", "DY", "F"))
                    for code, cat in (("TISMOD", "moderate"), ("TISMAJ", "major")):
                        parts.append(_resp(t.with_columns((pl.col("TISCAT") == cat).alias("F")), code, "DY", "F"))
        if "HAQ-DI" in cats:
            # scored from the 20 items by the instruments layer, not read from a derived HAQDI record
            h, f = derive_haq_di(qs)
            finds.append(tag_findings(f, "ADEFF"))
            parts.append(_cont(h, "HAQDI", "QSDY", "HAQDI"))
    schema = {"USUBJID": pl.String, "ADY": pl.Int64, "AVAL": pl.Float64, "AVALC": pl.String, "PARAMCD": pl.String}
    df = pl.concat([p.cast(schema) for p in parts]) if parts else pl.DataFrame(schema=schema)
    df = df.join(adsl.filter(pl.col("SAFFL") == "Y").select("STUDYID", "USUBJID", "ARMCD"), on="USUBJID", how="inner")
    df = df.with_columns(
        pl.col("PARAMCD").replace_strict({k: v[0] for k, v in EFFICACY_PARAMS.items()}).alias("PARAM"),
        pl.col("PARAMCD").replace_strict({k: v[1] for k, v in EFFICACY_PARAMS.items()}).alias("PARAMTYP"),
        day_from_infusion(pl.col("ADY")).alias("AFRLT")).with_columns(
        (pl.col("AFRLT") / 30.4375).round(0).cast(pl.Int64).alias("AVISITN"))
    df = df.sort("USUBJID", "PARAMCD", "ADY", maintain_order=True).with_row_index("_i")
    cont = (pl.col("PARAMTYP") == "CONT") & (pl.col("ADY") < 1) & pl.col("AVAL").is_not_null()
    bl = df.filter(cont).group_by("USUBJID", "PARAMCD").agg(pl.col("_i").last(), pl.col("AVAL").last().alias("BASE"))
    df = (df.join(bl.select("USUBJID", "PARAMCD", "BASE"), on=["USUBJID", "PARAMCD"], how="left")
          .with_columns(pl.when(pl.col("_i").is_in(bl["_i"].implode())).then(pl.lit("Y")).alias("ABLFL"),
                        (pl.col("AVAL") - pl.col("BASE")).alias("CHG"))
          .with_columns(pl.when(pl.col("BASE") != 0).then(100.0 * pl.col("CHG") / pl.col("BASE")).alias("PCHG")))
    return df.select(list(ADEFF_LABELS)), pl.concat(finds)
