"""ADLB: laboratory and flow-cytometry results with CTCAE grades, cytopenia nadir and recovery, ICAHT."""

from __future__ import annotations

import polars as pl

from ..instruments import derive_ctcae_haem, derive_icaht_early, derive_icaht_late
from ._common import day_from_infusion, require, tag_findings

ADLB_LABELS: dict[str, str] = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "ARMCD": "Planned Arm Code",
    "PARCAT1": "Parameter Category 1", "PARAMCD": "Parameter Code", "PARAM": "Parameter", "AVAL": "Analysis Value",
    "AVALC": "Analysis Value (C)", "AVALU": "Analysis Value Unit", "ADY": "Analysis Relative Day",
    "AFRLT": "Days from Infusion", "ABLFL": "Baseline Record Flag", "BASE": "Baseline Value", "CHG": "Change from Baseline",
    "ATOXGR": "Analysis Toxicity Grade (CTCAE v5.0)", "LLOQ": "Lower Limit of Quantitation",
}

#: derived per-subject parameters (``derive_param_cytopenia``)
CYTOPENIA_PARAMS: dict[str, str] = {
    "NEUTNAD": "ANC nadir after infusion (10^9/L)", "NEUTNADD": "Day of ANC nadir (days from infusion)",
    "NEUTRECD": "ANC recovery to grade < 3 (days from infusion)",
    "PLATNAD": "Platelet nadir after infusion (10^9/L)", "PLATNADD": "Day of platelet nadir (days from infusion)",
    "PLATRECD": "Platelet recovery to grade < 3 (days from infusion)",
    "PROLCYT": "Prolonged grade >= 3 cytopenia (day 28+)",
    "ICAHTE": "Early ICAHT grade (Rejeski 2023)", "ICAHTL": "Late ICAHT grade (Rejeski 2023)",
}

#: day from infusion from which a grade >= 3 neutropenia or thrombocytopenia counts as prolonged
PROLONGED_FROM_DAY = 28


