"""Report tables that need more than the ADaM datasets: NCA kinetics, replicated trials vs reported."""

from __future__ import annotations

import math

import polars as pl

from ..analysis import AdamDatasets, SummaryTable, treated_arms
import numpy as np

from ..pk import nca
from ..protocol import ReportedResult, reported_fraction
from ..trial import PRIMARY_LABEL, SUMMARY_COLUMNS, summarize_replicates

_SCHEMA = {"ROW": pl.String, "ARM": pl.String, "N": pl.Int64, "K": pl.Int64, "VALUE": pl.Float64,
           "LO": pl.Float64, "HI": pl.Float64}


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NE"
    return f"{x:,.0f}" if abs(x) >= 1000 else (f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}")


def kinetics_table(adam: AdamDatasets) -> SummaryTable:
    """Cmax, Tmax and AUC0-28 of the CAR transgene (and CAR+ cells) by dose level: median (range).

    NCA by :func:`cartlab.pk.nca` (per subject, as :func:`cartlab.pk.nca_table`) on ADPC after infusion (``AFRLT >= 0``), BLQ as 0 with
    the record's LLOQ (PKNCA conventions: first BLQ kept as 0, later ones dropped), AUC0-28 by
    linear-up/log-down.
    """
    arms = treated_arms(adam.adsl)
    rows: list[tuple[str, tuple[str, ...]]] = []
    data: list[dict] = []
    for code, unit, name in (("TRANSGEN", "copies/ug", "Transgene"), ("CARTCELL", "cells/uL", "CAR+ T cells")):
        rec = (adam.adpc.filter((pl.col("PARAMCD") == code) & (pl.col("AFRLT") >= 0))
               .select("USUBJID", "ARMCD", "AFRLT", pl.col("AVAL").fill_null(0.0).alias("CONC"),
                       pl.col("ALLOQ").alias("LLOQ")).sort("USUBJID", "AFRLT")
               .unique(["USUBJID", "AFRLT"], keep="first", maintain_order=True))
        if rec.height == 0:
            continue
        # cartlab.pk.nca on each subject's profile (the function cartlab.pk.nca_table calls per subject),
        # fed numpy slices of the sorted table: the same numbers without a polars frame per subject
        subj_ids = rec["USUBJID"].to_numpy()
        t_all, c_all = rec["AFRLT"].to_numpy(), rec["CONC"].to_numpy()
        lloq_all = rec["LLOQ"].fill_null(np.nan).to_numpy()
        bounds = np.flatnonzero(np.r_[True, subj_ids[1:] != subj_ids[:-1], True])
        res = {}
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            ll = lloq_all[lo]
            r = nca(t_all[lo:hi], c_all[lo:hi], lloq=None if np.isnan(ll) else float(ll), auc_end=28.0,
                    subject=subj_ids[lo])
            res[subj_ids[lo]] = {"CMAX": r.cmax, "TMAX": r.tmax, "AUCINT": r.auc_int}
        for testcd, label in (("CMAX", f"{name} Cmax ({unit})"), ("TMAX", f"{name} Tmax (day)"),
                              ("AUCINT", f"{name} AUC0-28 (day·{unit})")):
            cells = []
            for arm, subj in arms:
                v = pl.Series([res[u][testcd] for u in subj if u in res], dtype=pl.Float64).fill_nan(None).drop_nulls()
                if v.len() == 0:
                    cells.append("—")
                    data.append({"ROW": label, "ARM": arm, "N": 0})
                    continue
                cells.append(f"{_num(v.median())} ({_num(v.min())}–{_num(v.max())}), n={v.len()}")
                data.append({"ROW": label, "ARM": arm, "N": v.len(), "VALUE": float(v.median()),
                             "LO": float(v.min()), "HI": float(v.max())})
            rows.append((label, tuple(cells)))
    return SummaryTable("kinetics", "Cellular kinetics by dose level (NCA, days from infusion)",
                        tuple(f"{a} (N={len(s)})" for a, s in arms), tuple(rows),
                        ("Median (range), n evaluable. NCA by cartlab.pk (PKNCA conventions): BLQ before the first "
                         "measurable value as 0, later BLQ dropped; AUC0-28 linear-up/log-down.",),
                        pl.DataFrame(data, schema=_SCHEMA))


