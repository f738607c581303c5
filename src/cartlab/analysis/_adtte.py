"""ADTTE: time to B-cell reconstitution, to CRS onset and to relapse (days from infusion)."""

from __future__ import annotations

import polars as pl

ADTTE_LABELS: dict[str, str] = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "ARMCD": "Planned Arm Code",
    "PARAMCD": "Parameter Code", "PARAM": "Parameter", "AVAL": "Analysis Value (days)",
    "CNSR": "Censor (0 = event, 1 = censored)", "EVNTDESC": "Event or Censoring Description",
}

TTE_PARAMS = {
    "BCREC": "Time to B-cell reconstitution (days)",
    "CRSONS": "Time to CRS onset (days)",
    "RELAPSE": "Time to relapse: IS restarted (days)",
}


def derive_adtte(adsl: pl.DataFrame, adae: pl.DataFrame, adlb: pl.DataFrame) -> pl.DataFrame:
    """ADTTE for safety-population subjects; origin = the infusion (day 0), ``CNSR`` 0 = event.

    * ``BCREC``: first CD19 B-cell count at or above its LLOQ after B-cell aplasia (a
      post-infusion CD19 result below LLOQ); censored at the last CD19 assessment while still
      aplastic. Subjects never aplastic are not included (reconstitution is undefined).
    * ``CRSONS``: onset (``ASTRLT``) of the first treatment-emergent CRS episode; censored at
      the last follow-up (``LSTFUDY``).
    * ``RELAPSE``: restart of disease-directed immunosuppression after infusion (ADSL ``ISRSTDY``;
      the virtual site restarts it at a flare, and a real trial records rescue therapy the same
      way); censored at ``LSTFUDY``.

    >>> adsl = pl.DataFrame({"STUDYID": ["S"] * 2, "USUBJID": ["a", "b"], "ARMCD": ["DL1"] * 2,
    ...     "SAFFL": ["Y"] * 2, "LSTFUDY": [365.0, 200.0], "ISRSTDY": [120.0, None]})
    >>> adae = pl.DataFrame({"USUBJID": ["a"], "AESICAT": ["CRS"], "TRTEMFL": ["Y"], "ASTRLT": [5.0]})
    >>> adlb = pl.DataFrame({"USUBJID": ["a"] * 3, "PARAMCD": ["CD19"] * 3, "AVAL": [10.0, None, 3.0],
    ...     "AFRLT": [0.0, 14.0, 90.0]})
    >>> derive_adtte(adsl, adae, adlb).select("USUBJID", "PARAMCD", "AVAL", "CNSR").rows()
    [('a', 'BCREC', 90.0, 0), ('a', 'CRSONS', 5.0, 0), ('a', 'RELAPSE', 120.0, 0), ('b', 'CRSONS', 200.0, 1), ('b', 'RELAPSE', 200.0, 1)]
    """
    saf = adsl.filter(pl.col("SAFFL") == "Y").select("STUDYID", "USUBJID", "ARMCD", "LSTFUDY", "ISRSTDY")
    out = []
    # B-cell reconstitution
    cd19 = (adlb.filter((pl.col("PARAMCD") == "CD19") & (pl.col("AFRLT") > 0)).sort("USUBJID", "AFRLT")
            .select("USUBJID", "AFRLT", pl.col("AVAL").is_null().alias("_blq")))
    start = cd19.filter(pl.col("_blq")).group_by("USUBJID").agg(pl.col("AFRLT").min().alias("_s"))
    after = cd19.join(start, on="USUBJID").filter(pl.col("AFRLT") > pl.col("_s"))
    back = after.filter(~pl.col("_blq")).group_by("USUBJID").agg(pl.col("AFRLT").min().alias("_ev"))
    last = cd19.group_by("USUBJID").agg(pl.col("AFRLT").max().alias("_last"))
    b = (saf.join(start, on="USUBJID").join(back, on="USUBJID", how="left").join(last, on="USUBJID")
         .with_columns(pl.coalesce("_ev", "_last").alias("AVAL"), pl.col("_ev").is_null().cast(pl.Int64).alias("CNSR")))
    out.append(b.select("STUDYID", "USUBJID", "ARMCD", pl.lit("BCREC").alias("PARAMCD"), "AVAL", "CNSR",
                        pl.when(pl.col("CNSR") == 0).then(pl.lit("CD19 count back at or above LLOQ"))
                        .otherwise(pl.lit("Still B-cell aplastic at last CD19 assessment")).alias("EVNTDESC")))
    # CRS onset
    crs = (adae.filter((pl.col("AESICAT") == "CRS") & (pl.col("TRTEMFL") == "Y"))
           .group_by("USUBJID").agg(pl.col("ASTRLT").min().alias("_ev")))
    c = saf.join(crs, on="USUBJID", how="left").with_columns(
        pl.coalesce("_ev", "LSTFUDY").alias("AVAL"), pl.col("_ev").is_null().cast(pl.Int64).alias("CNSR"))
    out.append(c.select("STUDYID", "USUBJID", "ARMCD", pl.lit("CRSONS").alias("PARAMCD"), "AVAL", "CNSR",
                        pl.when(pl.col("CNSR") == 0).then(pl.lit("CRS onset")).otherwise(pl.lit("No CRS to last follow-up"))
                        .alias("EVNTDESC")))
    r = saf.with_columns(pl.coalesce("ISRSTDY", "LSTFUDY").alias("AVAL"),
                         pl.col("ISRSTDY").is_null().cast(pl.Int64).alias("CNSR"))
    out.append(r.select("STUDYID", "USUBJID", "ARMCD", pl.lit("RELAPSE").alias("PARAMCD"), "AVAL", "CNSR",
                        pl.when(pl.col("CNSR") == 0).then(pl.lit("Immunosuppression restarted"))
                        .otherwise(pl.lit("Immunosuppression-free at last follow-up")).alias("EVNTDESC")))
    df = pl.concat(out).with_columns(pl.col("PARAMCD").replace_strict(TTE_PARAMS).alias("PARAM"),
                                     pl.col("AVAL").cast(pl.Float64))
    return df.select(list(ADTTE_LABELS)).sort("USUBJID", "PARAMCD", maintain_order=True)
