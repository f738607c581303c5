"""Report figures as inline SVG (matplotlib, print-friendly: white background, no interactivity)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from ..analysis import AdamDatasets, treated_arms  # noqa: E402

#: individual trajectories drawn per arm at most (medians use every subject); the swimmer plot's cap
MAX_LINES_PER_ARM = 60
MAX_SWIMMERS = 60
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                            "axes.spines.right": False, "svg.hashsalt": "cartlab"})


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _arms(adam: AdamDatasets) -> list[tuple[str, list[str], str]]:
    return [(a, s, _COLORS[k % len(_COLORS)]) for k, (a, s) in enumerate(treated_arms(adam.adsl))]


def trajectories(adam: AdamDatasets, paramcd: str, title: str, ylabel: str) -> str | None:
    """Individual trajectories (first :data:`MAX_LINES_PER_ARM` subjects per arm) and the median by
    arm over months from infusion; None when the parameter is not in ADEFF."""
    d = adam.adeff.filter((pl.col("PARAMCD") == paramcd) & pl.col("AVAL").is_not_null())
    if d.height == 0:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for arm, subj, color in _arms(adam):
        a = d.filter(pl.col("USUBJID").is_in(subj)).with_columns((pl.col("AFRLT") / 30.4375).alias("M"))
        for _u, g in list(a.group_by("USUBJID", maintain_order=True))[:MAX_LINES_PER_ARM]:
            ax.plot(g["M"], g["AVAL"], color=color, alpha=0.18, lw=0.7)
        med = a.group_by("AVISITN").agg(pl.col("AVAL").median()).sort("AVISITN")
        ax.plot(med["AVISITN"], med["AVAL"], color=color, lw=2.2, marker="o", ms=3, label=f"{arm} median")
    ax.set_xlabel("months from infusion")
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    ax.legend(frameon=False)
    return _svg(fig)


def kinetics(adam: AdamDatasets) -> str | None:
    """Median transgene profile by arm (log scale, BLQ as LLOQ/2 for the median) and median CD19
    B-cell counts with the median naive fraction."""
    pc = adam.adpc.filter((pl.col("PARAMCD") == "TRANSGEN") & (pl.col("AFRLT") >= 0))
    cd19 = adam.adlb.filter((pl.col("PARAMCD") == "CD19") & pl.col("AFRLT").is_not_null())
    if pc.height == 0 and cd19.height == 0:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    naive = adam.adlb.filter(pl.col("PARAMCD") == "NAIVEB")
    ax3 = ax2.twinx()
    for arm, subj, color in _arms(adam):
        p = pc.filter(pl.col("USUBJID").is_in(subj)).with_columns(
            pl.coalesce("AVAL", pl.col("ALLOQ") / 2).alias("V")).group_by("NFRLT").agg(
            pl.col("V").median(), pl.col("V").quantile(0.25).alias("Q1"), pl.col("V").quantile(0.75).alias("Q3")).sort("NFRLT")
        if p.height:
            ax1.plot(p["NFRLT"], p["V"], color=color, lw=1.8, marker="o", ms=3, label=arm)
            ax1.fill_between(p["NFRLT"].to_numpy(), p["Q1"].to_numpy(), p["Q3"].to_numpy(), color=color, alpha=0.15)
        b = cd19.filter(pl.col("USUBJID").is_in(subj)).with_columns(
            pl.coalesce("AVAL", pl.col("LLOQ") / 2).alias("V")).group_by("AFRLT").agg(pl.col("V").median()).sort("AFRLT")
        if b.height:
            ax2.plot(b["AFRLT"], b["V"], color=color, lw=1.8, label=f"{arm} CD19")
        n = naive.filter(pl.col("USUBJID").is_in(subj) & (pl.col("AFRLT") > 0)).group_by("AFRLT").agg(
            pl.col("AVAL").median()).sort("AFRLT")
        if n.height:
            ax3.plot(n["AFRLT"], n["AVAL"], color=color, lw=1.0, ls="--", label=f"{arm} naive %")
    ax1.set_yscale("log")
    ax1.set_xscale("symlog", linthresh=30)
    ax1.set_xlabel("days from infusion")
    ax1.set_ylabel("transgene, copies/µg gDNA")
    ax1.set_title("CAR transgene, median (IQR)", loc="left")
    ax1.legend(frameon=False)
    ax2.set_yscale("symlog", linthresh=1)
    ax2.set_xlabel("days from infusion")
    ax2.set_ylabel("CD19+ B cells/µL (median)")
    ax3.set_ylabel("naive B cells, % of CD19+ (dashed)")
    ax3.set_ylim(0, 100)
    ax2.set_title("B cells and naive fraction", loc="left")
    ax2.legend(frameon=False, loc="upper left", fontsize=7)
    return _svg(fig)


def grade_distribution(adam: AdamDatasets) -> str:
    """Stacked bars: % of each arm by maximum CRS and ICANS grade (0 = none)."""
    te = adam.adae.filter(pl.col("TRTEMFL") == "Y")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    shades = ["#f0f0f0", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000", "#000000"]
    for ax, cat in zip(axes, ("CRS", "ICANS")):
        mx = te.filter(pl.col("AESICAT") == cat).group_by("USUBJID").agg(pl.col("ATOXGRN").max())
        g = dict(zip(mx["USUBJID"].to_list(), mx["ATOXGRN"].to_list()))
        names = []
        for k, (arm, subj, _c) in enumerate(_arms(adam)):
            grades = np.array([g.get(u) or 0 for u in subj])
            bottom = 0.0
            for gr in range(6):
                share = 100.0 * (grades == gr).mean() if len(grades) else 0.0
                ax.bar(k, share, bottom=bottom, color=shades[gr], edgecolor="#555", lw=0.4,
                       label=f"grade {gr}" if k == 0 and gr <= max(4, int(grades.max(initial=0))) else None)
                bottom += share
            names.append(f"{arm}\n(N={len(subj)})")
        ax.set_xticks(range(len(names)), names)
        ax.set_title(f"{cat}: maximum ASTCT grade", loc="left")
    axes[0].set_ylabel("% of treated")
    axes[1].legend(frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left", fontsize=7)
    return _svg(fig)


def swimmer(adam: AdamDatasets) -> str:
    """Swimmer plot: follow-up per subject (first :data:`MAX_SWIMMERS`, by arm), the
    immunosuppression-free stretch, CRS/ICANS onsets, relapse and B-cell reconstitution."""
    adsl = adam.adsl.filter(pl.col("SAFFL") == "Y")
    arms = _arms(adam)
    per = max(1, MAX_SWIMMERS // max(1, len(arms)))
    rows = []
    for arm, subj, color in arms:
        rows += [(u, arm, color) for u in subj[:per]]
    by = {r["USUBJID"]: r for r in adsl.iter_rows(named=True)}
    te = adam.adae.filter((pl.col("TRTEMFL") == "Y") & pl.col("AESICAT").is_in(["CRS", "ICANS"]))
    tte = adam.adtte.filter(pl.col("CNSR") == 0)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.14 * len(rows) + 1)))
    for y, (u, _arm, color) in enumerate(rows):
        r = by[u]
        fu = r["LSTFUDY"] or 0.0
        ax.barh(y, fu, color=color, alpha=0.35, height=0.7)
        if r["ISENDDY"] is not None and r["ISFRDUR"]:
            ax.barh(y, r["ISFRDUR"], left=r["ISENDDY"], color=color, alpha=0.85, height=0.3)
    ys = {u: y for y, (u, _a, _c) in enumerate(rows)}
    for cat, mk, col in (("CRS", "^", "#e6550d"), ("ICANS", "D", "#6a51a3")):
        e = te.filter((pl.col("AESICAT") == cat) & pl.col("USUBJID").is_in(list(ys)))
        ax.scatter(e["ASTRLT"], [ys[u] for u in e["USUBJID"]], marker=mk, s=14, color=col, label=f"{cat} onset", zorder=3)
    for code, mk, col, lab in (("RELAPSE", "x", "black", "IS restarted (relapse)"),
                               ("BCREC", "|", "#31a354", "B-cell reconstitution")):
        e = tte.filter((pl.col("PARAMCD") == code) & pl.col("USUBJID").is_in(list(ys)))
        ax.scatter(e["AVAL"], [ys[u] for u in e["USUBJID"]], marker=mk, s=30, color=col, label=lab, zorder=3)
    ax.set_yticks(range(len(rows)), [f"{u} ({a})" for u, a, _c in rows], fontsize=5 if len(rows) > 30 else 7)
    ax.invert_yaxis()
    ax.set_xlabel("days from infusion (thin bar: follow-up; thick bar: immunosuppression-free)")
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    ax.set_title("Follow-up, immunosuppression-free time and events", loc="left")
    return _svg(fig)


def waterfall(adam: AdamDatasets, paramcd: str, day: int, label: str) -> str | None:
    """Waterfall of the % change from baseline of ``paramcd`` at ``day``, one bar per evaluable subject."""
    v = adam.adeff.filter((pl.col("PARAMCD") == paramcd) & (pl.col("AFRLT") == float(day)) & pl.col("PCHG").is_not_null())
    v = v.join(adam.adsl.filter(pl.col("EFFFL") == "Y").select("USUBJID"), on="USUBJID")
    if v.height == 0:
        return None
    colors = {a: c for a, _s, c in _arms(adam)}
    v = v.sort("PCHG", descending=True)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    cols = [colors.get(a, "#777") for a in v["ARMCD"]]
    if v.height <= 300:
        ax.bar(range(v.height), v["PCHG"], color=cols, width=0.85)
    else:  # one line collection instead of thousands of bar patches (same picture at this density)
        ax.vlines(np.arange(v.height), 0, v["PCHG"].to_numpy(), colors=cols, linewidth=max(0.2, 400 / v.height))
    for a, c in colors.items():
        ax.bar([0], [0], color=c, label=a)
    ax.axhline(0, color="#333", lw=0.6)
    ax.set_xticks([])
    ax.set_ylabel(f"% change in {label}")
    ax.set_title(f"{label}: % change from baseline at day {day}, per subject", loc="left")
    ax.legend(frameon=False)
    return _svg(fig)


def tis_categories(adam: AdamDatasets) -> str | None:
    """IIM: TIS category (none/minimal/moderate/major) by arm at each visit, % of assessed."""
    t = adam.adeff.filter((pl.col("PARAMCD") == "TIS") & pl.col("AVALC").is_not_null())
    if t.height == 0:
        return None
    cats = ["none", "minimal", "moderate", "major"]
    shades = ["#eeeeee", "#c6dbef", "#6baed6", "#08519c"]
    arms = _arms(adam)
    months = sorted(t["AVISITN"].unique().to_list())
    fig, ax = plt.subplots(figsize=(8, 3.2))
    x, labels, ticks = 0.0, [], []
    for m in months:
        for arm, subj, _c in arms:
            s = t.filter((pl.col("AVISITN") == m) & pl.col("USUBJID").is_in(subj))["AVALC"].to_list()
            bottom = 0.0
            for ci, cat in enumerate(cats):
                share = 100.0 * s.count(cat) / len(s) if s else 0.0
                ax.bar(x, share, bottom=bottom, color=shades[ci], edgecolor="#555", lw=0.3,
                       label=cat if x == 0 else None)
                bottom += share
            labels.append(f"M{m}\n{arm}")
            ticks.append(x)
            x += 1
        x += 0.5
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_ylabel("% of assessed")
    ax.set_title("TIS category by visit and arm", loc="left")
    ax.legend(frameon=False, fontsize=7, bbox_to_anchor=(1, 1), loc="upper left")
    return _svg(fig)


def figures(adam: AdamDatasets, indication: str, primary: tuple[str, str], day: int) -> list[tuple[str, str]]:
    """Every figure that applies to the trial, as ``(caption, svg)``."""
    out: list[tuple[str, str | None]] = []
    if indication == "SLE" or adam.adeff.filter(pl.col("PARAMCD") == "SLEDAI2K").height:
        out.append(("SLEDAI-2K over time: individual trajectories and median by dose level",
                    trajectories(adam, "SLEDAI2K", "SLEDAI-2K", "SLEDAI-2K (points)")))
    out.append(("Cellular kinetics and B-cell pharmacodynamics", kinetics(adam)))
    out.append(("CRS and ICANS maximum grade by dose level", grade_distribution(adam)))
    out.append(("Swimmer plot", swimmer(adam)))
    out.append((f"Waterfall: {primary[1]}", waterfall(adam, primary[0], day, primary[1])))
    if adam.adeff.filter(pl.col("PARAMCD") == "MRSS").height:
        out.append(("SSc: mRSS over time", trajectories(adam, "MRSS", "mRSS", "mRSS (0-51)")))
        out.append(("SSc: FVC % predicted over time", trajectories(adam, "FVCPP", "FVC % predicted", "FVC % predicted")))
    if adam.adeff.filter(pl.col("PARAMCD") == "MMT8").height:
        out.append(("IIM: MMT-8 over time", trajectories(adam, "MMT8", "MMT-8", "MMT-8 (0-150)")))
        out.append(("IIM: creatine kinase over time", trajectories(adam, "CK", "Creatine kinase", "CK (U/L)")))
        out.append(("IIM: TIS categories", tis_categories(adam)))
    return [(c, s) for c, s in out if s is not None]
