"""Validation throughput: replicate virtual trials of Breakfree-1 SLE (19 patients) per second.

``cartlab validate-model`` simulates, for every target, replicate trials of the reported size. This
script times one replicate's parts on the protocol-sized trial (DL1 13 + DL2 6), in this process:

1. the virtual site alone (``cartlab.trial.run_trial``: screening, kernel, SDTM tables);
2. the safety targets' metrics from SDTM (``cartlab.calibrate.trial_metrics``, no ADaM);
3. every BF1-SLE target's metric (ADaM derived for the efficacy and B-cell targets);

and reports replicates/s and patients/s beside the kernel alone on the same patients (the peer:
``cartlab.model.simulate`` is what ``run_trial`` calls), so the cost of the site and grading layer
shows.

Run: ``/work/venv/bin/python benchmarks/validate_throughput.py [--replicates 200]``.
"""

from __future__ import annotations

import argparse
import time

from cartlab.calibrate import load_targets, trial_metrics
from cartlab.protocol import load_protocol, resolve_protocol
from cartlab.trial import run_trial


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=200)
    a = ap.parse_args()
    proto = load_protocol(resolve_protocol("breakfree1-sle"))
    own = {(x.code, x.n) for x in proto.arms}
    targets = [t for t in load_targets().for_protocol("breakfree1-sle") if t.simulated]
    safety = [t for t in targets if t.metric.startswith(("crs", "icans", "neutro", "thrombo", "bcell_dep"))]
    n = sum(x.n for x in proto.arms)
    run_trial(proto, seed=1, replicate=10_000)  # compile / cache load, not timed
    runs = []
    t0 = time.perf_counter()
    for r in range(a.replicates):
        runs.append(run_trial(proto, seed=1, replicate=r))
    t_site = time.perf_counter() - t0
    t0 = time.perf_counter()
    for run in runs:
        trial_metrics(run.tables, safety, efficacy_day=180)
    t_safety = time.perf_counter() - t0
    t0 = time.perf_counter()
    for run in runs:
        trial_metrics(run.tables, targets, efficacy_day=180)
    t_all = time.perf_counter() - t0
    R = a.replicates
    print(f"Breakfree-1 SLE, {n} patients per trial ({sorted(own)}), {R} replicates")
    print(f"virtual site (run_trial)          {t_site:7.2f} s  {R / t_site:7.1f} trials/s  {R * n / t_site:8.0f} patients/s")
    print(f"+ safety metrics (SDTM only)      {t_safety:7.2f} s  {R / (t_site + t_safety):7.1f} trials/s")
    print(f"+ every target (ADaM derived)     {t_all:7.2f} s  {R / (t_site + t_all):7.1f} trials/s")
    print(f"1,000 replicates, every BF1-SLE target: {1000 * (t_site + t_all) / R:.0f} s (one design)")


if __name__ == "__main__":
    main()
