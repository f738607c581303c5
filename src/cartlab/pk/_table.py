"""NCA over a long table of profiles, returning ADPP-like long rows (one per subject and parameter)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from .._core.errors import DataValidationError
from ._nca import PARAMETERS, AUCMethod, BLQRule, nca

_ISO = {"h": ("PT", "H"), "hr": ("PT", "H"), "min": ("PT", "M"), "d": ("P", "D"), "day": ("P", "D"),
        "days": ("P", "D")}

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "USUBJID": pl.String(), "PPTESTCD": pl.String(), "PPTEST": pl.String(), "PPSTRESN": pl.Float64(),
    "PPSTRESU": pl.String(), "PPSTINT": pl.String(), "PPENINT": pl.String(), "PPREASND": pl.String(),
}


def pp_units(time_unit: str, conc_unit: str, dose_unit: str | None = None) -> dict[str, str]:
    """PPSTRESU of every PPTESTCD for the given time, concentration and dose units.

    >>> pp_units("h", "mg/L")["AUCLST"], pp_units("h", "mg/L")["LAMZ"]
    ('h*mg/L', '1/h')
    """
    auc = f"{time_unit}*{conc_unit}"
    kinds = {"conc": conc_unit, "time": time_unit, "auc": auc, "1/time": f"1/{time_unit}", "%": "%", "": "",
             "dose/auc": f"{dose_unit}/({auc})" if dose_unit else ""}
    return {p.testcd: kinds[p.unit] for p in PARAMETERS}


def _iso_duration(value: float, time_unit: str) -> str:
    pre, post = _ISO.get(time_unit, ("", f" {time_unit}"))
    return f"{pre}{value:g}{post}"


def nca_table(df: pl.DataFrame, *, subject_col: str, time_col: str, conc_col: str, by: Sequence[str] = (),
              dose_col: str | None = None, lloq_col: str | None = None, lloq: float | None = None,
              auc_method: AUCMethod = "lin-up/log-down", blq: BLQRule | None = None,
              auc_end: float | None = None, time_unit: str = "h", conc_unit: str = "",
              dose_unit: str | None = None) -> pl.DataFrame:
    """Run :func:`~cartlab.pk.nca` on every subject of a long table; one row per subject and parameter.

    Rows of a subject must be in strictly increasing time (the table is not re-sorted, so that an
    unsorted or duplicated time is reported, naming the subject and time). Null concentrations are
    missing; 0 or below the LLOQ (``lloq_col`` per row, else ``lloq``) is BLQ. ``by`` columns (e.g. the
    arm) must be constant within a subject and are carried to the output.

    Returns columns ``USUBJID``, the ``by`` columns, ``PPTESTCD``, ``PPTEST``, ``PPSTRESN``, ``PPSTRESU``,
    ``PPSTINT``/``PPENINT`` (ISO 8601 durations of the AUCINT interval, null for other parameters) and
    ``PPREASND`` (why a value is missing).

    >>> df = pl.DataFrame({"ID": ["a"] * 4, "T": [0.0, 1.0, 2.0, 3.0], "C": [0.0, 4.0, 2.0, 1.0]})
    >>> out = nca_table(df, subject_col="ID", time_col="T", conc_col="C", conc_unit="mg/L")
    >>> out.filter(pl.col("PPTESTCD") == "CMAX")["PPSTRESN"].to_list()
    [4.0]
    """
    need = [subject_col, time_col, conc_col, *by, *(c for c in (dose_col, lloq_col) if c)]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataValidationError(f"nca_table: column(s) {', '.join(missing)} not in the table; "
                                  f"columns are {', '.join(df.columns)}")
    units = pp_units(time_unit, conc_unit, dose_unit)
    out_rows: dict[str, list] = {k: [] for k in ["USUBJID", *by, *list(OUTPUT_SCHEMA)[1:]]}
    for key, g in df.group_by(subject_col, maintain_order=True):
        subject = key[0]
        extra = {}
        for col in by:
            vals = g[col].unique(maintain_order=True).to_list()
            if len(vals) != 1:
                raise DataValidationError(f"subject {subject}: column {col} must be constant within a subject; "
                                          f"got {vals}")
            extra[col] = vals[0]
        dose = None
        if dose_col:
            doses = g[dose_col].drop_nulls().unique().to_list()
            if len(doses) > 1:
                raise DataValidationError(f"subject {subject}: more than one dose in {dose_col}: {doses}")
            dose = float(doses[0]) if doses else None
        sub_lloq = lloq
        if lloq_col:
            ll = g[lloq_col].drop_nulls().unique().to_list()
            if len(ll) > 1:
                raise DataValidationError(f"subject {subject}: more than one LLOQ in {lloq_col}: {ll}")
            sub_lloq = float(ll[0]) if ll else lloq
        t = g[time_col].cast(pl.Float64).to_numpy()
        c = g[conc_col].cast(pl.Float64).fill_null(np.nan).to_numpy()
        r = nca(t, c, dose=dose, auc_method=auc_method, blq=blq, lloq=sub_lloq, auc_end=auc_end, subject=subject)
        for p in PARAMETERS:
            if p.attr == "auc_int" and auc_end is None:
                continue
            if p.attr == "cl_obs" and dose_col is None:
                continue
            v = float(getattr(r, p.attr))
            if p.attr == "lambda_z_n" and v == 0:
                v = math.nan
            out_rows["USUBJID"].append(str(subject))
            for col in by:
                out_rows[col].append(extra[col])
            out_rows["PPTESTCD"].append(p.testcd)
            out_rows["PPTEST"].append(p.test)
            out_rows["PPSTRESN"].append(None if math.isnan(v) else v)
            out_rows["PPSTRESU"].append(units[p.testcd])
            is_int = p.attr == "auc_int"
            out_rows["PPSTINT"].append(_iso_duration(0.0, time_unit) if is_int else None)
            out_rows["PPENINT"].append(_iso_duration(float(auc_end), time_unit) if is_int and auc_end is not None
                                       else None)
            out_rows["PPREASND"].append(r.reasons.get("lambda_z" if p.attr == "lambda_z_n" else p.attr)
                                       if math.isnan(v) else None)
    schema = {"USUBJID": pl.String(), **{col: df.schema[col] for col in by},
              **{k: v for k, v in OUTPUT_SCHEMA.items() if k != "USUBJID"}}
    return pl.DataFrame(out_rows, schema=schema)
