"""CDISC ADaM datasets of the CAR-T kinetics: ADPPK (population PK analysis data) and ADPP (NCA parameters).

Variable names follow the ADaM popPK implementation guide (ADPPK v1.0) as implemented by the
pharmaverse: the column list of ``pharmaverseadam::adppk`` (CRAN reference manual), which admiral's
template ``inst/templates/ad_adppk.R`` builds — STUDYID, USUBJID, SUBJID, USUBJIDN, EVID, MDV, CMT, AMT,
DV, DVL, AVAL, AVALU, PARAMCD, PARAM, ALLOQ, BLQFL, BLQFN, NFRLT, AFRLT, NPRLT, APRLT, DOSEA, COHORT,
COHORTC, ROUTE, AGE, SEX, ASEQ — plus ``WTBL`` (baseline weight, kg) and ``FRLTU`` (time unit, from the
ADNCA IG's relative-time variables). The IG text itself was not available offline, so numeric codes
whose coding we could not verify (SEXN, RACEN, ROUTEN, ...) and the planned dose DOSEP are left out
rather than guessed. Times are days from the CAR-T infusion (infusion = 0); with one infusion the
"previous dose" times equal the first-dose times.

ADPP is the BDS form of :func:`cartlab.pk.nca_table`'s PP rows: PARAMCD/PARAM = PPTESTCD/PPTEST,
AVAL/AVALU = PPSTRESN/PPSTRESU, as in admiral's ``ad_adpp.R`` template.
"""

from __future__ import annotations

import polars as pl

from ._nonmem import _days, nonmem_dataset


