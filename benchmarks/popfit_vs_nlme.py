"""Population CK fit: cartlab (Laplace/FOCE-I, M3) vs R nlme (Lindstrom-Bates, ML) on the same data.

200 subjects x 12 samples simulated from known parameters (Stein-form model, dose on C0). nlme cannot
use BLQ samples (no M3), so both fit the data with BLQ samples dropped; cartlab also fits the full
data with M3. Prints a table of estimates side by side with the truth, and wall times.

Run: PYTHONPATH=src /work/venv/bin/python benchmarks/popfit_vs_nlme.py   (needs Rscript with nlme for
the comparison; without it, cartlab's figures are printed and the nlme column says why it is missing).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from cartlab.pk import Covariate, PopParameters, fit_population, pop_data, synthetic_dataset

TRUE = PopParameters(typical={"C0": 20.0, "RHO": 0.8, "TMAX": 9.0, "ALPHA": 0.15, "BETA": 0.005, "FB": 0.02},
                     omega2={"C0": 0.3, "RHO": 0.04, "ALPHA": 0.1, "BETA": 0.1}, sigma=0.35,
                     effects={"C0~DOSE": 1.0})
TIMES = [1, 2, 4, 7, 10, 14, 21, 28, 56, 90, 180, 365]
IIV = ("C0", "RHO", "ALPHA", "BETA")
# LLOQ 20 copies/ug so that ~5 % of samples are BLQ (late samples of low-beta subjects)
LLOQ = 20.0

R_SCRIPT = r"""
suppressPackageStartupMessages(library(nlme))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$LDV <- log(d$DV)
d <- groupedData(LDV ~ TIME | ID, data = d)
stein <- function(t, lc0, lrho, ltmax, la, lb, lgfb) {
  rho <- exp(lrho); tmax <- exp(ltmax); a <- exp(la); b <- exp(lb); fb <- 1 / (1 + exp(-lgfb))
  s <- pmax(t - tmax, 0)
  ifelse(t <= tmax, lc0 + rho * t, lc0 + rho * tmax + log((1 - fb) * exp(-a * s) + fb * exp(-b * s)))
}
st <- as.numeric(strsplit(args[3], ",")[[1]])
t0 <- proc.time()[["elapsed"]]
fit <- nlme(LDV ~ stein(TIME, lc0, lrho, ltmax, la, lb, lgfb), data = d,
            fixed = list(lc0 ~ LDOSE, lrho + ltmax + la + lb + lgfb ~ 1),
            random = pdDiag(lc0 + lrho + la + lb ~ 1), groups = ~ID, method = "ML",
            start = c(st[1], 0, st[2:6]), control = nlmeControl(maxIter = 200, msMaxIter = 200, pnlsMaxIter = 20))
el <- proc.time()[["elapsed"]] - t0
fe <- fixef(fit); se <- sqrt(diag(vcov(fit)))
vc <- as.numeric(VarCorr(fit)[, "StdDev"])
out <- data.frame(name = c(names(fe), "om_lc0", "om_lrho", "om_la", "om_lb", "sigma", "loglik", "seconds"),
                  value = c(fe, vc[1:4]^2, fit$sigma, as.numeric(logLik(fit)), el),
                  se = c(se, rep(NA, 7)))
