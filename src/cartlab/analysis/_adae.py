"""ADAE: adverse events with treatment-emergent flags, CRS/ICANS episodes and their rescue therapy."""

from __future__ import annotations

import polars as pl

from ._common import CRS_TERM, ICANS_TERM, INFECTION_SOC, day_from_infusion, require

ADAE_LABELS: dict[str, str] = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "ARMCD": "Planned Arm Code",
    "TRT01A": "Actual Treatment", "SAFFL": "Safety Population Flag", "AESEQ": "Sequence Number",
    "AETERM": "Reported Term for the Adverse Event", "AEDECOD": "Dictionary-Derived Term",
    "AEBODSYS": "Body System or Organ Class", "AESER": "Serious Event", "AEREL": "Causality",
    "ASTDY": "Analysis Start Relative Day", "AENDY": "Analysis End Relative Day",
    "ASTRLT": "Onset (days from infusion)", "AENRLT": "End (days from infusion)",
    "ADURN": "Duration (days)", "ATOXGRN": "Analysis Toxicity Grade (N)", "TRTEMFL": "Treatment Emergent Flag",
    "AESICAT": "Adverse Event of Special Interest", "TOCIFL": "Tocilizumab Given During Episode",
    "STERFL": "Corticosteroid Given During Episode", "AMAXGRFL": "First Maximum Grade Episode Flag",
}

#: CM CMTRT of anti-IL-6 therapy and of corticosteroids used as CRS/ICANS rescue (upper case)
TOCILIZUMAB = ("TOCILIZUMAB", "SILTUXIMAB")
CORTICOSTEROIDS = ("DEXAMETHASONE", "METHYLPREDNISOLONE", "PREDNISOLONE", "PREDNISONE", "HYDROCORTISONE")


