"""Grading throughput: a trial of 10,000 patients' daily signs and labs graded by cartlab.instruments.

Workload (synthetic, seeded, shaped like the virtual site's records): 10,000 patients x 15
inpatient days of signs (temperature, hypotension, vasopressors, oxygen device and flow, ICE items,
consciousness) and x 20 haematology days (neutrophils, platelets with LLN). Timed:

1. ASTCT CRS and ICANS daily grades (vectorised over all 150,000 patient-days), ICE totals;
2. CTCAE v5.0 neutrophil and platelet grades (vectorised over 400,000 values);
3. CRS/ICANS episodes and EHA/EBMT ICAHT early grade, patient by patient;
4. the peer: the same instruments called row by row (one patient-day or one value per call), as
   a user looping over a table would, on a 2 % sample, scaled to the full trial;
5. ``--store``: a simulated Breakfree-1 SLE trial of ``--n`` patients written to a DuckDB trial
   store, read back, and graded from its SDTM tables by the dataset derivations (daily CRS from
   VS/PR/CM, daily ICANS from QS/FA, CTCAE haematology and early/late ICAHT from LB).

Run: ``/work/venv/bin/python benchmarks/grading_throughput.py [--n N] [--store]``.
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


def store_run(n: int) -> None:
    """Simulate a trial of n patients, store it, read it back and grade it from SDTM."""
    import tempfile
    from pathlib import Path

    from cartlab._core.provenance import collect_provenance
    from cartlab.instruments import (
        derive_crs_astct,
        derive_ctcae_haem,
        derive_icaht_early,
        derive_icaht_late,
        derive_icans_astct,
    )
    from cartlab.io import open_trial, write_trial
    from cartlab.protocol import load_protocol, resolve_protocol
    from cartlab.trial import run_trial

    proto = load_protocol(resolve_protocol("breakfree1-sle")).with_arm_sizes(n // 2)
    t = time.perf_counter()
    tables = run_trial(proto, seed=1).tables
    t_sim = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "trial"
        t = time.perf_counter()
        write_trial(out, tables, collect_provenance(seed=1, inputs={}, extra={}))
        t_write = time.perf_counter() - t
        with open_trial(out) as st:
            t = time.perf_counter()
            sdtm = {k: st.read(k) for k in ("vs", "pr", "cm", "qs", "fa", "lb")}
            t_read = time.perf_counter() - t
    rows = [(f"simulate {n:,} patients (run_trial; for scale)", t_sim), ("write the trial store", t_write),
            ("read VS, PR, CM, QS, FA, LB back", t_read)]
    total = 0.0
    for name, f, args in (("daily ASTCT CRS from VS, PR, CM", derive_crs_astct, ("vs", "pr", "cm")),
                          ("daily ASTCT ICANS from QS ICE items, FA consciousness", derive_icans_astct, ("qs", "fa")),
                          ("CTCAE v5.0 haematology of every LB record", derive_ctcae_haem, ("lb",)),
                          ("ICAHT early per subject", derive_icaht_early, ("lb",)),
                          ("ICAHT late per subject", derive_icaht_late, ("lb",))):
        t = time.perf_counter()
        res, findings = f(*(sdtm[a] for a in args))
        dt = time.perf_counter() - t
        total += dt
        rows.append((f"{name}: {res.height:,} rows, {findings.height} findings", dt))
    print("| step | seconds |\n|---|---|")
    for name, sec in rows:
        print(f"| {name} | {sec:.2f} |")
    print(f"| **grading the store's SDTM, {n:,} patients ({sdtm['lb'].height:,} LB rows)** | **{total:.2f}** |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--store", action="store_true", help="grade a simulated trial store's SDTM tables")
    args = ap.parse_args()
    n = args.n
    if args.store:
        store_run(n)
        return
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