def derive_adlb(lb: pl.DataFrame, adsl: pl.DataFrame, cp: pl.DataFrame | None = None
                ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """ADLB (BDS) from LB and, when given, CP flow-cytometry records (PARCAT1 ``FLOW``).

    Record level: ``AVAL`` = LBSTRESN (CPSTRESN), ``ADY`` = --DY, ``AFRLT`` = days from infusion
    (infusion = 0), baseline = the last non-missing value before Day 1 (``ABLFL`` Y), ``CHG``.
    ``ATOXGR`` is the CTCAE v5.0 grade of NEUT, PLAT, LYM, WBC and HGB from
    :func:`cartlab.instruments.derive_ctcae_haem` (null where it reports a finding). Below-LLOQ
    flow results have a null ``AVAL``, ``AVALC`` "<LLOQ" and ``LLOQ`` set.

    Per-subject parameters (:func:`derive_param_cytopenia`) are appended (PARCAT1 ``DERIVED``).

    Returns ``(adlb, findings)``.
    """
    require(lb, "LB", ["USUBJID", "LBTESTCD", "LBSTRESN", "LBSTRESU", "LBDY"])
    grades, f_ctc = derive_ctcae_haem(lb)
    haem = lb.filter(pl.col("LBTESTCD").is_in(["NEUT", "PLAT", "LYM", "WBC", "HGB"]))
    # derive_ctcae_haem keeps the LB rows of those tests in their order: attach the grade by position
    assert grades.height == haem.height
    graded = haem.with_columns(grades["GRADE"].alias("ATOXGR"))
    rest = lb.filter(~pl.col("LBTESTCD").is_in(["NEUT", "PLAT", "LYM", "WBC", "HGB"])).with_columns(
        pl.lit(None, pl.Int64).alias("ATOXGR"))
    test = pl.col("LBTEST") if "LBTEST" in lb.columns else pl.col("LBTESTCD")
    study = pl.col("STUDYID") if "STUDYID" in lb.columns else pl.lit(None, pl.String)

    def lab(df: pl.DataFrame) -> pl.DataFrame:
        return df.select(study.alias("STUDYID"), "USUBJID", pl.lit("LAB").alias("PARCAT1"),
                         pl.col("LBTESTCD").alias("PARAMCD"),
                         pl.concat_str([test, pl.lit(" ("), pl.col("LBSTRESU").fill_null(""), pl.lit(")")]).alias("PARAM"),
                         pl.col("LBSTRESN").cast(pl.Float64).alias("AVAL"),
                         pl.col("LBSTRESN").cast(pl.String).alias("AVALC"), pl.col("LBSTRESU").alias("AVALU"),
                         pl.col("LBDY").cast(pl.Int64).alias("ADY"), pl.col("ATOXGR"), pl.lit(None, pl.Float64).alias("LLOQ"))

    parts = [lab(graded), lab(rest)]
    if cp is not None and cp.height:
        require(cp, "CP", ["USUBJID", "CPTESTCD", "CPSTRESN", "CPSTRESU", "CPDY"])
        ctest = pl.col("CPTEST") if "CPTEST" in cp.columns else pl.col("CPTESTCD")
        blq = pl.col("CPORRES").str.starts_with("<") if "CPORRES" in cp.columns else pl.lit(False)
        parts.append(cp.filter(pl.col("CPTESTCD") != "CARTCELL").select(
            (pl.col("STUDYID") if "STUDYID" in cp.columns else pl.lit(None, pl.String)).alias("STUDYID"),
            "USUBJID", pl.lit("FLOW").alias("PARCAT1"), pl.col("CPTESTCD").alias("PARAMCD"),
            pl.concat_str([ctest, pl.lit(" ("), pl.col("CPSTRESU").fill_null(""), pl.lit(")")]).alias("PARAM"),
            pl.col("CPSTRESN").cast(pl.Float64).alias("AVAL"),
            pl.when(blq).then(pl.lit("<LLOQ")).otherwise(pl.col("CPSTRESN").cast(pl.String)).alias("AVALC"),
            pl.col("CPSTRESU").alias("AVALU"), pl.col("CPDY").cast(pl.Int64).alias("ADY"),
            pl.lit(None, pl.Int64).alias("ATOXGR"),
            (pl.col("CPLLOQ").cast(pl.Float64) if "CPLLOQ" in cp.columns else pl.lit(None, pl.Float64)).alias("LLOQ")))
    df = pl.concat(parts).with_columns(day_from_infusion(pl.col("ADY")).alias("AFRLT")).drop("STUDYID")
    df = df.join(adsl.select("STUDYID", "USUBJID", "ARMCD"), on="USUBJID", how="left")
    df = df.sort("USUBJID", "PARAMCD", "ADY", maintain_order=True)
    base = (df.filter((pl.col("ADY") < 1) & pl.col("AVAL").is_not_null()).with_row_index("_r")
            .group_by("USUBJID", "PARAMCD").agg(pl.col("_r").last(), pl.col("AVAL").last().alias("BASE")))
    df = df.with_row_index("_i")
    pre = df.filter((pl.col("ADY") < 1) & pl.col("AVAL").is_not_null()).select("_i").with_row_index("_r")
    bl_rows = pre.join(base.select("_r"), on="_r")["_i"]
    df = (df.join(base.select("USUBJID", "PARAMCD", "BASE"), on=["USUBJID", "PARAMCD"], how="left")
          .with_columns(pl.when(pl.col("_i").is_in(bl_rows.implode())).then(pl.lit("Y")).alias("ABLFL"),
                        (pl.col("AVAL") - pl.col("BASE")).alias("CHG")).drop("_i"))
    derived, f_param = derive_param_cytopenia(df, lb)
    df = pl.concat([df.select(list(ADLB_LABELS)), derived.select(list(ADLB_LABELS))], how="vertical_relaxed")
    return df, pl.concat([tag_findings(f_ctc, "ADLB"), f_param])


def derive_param_cytopenia(adlb: pl.DataFrame, lb: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-subject cytopenia parameters (admiral ``derive_param_*``: rows added, one per subject).

    From graded ADLB records after the infusion (``AFRLT > 0``):

    * ``NEUTNAD``/``PLATNAD``: lowest value; ``NEUTNADD``/``PLATNADD``: its day (first if tied);
    * ``NEUTRECD``/``PLATRECD``: first day after the first grade >= 3 value with a grade < 3
      (null when the count never reached grade 3, or has not recovered by the last value);
    * ``PROLCYT``: 1 when a grade >= 3 neutropenia or thrombocytopenia is recorded on day
      :data:`PROLONGED_FROM_DAY` or later (grade >= 3 cytopenia not resolved by Day 29 after
      infusion: the prolonged-cytopenia wording of the Breyanzi (lisocabtagene maraleucel) US
      prescribing information, Warnings and Precautions);
    * ``ICAHTE``/``ICAHTL``: early and late ICAHT grades (Rejeski K et al. Blood 2023;142:865)
      from :func:`cartlab.instruments.derive_icaht_early` / ``derive_icaht_late`` on LB NEUT.
    """
    post = adlb.filter((pl.col("AFRLT") > 0) & pl.col("PARAMCD").is_in(["NEUT", "PLAT"]) & pl.col("AVAL").is_not_null())
    rows: list[pl.DataFrame] = []
    keys = ["STUDYID", "USUBJID", "ARMCD"]
    for code in ("NEUT", "PLAT"):
        p = post.filter(pl.col("PARAMCD") == code).sort("USUBJID", "AFRLT")
        nad = p.group_by(keys, maintain_order=True).agg(
            pl.col("AVAL").min().alias("NAD"), pl.col("AFRLT").get(pl.col("AVAL").arg_min()).alias("NADD"),
            pl.col("AFRLT").filter(pl.col("ATOXGR") >= 3).first().alias("_g3"),
            pl.struct("AFRLT", "ATOXGR").alias("_s"))
        rec = nad.with_columns(pl.col("_s").list.eval(pl.element()).alias("_s")).explode("_s").unnest("_s").filter(
            (pl.col("AFRLT") > pl.col("_g3")) & (pl.col("ATOXGR") < 3)).group_by("USUBJID").agg(
            pl.col("AFRLT").min().alias("RECD"))
        nad = nad.drop("_s", "_g3").join(rec, on="USUBJID", how="left")
        unit = "10^9/L"
        for suffix, col, u in (("NAD", "NAD", unit), ("NADD", "NADD", "days"), ("RECD", "RECD", "days")):
            pc = f"{code}{suffix}"
            rows.append(nad.select(*keys, pl.lit(pc).alias("PARAMCD"), pl.lit(CYTOPENIA_PARAMS[pc]).alias("PARAM"),
                                   pl.col(col).cast(pl.Float64).alias("AVAL"), pl.lit(u).alias("AVALU")))
    subj = adlb.select(keys).unique(maintain_order=True)
    prol = post.filter((pl.col("AFRLT") >= PROLONGED_FROM_DAY) & (pl.col("ATOXGR") >= 3)).select("USUBJID").unique()
    rows.append(subj.join(post.select("USUBJID").unique(), on="USUBJID").select(
        *keys, pl.lit("PROLCYT").alias("PARAMCD"), pl.lit(CYTOPENIA_PARAMS["PROLCYT"]).alias("PARAM"),
        pl.col("USUBJID").is_in(prol["USUBJID"].implode()).cast(pl.Float64).alias("AVAL"), pl.lit("flag").alias("AVALU")))
    early, f_e = derive_icaht_early(lb)
    late, f_l = derive_icaht_late(lb)
    for pc, frame, col in (("ICAHTE", early, "ICAHTGR"), ("ICAHTL", late, "ICAHTLGR")):
        rows.append(subj.join(frame, on="USUBJID").select(
            *keys, pl.lit(pc).alias("PARAMCD"), pl.lit(CYTOPENIA_PARAMS[pc]).alias("PARAM"),
            pl.col(col).cast(pl.Float64).alias("AVAL"), pl.lit("grade").alias("AVALU")))
    out = pl.concat(rows).with_columns(
        pl.lit("DERIVED").alias("PARCAT1"), pl.col("AVAL").cast(pl.String).alias("AVALC"),
        pl.lit(None, pl.Int64).alias("ADY"), pl.lit(None, pl.Float64).alias("AFRLT"), pl.lit(None, pl.String).alias("ABLFL"),
        pl.lit(None, pl.Float64).alias("BASE"), pl.lit(None, pl.Float64).alias("CHG"),
        pl.lit(None, pl.Int64).alias("ATOXGR"), pl.lit(None, pl.Float64).alias("LLOQ"))
    return out, pl.concat([tag_findings(f_e, "ADLB"), tag_findings(f_l, "ADLB")])
