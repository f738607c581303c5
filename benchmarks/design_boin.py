"""BOIN operating-characteristics simulation throughput.

Workload: 10,000 BOIN trials, 5 dose levels (true DLT probabilities 0.05, 0.12, 0.30, 0.45, 0.60),
target 0.3, 10 cohorts of 3 (30 patients), seed 1, through ``simulate_oc`` (per-trial
``SeedSequence`` children, vectorised decisions, isotonic MTD selection). Budget: < 2 s on 2 cores.
Prints a markdown table.

    /work/venv/bin/python benchmarks/design_boin.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from cartlab.design._oc import simulate_oc

TRUTH = (0.05, 0.12, 0.30, 0.45, 0.60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ntrials", type=int, default=10_000)
    args = ap.parse_args()

    simulate_oc(TRUTH, target=0.3, ntrials=100, seed=0)  # warm-up: imports, scipy beta
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        oc = simulate_oc(TRUTH, target=0.3, ncohort=10, cohortsize=3, ntrials=args.ntrials, seed=1)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    simulate_oc(TRUTH, design="3+3", ntrials=args.ntrials, seed=1)
    t_tpt = time.perf_counter() - t0

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, numpy {np.__version__}\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| BOIN, {args.ntrials:,} trials x 30 patients, median of {args.repeats} | {np.median(times):.3f} s |")
    print(f"| BOIN, best of {args.repeats} | {min(times):.3f} s |")
    print(f"| BOIN trials per second | {args.ntrials / np.median(times):,.0f} |")
    print(f"| 3+3, {args.ntrials:,} trials (one run) | {t_tpt:.3f} s |")
    print(f"| BOIN P(select dose 3), truth 0.30 | {oc.p_select[2]:.3f} |")


if __name__ == "__main__":
    main()