write.csv(out, args[2], row.names = FALSE)
"""


def run_nlme(df: pl.DataFrame, start: np.ndarray) -> tuple[dict[str, float] | None, str]:
    if shutil.which("Rscript") is None:
        return None, "Rscript not found (apt-get install r-base-core r-cran-nlme)"
    with tempfile.TemporaryDirectory() as d:
        data, res, script = Path(d, "data.csv"), Path(d, "res.csv"), Path(d, "fit.R")
        ref = df.unique("ID")["DOSE"].median()  # per-subject median, as cartlab.pk.pop_data centres it
        df.with_columns((pl.col("DOSE") / ref).log().alias("LDOSE")).write_csv(data)
        script.write_text(R_SCRIPT)
        t0 = time.perf_counter()
        p = subprocess.run(["Rscript", str(script), str(data), str(res), ",".join(f"{v:.6f}" for v in start)],
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            return None, "nlme failed: " + (p.stderr.strip().splitlines() or ["?"])[-1]
        r = pl.read_csv(res)
    vals = dict(zip(r["name"], r["value"]))
    vals["wall"] = wall
    return vals, "ok"


def main() -> None:
    df = synthetic_dataset(TRUE, n_subjects=200, times=TIMES, lloq=LLOQ, doses=[1e7, 2.5e7], seed=20250317)
    n_blq = int(df["BLQ"].sum())
    dropped = df.filter(pl.col("BLQ") == 0)
    fits = {}
    for label, data in (("cartlab M3 (all samples)", df), ("cartlab (BLQ dropped)", dropped)):
        t0 = time.perf_counter()
        fit = fit_population(pop_data(data, [Covariate("C0", "DOSE")]), iiv=IIV)
        fits[label] = (fit, time.perf_counter() - t0)
    from cartlab.pk._foce import _initial_theta  # the same start values for nlme

    start = _initial_theta(pop_data(dropped, [Covariate("C0", "DOSE")]), IIV, None)[:6]
    nl, status = run_nlme(dropped, start)
    rows = [("C0", "lc0.(Intercept)", math.exp), ("RHO", "lrho", math.exp), ("TMAX", "ltmax", math.exp),
            ("ALPHA", "la", math.exp), ("BETA", "lb", math.exp), ("FB", "lgfb", lambda v: 1 / (1 + math.exp(-v))),
            ("C0~DOSE", "lc0.LDOSE", float), ("omega2 C0", "om_lc0", float), ("omega2 RHO", "om_lrho", float),
            ("omega2 ALPHA", "om_la", float), ("omega2 BETA", "om_lb", float), ("sigma (log scale)", "sigma", float)]
    truth = {**TRUE.typical, "C0~DOSE": 1.0, **{f"omega2 {k}": v for k, v in TRUE.omega2.items()},
             "sigma (log scale)": TRUE.sigma}
    print(f"200 subjects x 12 samples, LLOQ {LLOQ:g}: {n_blq} of {df.height} samples BLQ "
          f"({100 * n_blq / df.height:.1f} %)")
    head = ["parameter", "true", *fits, "nlme ML (BLQ dropped)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, rname, tr in rows:
        cells = [name, f"{truth[name]:.4g}"]
        for fit, _ in fits.values():
            r = fit.table.filter(pl.col("PARAMETER") == name).row(0, named=True)
            cells.append(f"{r['ESTIMATE']:.4g} ({r['RSE_PCT']:.1f} %)" if r["RSE_PCT"] is not None
                         else f"{r['ESTIMATE']:.4g}")
        cells.append(f"{tr(nl[rname]):.4g}" if nl else "-")
        print("| " + " | ".join(cells) + " |")
    ll = ["-2 log-likelihood", ""]
    for fit, _ in fits.values():
        ll.append(f"{fit.ofv:.2f}")
    # nlme's logLik includes the Jacobian-free log-scale normal density, as cartlab's OFV does
    ll.append(f"{-2 * nl['loglik']:.2f}" if nl else "-")
    print("| " + " | ".join(ll) + " |")
    wall = ["wall time (s)", ""] + [f"{s:.1f}" for _, s in fits.values()] + \
        [f"{nl['seconds']:.1f} (fit), {nl['wall']:.1f} (with R start-up)" if nl else "-"]
    print("| " + " | ".join(wall) + " |")
    if nl:
        t_cl = fits["cartlab (BLQ dropped)"][1]
        print(f"\nsame data: cartlab (fit + covariance step) takes {t_cl / nl['seconds']:.1f}x nlme's fit time")
    else:
        print(f"\nnlme: {status}")
    for label, (fit, _) in fits.items():
        print(f"{label}: converged={fit.converged} ({fit.message}); BFGS iterations {fit.n_iterations}; "
              f"covariance {'ok' if fit.covariance is not None else 'FAILED'}")


if __name__ == "__main__":
    main()
