"""The HTML report: self-contained, every section and figure present, and it renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cartlab.analysis import derive_adam
from cartlab.io import export_adam, open_trial, update_trial, write_trial, xpt_names
from cartlab.report import render_report


@pytest.fixture
def html(tiny_trial) -> str:
    adam = derive_adam(tiny_trial, efficacy_day=180)
    return render_report(adam, None, provenance={"seed": "7"}, study_id="TINY", deviations=tiny_trial["dv"])


def test_report_is_self_contained_with_every_section(html: str) -> None:
    for section in ("protocol", "disposition", "safety", "efficacy", "kinetics", "deviations", "methods",
                    "provenance"):
        assert f'id="{section}"' in html
    # no external resource: no http(s) URL in src/href, no <script>, no <link>
    assert not re.search(r'(src|href)="https?:', html)
    assert "<script" not in html and "<link" not in html
    # figures are inline SVG: swimmer, CRS/ICANS grades, SLEDAI-2K trajectories, waterfall, kinetics
    assert html.count("<svg") == 5
    assert "PRE-INFUSION SAFETY WINDOW" in html  # the deviation recorded for B2
    assert "2 (66.7 %)" in html  # DL1 CRS any grade (test_analysis_adam.test_golden_safety_table)


def test_report_without_deviations_says_so(tiny_trial) -> None:
    adam = derive_adam(tiny_trial, efficacy_day=180)
    out = render_report(adam, None, provenance={}, study_id="TINY", deviations=None)
    assert "No protocol deviations recorded." in out


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="no Chromium binary on PATH (chromium, chromium-browser, "
                                                 "google-chrome): the headless rendering check needs one")
def test_report_renders_in_headless_chromium(html: str, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    exe = _chromium()
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              f"--user-data-dir={tmp_path / 'profile'}"]
    # 1. the DOM after load: every figure is an <svg> with drawn paths
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    svgs = re.findall(r"<svg.*?</svg>", dom, flags=re.S)
    assert len(svgs) == html.count("<svg") == 5
    assert all(s.count("<path") >= 5 for s in svgs)
    # 2. a screenshot is not blank: many distinct colours, and far from uniform
    shot = tmp_path / "shot.png"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,2600", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[0] >= 2000 and img.shape[1] >= 1100
    assert img.std() > 0.05
    colours = np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50
    assert (img < 0.5).mean() > 0.005  # text and lines drawn on the white page


def test_xpt_v5_export_reads_back_with_pyreadstat(tiny_trial, tmp_path: Path) -> None:
    import pyreadstat

    from cartlab.analysis import LABELS

    adam = derive_adam(tiny_trial, efficacy_day=180)
    paths = export_adam(adam.tables(), LABELS, tmp_path, "xpt")
    assert [p.name for p in paths] == ["adsl.xpt", "adae.xpt", "adlb.xpt", "adeff.xpt", "adpc.xpt", "adtte.xpt"]
    for name, frame in adam.tables().items():
        df, meta = pyreadstat.read_xport(str(tmp_path / f"{name}.xpt"))
        assert list(df.columns) == frame.columns  # cartlab's ADaM names already fit XPT v5 (<= 8 characters)
        assert all(len(c) <= 8 for c in df.columns)
        assert all(len(lbl) <= 40 for lbl in meta.column_labels)
        assert meta.column_labels[frame.columns.index("USUBJID")] == "Unique Subject Identifier"
        assert len(df) == frame.height
    df, _meta = pyreadstat.read_xport(str(tmp_path / "adsl.xpt"))
    assert df.loc[df["USUBJID"] == "A1", "DOSEAKG"].item() == 200000.0
    # the XPT v5 header record names the version-5 library (SAS TS-140: "HEADER RECORD*******LIBRARY")
    assert (tmp_path / "adsl.xpt").read_bytes()[:48] == b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"


def test_xpt_names_shorten_and_stay_unique() -> None:
    names = xpt_names(["USUBJID", "ISFREEFL", "averyLongName", "averyLongName2", "1st"])
    assert names == {"USUBJID": "USUBJID", "ISFREEFL": "ISFREEFL", "averyLongName": "AVERYLON",
                     "averyLongName2": "AVERYL_1", "1st": "V1ST"}


def test_update_trial_adds_adam_and_a_failure_changes_nothing(tiny_trial, tmp_path: Path) -> None:
    d = tmp_path / "t"
    write_trial(d, tiny_trial, {"seed": "7"}, extra_files={"protocol.toml": b"# p\n"})
    adam = derive_adam(tiny_trial, efficacy_day=180)
    update_trial(d, adam.tables(), provenance={"adam_derived_by": "test"})
    with open_trial(d) as st:
        assert {"adsl", "adae", "adlb", "adeff", "adpc", "adtte", "dm", "ae"} <= set(st.tables())
        assert st.read("adsl").equals(adam.adsl) and st.read("dm").equals(tiny_trial["dm"])
        assert st.provenance() == {"seed": "7", "adam_derived_by": "test"}
    assert (d / "protocol.toml").read_bytes() == b"# p\n"
    before = (d / "trial.duckdb").read_bytes()
    with pytest.raises(Exception, match="table"):
        update_trial(d, {"Bad Name": pl.DataFrame({"x": [1]})})
    assert (d / "trial.duckdb").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no temporary directory left behind


def test_kinetics_table_is_cartlab_pk_nca_table(tiny_trial) -> None:
    """The report's kinetics figures equal cartlab.pk.nca_table's on the same records (A1's transgene)."""
    from cartlab.pk import nca_table
    from cartlab.report import kinetics_table

    adam = derive_adam(tiny_trial, efficacy_day=180)
    t = kinetics_table(adam)
    rec = adam.adpc.select("USUBJID", "ARMCD", "AFRLT", pl.col("AVAL").fill_null(0.0).alias("CONC"),
                           pl.col("ALLOQ").alias("LLOQ"))
    pp = nca_table(rec, subject_col="USUBJID", time_col="AFRLT", conc_col="CONC", lloq_col="LLOQ", by=["ARMCD"],
                   auc_end=28.0, time_unit="day", conc_unit="copies/ug")
    want = {r["PPTESTCD"]: r["PPSTRESN"] for r in pp.iter_rows(named=True)}
    assert t.cell("Transgene Cmax (copies/ug)", "DL1")["VALUE"] == want["CMAX"] == 1000.0  # the day-7 sample
    assert t.cell("Transgene Tmax (day)", "DL1")["VALUE"] == want["TMAX"] == 7.0
    assert t.cell("Transgene AUC0-28 (day·copies/ug)", "DL1")["VALUE"] == pytest.approx(want["AUCINT"])
    assert t.cell("Transgene Cmax (copies/ug)", "DL2")["N"] == 0  # no DL2 profile in the tiny trial


def test_with_replicates_adds_interval_and_reported(tiny_trial) -> None:
    from cartlab.analysis import safety_table
    from cartlab.protocol import ReportedResult
    from cartlab.report import replicate_stats, with_replicates

    adam = derive_adam(tiny_trial, efficacy_day=180)
    # five replicates whose DL1 CRS rate is 0, 25, 50, 75, 100 %: median 50; linear 5th percentile
    # = 0 + 0.05 * 4 * 25 = 5, 95th = 95 (numpy/polars "linear" interpolation between order statistics)
    stats = pl.DataFrame({"TABLE": ["safety"] * 5, "ROW": ["CRS, any grade"] * 5, "ARM": ["DL1"] * 5,
                          "VALUE": [0.0, 25.0, 50.0, 75.0, 100.0], "replicate": [0, 1, 2, 3, 4]})
    reported = (ReportedResult(metric="crs_any", arm="DL1", value=0.615, n=13, source="test"),
                ReportedResult(metric="crs_any", arm="DL2", value=1.0, n=6, source="test"))
    t = with_replicates(safety_table(adam), stats, reported)
    row = dict(t.rows)["CRS, any grade"]
    assert t.columns[2:4] == ("DL1: 5 replicates, median [90 % interval]", "DL1: reported (inside?)")
    assert row[2:] == ("50.0 [5.0, 95.0]", "61.5 (n=13): inside", "—", "100.0 (n=6): no simulated interval")
    # the per-replicate figures of one trial are its own tables' numbers
    one = replicate_stats(tiny_trial, 180)
    assert one.filter((pl.col("ROW") == "CRS, any grade") & (pl.col("ARM") == "DL1"))["VALUE"].item() == \
        pytest.approx(200 / 3)
