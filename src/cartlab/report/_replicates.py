"""Replicated virtual trials: each report table's figures across replicates, and reported vs simulated."""

from __future__ import annotations

import math
from collections.abc import Iterable

import polars as pl

from ..analysis import SummaryTable, bcell_table, derive_adam, efficacy_table, safety_table
from ..protocol import ReportedResult, reported_fraction
from ._tables import kinetics_table

#: ``[[reported]]`` metric -> (table key prefix, row label) of the report table it is compared with;
#: rates in the protocol are fractions, in the tables percentages
REPORTED_ROWS: dict[str, tuple[str, str]] = {
    "crs_any": ("safety", "CRS, any grade"),
    "crs_grade3plus": ("safety", "CRS, grade ≥ 3"),
    "icans_any": ("safety", "ICANS, any grade"),
    "icans_grade3plus": ("safety", "ICANS, grade ≥ 3"),
    "neutropenia_grade3plus": ("safety", "Grade 3/4 neutropenia"),
    "sledai2k_change_median": ("efficacy", "SLEDAI-2K (0-105): median change (IQR)"),
    "mmt8_relative_change_median": ("efficacy", "MMT-8 (0-150): median relative change, % (IQR)"),
    "fvc_pct_pred_relative_change_median": ("efficacy", "FVC % predicted: median relative change, % (IQR)"),
    "doris_remission": ("efficacy", "DORIS 2021 remission"),
    "tis_moderate_or_major": ("efficacy", "TIS moderate or major improvement (>= 40)"),
    "tis_moderate": ("efficacy", "TIS moderate improvement (40 to < 60)"),
    "tis_major": ("efficacy", "TIS major improvement (>= 60)"),
    "complete_renal_response": ("efficacy", "Complete renal response (UPCR < 0.5 g/g)"),
}
#: metrics whose reported value is a fraction shown as a percentage in the tables
_RATES = {"crs_any", "crs_grade3plus", "icans_any", "icans_grade3plus", "neutropenia_grade3plus", "doris_remission",
          "tis_moderate_or_major", "tis_moderate", "tis_major", "complete_renal_response", "mmt8_relative_change_median",
          "fvc_pct_pred_relative_change_median"}


def efficacy_days(efficacy_day: int, reported: Iterable[ReportedResult]) -> list[int]:
    """The primary efficacy day and every other day a reported efficacy result refers to, sorted."""
    days = {efficacy_day}
    days.update(r.day for r in reported if r.day is not None and REPORTED_ROWS.get(r.metric, ("",))[0] == "efficacy")
    return sorted(days)


def report_tables(adam, days: list[int]) -> list[SummaryTable]:
    """The tables whose figures are compared across replicates (efficacy keyed ``efficacy@DAY``)."""
    out = [safety_table(adam)]
    for d in days:
        t = efficacy_table(adam, d)
        out.append(SummaryTable(f"efficacy@{d}", t.title, t.columns, t.rows, t.footnotes, t.data))
    return [*out, kinetics_table(adam), bcell_table(adam)]


def replicate_stats(tables: dict[str, pl.DataFrame], efficacy_day: int, days: Iterable[int] = ()) -> pl.DataFrame:
    """One replicate trial's table figures as ``TABLE, ROW, ARM, VALUE`` (what :func:`with_replicates` reads).

    ``VALUE`` is the figure a cell shows: % of the arm for counts, the median for continuous rows.
    """
    adam = derive_adam(tables, efficacy_day=efficacy_day)
    all_days = sorted({efficacy_day, *days})
    return pl.concat([t.data.select(pl.lit(t.key).alias("TABLE"), "ROW", "ARM", "VALUE")
                      for t in report_tables(adam, all_days)])


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NE"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.1f}"


def with_replicates(table: SummaryTable, stats: pl.DataFrame, reported: Iterable[ReportedResult] = ()
                    ) -> SummaryTable:
    """``table`` with, per arm, the median [5th–95th percentile] of each row across replicates and,
    where the protocol reports the figure, the reported value and whether it lies in that interval.

    ``stats``: :func:`replicate_stats` of every replicate, with a ``replicate`` column. A reported
    result without an arm is compared in a single-arm trial only.
    """
    s = stats.filter(pl.col("TABLE") == table.key)
    n_rep = stats["replicate"].n_unique() if "replicate" in stats.columns else 1
    agg = s.group_by("ROW", "ARM").agg(pl.col("VALUE").median().alias("MED"),
                                       pl.col("VALUE").quantile(0.05, "linear").alias("LO"),
                                       pl.col("VALUE").quantile(0.95, "linear").alias("HI"))
    by = {(r["ROW"], r["ARM"]): r for r in agg.iter_rows(named=True)}
    arms = [c.split(" (N=")[0] for c in table.columns]
    prefix, _, day = table.key.partition("@")
    rep: dict[tuple[str, str], ReportedResult] = {}
    for r in reported:
        where = REPORTED_ROWS.get(r.metric)
        if where is None or where[0] != prefix:
            continue
        if prefix == "efficacy" and r.day is not None and str(r.day) != day:
            continue
        arm = r.arm if r.arm is not None else (arms[0] if len(arms) == 1 else None)
        if arm in arms:
            rep[(where[1], arm)] = r
    any_rep = bool(rep)
    columns = list(table.columns)
    for a in arms:
        columns.append(f"{a}: {n_rep} replicates, median [90 % interval]")
        if any_rep:
            columns.append(f"{a}: reported (inside?)")
    rows = []
    for label, cells in table.rows:
        extra = []
        for a in arms:
            st = by.get((label, a))
            lo = hi = None
            if st is None or st["MED"] is None:
                extra.append("—")
            else:
                lo, hi = st["LO"], st["HI"]
                extra.append(f"{_num(st['MED'])} [{_num(lo)}, {_num(hi)}]")
            if any_rep:
                r = rep.get((label, a))
                if r is None:
                    extra.append("")
                else:
                    v = 100.0 * reported_fraction(r.value, r.n) if r.metric in _RATES else r.value
                    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
                        verdict = "no simulated interval"
                    else:
                        verdict = "inside" if lo - 1e-9 <= v <= hi + 1e-9 else "outside"
                    extra.append(f"{_num(v)}{f' (n={r.n})' if r.n else ''}: {verdict}")
        rows.append((label, (*cells, *extra)))
    notes = (*table.footnotes,
             f"Replicate columns: median and 5th–95th percentile of the cell's figure (% for counts) across {n_rep} "
             "simulated trials of the protocol's size; the first columns are replicate 0 (the stored trial). "
             + ("Reported: the protocol's [[reported]] value (EVIDENCE.md), rates as %; 'inside' = within the "
                "90 % interval." if any_rep else ""))
    return SummaryTable(table.key, table.title, tuple(columns), tuple(rows), notes, table.data)
