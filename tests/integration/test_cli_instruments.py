"""`cartlab instruments` and `cartlab score` end to end.

Expected values: the HAQ-DI is the mean of the 8 category scores, each the worst item of its
category (Bruce & Fries, J Rheumatol 2003;30:167); the worked example below has category maxima
3, 1, 0, 2, 1, 0, 2, 3 -> 12 / 8 = 1.5.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from cartlab.cli import app
from cartlab.instruments import registry

runner = CliRunner()
EXAMPLE = [3, 0, 1, 1, 0, 0, 0, 2, 2, 1, 0, 0, 0, 0, 2, 1, 0, 3, 3, 0]


def _haq_csv(path: Path, rows: list[list[int]]) -> Path:
    df = pl.DataFrame({"USUBJID": [f"S-{k}" for k in range(len(rows))],
                       **{f"haq{j + 1:02d}": [r[j] for r in rows] for j in range(20)}})
    df.write_csv(path)
    return path


def test_instruments_lists_every_registered_instrument() -> None:
    res = runner.invoke(app, ["instruments"], terminal_width=400)
    assert res.exit_code == 0, res.output
    for name in registry():
        assert name in res.output


def test_score_writes_results_and_passes_ids_through(tmp_path: Path) -> None:
    src = _haq_csv(tmp_path / "haq.csv", [EXAMPLE, [0] * 20])
    out = tmp_path / "scored.csv"
    res = runner.invoke(app, ["score", "HAQ-DI (no aids)", "--input", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = pl.read_csv(out)
    assert got["USUBJID"].to_list() == ["S-0", "S-1"]
    values = got.drop("USUBJID").to_series(0).to_list()
    assert values == [1.5, 0.0]


def test_score_option_is_passed_on_and_checked(tmp_path: Path) -> None:
    src = _haq_csv(tmp_path / "haq.csv", [EXAMPLE])
    res = runner.invoke(app, ["score", "haq-di (no aids)", "--input", str(src), "--option", "min_categories=7"])
    assert res.exit_code == 0, res.output
    bad = runner.invoke(app, ["score", "HAQ-DI (no aids)", "--input", str(src), "--option", "nope=1"])
    assert bad.exit_code == 1 and "KEY one of min_categories" in bad.output


def test_bad_value_names_file_row_value_and_expectation(tmp_path: Path) -> None:
    rows = [EXAMPLE, EXAMPLE[:4] + [4] + EXAMPLE[5:]]
    src = _haq_csv(tmp_path / "haq.csv", rows)
    out = tmp_path / "scored.csv"
    res = runner.invoke(app, ["score", "HAQ-DI (no aids)", "--input", str(src), "--out", str(out)])
    assert res.exit_code == 1
    assert str(src) in res.output and "'haq05' row 2: got 4" in res.output and "expected" in res.output
    assert "Traceback" not in res.output and not out.exists()


def test_unknown_instrument_and_missing_file_are_one_message(tmp_path: Path) -> None:
    res = runner.invoke(app, ["score", "NOPE", "--input", str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and "no instrument 'NOPE'" in res.output
    res = runner.invoke(app, ["score", "HAQ-DI (no aids)", "--input", str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and "no such file" in res.output
