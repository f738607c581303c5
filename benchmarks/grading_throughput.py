"""Grading throughput: a trial of 10,000 patients' daily signs and labs graded by cartlab.instruments.

Workload (synthetic, seeded, shaped like the virtual site's records): 10,000 patients x 15
inpatient days of signs (temperature, hypotension, vasopressors, oxygen device and flow, ICE items,
consciousness) and x 20 haematology days (neutrophils, platelets with LLN). Timed:

1. ASTCT CRS and ICANS daily grades (vectorised over all 150,000 patient-days), ICE totals;
2. CTCAE v5.0 neutrophil and platelet grades (vectorised over 400,000 values);
3. CRS/ICANS episodes and EHA/EBMT ICAHT early grade, patient by patient;
4. the peer: the same instruments called row by row (one patient-day or one value per call), as
   a user looping over a table would, on a 2 % sample, scaled to the full trial.

Run: ``/work/venv/bin/python benchmarks/grading_throughput.py`` (``--n`` to change the size).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cartlab.instruments import (
    grade_crs_astct,
    grade_ctcae,
    grade_icans_astct,
    icaht_early,
    ice_score,
    toxicity_episodes,
)
from cartlab.instruments._cart_toxicity import CONSCIOUSNESS, O2_DEVICES


def signs(n: int, days: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    shape = (n, days)
    fever = rng.random(shape) < 0.25
    temp = np.round(np.where(fever, rng.normal(38.6, 0.4, shape), rng.normal(36.9, 0.3, shape)), 1)
    hypot = fever & (rng.random(shape) < 0.15)
    vaso = np.where(hypot & (rng.random(shape) < 0.3), rng.integers(1, 3, shape), 0)
    dev_idx = np.where(fever & (rng.random(shape) < 0.2), rng.integers(1, len(O2_DEVICES), shape), 0)
    device = np.asarray(O2_DEVICES, dtype=object)[dev_idx]
    flow = np.where(dev_idx > 0, rng.choice([2.0, 4.0, 6.0, 10.0, 40.0], shape), 0.0)
    ice_items = [rng.integers(lo, hi + 1, shape) for lo, hi in ((3, 4), (2, 3), (1, 1), (0, 1), (0, 1))]
    consc = np.asarray(CONSCIOUSNESS, dtype=object)[np.where(rng.random(shape) < 0.03, rng.integers(1, 3, shape), 0)]
    return dict(temp=temp, hypot=hypot, vaso=vaso, device=device, flow=flow, ice=ice_items, consc=consc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    n = ap.parse_args().n
    rng = np.random.default_rng(20250317)
    s = signs(n, 15, rng)
    lab_days = np.arange(-5, 15)
    anc = np.exp(rng.normal(np.log(1.2), 1.0, (n, lab_days.size)))
    plt_ = np.exp(rng.normal(np.log(120.0), 0.5, (n, lab_days.size)))
    rows = []

    t = time.perf_counter()
    ice = ice_score(*s["ice"])
    crs = grade_crs_astct(s["temp"], s["hypot"], s["vaso"], s["device"], s["flow"])
    icans = grade_icans_astct(ice, s["consc"])
    t_daily = time.perf_counter() - t
    rows.append((f"ICE + ASTCT CRS + ICANS, {n * 15:,} patient-days (vectorised)", t_daily))

    t = time.perf_counter()
    g_anc = grade_ctcae("NEUT", anc, 1.8)
    g_plt = grade_ctcae("PLAT", plt_, 150.0)
    t_lab = time.perf_counter() - t
    rows.append((f"CTCAE v5.0 neutrophils + platelets, {2 * anc.size:,} values (vectorised)", t_lab))

    t = time.perf_counter()
    days = np.arange(15)
    n_ep = 0
    icaht = np.empty(n, dtype=int)
    for i in range(n):
        n_ep += len(toxicity_episodes(crs[i], days)) + len(toxicity_episodes(icans[i], days))
        icaht[i] = icaht_early(lab_days, anc[i] * 1000.0)
    t_pat = time.perf_counter() - t
    rows.append((f"episodes (CRS, ICANS) + ICAHT early, {n:,} patients (loop)", t_pat))
    total = t_daily + t_lab + t_pat

    # peer: the same functions row by row on a 2 % sample
    k = max(1, n // 50)
    t = time.perf_counter()
    for i in range(k):
        for d in range(15):
            e = ice_score(*(item[i, d] for item in s["ice"]))
            grade_crs_astct(s["temp"][i, d], s["hypot"][i, d], s["vaso"][i, d], s["device"][i, d], s["flow"][i, d])
            grade_icans_astct(e, s["consc"][i, d])
        for d in range(lab_days.size):
            grade_ctcae("NEUT", anc[i, d], 1.8)
            grade_ctcae("PLAT", plt_[i, d], 150.0)
    t_peer = (time.perf_counter() - t) * n / k
    rows.append((f"peer: the daily and lab grades row by row (2 % sample, scaled to {n:,})", t_peer))

    print("| step | seconds |\n|---|---|")
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} |")
    print(f"| **total, {n:,} patients** | **{total:.2f}** |")
    print(f"\nvectorised daily + lab grading vs row by row: {t_peer / (t_daily + t_lab):,.0f}x faster; "
          f"CRS grade >= 1 on {100 * (crs >= 1).mean():.1f} % of days, {n_ep:,} episodes, "
          f"ICAHT early >= 3 in {100 * (icaht >= 3).mean():.1f} %")


if __name__ == "__main__":
    main()