#: ``[[reported]]`` metric -> the ``sim_summary`` column it is compared with (rates are % there)
_METRIC_COLUMN = {"crs_any": "crs_any", "crs_grade3plus": "crs_grade3plus", "icans_any": "icans_any",
                  "icans_grade3plus": "icans_grade3plus", "neutropenia_grade3plus": "neutropenia_grade3plus"}
#: primary endpoint -> ``[[reported]]`` metrics that are its run-summary figure
_PRIMARY_METRICS = {"sledai2k_change": ("sledai2k_change_median",), "doris_remission": ("doris_remission",),
                    "tis": ("tis_moderate_or_major",), "criss": ("criss",)}
_RATE_PRIMARY = ("doris_remission", "criss", "tis")


def replicate_table(sim_summary: pl.DataFrame, endpoint: str, reported: tuple[ReportedResult, ...] = ()
                    ) -> SummaryTable:
    """Median and 90 % interval (5th–95th percentile) of every run-summary figure across replicate
    trials, by arm, with the reported value and whether it falls inside the interval.

    ``sim_summary`` is the table ``cartlab run`` stores (one row per arm and replicate, figures of
    :data:`cartlab.trial.SUMMARY_COLUMNS`); intervals by :func:`cartlab.trial.summarize_replicates`.
    Reported rates (fractions in the protocol) are compared as percentages.
    """
    reps = [g for _k, g in sim_summary.group_by("replicate", maintain_order=True)] \
        if "replicate" in sim_summary.columns else [sim_summary]
    agg = summarize_replicates(reps)
    arms = agg["arm"].to_list()
    n_rep = int(agg["replicates"][0]) if agg.height else 0
    rep_by: dict[tuple[str, str], ReportedResult] = {}
    for r in reported:
        col = _METRIC_COLUMN.get(r.metric)
        if col is None and r.metric in _PRIMARY_METRICS.get(endpoint, ()):
            col = "primary"
        if col is not None and r.arm is not None:
            rep_by[(col, r.arm)] = r
    columns: list[str] = []
    for a in arms:
        columns += [f"{a} simulated", f"{a} reported", f"{a} inside"]
    rows, data = [], []
    for col, name in SUMMARY_COLUMNS:
        label = PRIMARY_LABEL.get(endpoint, endpoint) if col == "primary" else name
        cells: list[str] = []
        for a in arms:
            r = agg.filter(pl.col("arm") == a).row(0, named=True)
            if col == "n":
                cells += [str(r["n"]), "", ""]
                continue
            med, lo, hi = r[col], r[f"{col}_lo"], r[f"{col}_hi"]
            cells.append(f"{_num(med)} [{_num(lo)}, {_num(hi)}]")
            rep = rep_by.get((col, a))
            if rep is None:
                cells += ["", ""]
                data.append({"ROW": label, "ARM": a, "VALUE": med, "LO": lo, "HI": hi})
                continue
            pct = col != "primary" or endpoint in _RATE_PRIMARY
            value = 100.0 * reported_fraction(rep.value, rep.n) if pct else rep.value
            inside = lo is not None and hi is not None and not math.isnan(lo) and lo - 1e-9 <= value <= hi + 1e-9
            cells += [f"{_num(value)}" + (f" (n={rep.n})" if rep.n else ""), "yes" if inside else "no"]
            data.append({"ROW": label, "ARM": a, "N": rep.n, "K": int(inside), "VALUE": med, "LO": lo, "HI": hi})
        rows.append((label, tuple(cells)))
    notes = (f"Median [5th–95th percentile] across {n_rep} simulated trials of the protocol's size; reported values "
             "from the protocol's [[reported]] entries (EVIDENCE.md), rates as % of treated; 'inside' = the reported "
             "value lies within the 90 % interval.",)
    return SummaryTable("replicates", "Replicated virtual trials: simulated vs reported", tuple(columns), tuple(rows),
                        notes, pl.DataFrame(data, schema=_SCHEMA))
