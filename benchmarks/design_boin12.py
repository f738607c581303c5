"""BOIN12 operating-characteristics simulation throughput, against BOIN on the same machine.

Workload: 10,000 BOIN12 trials, 5 dose levels (true DLT probabilities 0.05, 0.10, 0.20, 0.30, 0.45;
response probabilities 0.10, 0.30, 0.55, 0.60, 0.62), DLT limit 0.35, response limit 0.25, default
utilities, 10 cohorts of 3, seed 1, through ``simulate_oc`` (per-trial ``SeedSequence`` children,
vectorised decisions and OBD selection). The peer is BOIN (target 0.3) on the same toxicity truth.
Prints a markdown table.

    /work/venv/bin/python benchmarks/design_boin12.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from cartlab.design import boin12_design, simulate_oc

TOX = (0.05, 0.10, 0.20, 0.30, 0.45)
EFF = (0.10, 0.30, 0.55, 0.60, 0.62)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ntrials", type=int, default=10_000)
    args = ap.parse_args()
    design = boin12_design(0.35, 0.25)

    simulate_oc(TOX, design="boin12", boin12=design, truth_eff=EFF, ntrials=100, seed=0)  # warm-up
    t12, tb = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        oc = simulate_oc(TOX, design="boin12", boin12=design, truth_eff=EFF, ntrials=args.ntrials, seed=1)
        t12.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        simulate_oc(TOX, target=0.3, ntrials=args.ntrials, seed=1)
        tb.append(time.perf_counter() - t0)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, numpy {np.__version__}\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| BOIN12, {args.ntrials:,} trials x 30 patients, median of {args.repeats} | {np.median(t12):.3f} s |")
    print(f"| BOIN12 trials per second | {args.ntrials / np.median(t12):,.0f} |")
    print(f"| peer: BOIN, same trials, median of {args.repeats} | {np.median(tb):.3f} s |")
    print(f"| ratio BOIN12 / BOIN | {np.median(t12) / np.median(tb):.1f} |")
    print(f"| BOIN12 P(select dose 3), the true OBD (utility 65.0) | {oc.p_select[2]:.3f} |")
    print(f"| mean duration (14 d between enrolments, 28-d window per cohort) | {oc.duration_days.mean():.0f} days |")


if __name__ == "__main__":
    main()
