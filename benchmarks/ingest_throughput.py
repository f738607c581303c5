"""Ingestion throughput: 1,000,000 LB rows read, validated and written to a trial store.

Workload (synthetic, seeded): DM with 5,000 subjects and LB with 1,000,000 records (200 per subject:
NEUT, PLAT, LYM, WBC, CRP over 40 visit dates; 10 % of NEUT in cells/uL so that unit conversion
runs; 2 % partial dates), written once as SAS XPORT v5 (pyreadstat) and as CSV. Timed, each the
median of ``--repeat`` runs:

1. ``cartlab.io.ingest_sdtm`` from XPT: read (pyreadstat), validate every rule, convert types and
   units, write the DuckDB store atomically;
2. the same from CSV;
3. the peer / floor: ``pyreadstat.read_xport`` of the same LB file alone (no validation, no store).

Run: ``/work/venv/bin/python benchmarks/ingest_throughput.py [--rows N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyreadstat

from cartlab.io import ingest_sdtm

TESTS = [("NEUT", "Neutrophils", 3.0, "10^9/L"), ("PLAT", "Platelets", 200.0, "10^9/L"),
         ("LYM", "Lymphocytes", 1.5, "10^9/L"), ("WBC", "Leukocytes", 6.0, "10^9/L"),
         ("CRP", "C Reactive Protein", 4.0, "mg/L")]


def build(directory: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    per = 200
    n_subj = rows // per
    ids = [f"BENCH-{k:05d}" for k in range(n_subj)]
    start = dt.date(2022, 1, 3)
    dm = pl.DataFrame({
        "STUDYID": "BENCH", "DOMAIN": "DM", "USUBJID": ids, "SUBJID": [i[-5:] for i in ids], "SITEID": "001",
        "RFSTDTC": [(start + dt.timedelta(days=k % 300)).isoformat() for k in range(n_subj)],
        "AGE": rng.integers(18, 75, n_subj).astype(float), "AGEU": "YEARS", "SEX": rng.choice(["F", "M"], n_subj),
        "ARMCD": "DL1", "ARM": "Dose level 1", "ACTARMCD": "DL1", "ACTARM": "Dose level 1", "COUNTRY": "USA"})
    subj = np.repeat(np.arange(n_subj), per)
    k = np.tile(np.arange(per), n_subj)
    test = k % len(TESTS)
    visit = k // len(TESTS)
    base = np.array([t[2] for t in TESTS])[test]
    value = np.round(base * np.exp(0.3 * rng.standard_normal(rows)), 2)
    unit = np.array([t[3] for t in TESTS], dtype=object)[test]
    in_ul = (test == 0) & (rng.random(rows) < 0.1)
    value = np.where(in_ul, value * 1000.0, value)
    unit = np.where(in_ul, "cells/uL", unit)
    rfst = np.array([(start + dt.timedelta(days=int(s) % 300)) for s in range(n_subj)], dtype="datetime64[D]")
    dates = (rfst[subj] + (visit * 7 - 14).astype("timedelta64[D]")).astype(str)
    partial = rng.random(rows) < 0.02
    dates = np.where(partial, np.char.array(dates)[:].astype("U7"), dates)
    lb = pl.DataFrame({
        "STUDYID": "BENCH", "DOMAIN": "LB", "USUBJID": np.array(ids, dtype=object)[subj], "LBSEQ": (k + 1).astype(float),
        "LBTESTCD": np.array([t[0] for t in TESTS], dtype=object)[test],
        "LBTEST": np.array([t[1] for t in TESTS], dtype=object)[test],
        "LBORRES": value.astype(str), "LBSTRESN": value, "LBSTRESU": unit, "LBDTC": dates,
        "VISITNUM": (visit + 1).astype(float), "LBDY": (visit * 7 - 14).astype(float)})
    for fmt in ("xpt", "csv"):
        d = directory / fmt
        d.mkdir()
        for name, frame in (("dm", dm), ("lb", lb)):
            if fmt == "xpt":
                pyreadstat.write_xport(frame, str(d / f"{name}.xpt"), table_name=name.upper(), file_format_version=5)
            else:
                frame.write_csv(d / f"{name}.csv")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build(root, a.rows)
        print(f"built {a.rows:,} LB rows in {time.perf_counter() - t0:.1f} s; "
              f"lb.xpt {(root / 'xpt' / 'lb.xpt').stat().st_size / 1e6:.0f} MB, "
              f"lb.csv {(root / 'csv' / 'lb.csv').stat().st_size / 1e6:.0f} MB")
        for fmt in ("xpt", "csv"):
            times = []
            for r in range(a.repeat):
                t0 = time.perf_counter()
                res = ingest_sdtm(root / fmt, root / f"store-{fmt}-{r}", data_cutoff=dt.date(2030, 1, 1))
                times.append(time.perf_counter() - t0)
            n_warn = int((res.findings["SEVERITY"] == "WARNING").sum())
            print(f"ingest {fmt}: median {statistics.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})"
                  f"; {res.findings.height} findings ({n_warn} warnings), {res.imputations.height:,} partial dates")
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            pyreadstat.read_xport(str(root / "xpt" / "lb.xpt"), output_format="polars")
            times.append(time.perf_counter() - t0)
        print(f"peer/floor pyreadstat.read_xport(lb.xpt) alone: median {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
