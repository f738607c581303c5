"""ISO 8601 date/time values of SDTM ``--DTC`` variables, complete or partial, with explicit imputation.

SDTM stores dates as ISO 8601 text and allows partial values (SDTMIG v3.4 section 4.4.4,
"Use of Dates in SDTM"): ``2024``, ``2024-03``, ``2024-03-15``, ``2024-03-15T08:30``,
``2024-03-15T08:30:15``, and a missing month written with a hyphen (``2024---15``). cartlab
keeps the text unchanged in the store. Where a check needs a day (ordering, the infusion window,
dates in the future or before birth), a partial value is widened to the interval of days it can
mean, and that interval is what is compared:

- the **earliest** day imputes a missing month as January and a missing day as the 1st;
- the **latest** day imputes a missing month as December and a missing day as the last of the month.

This is admiral's ``date_imputation = "first"`` / ``"last"`` convention (pharmaverse admiral,
``derive_vars_dt()``), applied to both ends. A check reports a problem only when it holds for every
day the partial value can mean (a partial start is "after" an end only if its earliest day is after
the end's latest day), so imputation never creates a finding. Each partial value is recorded with its interval and this
rule (the store's ``date_imputations`` table).
"""

from __future__ import annotations

import polars as pl

__all__ = ["IMPUTATION_RULE", "ISO8601_PATTERN", "parse_dtc"]

#: The imputation rule, as recorded beside every imputed value.
IMPUTATION_RULE = ("partial date widened to [earliest, latest]: missing month -> 01 / 12, missing day -> 01 / "
                   "last day of month (admiral date_imputation first/last)")

#: Accepted forms: date to year, month or day, optionally a time to hours, minutes or seconds
#: (with fraction); ``YYYY---DD`` (unknown month) is read at year precision.
ISO8601_PATTERN = (r"^(?P<Y>[0-9]{4})(?:---[0-9]{2}|-(?P<M>[0-9]{2})(?:-(?P<D>[0-9]{2})"
                   r"(?:T[0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?)?)?)?$")


def parse_dtc(values: pl.Series) -> pl.DataFrame:
    """Parse ISO 8601 SDTM date/time text into the interval of days it can mean.

    Parameters
    ----------
    values : polars.Series of str
        ``--DTC`` values; null or empty means not collected.

    Returns
    -------
    polars.DataFrame
        Same length: ``PRESENT`` (bool, a value was given), ``VALID`` (bool, it is ISO 8601 and
        a real calendar date; null when absent), ``PRECISION`` (``"Y"``, ``"M"``, ``"D"``),
        ``EARLIEST`` and ``LATEST`` (Date; null when absent or invalid).

    Examples
    --------
    >>> p = parse_dtc(pl.Series(["2024-02", "2024-02-30", "2024-03-15T08:30", "", None, "2023"]))
    >>> p["VALID"].to_list()
    [True, False, True, None, None, True]
    >>> [str(d) for d in p["LATEST"].to_list()]
    ['2024-02-29', 'None', '2024-03-15', 'None', 'None', '2023-12-31']
    """
    text = values.cast(pl.String).str.strip_chars()
    df = pl.DataFrame({"T": text}).with_columns(
        (pl.col("T").is_not_null() & (pl.col("T") != "")).alias("PRESENT"))
    parts = df.select(pl.col("PRESENT"), pl.col("T").str.extract_groups(ISO8601_PATTERN).alias("G")).unnest("G")
    y, m, d = pl.col("Y"), pl.col("M"), pl.col("D")
    first = pl.concat_str(y, pl.lit("-"), m.fill_null("01"), pl.lit("-"), d.fill_null("01"))
    month_first = pl.concat_str(y, pl.lit("-"), m.fill_null("12"), pl.lit("-01"))
    out = parts.with_columns(
        first.str.to_date("%Y-%m-%d", strict=False).alias("EARLIEST"),
        month_first.str.to_date("%Y-%m-%d", strict=False).alias("__MF"),
        pl.concat_str(y, pl.lit("-"), m, pl.lit("-"), d).str.to_date("%Y-%m-%d", strict=False).alias("__DAY"),
    ).with_columns(
        pl.when(d.is_not_null()).then(pl.col("__DAY")).otherwise(pl.col("__MF").dt.month_end()).alias("LATEST"),
        pl.when(d.is_not_null()).then(pl.lit("D")).when(m.is_not_null()).then(pl.lit("M"))
        .when(y.is_not_null()).then(pl.lit("Y")).alias("PRECISION"),
    ).with_columns(
        pl.when(pl.col("PRESENT")).then(
            y.is_not_null() & pl.col("EARLIEST").is_not_null() & pl.col("LATEST").is_not_null()
            & (d.is_null() | pl.col("__DAY").is_not_null())).alias("VALID"),
    )
    valid = pl.col("VALID").fill_null(False)
    return out.select(
        "PRESENT", "VALID", pl.when(valid).then(pl.col("PRECISION")).alias("PRECISION"),
        pl.when(valid).then(pl.col("EARLIEST")).alias("EARLIEST"),
        pl.when(valid).then(pl.col("LATEST")).alias("LATEST"),
    )
