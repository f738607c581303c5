"""Property tests of the SDTM readers: CSV and XPT round trips are exact, and no byte string,
whatever its suffix, makes a reader raise (it becomes a finding)."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import polars as pl
import pyreadstat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartlab.compliance import SourceDomain, parse_dtc, validate_sdtm
from cartlab.io import read_sdtm_file

PILOT = Path(__file__).resolve().parents[1] / "data" / "cdiscpilot01"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(alphabet=string.ascii_letters + string.digits + " -/.,:'\"é", max_size=30).map(str.strip)
# SAS XPORT stores IBM hexadecimal floats: magnitudes below 16**-65 (about 5.4e-79) underflow to 0
# (SAS "Moving and Accessing SAS Files", transport format numeric representation), so the
# generated values stay within the range both formats hold.
numbers = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12).filter(
    lambda x: x == 0 or abs(x) > 1e-70)


@st.composite
def records(draw):
    n = draw(st.integers(1, 8))
    return pl.DataFrame({
        "USUBJID": [f"S-{k}" for k in range(n)],
        "XXSEQ": list(range(1, n + 1)),
        "XXTEXT": draw(st.lists(st.one_of(st.none(), text), min_size=n, max_size=n)),
        "XXSTRESN": draw(st.lists(st.one_of(st.none(), numbers), min_size=n, max_size=n)),
    }, schema={"USUBJID": pl.String, "XXSEQ": pl.Int64, "XXTEXT": pl.String, "XXSTRESN": pl.Float64})


def _expected(df: pl.DataFrame) -> pl.DataFrame:
    # missing text and empty text are the same thing in SDTM (SAS has no null strings)
    return df.with_columns(pl.when(pl.col("XXTEXT") == "").then(None).otherwise(pl.col("XXTEXT")).alias("XXTEXT"))


def _load(path: Path) -> pl.DataFrame:
    f, notes = read_sdtm_file(path)
    assert f is not None, notes
    return validate_sdtm([f.source()]).tables["xx"]


@SETTINGS
@given(records())
def test_csv_roundtrip_is_exact(df: pl.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "xx.csv")
        df.write_csv(path, float_precision=None)
        assert _load(path).equals(_expected(df))


@SETTINGS
@given(records())
def test_xpt_v5_and_v8_roundtrip_is_exact(df: pl.DataFrame) -> None:
    for version in (5, 8):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d, "xx.xpt")
            sas = df.with_columns(pl.col("XXTEXT").fill_null(""), pl.col("XXSEQ").cast(pl.Float64))
            pyreadstat.write_xport(sas, str(path), table_name="XX", file_format_version=version)
            assert _load(path).equals(_expected(df))


SEED = (PILOT / "ta.xpt").read_bytes()


@SETTINGS
@given(st.sampled_from([".xpt", ".csv", ".json"]),
       st.one_of(st.binary(max_size=2000),
                 st.builds(lambda cut, flips: bytearray(SEED[:cut]) if not flips else bytes(
                     b ^ 0xFF if k in flips else b for k, b in enumerate(SEED[:cut])),
                     st.integers(0, len(SEED)), st.sets(st.integers(0, len(SEED) - 1), max_size=20))))
def test_fuzzed_bytes_never_raise(suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "ta" + suffix)
        path.write_bytes(bytes(data))
        f, notes = read_sdtm_file(path)
        assert (f is None) == any(n["SEVERITY"] == "ERROR" for n in notes)
        if f is not None:
            validate_sdtm([f.source()])  # whatever was read validates without raising


@SETTINGS
@given(st.text(max_size=25))
def test_any_text_parses_as_a_date_or_is_invalid(value: str) -> None:
    p = parse_dtc(pl.Series([value], dtype=pl.String)).row(0, named=True)
    if p["VALID"]:
        assert p["EARLIEST"] <= p["LATEST"]
    else:
        assert p["EARLIEST"] is None and p["LATEST"] is None


@SETTINGS
@given(st.dates(), st.sampled_from(["Y", "M", "D"]))
def test_partial_dates_contain_the_full_date(day, precision: str) -> None:
    full = day.isoformat()
    value = {"Y": full[:4], "M": full[:7], "D": full}[precision]
    p = parse_dtc(pl.Series([value])).row(0, named=True)
    assert p["VALID"] and p["PRECISION"] == precision and p["EARLIEST"] <= day <= p["LATEST"]


def test_source_domain_is_frozen() -> None:
    s = SourceDomain("xx", "xx.csv", pl.DataFrame({"A": ["1"]}), typed=False)
    try:
        s.domain = "yy"  # type: ignore[misc]
    except AttributeError:
        return
    raise AssertionError("SourceDomain must be immutable")
