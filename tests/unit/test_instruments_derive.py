"""Dataset derivations over SDTM tables: results per subject and visit, problems as findings.

Expected values: SLEDAI-2K weights (Gladman 2002, INSTRUMENTS.md): arthritis 4, low complement 2,
increased DNA binding 2 -> 8; a descriptor not attributed to SLE scores 0. HAQ-DI (Bruce & Fries
2003): mean of the 8 category maxima.
"""

from __future__ import annotations

import polars as pl

from cartlab.instruments import HAQ_TESTCD, SLEDAI2K_TESTCD, derive_haq_di, derive_sledai2k


def _sledai_tables(present: dict[str, str], dy: int = 1, subj: str = "S1", drop: str | None = None):
    qs = pl.DataFrame([{"USUBJID": subj, "QSCAT": "SLEDAI-2K", "QSTESTCD": c, "QSSTRESC": "Y" if c in present else "N",
                        "QSDY": dy} for c in SLEDAI2K_TESTCD if c != drop])
    fa = pl.DataFrame([{"USUBJID": subj, "FATESTCD": "ATTRIB", "FAOBJ": c, "FASTRESC": a, "FADY": dy}
                       for c, a in present.items() if a is not None],
                      schema={"USUBJID": pl.String, "FATESTCD": pl.String, "FAOBJ": pl.String, "FASTRESC": pl.String,
                              "FADY": pl.Int64})
    return qs, fa


def test_sledai_worked_example_and_clinical_variant() -> None:
    qs, fa = _sledai_tables({"ARTHRIT": "SLE", "LOWCOMP": "SLE", "DNABIND": "SLE"})
    s, f = derive_sledai2k(qs, fa)
    assert s["SCORE"].to_list() == [8] and f.height == 0
    s, _ = derive_sledai2k(qs, fa, clinical=True)
    assert s["SCORE"].to_list() == [4]


def test_sledai_unattributed_descriptor_does_not_count() -> None:
    qs, fa = _sledai_tables({"ARTHRIT": "SLE", "THROMBO": "NOT SLE"})
    s, f = derive_sledai2k(qs, fa)
    assert s["SCORE"].to_list() == [4] and f.height == 0


def test_sledai_missing_attribution_is_a_finding_and_no_score() -> None:
    qs, fa = _sledai_tables({"ARTHRIT": "SLE", "RASH": None})
    s, f = derive_sledai2k(qs, fa)
    assert s["SCORE"].to_list() == [None]
    assert f.row(0) == ("S1", 1, "RASH", "present but no attribution (FA ATTRIB) recorded")


def test_sledai_unrecorded_descriptor_is_a_finding() -> None:
    qs, fa = _sledai_tables({"ARTHRIT": "SLE"}, drop="FEVER")
    s, f = derive_sledai2k(qs, fa)
    assert s["SCORE"].to_list() == [None] and f["TESTCD"].to_list() == ["FEVER"]


def test_sledai_window_carries_earlier_descriptors() -> None:
    q1, f1 = _sledai_tables({"ARTHRIT": "SLE"}, dy=1)
    q2, f2 = _sledai_tables({}, dy=8)
    q3, f3 = _sledai_tables({}, dy=20)
    qs, fa = pl.concat([q1, q2, q3]), pl.concat([f1, f2, f3])
    s, _ = derive_sledai2k(qs, fa, window_days=10)
    assert s.sort("QSDY")["SCORE"].to_list() == [4, 4, 0]  # day 8 is 7 days after day 1; day 20 is 19


def _haq(values: list[int | None], code_override: dict[int, str] | None = None) -> pl.DataFrame:
    rows = [{"USUBJID": "S1", "QSCAT": "HAQ-DI", "QSTESTCD": (code_override or {}).get(k, c), "QSSTRESN": v, "QSDY": 1}
            for k, (c, v) in enumerate(zip(HAQ_TESTCD, values))]
    return pl.DataFrame(rows, schema={"USUBJID": pl.String, "QSCAT": pl.String, "QSTESTCD": pl.String,
                                      "QSSTRESN": pl.Float64, "QSDY": pl.Int64})


def test_haq_di_from_items() -> None:
    example = [3, 0, 1, 1, 0, 0, 0, 2, 2, 1, 0, 0, 0, 0, 2, 1, 0, 3, 3, 0]  # category maxima 3,1,0,2,1,0,2,3
    s, f = derive_haq_di(_haq(example))
    assert s["HAQDI"].to_list() == [1.5] and f.height == 0


def test_haq_di_bad_item_is_a_finding_and_no_score() -> None:
    vals = [1] * 20
    vals[4] = 5
    s, f = derive_haq_di(_haq(vals))
    assert s["HAQDI"].to_list() == [None]
    assert f.row(0) == ("S1", 1, "HAQ05", "item score 5.0, expected 0, 1, 2 or 3")
