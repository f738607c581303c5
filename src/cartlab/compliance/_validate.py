"""Validation of SDTM domains before they are loaded, and their conversion to the store's types.

:func:`validate_sdtm` checks every domain read from a trial's files and returns the findings
(severity, domain, file, row, variable, value, rule, message, fix), the domains converted to the
dtypes the store and cartlab's derivations expect, and the record of partial-date imputations.
It is pure: the readers in :mod:`cartlab.io` build the :class:`SourceDomain` inputs.

Rules (the rule code is in the ``RULE`` column)
------------------------------------------------
``NAME-LENGTH``  variable name longer than 8 characters (cannot be written to SAS XPORT v5).
``REQ``          a required variable is missing (SDTMIG ``Req`` core; see :mod:`._sdtm_spec`).
``DOMAIN``       ``DOMAIN`` differs from the file's domain code.
``TYPE``         a Num variable holds text that is not a number, or an integer variable
                 (``--SEQ``, ``--DY``) holds a fraction.
``TYPE-CONVERTED``  a variable stored with the other SDTM type was converted (info).
``LENGTH``       a character value longer than 200 characters (XPORT v5 limit).
``CT``           a value outside the controlled terms cartlab relies on.
``KEY``          a duplicated natural key: an error for ``STUDYID, USUBJID, --SEQ``, DM's
                 ``USUBJID`` and SUPP-- keys; a warning for SV's ``VISITNUM`` and trial-design keys.
``DM``           a ``USUBJID`` absent from DM (or no DM at all).
``DATE``         a ``--DTC`` value that is not ISO 8601 or not a calendar date.
``DATE-FUTURE``  a date after the data cut-off.
``DATE-BIRTH``   a date before the subject's birth (``BRTHDTC``, else ``RFSTDTC`` minus ``AGE``).
``DATE-ORDER``   an end before its start (``--STDTC``/``--ENDTC``, ``RFSTDTC``/``RFENDTC``,
                 ``RFXSTDTC``/``RFXENDTC``).
``UNIT``         a result of a test cartlab computes with has no unit or an unknown one.
``UNIT-CONVERTED``  results converted to cartlab's unit (info; the original stays in ``--ORRES``).
``RANGE``        a value outside the plausibility limits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from ._dates import IMPUTATION_RULE, parse_dtc
from ._findings import FINDINGS_SCHEMA, findings_frame, row_findings
from ._sdtm_spec import (
    CONTROLLED_TERMS,
    LAB_UNITS,
    PLAUSIBLE,
    VITAL_UNITS,
    key_variables,
    required_variables,
    variable_type,
)

__all__ = ["IMPUTATIONS_SCHEMA", "SourceDomain", "ValidationResult", "validate_sdtm"]

_ROW = "__ROW"
MAX_CHAR = 200

#: Columns of the store's ``date_imputations`` table.
IMPUTATIONS_SCHEMA: dict[str, pl.DataType] = {
    "DOMAIN": pl.String(), "FILE": pl.String(), "ROW": pl.Int64(), "VARIABLE": pl.String(), "VALUE": pl.String(),
    "PRECISION": pl.String(), "EARLIEST": pl.Date(), "LATEST": pl.Date(), "RULE": pl.String(),
}


@dataclass(frozen=True)
class SourceDomain:
    """One domain as read from one file, before validation.

    Attributes
    ----------
    domain : str
        Lower-case domain code (``"lb"``, ``"suppdm"``, a sponsor code such as ``"xp"``).
    file : str
        File name as the user knows it (used in findings).
    frame : polars.DataFrame
        The records in file order. Typed files (XPT, Dataset-JSON) give Float64 for Num and
        String for Char variables; CSV gives String for every column.
    typed : bool
        Whether the file declared variable types (False for CSV).
    """

    domain: str
    file: str
    frame: pl.DataFrame
    typed: bool = True


@dataclass(frozen=True)
class ValidationResult:
    """Findings, the converted tables and the partial-date imputations of one validation.

    Attributes
    ----------
    findings : polars.DataFrame
        :data:`~cartlab.compliance.FINDINGS_SCHEMA` rows, most severe first.
    tables : dict of str to polars.DataFrame
        Each domain with SDTM types applied (Int64 for ``--SEQ``/``--DY``, Float64 for other Num,
        String for Char with blanks as null) and lab/vital results in cartlab's units.
    imputations : polars.DataFrame
        One row per partial date (:data:`IMPUTATIONS_SCHEMA`).
    """

    findings: pl.DataFrame
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    imputations: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=IMPUTATIONS_SCHEMA))

    @property
    def n_errors(self) -> int:
        """Number of ``ERROR`` findings."""
        return int((self.findings["SEVERITY"] == "ERROR").sum())

    @property
    def n_warnings(self) -> int:
        """Number of ``WARNING`` findings."""
        return int((self.findings["SEVERITY"] == "WARNING").sum())


def _file_finding(src: SourceDomain, severity: str, variable: str | None, value: str | None, rule: str,
                  message: str, fix: str) -> dict[str, object]:
    return {"SEVERITY": severity, "DOMAIN": src.domain, "FILE": src.file, "ROW": None, "VARIABLE": variable,
            "VALUE": value, "RULE": rule, "MESSAGE": message, "FIX": fix}


def _norm_unit(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_uppercase().str.replace_all(r"\s+", "")


def _convert_types(src: SourceDomain, df: pl.DataFrame, out: list[pl.DataFrame],
                   notes: list[dict[str, object]]) -> pl.DataFrame:
    exprs = []
    for name, dtype in df.schema.items():
        if name == _ROW:
            continue
        kind = variable_type(src.domain, name)
        col = pl.col(name)
        if kind in ("Num", "Int"):
            if dtype == pl.String:
                text = col.str.strip_chars()
                text = pl.when(text == "").then(None).otherwise(text)
                num = text.cast(pl.Float64, strict=False)
                out.append(row_findings(df, text.is_not_null() & num.is_null(), severity="ERROR", domain=src.domain,
                                        file=src.file, variable=name, rule="TYPE",
                                        message=f"{name} is a numeric SDTM variable; the value is not a number",
                                        fix=f"write {name} as a plain number (e.g. 12 or 0.5) or leave it empty"))
                if src.typed and df[name].str.strip_chars().replace("", None).drop_nulls().len():
                    notes.append(_file_finding(src, "INFO", name, "Char", "TYPE-CONVERTED",
                                               f"{name} is stored as Char in the file; SDTM declares it Num, "
                                               "so cartlab reads it as a number",
                                               f"declare {name} as a numeric variable in the file"))
            elif dtype.is_numeric() or dtype == pl.Null:  # Null: an empty file's column has no type
                num = col.cast(pl.Float64)
            else:
                notes.append(_file_finding(src, "ERROR", name, str(dtype), "TYPE",
                                           f"{name} has type {dtype}; SDTM declares it Num",
                                           f"store {name} as a number"))
                continue
            if name == "AGE" and df.select(((num == num.round(0)) | num.is_null()).all()).item():
                # SDTM AGE is Num; whole ages are stored as integers, as the virtual site writes them
                num = num.cast(pl.Int64)
            if kind == "Int":
                frac = num.is_not_null() & num.is_finite() & (num != num.round(0))
                bad = frac | (num.is_not_null() & ~num.is_finite())
                out.append(row_findings(df, bad, severity="ERROR", domain=src.domain, file=src.file,
                                        variable=name, rule="TYPE", value=num,
                                        message=f"{name} must be a whole number (SDTMIG: sequence numbers and "
                                                "study days are integers)",
                                        fix=f"correct {name} to an integer"))
                num = pl.when(bad).then(None).otherwise(num).cast(pl.Int64)
            exprs.append(num.alias(name))
        else:
            if dtype == pl.String:
                text = col.str.strip_chars_end()
                exprs.append(pl.when(text == "").then(None).otherwise(text).alias(name))
            elif dtype.is_numeric():
                if df[name].drop_nulls().len():
                    notes.append(_file_finding(src, "INFO", name, str(dtype), "TYPE-CONVERTED",
                                               f"{name} is stored as Num in the file; SDTM declares it Char, "
                                               "so cartlab stores it as text (whole numbers without decimals)",
                                               f"declare {name} as a character variable in the file"))
                f = col.cast(pl.Float64)
                as_int = f.cast(pl.Int64, strict=False).cast(pl.String)
                exprs.append(pl.when(f.is_null() | f.is_nan()).then(None)
                             .when(f == f.round(0)).then(as_int).otherwise(f.cast(pl.String)).alias(name))
            else:
                exprs.append(col.cast(pl.String).alias(name))
    return df.select(pl.col(_ROW), *exprs)


def _check_names(src: SourceDomain, notes: list[dict[str, object]]) -> None:
    for name in src.frame.columns:
        if len(name) > 8:
            notes.append(_file_finding(src, "WARNING", name, name, "NAME-LENGTH",
                                       f"variable name {name!r} is longer than 8 characters; it cannot be "
                                       "written to SAS XPORT v5 for submission",
                                       "rename it to at most 8 characters (SDTMIG naming)"))
    for name in required_variables(src.domain):
        if name not in src.frame.columns:
            notes.append(_file_finding(src, "ERROR", name, None, "REQ",
                                       f"required variable {name} is missing from {src.domain.upper()}",
                                       f"add {name} to {src.file} (SDTMIG: core = Req)"))


def _check_values(src: SourceDomain, df: pl.DataFrame, out: list[pl.DataFrame]) -> None:
    code = src.domain.upper()
    if "DOMAIN" in df.columns and not src.domain.startswith("supp"):
        out.append(row_findings(df, pl.col("DOMAIN").is_null() | (pl.col("DOMAIN") != code[:2]), severity="ERROR",
                                domain=src.domain, file=src.file, variable="DOMAIN", rule="DOMAIN",
                                message=f"DOMAIN must be {code[:2]!r} in {src.file}",
                                fix=f"set DOMAIN to {code[:2]} or move the record to its own domain's file"))
    for (dom, var), (allowed, severity, source) in CONTROLLED_TERMS.items():
        if dom == src.domain and var in df.columns:
            out.append(row_findings(df, pl.col(var).is_not_null() & ~pl.col(var).is_in(list(allowed)),
                                    severity=severity, domain=src.domain, file=src.file, variable=var, rule="CT",
                                    message=f"{var} is not in {source}",
                                    fix=f"use one of {', '.join(allowed)}"))
    for name, dtype in df.schema.items():
        if dtype == pl.String and name != _ROW:
            out.append(row_findings(df, pl.col(name).str.len_bytes() > MAX_CHAR, severity="WARNING",
                                    domain=src.domain, file=src.file, variable=name, rule="LENGTH",
                                    value=pl.col(name).str.slice(0, 40) + pl.lit("…"),
                                    message=f"{name} is longer than {MAX_CHAR} bytes (SAS XPORT v5 limit)",
                                    fix=f"shorten {name} or split it into SUPP{code[:2]} records"))
    keys = key_variables(src.domain, df.columns)
    if keys:
        dup = pl.len().over(list(keys)) > 1
        shown = pl.concat_str([pl.col(k).cast(pl.String).fill_null("") for k in keys], separator="/")
        # Records identified by --SEQ (and DM by USUBJID) must be unique: derivations and the
        # version audit rely on it. A repeated VISITNUM in SV or a repeated trial-design key is
        # reported but does not stop the load (cartlab does not identify records by them).
        severity = "ERROR" if keys[-1].endswith("SEQ") or src.domain == "dm" or src.domain.startswith("supp") \
            else "WARNING"
        out.append(row_findings(df, dup, severity=severity, domain=src.domain, file=src.file,
                                variable="/".join(keys), rule="KEY", value=shown,
                                message=f"the key {', '.join(keys)} is not unique: another record has the same values",
                                fix="give each record its own sequence number, or remove the duplicate record"))


def _check_units(src: SourceDomain, df: pl.DataFrame, out: list[pl.DataFrame],
                 notes: list[dict[str, object]]) -> pl.DataFrame:
    p = src.domain.upper()
    test, res, unit = f"{p}TESTCD", f"{p}STRESN", f"{p}STRESU"
    if src.domain not in ("lb", "vs") or not {test, res} <= set(df.columns):
        return df
    registry = LAB_UNITS if src.domain == "lb" else VITAL_UNITS
    if unit not in df.columns:
        df = df.with_columns(pl.lit(None, pl.String).alias(unit))
    factors: list[tuple[str, str, float, float]] = []
    for code, (canon, accepted) in registry.items():
        for u, f in accepted.items():
            factor, offset = f if isinstance(f, tuple) else (f, 0.0)
            factors.append((code, u, factor, offset))
    table = pl.DataFrame(factors, schema={"__T": pl.String, "__U": pl.String, "__F": pl.Float64, "__O": pl.Float64},
                         orient="row")
    known = pl.col(test).is_in(list(registry))
    df = df.with_columns(_norm_unit(pl.col(unit)).alias("__U"), pl.col(test).alias("__T"))
    df = df.join(table, on=["__T", "__U"], how="left", maintain_order="left")
    relevant = known & pl.col(res).is_not_null()
    out.append(row_findings(df, relevant & pl.col(unit).is_null(), severity="ERROR", domain=src.domain,
                            file=src.file, variable=unit, rule="UNIT",
                            message=f"{test} result has no unit; cartlab computes with this test",
                            fix=f"fill {unit} (e.g. {', '.join(sorted({registry[c][0] for c in registry})[:4])})"))
    out.append(row_findings(df, relevant & pl.col(unit).is_not_null() & pl.col("__F").is_null(), severity="ERROR",
                            domain=src.domain, file=src.file, variable=unit, rule="UNIT",
                            message=f"unit not recognised for this {test}; cartlab cannot convert it",
                            fix="use a standard unit for the test (see cartlab.compliance.LAB_UNITS / VITAL_UNITS)"))
    conv = df.filter(relevant & pl.col("__F").is_not_null() & ((pl.col("__F") != 1.0) | (pl.col("__O") != 0.0)))
    if conv.height:
        for code, u, n in conv.group_by("__T", unit).agg(pl.len()).sort("__T", unit).iter_rows():
            notes.append(_file_finding(src, "INFO", unit, u, "UNIT-CONVERTED",
                                       f"{n} {code} result(s) in {u} converted to {registry[code][0]} "
                                       f"({res}, {p}STNRLO, {p}STNRHI); the original stays in {p}ORRES",
                                       "none needed"))
    scale = pl.col("__F").is_not_null() & relevant
    new = {res: pl.when(scale).then(pl.col(res) * pl.col("__F") + pl.col("__O")).otherwise(pl.col(res))}
    for limit in (f"{p}STNRLO", f"{p}STNRHI"):
        if limit in df.columns and df.schema[limit].is_numeric():
            new[limit] = pl.when(scale).then(pl.col(limit) * pl.col("__F") + pl.col("__O")).otherwise(pl.col(limit))
    canon_map = {code: canon for code, (canon, _a) in registry.items()}
    new[unit] = pl.when(scale).then(pl.col(test).replace_strict(canon_map, default=None)).otherwise(pl.col(unit))
    df = df.with_columns(**new)
    for code in registry:
        lo_hi = PLAUSIBLE.get((src.domain, code))
        if lo_hi is None:
            continue
        lo, hi = lo_hi
        out.append(row_findings(df, (pl.col(test) == code) & scale & ((pl.col(res) < lo) | (pl.col(res) > hi)),
                                severity="WARNING", domain=src.domain, file=src.file, variable=res, rule="RANGE",
                                message=f"{code} outside the plausible range {lo:g}-{hi:g} {registry[code][0]}",
                                fix=f"check the value and its unit in {unit}"))
    return df.drop("__U", "__T", "__F", "__O")


def _birth_bounds(dm: pl.DataFrame | None) -> pl.DataFrame | None:
    """Earliest possible birth date per subject: BRTHDTC, else RFSTDTC minus (AGE + 1) years."""
    if dm is None or "USUBJID" not in dm.columns:
        return None
    parts = [pl.col("USUBJID")]
    if "BRTHDTC" in dm.columns:
        b = parse_dtc(dm["BRTHDTC"])
        parts.append(pl.Series("__B1", b["EARLIEST"]))
    else:
        parts.append(pl.lit(None, pl.Date).alias("__B1"))
    if {"AGE", "RFSTDTC"} <= set(dm.columns) and dm.schema["AGE"].is_numeric():
        ref = parse_dtc(dm["RFSTDTC"])["EARLIEST"]
        age = dm["AGE"].cast(pl.Float64)
        unit = dm["AGEU"] if "AGEU" in dm.columns else pl.Series([None] * dm.height, dtype=pl.String)
        years = (age.floor() + 1).cast(pl.Int64, strict=False)
        in_years = (unit.fill_null("YEARS") == "YEARS") & age.is_not_null() & age.is_finite()
        frame = pl.DataFrame({"R": ref, "Y": years, "OK": in_years})
        parts.append(frame.select(pl.when(pl.col("OK")).then(
            pl.col("R").dt.offset_by(pl.concat_str(pl.lit("-"), pl.col("Y").cast(pl.String), pl.lit("y")))
        )).to_series().alias("__B2"))
    else:
        parts.append(pl.lit(None, pl.Date).alias("__B2"))
    out = dm.select(*parts).select("USUBJID", pl.coalesce("__B1", "__B2").alias("__BIRTH"))
    return out.filter(pl.col("__BIRTH").is_not_null()).unique("USUBJID", keep="first")


def _check_dates(src: SourceDomain, df: pl.DataFrame, cutoff: dt.date, birth: pl.DataFrame | None,
                 out: list[pl.DataFrame], imputations: list[pl.DataFrame]) -> None:
    dtc = [c for c, t in df.schema.items() if c.endswith("DTC") and t == pl.String]
    if not dtc:
        return
    parsed = {c: parse_dtc(df[c]) for c in dtc}
    wide = df.select(_ROW, *(["USUBJID"] if "USUBJID" in df.columns else []), *dtc).with_columns(
        *(pl.Series(f"{c}__E", parsed[c]["EARLIEST"]) for c in dtc),
        *(pl.Series(f"{c}__L", parsed[c]["LATEST"]) for c in dtc),
        *(pl.Series(f"{c}__V", parsed[c]["VALID"]) for c in dtc),
        *(pl.Series(f"{c}__P", parsed[c]["PRECISION"]) for c in dtc))
    if birth is not None and "USUBJID" in wide.columns:
        wide = wide.join(birth, on="USUBJID", how="left", maintain_order="left")
    for c in dtc:
        out.append(row_findings(wide, pl.col(f"{c}__V") == False, severity="ERROR", domain=src.domain,  # noqa: E712
                                file=src.file, variable=c, rule="DATE",
                                message=f"{c} is not an ISO 8601 date/time (or not a calendar date)",
                                fix="write YYYY-MM-DD, optionally THH:MM[:SS]; partial dates as YYYY or YYYY-MM"))
        out.append(row_findings(wide, pl.col(f"{c}__E") > cutoff, severity="ERROR", domain=src.domain, file=src.file,
                                variable=c, rule="DATE-FUTURE",
                                message=f"{c} is after the data cut-off {cutoff.isoformat()}",
                                fix="correct the date, or pass the trial's data cut-off date (--data-cutoff)"))
        if "__BIRTH" in wide.columns and c != "BRTHDTC":
            out.append(row_findings(wide, pl.col(f"{c}__L") < pl.col("__BIRTH"), severity="ERROR",
                                    domain=src.domain, file=src.file, variable=c, rule="DATE-BIRTH",
                                    message=f"{c} is before the subject's birth (DM BRTHDTC, or RFSTDTC minus AGE)",
                                    fix=f"correct {c}, or the subject's AGE/BRTHDTC in DM"))
        partial = wide.filter(pl.col(f"{c}__P").is_in(["Y", "M"]))
        if partial.height:
            imputations.append(partial.select(
                pl.lit(src.domain).alias("DOMAIN"), pl.lit(src.file).alias("FILE"), pl.col(_ROW).alias("ROW"),
                pl.lit(c).alias("VARIABLE"), pl.col(c).alias("VALUE"), pl.col(f"{c}__P").alias("PRECISION"),
                pl.col(f"{c}__E").alias("EARLIEST"), pl.col(f"{c}__L").alias("LATEST"),
                pl.lit(IMPUTATION_RULE).alias("RULE")))
    p = src.domain[:2].upper()
    pairs = [(f"{p}STDTC", f"{p}ENDTC"), ("RFSTDTC", "RFENDTC"), ("RFXSTDTC", "RFXENDTC")]
    for start, end in pairs:
        if start in dtc and end in dtc:
            out.append(row_findings(wide, pl.col(f"{start}__E") > pl.col(f"{end}__L"), severity="ERROR",
                                    domain=src.domain, file=src.file, variable=end, rule="DATE-ORDER",
                                    value=pl.concat_str(pl.col(start), pl.lit(" > "), pl.col(end)),
                                    message=f"{end} is before {start}",
                                    fix=f"correct {start} or {end}"))


def validate_sdtm(domains: Sequence[SourceDomain], *, data_cutoff: dt.date | None = None,
                  prior_findings: Sequence[Mapping[str, object]] = ()) -> ValidationResult:
    """Validate SDTM domains and convert them to the store's types.

    Parameters
    ----------
    domains : sequence of SourceDomain
        Every domain of the trial (one per file).
    data_cutoff : datetime.date, optional
        Dates after it are errors; default today.
    prior_findings : sequence of mapping
        Findings made while reading (e.g. an encoding fallback), kept in the result.

    Returns
    -------
    ValidationResult
        Findings sorted by severity, domain, file and row; converted tables; imputations.

    Examples
    --------
    >>> dm = pl.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"], "SUBJID": ["1"],
    ...                    "SITEID": ["1"], "SEX": ["X"], "COUNTRY": ["USA"], "ARMCD": ["A"], "ARM": ["A"],
    ...                    "ACTARMCD": ["A"], "ACTARM": ["A"], "AGE": ["34"]})
    >>> res = validate_sdtm([SourceDomain("dm", "dm.csv", dm, typed=False)], data_cutoff=dt.date(2025, 1, 1))
    >>> res.findings.select("SEVERITY", "ROW", "VARIABLE", "VALUE", "RULE").row(0)
    ('ERROR', 1, 'SEX', 'X', 'CT')
    >>> res.tables["dm"]["AGE"].to_list()  # text in CSV, a whole number in the store
    [34]
    """
    cutoff = data_cutoff or dt.date.today()
    notes: list[dict[str, object]] = [dict(f) for f in prior_findings]
    out: list[pl.DataFrame] = []
    imputations: list[pl.DataFrame] = []
    converted: dict[str, pl.DataFrame] = {}
    sources = {s.domain: s for s in domains}
    for src in domains:
        _check_names(src, notes)
        df = src.frame.with_row_index(_ROW, offset=1).with_columns(pl.col(_ROW).cast(pl.Int64))
        df = _convert_types(src, df, out, notes)
        _check_values(src, df, out)
        df = _check_units(src, df, out, notes)
        converted[src.domain] = df
    dm = converted.get("dm")
    birth = _birth_bounds(dm.drop(_ROW) if dm is not None else None)
    dm_ids = dm["USUBJID"].drop_nulls().unique() if dm is not None and "USUBJID" in dm.columns else None
    for name, df in converted.items():
        src = sources[name]
        _check_dates(src, df, cutoff, birth, out, imputations)
        if name != "dm" and "USUBJID" in df.columns:
            if dm_ids is None:
                notes.append(_file_finding(src, "ERROR", "USUBJID", None, "DM",
                                           "the trial has no DM domain, so no subject can be checked",
                                           "include dm.xpt (or dm.csv) with one record per subject"))
            else:
                out.append(row_findings(df, pl.col("USUBJID").is_not_null() & ~pl.col("USUBJID").is_in(dm_ids.implode()),
                                        severity="ERROR", domain=name, file=src.file, variable="USUBJID", rule="DM",
                                        message="USUBJID has no record in DM",
                                        fix="add the subject to DM or correct USUBJID"))
    if dm is not None and "AGE" in dm.columns and dm.schema["AGE"].is_numeric():
        out.append(row_findings(dm, (pl.col("AGE") < 0) | (pl.col("AGE") > 120), severity="WARNING", domain="dm",
                                file=sources["dm"].file, variable="AGE", rule="RANGE",
                                message="AGE outside the plausible range 0-120 years", fix="check AGE and AGEU"))
    findings = pl.concat([findings_frame(notes), *out], how="vertical_relaxed").cast(FINDINGS_SCHEMA)
    order = {"ERROR": 0, "WARNING": 1, "INFO": 2}
    findings = findings.sort(pl.col("SEVERITY").replace_strict(order, default=3), "DOMAIN", "FILE", "ROW",
                             nulls_last=False, maintain_order=True)
    imp = (pl.concat(imputations, how="vertical_relaxed").cast(IMPUTATIONS_SCHEMA) if imputations
           else pl.DataFrame(schema=IMPUTATIONS_SCHEMA))
    tables = {name: df.drop(_ROW) for name, df in converted.items()}
    return ValidationResult(findings, tables, imp)
