"""ADSL: one row per subject — arms, actual dose, analysis populations, immunosuppression-free status."""

from __future__ import annotations

import polars as pl

from ._common import day_from_infusion, require

#: ADSL variables, their labels (<= 40 characters, as XPT v5 allows) and units
ADSL_LABELS: dict[str, str] = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "SUBJID": "Subject Identifier",
    "SITEID": "Study Site Identifier", "AGE": "Age (years)", "SEX": "Sex", "ARMCD": "Planned Arm Code",
    "ARM": "Description of Planned Arm", "ACTARMCD": "Actual Arm Code", "ACTARM": "Description of Actual Arm",
    "TRT01P": "Planned Treatment", "TRT01A": "Actual Treatment", "TRTSDT": "Date of CAR-T Infusion",
    "DOSEA": "Actual CAR-T Dose (cells)", "WEIGHTBL": "Baseline Weight (kg)", "DOSEAKG": "Actual Dose per kg (cells/kg)",
    "LSTFUDY": "Last Follow-up (days from infusion)", "EOSSTT": "End of Study Status", "DCSREAS": "Reason for Discontinuation",
    "SAFFL": "Safety Population Flag", "EFFFL": "Efficacy-Evaluable Population Flag",
    "PPROTFL": "Per-Protocol Population Flag", "MAJDVFL": "Major Protocol Deviation Flag",
    "ISENDDY": "IS Stopped (days from infusion)", "ISRSTDY": "IS Restarted (days from infusion)",
    "ISFREEFL": "Immunosuppression-Free at Last Follow-up", "ISFRDUR": "Immunosuppression-Free Duration (days)",
}

#: CMCAT of background immunosuppression (the virtual site's term; map real studies to it)
IMMUNOSUPPRESSANT_CAT = "IMMUNOSUPPRESSANT"


