"""A NONMEM-style dataset of CAR-T cellular kinetics from SDTM (DM, EX, PC, VS).

One dose record per subject (the CAR-T infusion, ``EVID=1``, ``AMT`` in cells, ``CMT=1``) followed
by its post-infusion observations (``EVID=0``, ``CMT=2``), sorted by ``ID``, ``TIME`` and dose before
observation. ``TIME`` is in days from the infusion, computed from study days (SDTM has no Day 0:
Day 1 is the infusion day, day -1 the day before). Observations below the LLOQ are kept for the M3
method: ``DV`` = LLOQ, ``BLQ`` = 1 (``MDV`` stays 0 so the estimation can use them); samples before
the infusion are not part of a post-dose kinetics dataset and are left out.

Covariates per subject: ``DOSE`` (cells), ``WT`` (kg, the last weight on or before Day 1 in VS),
``AGE``, ``SEXF`` (1 female), ``ARMCD``. Returns ``(dataset, findings)``; a subject with a finding
(no CAR-T dose record, two of them, an observation with neither a value nor an LLOQ) is left out
and the finding says why.
"""

from __future__ import annotations

import polars as pl

FINDINGS_SCHEMA = {"USUBJID": pl.String, "DY": pl.Int64, "TESTCD": pl.String, "REASON": pl.String}
COLUMNS = ("ID", "USUBJID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "BLQ", "LLOQ", "DOSE", "WT", "AGE", "SEXF",
           "ARMCD")


def _days(dy: pl.Expr) -> pl.Expr:
    """SDTM study day -> days since Day 1 (no Day 0)."""
    return pl.when(dy >= 1).then(dy - 1).otherwise(dy)


def nonmem_dataset(dm: pl.DataFrame, ex: pl.DataFrame, pc: pl.DataFrame, vs: pl.DataFrame | None = None, *,
                   analyte: str = "TRANSGEN", dose_category: str = "CAR-T INFUSION"
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build the dataset for ``analyte`` (a PCTESTCD); see the module docstring for the layout."""
    problems: list[tuple[str, int | None, str, str]] = []
    doses = ex.filter(pl.col("EXCAT") == dose_category).select("USUBJID", "EXDOSE", "EXSTDY")
    n_dose = doses.group_by("USUBJID").len()
    for u, n in n_dose.filter(pl.col("len") > 1).iter_rows():
        problems.append((u, None, "EX", f"{n} {dose_category} records; one infusion expected"))
    obs = pc.filter(pl.col("PCTESTCD") == analyte).select("USUBJID", "PCDY", "PCSTRESN", "PCLLOQ")
    for u in sorted(set(obs["USUBJID"].to_list()) - set(doses["USUBJID"].to_list())):
        problems.append((u, None, "EX", f"{analyte} observations but no {dose_category} record"))
    bad_obs = obs.filter(pl.col("PCSTRESN").is_null() & pl.col("PCLLOQ").is_null())
    for u, dy, _v, _l in bad_obs.iter_rows():
        problems.append((u, dy, analyte, "no result and no LLOQ: cannot be a value or a BLQ record"))
    excluded = {p[0] for p in problems}

    doses = doses.filter(~pl.col("USUBJID").is_in(list(excluded)))
    obs = (obs.filter(~pl.col("USUBJID").is_in(list(excluded)))
           .join(doses.select("USUBJID", "EXSTDY"), on="USUBJID")
           .with_columns((_days(pl.col("PCDY")) - _days(pl.col("EXSTDY"))).cast(pl.Float64).alias("TIME"))
           .filter(pl.col("TIME") >= 0)
           .with_columns(pl.col("PCSTRESN").is_null().cast(pl.Int64).alias("BLQ"))
           .select("USUBJID", "TIME",
                   pl.when(pl.col("BLQ") == 1).then(pl.col("PCLLOQ")).otherwise(pl.col("PCSTRESN")).alias("DV"),
                   pl.lit(None, pl.Float64).alias("AMT"), pl.lit(0).alias("EVID"), pl.lit(0).alias("MDV"),
                   pl.lit(2).alias("CMT"), "BLQ", pl.col("PCLLOQ").alias("LLOQ")))
    dose_rows = doses.select("USUBJID", pl.lit(0.0).alias("TIME"), pl.lit(None, pl.Float64).alias("DV"),
                             pl.col("EXDOSE").cast(pl.Float64).alias("AMT"), pl.lit(1).alias("EVID"),
                             pl.lit(1).alias("MDV"), pl.lit(1).alias("CMT"), pl.lit(0).alias("BLQ"),
                             pl.lit(None, pl.Float64).alias("LLOQ"))
    cov = dm.select("USUBJID", "AGE", (pl.col("SEX") == "F").cast(pl.Int64).alias("SEXF"), "ARMCD").join(
        doses.select("USUBJID", pl.col("EXDOSE").cast(pl.Float64).alias("DOSE"), "EXSTDY"), on="USUBJID")
    if vs is not None and "VSTESTCD" in vs.columns:
        wt = (vs.filter(pl.col("VSTESTCD") == "WEIGHT").join(cov.select("USUBJID", "EXSTDY"), on="USUBJID")
              .filter(pl.col("VSDY") <= pl.col("EXSTDY")).sort("VSDY")
              .group_by("USUBJID").agg(pl.col("VSSTRESN").last().alias("WT")))
        cov = cov.join(wt, on="USUBJID", how="left")
    else:
        cov = cov.with_columns(pl.lit(None, pl.Float64).alias("WT"))
    ids = cov.select("USUBJID").unique().sort("USUBJID").with_row_index("ID", offset=1).with_columns(
        pl.col("ID").cast(pl.Int64))
    data = (pl.concat([dose_rows, obs], how="vertical_relaxed")
            .join(ids, on="USUBJID").join(cov.drop("EXSTDY"), on="USUBJID")
            .sort(["ID", "TIME", "EVID"], descending=[False, False, True])
            .select(COLUMNS))
    findings = pl.DataFrame(problems, schema=FINDINGS_SCHEMA, orient="row")
    return data, findings
