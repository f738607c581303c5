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
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def render_validation(table: pl.DataFrame, *, replicates: int, provenance: dict[str, str]) -> str:
    """A self-contained HTML page: the validation table and figure, methods and provenance."""
    from ._html import _Section

    inside = table.filter(pl.col("inside") == True).height  # noqa: E712
    outside = table.filter(pl.col("inside") == False).height  # noqa: E712
    skipped = table.filter(pl.col("inside").is_null()).height
    sec = _Section("validation", "Model validation", [validation_table(table, replicates)],
                   [("Reported vs simulated, every target", validation_figure(table))],
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
