"""Per-arm summary of a trial, computed from its SDTM tables only (simulated or real alike)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..instruments import derive_sledai2k, tis_measure_points
from ..instruments._derive_scores import derive_criss, derive_mmt8, derive_mrss, derive_tis

CRS = "Cytokine release syndrome"
ICANS = "Immune effector cell-associated neurotoxicity syndrome"
NEUTRO = "Neutrophil count decreased"

SUMMARY_COLUMNS = (
    ("n", "n treated"),
    ("crs_any", "CRS any grade (%)"),
    ("crs_grade3plus", "CRS grade >= 3 (%)"),
    ("icans_any", "ICANS any grade (%)"),
    ("icans_grade3plus", "ICANS grade >= 3 (%)"),
    ("neutropenia_grade3plus", "Grade 3/4 neutropenia (%)"),
    ("cart_peak_median", "Median CAR-T peak (copies/ug)"),
    ("cart_tmax_median", "Median day of peak"),
    ("bcell_aplasia_median_days", "Median B-cell aplasia (days, KM)"),
    ("primary", "Primary efficacy"),
)


def km_median(durations: np.ndarray, observed: np.ndarray) -> float:
    """Kaplan–Meier median of right-censored durations (NaN when the curve never reaches 0.5)."""
    order = np.lexsort((~observed, durations))
    t, e = durations[order], observed[order]
    s = 1.0
    at_risk = len(t)
    for k in range(len(t)):
        if e[k]:
            s *= 1.0 - 1.0 / at_risk
            if s <= 0.5:
                return float(t[k])
        at_risk -= 1
    return float("nan")


def sledai_scores(qs: pl.DataFrame, fa: pl.DataFrame, clinical: bool = False) -> pl.DataFrame:
    """SLEDAI-2K (or clinical SLEDAI) per subject and day (:func:`cartlab.instruments.derive_sledai2k`).

    Assessments with a finding (a present descriptor without attribution, a descriptor not
    recorded) are left out of the summary rather than scored by a guess.
    """
    scores, _findings = derive_sledai2k(qs, fa, clinical=clinical)
    return scores.drop_nulls("SCORE")


def _change(scores: pl.DataFrame, day_col: str, day: int) -> dict[str, float]:
    base = scores.filter(pl.col(day_col) < 1).sort(day_col).group_by("USUBJID").agg(pl.col("SCORE").last().alias("B"))
    at = scores.filter(pl.col(day_col) == day + 1).select("USUBJID", pl.col("SCORE").alias("V"))
    j = base.join(at, on="USUBJID")
    return dict(zip(j["USUBJID"].to_list(), (j["V"] - j["B"]).to_list()))


#: QS/LB test code of each TIS core-set measure -> its name in :func:`cartlab.instruments.tis_measure_points`
_TIS_MEASURE = {"MDGLOBAL": "physician_global", "PTGLOBAL": "patient_global", "MMT8": "mmt8", "HAQDI": "haq_di",
                "CK": "enzyme", "EXTRAMUS": "extramuscular"}


def tis_points(measure: str, baseline: float, follow_up: float) -> float:
    """Points of one TIS core-set measure (2016 ACR/EULAR), by its QS/LB test code.

    Band membership is computed exactly on the entered decimals by the instrument
    (:func:`cartlab.instruments.tis_measure_points`); a baseline of 0 scores 0 points here.
    """
    return float(tis_measure_points(_TIS_MEASURE[measure], [baseline], [follow_up], baseline_zero="zero")[0])


def _primary(tables: dict[str, pl.DataFrame], endpoint: str, day: int) -> dict[str, float]:
    qs, fa = tables["qs"], tables["fa"]
    if endpoint in ("sledai2k_change", "doris_remission"):
        sc = sledai_scores(qs, fa, clinical=endpoint == "doris_remission")
        if endpoint == "sledai2k_change":
            return _change(sc, "QSDY", day)
        pga = qs.filter((pl.col("QSTESTCD") == "PGA") & (pl.col("QSDY") == day + 1)).select("USUBJID", "QSSTRESN")
        j = sc.filter(pl.col("QSDY") == day + 1).join(pga, on="USUBJID")
        return {u: float(s == 0 and p < 0.5) for u, s, p in j.select("USUBJID", "SCORE", "QSSTRESN").iter_rows()}
    if endpoint == "pga_change":
        s = qs.filter(pl.col("QSTESTCD") == "PGA").select("USUBJID", "QSDY", pl.col("QSSTRESN").alias("SCORE"))
        return _change(s, "QSDY", day)
    if endpoint == "mrss_change":
        mrss, _findings = derive_mrss(qs)
        return _change(mrss.select("USUBJID", "QSDY", pl.col("MRSS").alias("SCORE")).drop_nulls("SCORE"), "QSDY", day)
    if endpoint == "mmt8_change":
        mmt8, _findings = derive_mmt8(qs)
        return _change(mmt8.select("USUBJID", "QSDY", pl.col("MMT8").alias("SCORE")).drop_nulls("SCORE"), "QSDY", day)
    if endpoint in ("fvc_pct_pred_change",):
        s = tables["re"].filter(pl.col("RETESTCD") == "FVCPP").select("USUBJID", pl.col("REDY").alias("QSDY"),
                                                                     pl.col("RESTRESN").alias("SCORE"))
        return _change(s, "QSDY", day)
    # Composite responses at study day day + 1 vs. the last pre-infusion assessment; subjects with a
    # finding (a measure missing or out of range) are left out rather than scored by a guess.
    if endpoint == "tis":  # moderate or major improvement (adult thresholds); a baseline of 0 scores 0 points
        tis, _findings = derive_tis(qs, tables["lb"], day=day + 1, baseline_zero="zero")
        return {u: float(c in ("moderate", "major"))
                for u, c in tis.drop_nulls("TIS").select("USUBJID", "TISCAT").iter_rows()}
    if endpoint == "criss":  # ACR CRISS (Khanna 2016); step 1 events other than the FVC rule are not recorded
        criss, _findings = derive_criss(qs, tables["re"], day=day + 1)
        return {u: float(i) for u, i in criss.drop_nulls("CRISSP").select("USUBJID", "CRISSIMP").iter_rows()}
    raise ValueError(f"unknown primary endpoint {endpoint!r}")


PRIMARY_LABEL = {
    "sledai2k_change": "median change in SLEDAI-2K", "pga_change": "median change in PGA",
    "doris_remission": "DORIS remission (%)", "mrss_change": "median change in mRSS",
    "fvc_pct_pred_change": "median change in FVC % predicted", "criss": "ACR CRISS improved (%)",
    "tis": "TIS moderate or major (%)", "mmt8_change": "median change in MMT-8",
}


def summarize(tables: dict[str, pl.DataFrame], endpoint: str, day: int) -> pl.DataFrame:
    """One row per treated arm: the figures ``cartlab run`` prints.

    Rates are percentages of treated subjects; the CAR-T peak is the maximum transgene level per
    subject; B-cell aplasia runs from the first CD19 count below LLOQ after infusion to the first
    count back above it, censored at the last assessment (Kaplan–Meier median).
    """
    dm = tables["dm"].filter(pl.col("ACTARMCD") != "SCRNFAIL")
    ae = tables["ae"]
    pc = tables["pc"].filter(pl.col("PCTESTCD") == "TRANSGEN")
    cd19 = tables["cp"].filter((pl.col("CPTESTCD") == "CD19") & (pl.col("NFRLT") > 0)).sort("USUBJID", "NFRLT")
    prim = _primary(tables, endpoint, day)
    rows = []
    for arm in dm["ACTARMCD"].unique(maintain_order=True).to_list():
        subj = dm.filter(pl.col("ACTARMCD") == arm)["USUBJID"].to_list()
        n = len(subj)
        a = ae.filter(pl.col("USUBJID").is_in(subj)).with_columns(pl.col("AETOXGR").cast(pl.Int64).alias("G"))

        def rate(decod: str, gmin: int) -> float:
            k = a.filter((pl.col("AEDECOD") == decod) & (pl.col("G") >= gmin))["USUBJID"].n_unique()
            return 100.0 * k / n

        p = pc.filter(pl.col("USUBJID").is_in(subj)).with_columns(pl.col("PCSTRESN").fill_null(0.0))
        peaks = p.sort("NFRLT").group_by("USUBJID").agg(pl.col("PCSTRESN").max().alias("CMAX"),
                                                         pl.col("NFRLT").get(pl.col("PCSTRESN").arg_max()).alias("TMAX"))
        dur, obs = [], []
        for u in subj:
            b = cd19.filter(pl.col("USUBJID") == u)
            vals, tt = b["CPSTRESN"].to_list(), b["NFRLT"].to_list()
            start = next((t for v, t in zip(vals, tt) if v is None), None)
            if start is None:
                continue
            back = next((t for v, t in zip(vals, tt) if t > start and v is not None), None)
            dur.append((back if back is not None else tt[-1]) - start)
            obs.append(back is not None)
        pv = [prim[u] for u in subj if u in prim]
        rate_like = endpoint in ("doris_remission", "criss", "tis")
        rows.append({
            "arm": arm, "n": n, "crs_any": rate(CRS, 1), "crs_grade3plus": rate(CRS, 3),
            "icans_any": rate(ICANS, 1), "icans_grade3plus": rate(ICANS, 3),
            "neutropenia_grade3plus": rate(NEUTRO, 3),
            "cart_peak_median": float(peaks["CMAX"].median()) if peaks.height else float("nan"),
            "cart_tmax_median": float(peaks["TMAX"].median()) if peaks.height else float("nan"),
            "bcell_aplasia_median_days": km_median(np.array(dur, float), np.array(obs, bool)) if dur else float("nan"),
            "primary": (100.0 * float(np.mean(pv)) if rate_like else float(np.median(pv))) if pv else float("nan"),
            "primary_n": len(pv),
        })
    return pl.DataFrame(rows)


def summarize_replicates(summaries: list[pl.DataFrame]) -> pl.DataFrame:
    """Median and 90 % interval (5th–95th percentile) of each figure across replicate trials, by arm."""
    allr = pl.concat(summaries)
    cols = [c for c, _ in SUMMARY_COLUMNS if c != "n"]
    aggs = []
    for c in cols:
        aggs += [pl.col(c).median().alias(c), pl.col(c).quantile(0.05, "linear").alias(f"{c}_lo"),
                 pl.col(c).quantile(0.95, "linear").alias(f"{c}_hi")]
    return allr.group_by("arm", maintain_order=True).agg(pl.col("n").first(), *aggs, pl.len().alias("replicates"))