def adppk_dataset(dm: pl.DataFrame, ex: pl.DataFrame, pc: pl.DataFrame, vs: pl.DataFrame | None = None, *,
                  analyte: str = "TRANSGEN") -> tuple[pl.DataFrame, pl.DataFrame]:
    """ADPPK of ``analyte`` (a PCTESTCD) from SDTM DM, EX, PC and VS; returns ``(adppk, findings)``.

    One dose record (``EVID = 1``) per subject followed by the post-infusion samples (``EVID = 0``);
    a BLQ sample has ``BLQFL = "Y"``, ``BLQFN = 1``, ``AVAL`` null and ``DV`` = the LLOQ (for M3).
    ``findings`` lists subjects left out, as for :func:`cartlab.pk.nonmem_dataset`.
    """
    nm, findings = nonmem_dataset(dm, ex, pc, vs, analyte=analyte)
    sample = pc.filter(pl.col("PCTESTCD") == analyte)
    param = sample["PCTEST"][0] if "PCTEST" in sample.columns and sample.height else analyte
    unit = sample["PCSTRESU"][0] if "PCSTRESU" in sample.columns and sample.height else None
    dose = ex.filter(pl.col("EXCAT") == "CAR-T INFUSION").select("USUBJID", "EXSTDY",
                                                                   pl.col("EXROUTE").alias("ROUTE")
                                                                   if "EXROUTE" in ex.columns else pl.lit(None,
                                                                   pl.String).alias("ROUTE"))
    if "NFRLT" in sample.columns:
        nominal = (sample.join(dose.select("USUBJID", "EXSTDY"), on="USUBJID")
                   .select("USUBJID", (_days(pl.col("PCDY")) - _days(pl.col("EXSTDY"))).cast(pl.Float64).alias("TIME"),
                           pl.col("NFRLT").cast(pl.Float64))
                   .unique(["USUBJID", "TIME"], keep="first"))
        nm = nm.join(nominal, on=["USUBJID", "TIME"], how="left")
        nm = nm.with_columns(pl.when(pl.col("EVID") == 1).then(0.0).otherwise(pl.col("NFRLT")).alias("NFRLT"))
    else:
        nm = nm.with_columns(pl.lit(None, pl.Float64).alias("NFRLT"))
    dmx = dm.select("USUBJID", "STUDYID", *[c for c in ("SUBJID", "ARM", "AGEU", "SEX") if c in dm.columns])
    obs = pl.col("EVID") == 0
    blq = pl.col("BLQ") == 1
    out = (nm.join(dmx, on="USUBJID", how="left").join(dose.select("USUBJID", "ROUTE"), on="USUBJID", how="left")
           .with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").cast(pl.Int64).alias("ASEQ")))
    out = out.select(
        "STUDYID", "USUBJID", *[c for c in ("SUBJID",) if c in out.columns], pl.col("ID").alias("USUBJIDN"),
        "ASEQ", "EVID", "MDV", "CMT", "AMT", "DV",
        pl.when(obs).then(pl.col("DV").log()).otherwise(None).alias("DVL"),
        pl.when(obs & ~blq).then(pl.col("DV")).otherwise(None).alias("AVAL"),
        pl.when(obs).then(pl.lit(unit)).otherwise(None).cast(pl.String).alias("AVALU"),
        pl.when(obs).then(pl.lit(analyte)).otherwise(pl.lit("DOSE")).alias("PARAMCD"),
        pl.when(obs).then(pl.lit(param)).otherwise(pl.lit("CAR-T infusion (cells)")).alias("PARAM"),
        pl.col("LLOQ").alias("ALLOQ"),
        pl.when(obs & blq).then(pl.lit("Y")).otherwise(None).cast(pl.String).alias("BLQFL"),
        pl.when(obs).then(pl.col("BLQ")).otherwise(None).cast(pl.Int64).alias("BLQFN"),
        "NFRLT", pl.col("TIME").alias("AFRLT"), pl.col("NFRLT").alias("NPRLT"), pl.col("TIME").alias("APRLT"),
        pl.lit("DAYS").alias("FRLTU"), pl.col("DOSE").alias("DOSEA"),
        pl.col("ARMCD").alias("COHORT"), *[pl.col("ARM").alias("COHORTC")] * ("ARM" in out.columns),
        "ROUTE", "AGE", *[c for c in ("AGEU", "SEX") if c in out.columns], pl.col("WT").alias("WTBL"))
    return out, findings


def adpp_dataset(pp: pl.DataFrame, dm: pl.DataFrame, *, parcat1: str, specimen: str | None = None) -> pl.DataFrame:
    """ADPP (BDS) from :func:`cartlab.pk.nca_table` rows (with ``ARMCD`` carried as a ``by`` column).

    ``parcat1`` names the analyte (e.g. ``"CAR Transgene"``); ``specimen`` fills ``PPSPEC``.

    >>> pp = pl.DataFrame({"USUBJID": ["S1"], "ARMCD": ["DL1"], "PPTESTCD": ["CMAX"], "PPTEST": ["Max Conc"],
    ...                    "PPSTRESN": [10.0], "PPSTRESU": ["copies/ug"], "PPSTINT": [None], "PPENINT": [None],
    ...                    "PPREASND": [None]})
    >>> dm = pl.DataFrame({"STUDYID": ["BF1"], "USUBJID": ["S1"]})
    >>> adpp_dataset(pp, dm, parcat1="CAR Transgene").select("PARAMCD", "AVAL", "AVALU").row(0)
    ('CMAX', 10.0, 'copies/ug')
    """
    return (pp.join(dm.select("USUBJID", "STUDYID"), on="USUBJID", how="left")
            .with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").cast(pl.Int64).alias("ASEQ"))
            .select("STUDYID", "USUBJID", "ASEQ", *[c for c in ("ARMCD",) if c in pp.columns],
                    pl.col("PPTESTCD").alias("PARAMCD"), pl.col("PPTEST").alias("PARAM"),
                    pl.lit(parcat1).alias("PARCAT1"), pl.col("PPSTRESN").alias("AVAL"),
                    pl.col("PPSTRESU").alias("AVALU"), "PPTESTCD", "PPTEST",
                    pl.col("PPSTINT").cast(pl.String), pl.col("PPENINT").cast(pl.String),
                    pl.col("PPREASND").cast(pl.String), pl.lit(specimen, pl.String).alias("PPSPEC")))
