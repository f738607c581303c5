"""Goodness-of-fit and VPC figures of a population fit, as SVG text (matplotlib, imported lazily)."""

from __future__ import annotations

import io

import numpy as np
import polars as pl

from ._foce import PopFitResult


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})  # no date: same fit, same bytes
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def diagnostic_figures(fit: PopFitResult, vpc_table: pl.DataFrame | None = None, unit: str = "") -> dict[str, str]:
    """SVG figures: ``gof`` (observed vs PRED and IPRED, log axes), ``residuals`` (CWRES and IWRES vs
    time) and, given a :func:`~cartlab.pk.vpc` table, ``vpc``. Returns ``{name: svg_text}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = fit.predictions
    q = p.filter(pl.col("BLQ") == 0)
    figs: dict[str, str] = {}
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, col in zip(axes, ("PRED", "IPRED")):
        x, y = q[col].to_numpy(), q["DV"].to_numpy()
        ax.loglog(x, y, "o", ms=3, alpha=0.4, mec="none")
        lim = [min(x.min(), y.min()), max(x.max(), y.max())]
        ax.plot(lim, lim, "k-", lw=1)
        ax.set_xlabel(f"{col} ({unit})" if unit else col)
        ax.set_ylabel(f"observed ({unit})" if unit else "observed")
        ax.set_title(f"observed vs {col} (BLQ samples not shown)", fontsize=9)
    figs["gof"] = _svg(fig)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, col in zip(axes, ("CWRES", "IWRES")):
        r = q.drop_nulls(col)
        ax.plot(r["TIME"].to_numpy(), r[col].to_numpy(), "o", ms=3, alpha=0.4, mec="none")
        ax.axhline(0, color="k", lw=1)
        for h in (-2, 2):
            ax.axhline(h, color="k", lw=0.5, ls="--")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel("days after infusion")
        ax.set_ylabel(col)
    figs["residuals"] = _svg(fig)
    if vpc_table is not None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        obs = fit.predictions.filter(pl.col("BLQ") == 0)
        ax.plot(obs["TIME"].to_numpy(), obs["DV"].to_numpy(), ".", color="0.6", ms=3, label="observed")
        for pct, color in ((5.0, "tab:blue"), (50.0, "tab:red"), (95.0, "tab:blue")):
            v = vpc_table.filter(pl.col("PERCENTILE") == pct).sort("BIN_TIME")
            t = v["BIN_TIME"].to_numpy()
            lo = v["SIM_LO"].fill_null(np.nan).to_numpy()
            hi = v["SIM_HI"].fill_null(np.nan).to_numpy()
            ax.fill_between(t, lo, hi, color=color, alpha=0.2, lw=0)
            ax.plot(t, v["OBSERVED"].fill_null(np.nan).to_numpy(), "-", color=color, lw=1.5,
                    label=f"observed P{pct:g}")
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel("days after infusion")
        ax.set_ylabel(unit or "value")
        ax.set_title("VPC: observed percentiles and 90 % intervals of simulated ones (BLQ censored)", fontsize=9)
        ax.legend(fontsize=8)
        figs["vpc"] = _svg(fig)
    return figs
