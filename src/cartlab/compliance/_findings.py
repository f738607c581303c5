"""Validation findings: one row per problem, with where it is and how to fix it.

A finding names its severity, the domain, the file, the record (1-based data row of the file),
the variable, the value received, the rule broken, a message and a suggested fix. ``ERROR``
findings stop an ingestion; ``WARNING`` findings are loaded and recorded; ``INFO`` findings
record what cartlab did (a conversion, a fallback encoding).
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

__all__ = ["FINDINGS_SCHEMA", "SEVERITIES", "findings_frame", "format_findings", "row_findings"]

#: Severity levels, most severe first.
SEVERITIES = ("ERROR", "WARNING", "INFO")

#: Columns and dtypes of a findings table (the store's ``validation_findings``).
FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "SEVERITY": pl.String(), "DOMAIN": pl.String(), "FILE": pl.String(), "ROW": pl.Int64(),
    "VARIABLE": pl.String(), "VALUE": pl.String(), "RULE": pl.String(), "MESSAGE": pl.String(),
    "FIX": pl.String(),
}


def findings_frame(rows: Iterable[dict[str, object]] = ()) -> pl.DataFrame:
    """Build a findings table from dictionaries (missing keys are null).

    Examples
    --------
    >>> f = findings_frame([{"SEVERITY": "ERROR", "DOMAIN": "dm", "RULE": "DM-REQ"}])
    >>> f.columns[:4], f["ROW"].dtype
    (['SEVERITY', 'DOMAIN', 'FILE', 'ROW'], Int64)
    """
    data = [{k: r.get(k) for k in FINDINGS_SCHEMA} for r in rows]
    if not data:
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    return pl.DataFrame(data, schema=FINDINGS_SCHEMA, orient="row")


def row_findings(frame: pl.DataFrame, mask: pl.Expr, *, severity: str, domain: str, file: str | None,
                 variable: str | None, rule: str, message: str, fix: str,
                 value: pl.Expr | None = None, row_col: str = "__ROW") -> pl.DataFrame:
    """One finding per row of ``frame`` where ``mask`` holds (vectorised).

    Parameters
    ----------
    frame : polars.DataFrame
        Records with a 1-based row-number column ``row_col``.
    mask : polars.Expr
        Boolean expression selecting the offending rows (null counts as False).
    value : polars.Expr, optional
        The value to report; default the column ``variable`` as text.

    Examples
    --------
    >>> df = pl.DataFrame({"__ROW": [1, 2], "AGE": [30.0, -1.0]})
    >>> row_findings(df, pl.col("AGE") < 0, severity="ERROR", domain="dm", file="dm.csv",
    ...              variable="AGE", rule="RANGE", message="negative age", fix="check AGE")["VALUE"].to_list()
    ['-1.0']
    """
    if value is None:
        value = pl.col(variable).cast(pl.String) if variable is not None else pl.lit(None, pl.String)
    hit = frame.lazy().filter(mask.fill_null(False))
    return hit.select(
        pl.lit(severity, pl.String).alias("SEVERITY"), pl.lit(domain, pl.String).alias("DOMAIN"),
        pl.lit(file, pl.String).alias("FILE"), pl.col(row_col).cast(pl.Int64).alias("ROW"),
        pl.lit(variable, pl.String).alias("VARIABLE"), value.cast(pl.String).alias("VALUE"),
        pl.lit(rule, pl.String).alias("RULE"), pl.lit(message, pl.String).alias("MESSAGE"),
        pl.lit(fix, pl.String).alias("FIX"),
    ).collect()


def format_findings(findings: pl.DataFrame, *, per_rule: int = 5) -> str:
    """Render findings as readable text, most severe first, at most ``per_rule`` lines per rule
    and file (then a count of the rest).

    Examples
    --------
    >>> f = findings_frame([{"SEVERITY": "ERROR", "DOMAIN": "dm", "FILE": "dm.csv", "ROW": 3,
    ...                      "VARIABLE": "SEX", "VALUE": "X", "RULE": "CT-SEX",
    ...                      "MESSAGE": "not in codelist", "FIX": "use M, F or U"}])
    >>> print(format_findings(f))
    ERROR dm.csv row 3 SEX='X' [CT-SEX]: not in codelist; fix: use M, F or U
    """
    if findings.height == 0:
        return "no findings"
    order = {s: k for k, s in enumerate(SEVERITIES)}
    f = findings.with_columns(pl.col("SEVERITY").replace_strict(order, default=len(order)).alias("__S"),
                              pl.int_range(pl.len()).alias("__I"))
    lines: list[str] = []
    groups = f.group_by("__S", "FILE", "RULE", maintain_order=True).agg(pl.col("__I"), pl.len().alias("N"))
    for _s, _file, _rule, idx, n in groups.sort("__S", "FILE", "RULE", nulls_last=True).iter_rows():
        for i in idx[:per_rule]:
            r = findings.row(i, named=True)
            where = r["FILE"] or r["DOMAIN"] or "(files)"
            if r["ROW"] is not None:
                where += f" row {r['ROW']}"
            if r["VARIABLE"] is not None:
                where += f" {r['VARIABLE']}" + (f"={r['VALUE']!r}" if r["VALUE"] is not None else "=(missing)")
            lines.append(f"{r['SEVERITY']} {where} [{r['RULE']}]: {r['MESSAGE']}; fix: {r['FIX']}")
        if n > per_rule:
            lines.append(f"  … and {n - per_rule} more [{_rule}] finding(s) in {_file or 'the files'}")
    return "\n".join(lines)