def _last_day(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per subject, the last study day with any record in the findings/events domains (SDTM DY)."""
    parts = []
    for dom, col in (("lb", "LBDY"), ("vs", "VSDY"), ("qs", "QSDY"), ("pc", "PCDY"), ("cp", "CPDY"),
                     ("re", "REDY"), ("ae", "AESTDY"), ("ds", "DSSTDY"), ("fa", "FADY")):
        df = tables.get(dom)
        if df is not None and col in df.columns and "USUBJID" in df.columns and df.height:
            parts.append(df.select("USUBJID", pl.col(col).cast(pl.Int64).alias("DY")).drop_nulls())
    if not parts:
        return pl.DataFrame(schema={"USUBJID": pl.String, "LASTDY": pl.Int64})
    return pl.concat(parts).group_by("USUBJID").agg(pl.col("DY").max().alias("LASTDY"))


def derive_adsl(tables: dict[str, pl.DataFrame], *, efficacy_day: int, product: str | None = None) -> pl.DataFrame:
    """ADSL from the SDTM domains of a trial store (simulated or ingested alike).

    Parameters
    ----------
    tables : dict of str -> polars.DataFrame
        SDTM domains by lower-case code; ``dm`` is required, ``ex``, ``vs``, ``ds``, ``cm``,
        ``dv`` and the findings domains are used when present.
    efficacy_day : int
        Days from infusion of the primary efficacy assessment (e.g. 180): a treated subject with
        follow-up to at least this day is efficacy-evaluable.
    product : str, optional
        EXTRT of the CAR-T product; default: the EX record with ``EXDOSU`` ``CELLS``.

    Returns
    -------
    polars.DataFrame
        One row per DM subject with :data:`ADSL_LABELS` columns. Definitions:

        * ``TRT01P``/``TRT01A`` = ``ARM``/``ACTARM``; ``TRTSDT`` = ``RFXSTDTC`` (infusion date).
        * ``DOSEA`` = CAR-T EXDOSE (cells); ``WEIGHTBL`` = last VS WEIGHT on or before Day 1 (kg);
          ``DOSEAKG = DOSEA / WEIGHTBL`` (cells/kg).
        * ``LSTFUDY`` = last study day with any record, as days from infusion (infusion = 0).
        * ``SAFFL`` = Y when the subject was infused (a CAR-T EX record, or ``RFXSTDTC``).
        * ``EFFFL`` = Y when ``SAFFL`` and ``LSTFUDY >= efficacy_day``.
        * ``MAJDVFL`` = Y when DV holds a deviation with ``DVCAT`` MAJOR or a ``deviations`` table (the
          protocol checks of :mod:`cartlab.compliance`) one with ``SEVERITY`` MAJOR; ``PPROTFL`` = ``EFFFL``
          and no major deviation.
        * Immunosuppression (CM ``CMCAT`` IMMUNOSUPPRESSANT): ``ISENDDY`` = the last end day of a
          course started before infusion (0 when none was running), ``ISRSTDY`` = the first start
          after infusion; ``ISFRDUR = (ISRSTDY or LSTFUDY) - ISENDDY`` (≥ 0); ``ISFREEFL`` = Y
          when no course is running at ``LSTFUDY``. CM is read as the complete medication log;
          without a CM domain these four are null (unknown).

    Examples
    --------
    >>> dm = pl.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "ARMCD": ["DL1"], "ARM": ["10e6"],
    ...                    "ACTARMCD": ["DL1"], "ACTARM": ["10e6"], "RFXSTDTC": ["2024-01-10"]})
    >>> ex = pl.DataFrame({"USUBJID": ["S-1"], "EXTRT": ["CAR-T"], "EXDOSE": [1e7], "EXDOSU": ["CELLS"]})
    >>> vs = pl.DataFrame({"USUBJID": ["S-1"], "VSTESTCD": ["WEIGHT"], "VSSTRESN": [50.0], "VSDY": [-28]})
    >>> lb = pl.DataFrame({"USUBJID": ["S-1"], "LBDY": [181]})
    >>> cm = pl.DataFrame({"USUBJID": ["S-1"], "CMCAT": ["IMMUNOSUPPRESSANT"], "CMSTDY": [-300], "CMENDY": [30]})
    >>> adsl = derive_adsl({"dm": dm, "ex": ex, "vs": vs, "lb": lb, "cm": cm}, efficacy_day=180)
    >>> adsl.select("DOSEAKG", "LSTFUDY", "SAFFL", "EFFFL", "ISENDDY", "ISFRDUR").row(0)
    (200000.0, 180.0, 'Y', 'Y', 29.0, 151.0)
    """
    dm = tables["dm"]
    require(dm, "DM", ["STUDYID", "USUBJID", "ARMCD", "ARM"])
    opt = {c: pl.col(c) for c in ("SUBJID", "SITEID", "AGE", "SEX", "ACTARMCD", "ACTARM", "RFXSTDTC") if c in dm.columns}
    adsl = dm.select(
        "STUDYID", "USUBJID", opt.get("SUBJID", pl.lit(None, pl.String)).alias("SUBJID"),
        opt.get("SITEID", pl.lit(None, pl.String)).alias("SITEID"),
        opt.get("AGE", pl.lit(None, pl.Int64)).cast(pl.Float64).alias("AGE"),
        opt.get("SEX", pl.lit(None, pl.String)).alias("SEX"), "ARMCD", "ARM",
        opt.get("ACTARMCD", pl.col("ARMCD")).alias("ACTARMCD"), opt.get("ACTARM", pl.col("ARM")).alias("ACTARM"),
        pl.col("ARM").alias("TRT01P"), opt.get("ACTARM", pl.col("ARM")).alias("TRT01A"),
        opt.get("RFXSTDTC", pl.lit(None, pl.String)).str.slice(0, 10).str.to_date(strict=False).alias("TRTSDT"))

    # actual CAR-T dose
    ex = tables.get("ex")
    if ex is not None and ex.height:
        require(ex, "EX", ["USUBJID", "EXTRT", "EXDOSE", "EXDOSU"])
        car = ex.filter(pl.col("EXTRT") == product) if product else ex.filter(pl.col("EXDOSU").str.to_uppercase() == "CELLS")
        dose = car.group_by("USUBJID").agg(pl.col("EXDOSE").sum().alias("DOSEA"), pl.lit(True).alias("_inf"))
    else:
        dose = pl.DataFrame(schema={"USUBJID": pl.String, "DOSEA": pl.Float64, "_inf": pl.Boolean})
    adsl = adsl.join(dose, on="USUBJID", how="left")
    vs = tables.get("vs")
    if vs is not None and vs.height and "VSDY" in vs.columns:
        wt = (vs.filter((pl.col("VSTESTCD") == "WEIGHT") & (pl.col("VSDY") <= 1) & pl.col("VSSTRESN").is_not_null())
              .sort("USUBJID", "VSDY").group_by("USUBJID").agg(pl.col("VSSTRESN").last().alias("WEIGHTBL")))
    else:
        wt = pl.DataFrame(schema={"USUBJID": pl.String, "WEIGHTBL": pl.Float64})
    adsl = adsl.join(wt, on="USUBJID", how="left").with_columns(
        (pl.col("DOSEA") / pl.col("WEIGHTBL")).alias("DOSEAKG"))

    # follow-up and disposition
    last = _last_day(tables).with_columns(day_from_infusion(pl.col("LASTDY")).alias("LSTFUDY")).drop("LASTDY")
    adsl = adsl.join(last, on="USUBJID", how="left")
    ds = tables.get("ds")
    if ds is not None and ds.height and "DSCAT" in ds.columns:
        disp = (ds.filter(pl.col("DSCAT") == "DISPOSITION EVENT").group_by("USUBJID", maintain_order=True)
                .agg(pl.col("DSDECOD").last().alias("_dsdecod")))
    else:
        disp = pl.DataFrame(schema={"USUBJID": pl.String, "_dsdecod": pl.String})
    adsl = adsl.join(disp, on="USUBJID", how="left").with_columns(
        pl.when(pl.col("_dsdecod").is_null()).then(pl.lit("ONGOING"))
        .when(pl.col("_dsdecod") == "COMPLETED").then(pl.lit("COMPLETED"))
        .otherwise(pl.lit("DISCONTINUED")).alias("EOSSTT"),
        pl.when(pl.col("_dsdecod").is_in(["COMPLETED"]).not_()).then(pl.col("_dsdecod")).alias("DCSREAS"),
    ).drop("_dsdecod")

    # populations
    infused = pl.col("_inf").fill_null(False) | pl.col("TRTSDT").is_not_null()
    # major deviations: the site's DV record (DVCAT) and a protocol check's table (SEVERITY, cartlab.compliance)
    majors = [pl.DataFrame(schema={"USUBJID": pl.String})]
    for name, col in (("dv", "DVCAT"), ("deviations", "SEVERITY")):
        t = tables.get(name)
        if t is not None and t.height and col in t.columns:
            majors.append(t.filter(pl.col(col).str.to_uppercase() == "MAJOR").select(pl.col("USUBJID").cast(pl.String)))
    major = pl.concat(majors).unique().with_columns(pl.lit("Y").alias("MAJDVFL"))
    adsl = adsl.join(major, on="USUBJID", how="left").with_columns(
        pl.col("MAJDVFL").fill_null("N"),
        pl.when(infused).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("SAFFL"))
    adsl = adsl.with_columns(
        pl.when((pl.col("SAFFL") == "Y") & (pl.col("LSTFUDY") >= efficacy_day)).then(pl.lit("Y"))
        .otherwise(pl.lit("N")).alias("EFFFL")).with_columns(
        pl.when((pl.col("EFFFL") == "Y") & (pl.col("MAJDVFL") == "N")).then(pl.lit("Y"))
        .otherwise(pl.lit("N")).alias("PPROTFL")).drop("_inf")

    # immunosuppression-free status
    cm = tables.get("cm")
    if cm is not None and cm.height and "CMCAT" in cm.columns:
        ist = cm.filter(pl.col("CMCAT").str.to_uppercase() == IMMUNOSUPPRESSANT_CAT).select(
            "USUBJID", day_from_infusion(pl.col("CMSTDY")).alias("ST"), day_from_infusion(pl.col("CMENDY")).alias("EN"))
    else:
        ist = pl.DataFrame(schema={"USUBJID": pl.String, "ST": pl.Float64, "EN": pl.Float64})
    before = ist.filter(pl.col("ST") < 0).group_by("USUBJID").agg(
        pl.col("EN").max().alias("_en"), pl.col("EN").is_null().any().alias("_open"))
    after = ist.filter(pl.col("ST") >= 0).group_by("USUBJID").agg(pl.col("ST").min().alias("ISRSTDY"))
    adsl = adsl.join(before, on="USUBJID", how="left").join(after, on="USUBJID", how="left")
    # a course started before infusion without an end runs on: no IS-free time (ISENDDY = last follow-up)
    adsl = adsl.with_columns(
        pl.when(pl.col("_open").fill_null(False)).then(pl.col("LSTFUDY"))
        .otherwise(pl.max_horizontal(pl.col("_en").fill_null(0.0), pl.lit(0.0))).alias("ISENDDY"))
    ongoing_end = ist.join(adsl.select("USUBJID", "LSTFUDY"), on="USUBJID").filter(
        (pl.col("ST") <= pl.col("LSTFUDY")) & (pl.col("EN").is_null() | (pl.col("EN") >= pl.col("LSTFUDY"))))
    on_at_end = ongoing_end.select("USUBJID").unique().with_columns(pl.lit(True).alias("_on"))
    adsl = adsl.join(on_at_end, on="USUBJID", how="left").with_columns(
        pl.when(pl.col("SAFFL") != "Y").then(None)
        .when(pl.col("_on").fill_null(False)).then(pl.lit("N")).otherwise(pl.lit("Y")).alias("ISFREEFL"),
        pl.when(pl.col("SAFFL") != "Y").then(None).otherwise(
            pl.max_horizontal(pl.coalesce(pl.col("ISRSTDY"), pl.col("LSTFUDY")) - pl.col("ISENDDY"), pl.lit(0.0))
        ).alias("ISFRDUR")).drop("_en", "_open", "_on")
    adsl = adsl.with_columns(pl.when(pl.col("SAFFL") == "Y").then(pl.col("ISENDDY")).alias("ISENDDY"))
    if cm is None:  # no medication log: immunosuppression status unknown, not "free"
        adsl = adsl.with_columns(pl.lit(None, pl.Float64).alias("ISENDDY"), pl.lit(None, pl.Float64).alias("ISRSTDY"),
                                 pl.lit(None, pl.String).alias("ISFREEFL"), pl.lit(None, pl.Float64).alias("ISFRDUR"))
    return adsl.select(list(ADSL_LABELS))
