"""The model-validation section: reported vs simulated for every calibration target."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from importlib.resources import files

import jinja2
import polars as pl

from .. import __version__
from ..analysis import SummaryTable

VALIDATION_NOTE = (
    "For each target, replicate virtual trials of the reported size (the target's n in its arm) were "
    "simulated with the shipped protocol; the simulated median and 90 % prediction interval (5th–95th "
    "percentile across replicates) are shown beside the reported value. 'inside' = the reported value lies in "
    "the interval; a range target (an anchor) is inside when the simulated median lies in the range. Rates are %.")


def _is_rate(metric: str) -> bool:
    from ..calibrate import METRICS

    return METRICS[metric][0] == "rate"


def _fmt(x: float | None, rate: bool) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if rate:
        return f"{100.0 * x:.1f}"
    return f"{x:.3g}"


def validation_table(table: pl.DataFrame, replicates: int) -> SummaryTable:
    """One row per target: reported value, simulated median [90 % PI] and the verdict.

    ``table``: :attr:`cartlab.calibrate.ValidationResult.table`.
    """
    rows = []
    for r in table.iter_rows(named=True):
        rate = _is_rate(r["metric"])
        rep = (_fmt(r["reported"], rate) if r["reported"] is not None
               else f"{_fmt(r['lower'], rate)}–{_fmt(r['upper'], rate)}")
        if r["sim_median"] is None:
            sim, verdict = "—", f"not simulated: {r['note']}" if r["note"] else "not simulated"
        else:
            sim = f"{_fmt(r['sim_median'], rate)} [{_fmt(r['sim_lo'], rate)}, {_fmt(r['sim_hi'], rate)}]"
            verdict = "inside" if r["inside"] else "OUTSIDE"
        when = f"day {r['day']}" if r["day"] is not None else ""
        label = f"{r['id']}: {r['metric']} {when}".strip()
        rows.append((label, (r["cohort"], r["arm"], rep, "" if r["n"] is None else str(r["n"]), sim, verdict,
                             r["source"])))
    cols = ("cohort", "arm", "reported", "n", f"simulated median [90 % PI], {replicates} trials", "verdict", "source")
    return SummaryTable("validation", "Model validation: reported vs simulated", cols, tuple(rows),
                        (VALIDATION_NOTE,), table)


def validation_figure(table: pl.DataFrame) -> str:
    """SVG: per target, the simulated 90 % PI (bar), median (tick) and reported value (diamond); rates
    on one panel (%), every other target on its own axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim = table.filter(pl.col("sim_median").is_not_null())
    rates = [r for r in sim.iter_rows(named=True) if _is_rate(r["metric"])]
    others = [r for r in sim.iter_rows(named=True) if not _is_rate(r["metric"])]
    n_panels = 1 + len(others)
    heights = [max(len(rates), 1) * 0.28 + 0.6] + [0.9] * len(others)
    fig, axes = plt.subplots(n_panels, 1, figsize=(7.5, sum(heights) + 0.4), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, rows, scale in [(axes[0][0], rates, 100.0)] + [(axes[k + 1][0], [r], 1.0) for k, r in enumerate(others)]:
        for y, r in enumerate(rows):
            color = "#2ca02c" if r["inside"] else "#d62728"
            ax.plot([r["sim_lo"] * scale, r["sim_hi"] * scale], [y, y], color=color, lw=3, alpha=0.6)
            ax.plot([r["sim_median"] * scale], [y], "|", color="black", ms=10)
            if r["reported"] is not None:
                ax.plot([r["reported"] * scale], [y], "D", color="black", ms=5)
            else:
                ax.axvspan(r["lower"] * scale, r["upper"] * scale, color="#999999", alpha=0.25)
        ax.set_yticks(range(len(rows)), [r["id"] for r in rows], fontsize=7)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.invert_yaxis()
        if scale == 100.0:
            ax.set_xlim(-3, 103)
            ax.set_xlabel("% of patients")
        else:
            ax.set_xlabel(rows[0]["metric"])
    fig.suptitle("Reported (diamond; grey band = range target) vs simulated median (|) and 90 % PI "
                 "(green inside, red outside)", fontsize=8)
    fig.tight_layout()
    return _svg(fig, plt)


def _svg(fig, plt) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


#: (protocol, metrics) of the dose–response check: Breakfree-1 SLE DL1 (10e6) vs DL2 (25e6 CAR+ T cells)
DOSE_RESPONSE = ("breakfree1-sle", ("crs_any", "neutropenia_grade3plus", "icans_any"), {"DL1": 10.0, "DL2": 25.0})


def dose_response_figure(table: pl.DataFrame) -> str | None:
    """SVG: Breakfree-1 SLE CRS, grade 3/4 neutropenia and ICANS at DL1 vs DL2, simulated median and
    90 % PI against the reported rates (ACR 2025 abstract 1529); None without those targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proto, metrics, dose = DOSE_RESPONSE
    t = table.filter((pl.col("protocol") == proto) & pl.col("metric").is_in(list(metrics))
                     & pl.col("arm").is_in(list(dose)) & pl.col("sim_median").is_not_null()
                     & ~pl.col("id").str.contains("update"))
    if t.height == 0:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(8, 2.6), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        rows = sorted(t.filter(pl.col("metric") == m).iter_rows(named=True), key=lambda r: dose[r["arm"]])
        x = [dose[r["arm"]] for r in rows]
        ax.fill_between(x, [100 * r["sim_lo"] for r in rows], [100 * r["sim_hi"] for r in rows], color="#1f77b4",
                        alpha=0.25, label="simulated 90 % PI")
        ax.plot(x, [100 * r["sim_median"] for r in rows], "-o", color="#1f77b4", ms=3, label="simulated median")
        ax.plot(x, [100 * r["reported"] for r in rows], "D", color="black", ms=5, label="reported")
        ax.set_title(m, fontsize=8)
        ax.set_xticks(x, [f"{r['arm']}\n{dose[r['arm']]:g}e6" for r in rows])
        ax.set_ylim(-3, 103)
    axes[0][0].set_ylabel("% of treated")
    axes[0][0].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return _svg(fig, plt)


#: trajectory metric -> (axis label, scale)
_TRAJ_AXIS = {"sledai2k_change_median": ("SLEDAI-2K change, median", 1.0),
              "fvc_pct_pred_relative_change_median": ("FVC % pred. relative change, median (%)", 100.0),
              "mmt8_relative_change_median": ("MMT-8 relative change, median (%)", 100.0),
              "tis_moderate_or_major": ("TIS moderate or major (%)", 100.0),
              "bcell_detectable": ("B cells >= LLOQ (% measured)", 100.0)}


def trajectory_figure(trajectories: pl.DataFrame, table: pl.DataFrame) -> str | None:
    """SVG: per protocol and trajectory metric, the simulated median and 90 % PI over the visits to
    day 365 by arm, with the reported values of the targets (diamonds) and range targets (grey band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if trajectories.height == 0:
        return None
    panels = trajectories.select("protocol", "metric").unique(maintain_order=True).rows()
    ncol = 2
    nrow = (len(panels) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(8, 2.4 * nrow), squeeze=False)
    colors = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    target_metric = {"bcell_detectable": "bcell_return_median_days"}
    for k, (proto, metric) in enumerate(panels):
        ax = axes[k // ncol][k % ncol]
        label, scale = _TRAJ_AXIS.get(metric, (metric, 1.0))
        d = trajectories.filter((pl.col("protocol") == proto) & (pl.col("metric") == metric))
        for j, arm in enumerate(d["arm"].unique(maintain_order=True).to_list()):
            a = d.filter(pl.col("arm") == arm).sort("day")
            c = colors[j % len(colors)]
            ax.fill_between(a["day"], a["sim_lo"] * scale, a["sim_hi"] * scale, color=c, alpha=0.2)
            ax.plot(a["day"], a["sim_median"] * scale, "-", color=c, label=f"{arm} simulated")
            rep = table.filter((pl.col("protocol") == proto) & (pl.col("arm") == arm)
                               & (pl.col("metric") == metric) & pl.col("reported").is_not_null())
            for r in rep.iter_rows(named=True):
                ax.plot([r["day"]], [r["reported"] * scale], "D", color=c, mec="black", ms=5)
            rng = table.filter((pl.col("protocol") == proto) & (pl.col("arm") == arm)
                               & (pl.col("metric") == target_metric.get(metric, "")))
            for r in rng.iter_rows(named=True):  # B-cell return anchor: days range, median on the x axis
                ax.axvspan(r["lower"], r["upper"], color="#999999", alpha=0.2)
                if r["sim_median"] is not None:
                    ax.axvline(r["sim_median"], color=c, ls=":", lw=1)
        if metric in ("tis_moderate_or_major", "bcell_detectable"):
            ax.set_ylim(-3, 103)
        ax.set_title(f"{proto}: {label}", fontsize=8)
        ax.set_xlabel("days from infusion")
        ax.legend(fontsize=6)
    for k in range(len(panels), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    fig.tight_layout()
    return _svg(fig, plt)


def validation_figures(table: pl.DataFrame, trajectories: pl.DataFrame | None = None) -> list[tuple[str, str]]:
    """Every validation figure as (caption, SVG): all targets, the dose response, the trajectories."""
    figs = [("Reported vs simulated, every target", validation_figure(table))]
    dr = dose_response_figure(table)
    if dr:
        figs.append(("Dose response, Breakfree-1 SLE: DL1 (10e6) vs DL2 (25e6 CAR+ T cells); reported rates "
                     "(ACR 2025 abstract 1529) vs simulated median and 90 % PI", dr))
    tr = trajectory_figure(trajectories, table) if trajectories is not None else None
    if tr:
        figs.append(("Trajectories to day 365: simulated median and 90 % PI across replicate trials by arm; "
                     "diamonds = reported values; grey band = B-cell return anchor (2–4 months), dotted = "
                     "simulated KM median of B-cell return", tr))
    return figs


def render_validation(table: pl.DataFrame, *, replicates: int, provenance: dict[str, str],
                      trajectories: pl.DataFrame | None = None) -> str:
    """A self-contained HTML page: the validation table and figure, methods and provenance."""
    from ._html import _Section

    inside = table.filter(pl.col("inside") == True).height  # noqa: E712
    outside = table.filter(pl.col("inside") == False).height  # noqa: E712
    skipped = table.filter(pl.col("inside").is_null()).height
    sec = _Section("validation", "Model validation", [validation_table(table, replicates)],
                   validation_figures(table, trajectories),
                   [f"{inside} target(s) inside their 90 % prediction interval, {outside} outside, "
                    f"{skipped} not simulated."])
    prov = [(k, str(v)) for k, v in provenance.items()]
    prov += [("report: cartlab version", __version__),
             ("report: created (UTC)", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    env = jinja2.Environment(loader=jinja2.DictLoader(
        {"report": files("cartlab.report").joinpath("templates/report.html.j2").read_text(encoding="utf-8")}),
        autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report").render(
        title="cartlab model validation", subtitle=f"{replicates} replicate trials per target design. "
        f"Generated by cartlab {__version__}.", protocol=[("Targets", str(provenance.get("targets", "")))],
        sections=[sec], methods=[VALIDATION_NOTE], provenance=prov)
