"""Summary tables by dose level from the ADaM datasets: safety, efficacy, B cells, disposition."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from ._adam import AdamDatasets
from ._adeff import EFFICACY_PARAMS
from ._common import NEUTROPENIA_TERM, THROMBOCYTOPENIA_TERM, clopper_pearson, km_median


@dataclass(frozen=True, slots=True)
class SummaryTable:
    """A table by dose level: row labels, one formatted cell per arm, and the numbers behind them.

    Attributes
    ----------
    key : str
        Short name (``"safety"`` …).
    title : str
    columns : tuple of str
        Column headers, e.g. ``("DL1 (N=13)", "DL2 (N=6)")``.
    rows : tuple of (str, tuple of str)
        Row label and its formatted cells (one per column).
    footnotes : tuple of str
        Definitions and sources, shown under the table.
    data : polars.DataFrame
        Long numbers: ``ROW, ARM, N, K, VALUE, LO, HI`` (count, denominator or statistic, interval).
    """

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    footnotes: tuple[str, ...]
    data: pl.DataFrame

    def to_frame(self) -> pl.DataFrame:
        """The formatted table as strings: a ``row`` column and one column per header."""
        return pl.DataFrame({"row": [r for r, _ in self.rows],
                             **{c: [cells[j] for _, cells in self.rows] for j, c in enumerate(self.columns)}})

    def cell(self, row: str, arm: str) -> dict[str, object]:
        """The numbers of one cell (``N, K, VALUE, LO, HI``) by row label and arm code."""
        hit = self.data.filter((pl.col("ROW") == row) & (pl.col("ARM") == arm))
        if hit.height != 1:
            raise KeyError(f"{self.key}: no cell ({row!r}, {arm!r})")
        return hit.row(0, named=True)


_DATA_SCHEMA = {"ROW": pl.String, "ARM": pl.String, "N": pl.Int64, "K": pl.Int64, "VALUE": pl.Float64,
                "LO": pl.Float64, "HI": pl.Float64}


def treated_arms(adsl: pl.DataFrame) -> list[tuple[str, list[str]]]:
    """(arm code, subjects) of the safety population, in order of first appearance."""
    saf = adsl.filter(pl.col("SAFFL") == "Y")
    return [(a, saf.filter(pl.col("ARMCD") == a)["USUBJID"].to_list())
            for a in saf["ARMCD"].unique(maintain_order=True).to_list()]


def fmt_pct(k: int, n: int) -> str:
    """``"k (x.x %)"``; ``"0"`` for none; ``"—"`` with no denominator.

    >>> fmt_pct(8, 13), fmt_pct(0, 6), fmt_pct(0, 0)
    ('8 (61.5 %)', '0', '—')
    """
    if n == 0:
        return "—"
    return "0" if k == 0 else f"{k} ({100.0 * k / n:.1f} %)"


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NE"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100 or float(x).is_integer():
        return f"{x:.0f}"
    return f"{x:.1f}" if ax >= 1 else f"{x:.2g}"


class _Builder:
    def __init__(self, key: str, title: str, arms: list[tuple[str, list[str]]]):
        self.key, self.title, self.arms = key, title, arms
        self.rows: list[tuple[str, tuple[str, ...]]] = []
        self.data: list[dict] = []
        self.notes: list[str] = []

    def add(self, label: str, cells: list[str], nums: list[dict]) -> None:
        self.rows.append((label, tuple(cells)))
        for (arm, _s), d in zip(self.arms, nums):
            self.data.append({"ROW": label, "ARM": arm, **{k: d.get(k) for k in ("N", "K", "VALUE", "LO", "HI")}})

    def count(self, label: str, hit: set[str]) -> None:
        cells, nums = [], []
        for _arm, subj in self.arms:
            k = len(hit.intersection(subj))
            cells.append(fmt_pct(k, len(subj)))
            nums.append({"N": len(subj), "K": k, "VALUE": 100.0 * k / len(subj) if subj else None})
        self.add(label, cells, nums)

    def build(self) -> SummaryTable:
        cols = tuple(f"{a} (N={len(s)})" for a, s in self.arms)
        data = pl.DataFrame(self.data, schema=_DATA_SCHEMA) if self.data else pl.DataFrame(schema=_DATA_SCHEMA)
        return SummaryTable(self.key, self.title, cols, tuple(self.rows), tuple(self.notes), data)


def safety_table(adam: AdamDatasets) -> SummaryTable:
    """The abstract-style safety table by dose level (safety population; subjects, n (%)).

    Rows: CRS and ICANS any grade and by the subject's maximum ASTCT grade, grade >= 3;
    tocilizumab and corticosteroids given during a CRS/ICANS episode; grade 3/4 neutropenia and
    thrombocytopenia (treatment-emergent AEs "Neutrophil count decreased" / "Platelet count
    decreased", CTCAE grade >= 3 — the counts ``cartlab run`` prints); prolonged cytopenia and
    early ICAHT grade >= 3 (ADLB); infections (MedDRA SOC) any grade and grade >= 3.
    """
    b = _Builder("safety", "Safety by dose level (safety population)", treated_arms(adam.adsl))
    te = adam.adae.filter(pl.col("TRTEMFL") == "Y")

    def subjects(df: pl.DataFrame) -> set[str]:
        return set(df["USUBJID"].to_list())

    for cat, name in (("CRS", "CRS"), ("ICANS", "ICANS")):
        ep = te.filter(pl.col("AESICAT") == cat)
        mx = ep.group_by("USUBJID").agg(pl.col("ATOXGRN").max().alias("G"))
        b.count(f"{name}, any grade", subjects(ep))
        top = max(4, int(mx["G"].max() or 0))
        for g in range(1, top + 1):
            b.count(f"{name}, maximum grade {g}", subjects(mx.filter(pl.col("G") == g)))
        b.count(f"{name}, grade ≥ 3", subjects(mx.filter(pl.col("G") >= 3)))
    resc = te.filter(pl.col("AESICAT").is_in(["CRS", "ICANS"]))
    b.count("Tocilizumab for CRS/ICANS", subjects(resc.filter(pl.col("TOCIFL") == "Y")))
    b.count("Corticosteroids for CRS/ICANS", subjects(resc.filter(pl.col("STERFL") == "Y")))
    b.count("Grade 3/4 neutropenia", subjects(te.filter((pl.col("AEDECOD") == NEUTROPENIA_TERM) & (pl.col("ATOXGRN") >= 3))))
    b.count("Grade 3/4 thrombocytopenia",
            subjects(te.filter((pl.col("AEDECOD") == THROMBOCYTOPENIA_TERM) & (pl.col("ATOXGRN") >= 3))))
    d = adam.adlb.filter(pl.col("PARCAT1") == "DERIVED")
    b.count("Prolonged cytopenia (grade ≥ 3 on day 28 or later)",
            subjects(d.filter((pl.col("PARAMCD") == "PROLCYT") & (pl.col("AVAL") == 1))))
    b.count("Early ICAHT grade ≥ 3", subjects(d.filter((pl.col("PARAMCD") == "ICAHTE") & (pl.col("AVAL") >= 3))))
    inf = te.filter(pl.col("AESICAT") == "INFECTION")
    b.count("Infections, any grade", subjects(inf))
    b.count("Infections, grade ≥ 3", subjects(inf.filter(pl.col("ATOXGRN") >= 3)))
    b.notes += [
        "Subjects with at least one treatment-emergent event (onset on or after the infusion), n (%) of the arm's "
        "safety population. CRS and ICANS: ASTCT consensus grades (Lee DW et al. Biol Blood Marrow Transplant "
        "2019;25:625), by the subject's maximum grade.",
        "Neutropenia/thrombocytopenia: AEs 'Neutrophil count decreased' / 'Platelet count decreased' of CTCAE v5.0 "
        "grade 3 or 4. Prolonged cytopenia: grade ≥ 3 ANC or platelets (CTCAE v5.0, graded from LB) on day 28 "
        "after infusion or later. ICAHT: Rejeski K et al. Blood 2023;142:865.",
    ]
    return b.build()


def _visit(adeff: pl.DataFrame, day: int) -> pl.DataFrame:
    return adeff.filter(pl.col("AFRLT") == float(day))


def efficacy_table(adam: AdamDatasets, day: int) -> SummaryTable:
    """Efficacy at ``day`` (days from infusion) by dose level, efficacy-evaluable population.

    Continuous scores: median change from baseline with the interquartile range (25th-75th
    percentile, linear interpolation as numpy's default) and n; FVC % predicted and MMT-8 also
    as median relative change (%). Responses: responders / assessed (%) with the exact
    Clopper–Pearson 95 % interval.
    """
    eff = adam.adsl.filter(pl.col("EFFFL") == "Y")
    arms = [(a, eff.filter(pl.col("ARMCD") == a)["USUBJID"].to_list()) for a, _ in treated_arms(adam.adsl)]
    b = _Builder("efficacy", f"Efficacy at day {day} after infusion (efficacy-evaluable population)", arms)
    v = _visit(adam.adeff, day)
    present = v["PARAMCD"].unique(maintain_order=True).to_list()
    for code, (label, kind) in EFFICACY_PARAMS.items():
        if code not in present:
            continue
        p = v.filter(pl.col("PARAMCD") == code)
        if kind == "CONT":
            measures = [("CHG", f"{label}: median change (IQR)")]
            if code in ("FVCPP", "MMT8"):
                measures.append(("PCHG", f"{label}: median relative change, % (IQR)"))
            for col, row_label in measures:
                cells, nums = [], []
                for _a, subj in arms:
                    x = p.filter(pl.col("USUBJID").is_in(subj))[col].drop_nulls().to_numpy()
                    if x.size == 0:
                        cells.append("—")
                        nums.append({"N": 0})
                        continue
                    q1, med, q3 = np.percentile(x, [25, 50, 75])
                    cells.append(f"{_num(med)} ({_num(q1)} to {_num(q3)}), n={x.size}")
                    nums.append({"N": int(x.size), "VALUE": float(med), "LO": float(q1), "HI": float(q3)})
                b.add(row_label, cells, nums)
        else:
            cells, nums = [], []
            for _a, subj in arms:
                x = p.filter(pl.col("USUBJID").is_in(subj))["AVAL"].drop_nulls().to_numpy()
                n, k = int(x.size), int((x == 1).sum())
                if n == 0:
                    cells.append("—")
                    nums.append({"N": 0})
                    continue
                lo, hi = clopper_pearson(k, n)
                cells.append(f"{k}/{n} ({100.0 * k / n:.1f} %) [{100 * lo:.1f}–{100 * hi:.1f}]")
                nums.append({"N": n, "K": k, "VALUE": 100.0 * k / n, "LO": 100.0 * lo, "HI": 100.0 * hi})
            b.add(label, cells, nums)
    b.notes += [
        "Change from the last assessment before infusion. IQR: 25th to 75th percentile. Response rates: "
        "responders/assessed (%) [exact Clopper–Pearson 95 % CI]. Scores computed by cartlab.instruments "
        "(SLEDAI-2K Gladman 2002; SRI-4 Furie 2009 with BILAG-2004; DORIS 2021; LLDAS Franklyn 2016; "
        "HAQ-DI Bruce & Fries 2003; mRSS Clements 1995; ACR CRISS Khanna 2016; "
        "MMT-8 and 2016 ACR/EULAR TIS Aggarwal 2017).",
    ]
    return b.build()


def bcell_table(adam: AdamDatasets) -> SummaryTable:
    """B-cell depletion and reconstitution by dose level (safety population; CP CD19 and NAIVEB).

    Aplasia = a post-infusion CD19 count below its LLOQ. Reconstitution = ADTTE ``BCREC``
    (Kaplan–Meier median, censored while still aplastic). Naive fraction = CP NAIVEB (% of CD19+)
    at the reconstitution visit.
    """
    arms = treated_arms(adam.adsl)
    b = _Builder("bcell", "B-cell depletion and reconstitution (safety population)", arms)
    cd19 = adam.adlb.filter((pl.col("PARAMCD") == "CD19") & (pl.col("AFRLT") > 0))
    apl = cd19.filter(pl.col("AVAL").is_null())
    b.count("B-cell aplasia after infusion", set(apl["USUBJID"].to_list()))
    first = apl.group_by("USUBJID").agg(pl.col("AFRLT").min().alias("D"))
    cells, nums = [], []
    for _a, subj in arms:
        x = first.filter(pl.col("USUBJID").is_in(subj))["D"].to_numpy()
        cells.append(f"{_num(np.median(x))} ({_num(x.min())}–{_num(x.max())})" if x.size else "—")
        nums.append({"N": int(x.size), "VALUE": float(np.median(x)) if x.size else None})
    b.add("First day below LLOQ, median (range)", cells, nums)
    tte = adam.adtte.filter(pl.col("PARAMCD") == "BCREC")
    cells, nums, cells2, nums2 = [], [], [], []
    naive = adam.adlb.filter(pl.col("PARAMCD") == "NAIVEB").select("USUBJID", "AFRLT", "AVAL")
    for _a, subj in arms:
        t = tte.filter(pl.col("USUBJID").is_in(subj))
        ev = int((t["CNSR"] == 0).sum())
        med = km_median(t["AVAL"].to_numpy(), (t["CNSR"] == 0).to_numpy()) if t.height else float("nan")
        cells.append(f"{_num(med)} ({ev} of {t.height} reconstituted)" if t.height else "—")
        nums.append({"N": t.height, "K": ev, "VALUE": med})
        at = (t.filter(pl.col("CNSR") == 0).select("USUBJID", "AVAL")
              .join(naive, left_on=["USUBJID", "AVAL"], right_on=["USUBJID", "AFRLT"]))["AVAL_right"].to_numpy()
        cells2.append(f"{_num(np.median(at))} ({_num(at.min())}–{_num(at.max())}), n={at.size}" if at.size else "—")
        nums2.append({"N": int(at.size), "VALUE": float(np.median(at)) if at.size else None})
    b.add("Time to B-cell reconstitution, KM median, days", cells, nums)
    b.add("Naive B cells at reconstitution, % of CD19+, median (range)", cells2, nums2)
    b.notes.append("Days from infusion (day 0). KM: Kaplan–Meier; NE: median not reached.")
    return b.build()


def disposition_table(adam: AdamDatasets) -> SummaryTable:
    """Disposition and analysis populations by dose level (all treated subjects; screen failures as a note)."""
    adsl = adam.adsl
    arms = treated_arms(adsl)
    b = _Builder("disposition", "Disposition and analysis populations", arms)
    by = {r["USUBJID"]: r for r in adsl.iter_rows(named=True)}

    def flag(col: str, val: str = "Y") -> set[str]:
        return {u for u, r in by.items() if r[col] == val}

    b.count("Treated (safety population)", flag("SAFFL"))
    b.count("Completed the study", flag("EOSSTT", "COMPLETED"))
    b.count("Discontinued", flag("EOSSTT", "DISCONTINUED"))
    b.count("Ongoing", flag("EOSSTT", "ONGOING"))
    b.count("Efficacy-evaluable", flag("EFFFL"))
    b.count("Per-protocol", flag("PPROTFL"))
    b.count("Major protocol deviation", flag("MAJDVFL"))
    known = adsl.filter(pl.col("SAFFL") == "Y")["ISFREEFL"].drop_nulls().len() > 0  # no CM: status unknown
    if known:
        b.count("Immunosuppression-free at last follow-up", flag("ISFREEFL"))
    for col, label in (("LSTFUDY", "Follow-up, days, median (range)"),
                       ("ISFRDUR", "Immunosuppression-free time, days, median (range)"))[: 2 if known else 1]:
        cells, nums = [], []
        for _a, subj in arms:
            x = np.array([by[u][col] for u in subj if by[u][col] is not None], float)
            cells.append(f"{_num(np.median(x))} ({_num(x.min())}–{_num(x.max())})" if x.size else "—")
            nums.append({"N": int(x.size), "VALUE": float(np.median(x)) if x.size else None})
        b.add(label, cells, nums)
    n_all = adsl.height
    n_sf = adsl.filter(pl.col("SAFFL") != "Y").height
    b.notes.append(f"{n_all} subjects in DM; {n_sf} not treated (screen failures or not infused). "
                   "Efficacy-evaluable: treated with follow-up to the primary efficacy day; per-protocol: "
                   "efficacy-evaluable without a major protocol deviation.")
    return b.build()


def deviation_table(deviations: pl.DataFrame | None, adam: AdamDatasets) -> SummaryTable | None:
    """Subjects with a protocol deviation by dose level, one row per category and term; None when none.

    ``deviations``: SDTM DV (``DVCAT``, ``DVDECOD`` or ``DVTERM``) and/or the ``deviations`` table of
    :func:`cartlab.compliance.check_compliance` (its ``SEVERITY`` read as ``DVCAT``, its ``RULE`` as
    ``DVDECOD``), concatenated; rows are keyed by ``DVCAT`` and the first of ``DVDECOD, DVTERM,
    CATEGORY`` present.
    """
    if deviations is None or deviations.height == 0 or "USUBJID" not in deviations.columns:
        return None
    # a checker's rows carry SEVERITY and RULE where DV carries DVCAT and DVDECOD: one pair of columns
    for dv_col, check_col in (("DVCAT", "SEVERITY"), ("DVDECOD", "RULE")):
        if check_col in deviations.columns:
            merged = pl.coalesce(dv_col, check_col) if dv_col in deviations.columns else pl.col(check_col)
            deviations = deviations.with_columns(merged.alias(dv_col)).drop(check_col)
    b = _Builder("deviations", "Protocol deviations (subjects with at least one)", treated_arms(adam.adsl))
    term = next((c for c in ("DVDECOD", "DVTERM", "CATEGORY", "RULE") if c in deviations.columns), None)
    cols = [c for c in ("DVCAT" if "DVCAT" in deviations.columns else None, term) if c]
    if not cols:
        b.count("Any deviation", set(deviations["USUBJID"].to_list()))
        return b.build()
    for key in deviations.select(cols).unique(maintain_order=True).rows():
        sub = deviations
        for c, v in zip(cols, key):
            sub = sub.filter(pl.col(c).is_null() if v is None else pl.col(c) == v)
        b.count(" — ".join("—" if k is None else str(k) for k in key), set(sub["USUBJID"].to_list()))
    b.notes.append("Subjects with at least one deviation of the row's kind, n (%) of the arm's safety population.")
    return b.build()
