"""Report throughput: `cartlab report` on a 10,000-patient trial store (budget: < 30 s).

Makes the store once if it is missing (``cartlab run breakfree1-sle --n 5000``: 5,000 patients per
arm, 10,000 treated), then times, in this process and in order:

1. reading the SDTM tables from the store (cartlab.io);
2. the ADaM derivations (cartlab.analysis.derive_adam);
3. rendering the HTML report (tables, SVG figures; cartlab.report.render_report);
4. writing the six ADaM tables into the store atomically (cartlab.io.update_trial);

and then the whole command once more as a user runs it (``cartlab report STORE`` in a child
process, interpreter start-up and imports included). The peer is the same command on the
protocol-sized trial (19 patients), to show what scale costs.

Run: ``/work/venv/bin/python benchmarks/report_throughput.py [--store DIR] [--n PER_ARM]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cartlab(*args: str) -> float:
    exe = Path(sys.executable).with_name("cartlab")
    t0 = time.perf_counter()
    subprocess.run([str(exe), *args], check=True, capture_output=True, env=os.environ)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=str(Path(tempfile.gettempdir()) / "cartlab-report-bench"))
    ap.add_argument("--n", type=int, default=5000, help="patients per arm of the big store")
    a = ap.parse_args()
    big = Path(a.store)
    if not (big / "trial.duckdb").is_file():
        print(f"making the store: cartlab run breakfree1-sle --n {a.n} --out {big}", flush=True)
        print(f"  {cartlab('run', 'breakfree1-sle', '--n', str(a.n), '--out', str(big), '--overwrite'):.1f} s")

    import polars as pl

    from cartlab.analysis import derive_adam
    from cartlab.cli._report import _load
    from cartlab.io import update_trial
    from cartlab.report import render_report

    t0 = time.perf_counter()
    tables, prov, sim, devs, protocol, day, _reps = _load(big, None)
    t1 = time.perf_counter()
    adam = derive_adam(tables, efficacy_day=day)
    t2 = time.perf_counter()
    html = render_report(adam, protocol, provenance=prov, study_id="BF1-SLE", sim_summary=sim, deviations=devs,
                         efficacy_day=day)
    t3 = time.perf_counter()
    update_trial(big, adam.tables())
    t4 = time.perf_counter()
    n = adam.adsl.filter(pl.col("SAFFL") == "Y").height
    rows = sum(t.height for t in tables.values())
    print(f"store: {big} ({(big / 'trial.duckdb').stat().st_size / 1e6:.0f} MB, {n} treated, {rows:,} SDTM rows)")
    print(f"  read SDTM        {t1 - t0:6.2f} s")
    print(f"  derive ADaM      {t2 - t1:6.2f} s  ({sum(t.height for t in adam.tables().values()):,} ADaM rows)")
    print(f"  render HTML      {t3 - t2:6.2f} s  ({len(html) / 1e6:.1f} MB, {html.count('<svg')} figures)")
    print(f"  store ADaM       {t4 - t3:6.2f} s")
    print(f"  in-process total {t4 - t0:6.2f} s")
    whole = cartlab("report", str(big))
    print(f"`cartlab report` (child process, 10,000-patient store): {whole:.1f} s  (budget 30 s)")
    with tempfile.TemporaryDirectory() as d:
        cartlab("run", "breakfree1-sle", "--out", f"{d}/small")
        small = cartlab("report", f"{d}/small")
    print(f"peer: `cartlab report` on the protocol-sized trial (19 treated): {small:.1f} s; "
          f"ratio {whole / small:.1f}x for {n / 19:.0f}x the patients")


if __name__ == "__main__":
    main()
