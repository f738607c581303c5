"""ADPC: CAR-T cellular kinetics (transgene copies by qPCR, CAR+ cells by flow) on the Day 0 time axis."""

from __future__ import annotations

import polars as pl

from ._common import day_from_infusion, require

ADPC_LABELS: dict[str, str] = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "ARMCD": "Planned Arm Code",
    "DOSEA": "Actual CAR-T Dose (cells)", "PARAMCD": "Parameter Code", "PARAM": "Parameter",
    "AVAL": "Analysis Value", "AVALU": "Analysis Value Unit", "BLQFL": "Below LLOQ Flag", "ALLOQ": "LLOQ",
    "ADY": "Analysis Relative Day", "AFRLT": "Actual Time from First Dose (days)",
    "NFRLT": "Nominal Time from First Dose (days)",
}


def derive_adpc(pc: pl.DataFrame | None, cp: pl.DataFrame | None, adsl: pl.DataFrame) -> pl.DataFrame:
    """ADPC from PC ``TRANSGEN`` (copies/µg gDNA) and CP ``CARTCELL`` (CAR+ cells/µL).

    ``AFRLT`` = days from infusion from --DY (infusion = 0); ``NFRLT`` = the SDTM ``NFRLT`` when
    the domain carries it, else ``AFRLT``. A result below the LLOQ (``--ORRES`` starting with
    "<", or no numeric result with an LLOQ) has ``BLQFL`` Y and a null ``AVAL``; ``ALLOQ`` is the
    record's LLOQ. Only safety-population subjects are kept.

    >>> pc = pl.DataFrame({"USUBJID": ["a", "a"], "PCTESTCD": ["TRANSGEN"] * 2, "PCORRES": ["<LLOQ", "55.0"],
    ...                    "PCSTRESN": [None, 55.0], "PCSTRESU": ["copies/ug"] * 2, "PCLLOQ": [5.0, 5.0],
    ...                    "PCDY": [1, 8]})
    >>> adsl = pl.DataFrame({"STUDYID": ["S"], "USUBJID": ["a"], "ARMCD": ["DL1"], "DOSEA": [1e7], "SAFFL": ["Y"]})
    >>> derive_adpc(pc, None, adsl).select("AVAL", "BLQFL", "AFRLT").rows()
    [(None, 'Y', 0.0), (55.0, 'N', 7.0)]
    """
    parts = []
    for dom, df, code, name in (("PC", pc, "TRANSGEN", "CAR transgene (qPCR)"), ("CP", cp, "CARTCELL", "CAR+ T cells (flow)")):
        if df is None or df.height == 0:
            continue
        p = dom
        require(df, dom, ["USUBJID", f"{p}TESTCD", f"{p}STRESN", f"{p}DY"])
        sub = df.filter(pl.col(f"{p}TESTCD") == code)
        lloq = pl.col(f"{p}LLOQ").cast(pl.Float64) if f"{p}LLOQ" in sub.columns else pl.lit(None, pl.Float64)
        orres = pl.col(f"{p}ORRES") if f"{p}ORRES" in sub.columns else pl.lit(None, pl.String)
        blq = orres.str.starts_with("<").fill_null(False) | (pl.col(f"{p}STRESN").is_null() & lloq.is_not_null())
        unit = pl.col(f"{p}STRESU") if f"{p}STRESU" in sub.columns else pl.lit(None, pl.String)
        parts.append(sub.select(
            "USUBJID", pl.lit(code).alias("PARAMCD"),
            pl.concat_str([pl.lit(name + " ("), unit.fill_null(""), pl.lit(")")]).alias("PARAM"),
            pl.when(blq).then(None).otherwise(pl.col(f"{p}STRESN")).cast(pl.Float64).alias("AVAL"),
            unit.alias("AVALU"), pl.when(blq).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("BLQFL"),
            lloq.alias("ALLOQ"), pl.col(f"{p}DY").cast(pl.Int64).alias("ADY"),
            day_from_infusion(pl.col(f"{p}DY")).alias("AFRLT"),
            (pl.col("NFRLT").cast(pl.Float64) if "NFRLT" in sub.columns else day_from_infusion(pl.col(f"{p}DY")))
            .alias("NFRLT")))
    schema = {"USUBJID": pl.String, "PARAMCD": pl.String, "PARAM": pl.String, "AVAL": pl.Float64, "AVALU": pl.String,
              "BLQFL": pl.String, "ALLOQ": pl.Float64, "ADY": pl.Int64, "AFRLT": pl.Float64, "NFRLT": pl.Float64}
    rec = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    saf = adsl.filter(pl.col("SAFFL") == "Y").select("STUDYID", "USUBJID", "ARMCD", "DOSEA")
    return (rec.join(saf, on="USUBJID", how="inner").select(list(ADPC_LABELS))
            .sort("PARAMCD", "USUBJID", "AFRLT", maintain_order=True))