def derive_adae(ae: pl.DataFrame, adsl: pl.DataFrame, cm: pl.DataFrame | None = None) -> pl.DataFrame:
    """ADAE: every AE record with analysis days, grade and flags.

    * ``ASTRLT``/``AENRLT``: onset/end in days from infusion (infusion = 0), from AESTDY/AEENDY;
      ``ADURN = AENRLT - ASTRLT`` (days between the start and end dates; null while ongoing).
    * ``ATOXGRN``: AETOXGR as an integer (CTCAE / ASTCT grade; null if not recorded).
    * ``TRTEMFL`` = Y for a safety-population subject's AE with onset on or after the infusion
      (ICH E9 / ADaM ADAE "treatment emergent": onset at or after first dose).
    * ``AESICAT``: CRS and ICANS (MedDRA PTs of DESIGN.md), INFECTION (SOC "Infections and
      infestations"), else null. Each CRS or ICANS AE record is one episode (the virtual site and
      the ASTCT consensus record one AE per episode at its maximum grade).
    * ``TOCIFL``/``STERFL`` = Y when CM records tocilizumab (or siltuximab) / a corticosteroid
      started from the episode's start to its end day (CM is read as the complete medication log).
    * ``AMAXGRFL`` = Y on the first treatment-emergent record with the subject's maximum grade
      of that AEDECOD.

    Examples
    --------
    >>> ae = pl.DataFrame({"STUDYID": ["S"] * 2, "USUBJID": ["S-1"] * 2, "AESEQ": [1, 2],
    ...     "AEDECOD": ["Cytokine release syndrome"] * 2, "AETOXGR": ["1", "2"],
    ...     "AESTDY": [3, 9], "AEENDY": [5, 12]})
    >>> adsl = pl.DataFrame({"USUBJID": ["S-1"], "ARMCD": ["DL1"], "TRT01A": ["x"], "SAFFL": ["Y"]})
    >>> cm = pl.DataFrame({"USUBJID": ["S-1"], "CMTRT": ["TOCILIZUMAB"], "CMSTDY": [10]})
    >>> derive_adae(ae, adsl, cm).select("ASTRLT", "ADURN", "TOCIFL", "AMAXGRFL").rows()
    [(2.0, 2.0, 'N', 'N'), (8.0, 3.0, 'Y', 'Y')]
    """
    require(ae, "AE", ["USUBJID", "AEDECOD", "AESTDY"])
    opt = {c: pl.col(c) for c in ("STUDYID", "AESEQ", "AETERM", "AEBODSYS", "AESER", "AEREL", "AEENDY", "AETOXGR")
           if c in ae.columns}
    none_s = pl.lit(None, pl.String)
    df = ae.select(
        opt.get("STUDYID", none_s).alias("STUDYID"), "USUBJID",
        opt.get("AESEQ", pl.int_range(pl.len()) + 1).cast(pl.Int64).alias("AESEQ"),
        opt.get("AETERM", pl.col("AEDECOD")).alias("AETERM"), "AEDECOD",
        opt.get("AEBODSYS", none_s).alias("AEBODSYS"), opt.get("AESER", none_s).alias("AESER"),
        opt.get("AEREL", none_s).alias("AEREL"), pl.col("AESTDY").cast(pl.Int64).alias("ASTDY"),
        opt.get("AEENDY", pl.lit(None, pl.Int64)).cast(pl.Int64).alias("AENDY"),
        opt.get("AETOXGR", none_s).cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False).alias("ATOXGRN"))
    df = df.with_columns(day_from_infusion(pl.col("ASTDY")).alias("ASTRLT"),
                         day_from_infusion(pl.col("AENDY")).alias("AENRLT")).with_columns(
        (pl.col("AENRLT") - pl.col("ASTRLT")).alias("ADURN"))
    df = df.join(adsl.select("USUBJID", "ARMCD", "TRT01A", "SAFFL"), on="USUBJID", how="left")
    df = df.with_columns(
        pl.when((pl.col("SAFFL") == "Y") & (pl.col("ASTRLT") >= 0)).then(pl.lit("Y")).otherwise(pl.lit("N"))
        .alias("TRTEMFL"),
        pl.when(pl.col("AEDECOD") == CRS_TERM).then(pl.lit("CRS"))
        .when(pl.col("AEDECOD") == ICANS_TERM).then(pl.lit("ICANS"))
        .when(pl.col("AEBODSYS").str.to_lowercase() == INFECTION_SOC.lower()).then(pl.lit("INFECTION"))
        .otherwise(none_s).alias("AESICAT"))

    # rescue drugs started during the episode
    if cm is not None and cm.height:
        require(cm, "CM", ["USUBJID", "CMTRT", "CMSTDY"])
        drugs = cm.select("USUBJID", pl.col("CMTRT").str.to_uppercase().alias("_trt"),
                          pl.col("CMSTDY").cast(pl.Int64).alias("_st")).drop_nulls("_st")
    else:
        drugs = pl.DataFrame(schema={"USUBJID": pl.String, "_trt": pl.String, "_st": pl.Int64})
    key = df.select("USUBJID", "AESEQ", "ASTDY", pl.coalesce("AENDY", "ASTDY").alias("_en"))
    hits = key.join(drugs, on="USUBJID").filter((pl.col("_st") >= pl.col("ASTDY")) & (pl.col("_st") <= pl.col("_en")))
    flags = hits.group_by("USUBJID", "AESEQ").agg(pl.col("_trt").is_in(list(TOCILIZUMAB)).any().alias("_toci"),
                                                  pl.col("_trt").is_in(list(CORTICOSTEROIDS)).any().alias("_ster"))
    df = df.join(flags, on=["USUBJID", "AESEQ"], how="left").with_columns(
        pl.when(pl.col("_toci").fill_null(False)).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("TOCIFL"),
        pl.when(pl.col("_ster").fill_null(False)).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("STERFL"),
    ).drop("_toci", "_ster")

    # first episode at the subject's maximum grade, per term (treatment-emergent only)
    te = pl.col("TRTEMFL") == "Y"
    df = df.with_row_index("_r").with_columns(
        pl.when(te).then(pl.col("ATOXGRN")).max().over("USUBJID", "AEDECOD").alias("_max"))
    first = (df.filter(te & (pl.col("ATOXGRN") == pl.col("_max"))).sort("ASTDY", "AESEQ")
             .group_by("USUBJID", "AEDECOD").agg(pl.col("_r").first()))
    df = df.with_columns(pl.when(pl.col("_r").is_in(first["_r"].implode())).then(pl.lit("Y")).otherwise(pl.lit("N"))
                         .alias("AMAXGRFL")).drop("_r", "_max")
    return df.select(list(ADAE_LABELS)).sort("USUBJID", "ASTDY", "AESEQ", maintain_order=True)
