"""Visual predictive check with censoring (BLQ) of a population fit.

Replicates of the study (same subjects, times, LLOQs, covariates) are simulated from the final
estimates with new random effects and residuals; samples below the LLOQ are censored as in the
data. Per time bin, the 5th, 50th and 95th percentiles of the observations are compared with the
median and 90 % interval of the same percentiles across replicates. A BLQ sample counts as lower
than every quantified value, so a percentile that falls among the BLQ samples is reported as missing
rather than invented (Bergstrand M, Hooker AC, Wallin JE, Karlsson MO, AAPS J 2011;13:143 for the
prediction-interval VPC; Bergstrand M, Karlsson MO, AAPS J 2009;11:371 for censored data); the fraction
BLQ per bin is compared in the same way.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ._foce import PopFitResult
from ._popmodel import PopData, simulate_observations

PERCENTILES = (5.0, 50.0, 95.0)
_LOW = -1e9  # stands for a BLQ sample: below every log value; a percentile touching it is censored


def _bins(data: PopData, max_bins: int) -> np.ndarray:
    """Bin index of every sample: one bin per distinct time if few, else time quantiles."""
    t = data.time[data.mask]
    uniq = np.unique(t)
    if uniq.size <= max_bins:
        edges = np.concatenate([uniq, [np.inf]])
    else:
        edges = np.unique(np.quantile(t, np.linspace(0, 1, max_bins + 1)))
        edges[-1] = np.inf
    return np.searchsorted(edges, data.time, side="right") - 1


def _censored_percentiles(y: np.ndarray, blq: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Percentiles per bin with BLQ samples as -inf; shape (n_bins, len(PERCENTILES)); NaN if BLQ."""
    out = np.full((n_bins, len(PERCENTILES)), np.nan)
    for b in range(n_bins):
        m = bins == b
        if not m.any():
            continue
        v = np.where(blq[m], _LOW, y[m])
        q = np.percentile(v, PERCENTILES, method="linear")
        out[b] = np.where(q > _LOW / 2, q, np.nan)
    return out


def vpc(fit: PopFitResult, data: PopData, *, n_replicates: int = 200, seed: int = 1, max_bins: int = 15
        ) -> pl.DataFrame:
    """Censored VPC table of ``fit`` on ``data`` (natural scale of the analyte).

    Returns one row per time bin and percentile: ``BIN_TIME`` (median sample time, days), ``N``,
    ``PERCENTILE``, ``OBSERVED`` (null when the percentile is below the LLOQ), ``SIM_MEDIAN``,
    ``SIM_LO``, ``SIM_HI`` (5th and 95th percentiles across replicates of the simulated percentile;
    null when below the LLOQ in that share of replicates), plus rows with ``PERCENTILE`` null for the
    fraction BLQ (``OBSERVED`` and the simulated interval of that fraction).
    """
    rng = np.random.default_rng(seed)
    bins = _bins(data, max_bins)
    mk = data.mask
    b_obs = bins[mk]
    n_bins = int(b_obs.max()) + 1
    obs_pct = _censored_percentiles(data.y[mk], data.blq[mk], b_obs, n_bins)
    obs_blq = np.array([data.blq[mk][b_obs == b].mean() if (b_obs == b).any() else np.nan for b in range(n_bins)])
    sim_pct = np.empty((n_replicates, n_bins, len(PERCENTILES)))
    sim_blq = np.empty((n_replicates, n_bins))
    for r in range(n_replicates):
        y, blq, _ = simulate_observations(fit.params, data, rng)
        sim_pct[r] = _censored_percentiles(y[mk], blq[mk], b_obs, n_bins)
        sim_blq[r] = [blq[mk][b_obs == b].mean() if (b_obs == b).any() else np.nan for b in range(n_bins)]
    # a replicate whose percentile is censored counts as -inf in the interval across replicates
    filled = np.where(np.isnan(sim_pct), _LOW, sim_pct)
    lo, med, hi = (np.percentile(filled, q, axis=0) for q in (5.0, 50.0, 95.0))
    rows: dict[str, list] = {k: [] for k in ("BIN_TIME", "N", "PERCENTILE", "OBSERVED", "SIM_MEDIAN", "SIM_LO",
                                              "SIM_HI")}

    def nat(v: float) -> float | None:
        return float(np.exp(v)) if np.isfinite(v) and v > _LOW / 2 else None

    t_obs = data.time[mk]
    for b in range(n_bins):
        m = b_obs == b
        if not m.any():
            continue
        bt = float(np.median(t_obs[m]))
        for k, p in enumerate(PERCENTILES):
            rows["BIN_TIME"].append(bt)
            rows["N"].append(int(m.sum()))
            rows["PERCENTILE"].append(p)
            rows["OBSERVED"].append(nat(obs_pct[b, k]))
            rows["SIM_MEDIAN"].append(nat(med[b, k]))
            rows["SIM_LO"].append(nat(lo[b, k]))
            rows["SIM_HI"].append(nat(hi[b, k]))
        q = np.percentile(sim_blq[:, b], [5.0, 50.0, 95.0])
        rows["BIN_TIME"].append(bt)
        rows["N"].append(int(m.sum()))
        rows["PERCENTILE"].append(None)
        rows["OBSERVED"].append(float(obs_blq[b]))
        rows["SIM_MEDIAN"].append(float(q[1]))
        rows["SIM_LO"].append(float(q[0]))
        rows["SIM_HI"].append(float(q[2]))
    return pl.DataFrame(rows, schema={"BIN_TIME": pl.Float64, "N": pl.Int64, "PERCENTILE": pl.Float64,
                                      "OBSERVED": pl.Float64, "SIM_MEDIAN": pl.Float64, "SIM_LO": pl.Float64,
                                      "SIM_HI": pl.Float64})
