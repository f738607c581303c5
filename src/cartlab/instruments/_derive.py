"""Dataset derivations: instruments computed over SDTM tables (admiral-style ``derive_*``).

Each takes the SDTM domain(s) as polars DataFrames and returns ``(result, findings)``: one result
row per subject and visit, and one finding row per problem (subject, day, test code, reason). A
visit with a finding gets a null score — never a silently wrong one.

QS test codes of the instruments (the virtual site writes them, and real studies map to them):
SLEDAI-2K descriptors as :data:`SLEDAI2K_TESTCD` (QSCAT ``"SLEDAI-2K"``, QSSTRESC ``Y``/``N``)
with their attribution in FA (FATESTCD ``ATTRIB``, FAOBJ = descriptor code, FASTRESC ``SLE`` or
``NOT SLE``); HAQ-DI items ``HAQ01`` … ``HAQ20`` (QSCAT ``"HAQ-DI"``, QSSTRESN 0–3).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ._sle import SLEDAI2K_DESCRIPTORS, sledai2k_matrix
from ._ssc import HAQ_ITEMS, compute_haq_di_no_aids

#: QS test code of each SLEDAI-2K descriptor, in the order of the scoring kernel's columns
SLEDAI2K_TESTCD: tuple[str, ...] = (
    "SEIZURE", "PSYCHOS", "OBS", "VISUAL", "CRANIAL", "HEADACHE", "CVA", "VASCULIT", "ARTHRIT", "MYOSIT",
    "CASTS", "HEMATUR", "PROTEIN", "PYURIA", "RASH", "ALOPEC", "MUCOSAL", "PLEURIS", "PERICARD", "LOWCOMP",
    "DNABIND", "FEVER", "THROMBO", "LEUKOPEN",
)
assert len(SLEDAI2K_TESTCD) == len(SLEDAI2K_DESCRIPTORS)
#: QS test codes of the HAQ-DI items, in :data:`HAQ_ITEMS` order
HAQ_TESTCD: tuple[str, ...] = tuple(f"HAQ{k + 1:02d}" for k in range(20))

FINDINGS_SCHEMA = {"USUBJID": pl.String, "DY": pl.Int64, "TESTCD": pl.String, "REASON": pl.String}


def _findings(rows: list[tuple[str, int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA, orient="row")


def derive_sledai2k(qs: pl.DataFrame, fa: pl.DataFrame, *, window_days: int = 0,
                    clinical: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """SLEDAI-2K (or clinical SLEDAI) per subject and assessment day from QS descriptors and FA attribution.

    A descriptor counts at an assessment when it was recorded present at that assessment or at
    another within the preceding ``window_days`` days (0: this assessment only, as the virtual site
    records each descriptor for the 10 days before the visit), and only when attributed to SLE.
    Findings: a present descriptor without an attribution record, an unknown test code, a
    descriptor missing from the assessment (all 24 must be recorded).

    Returns ``(scores, findings)``; scores has ``USUBJID, QSDY, SCORE`` (null where a finding).
    """
    rec = qs.filter(pl.col("QSCAT") == "SLEDAI-2K").select("USUBJID", "QSDY", "QSTESTCD", "QSSTRESC")
    attr = fa.filter(pl.col("FATESTCD") == "ATTRIB").select(
        "USUBJID", pl.col("FADY").alias("QSDY"), pl.col("FAOBJ").alias("QSTESTCD"), "FASTRESC")
    rec = rec.join(attr, on=["USUBJID", "QSDY", "QSTESTCD"], how="left")
    index = {c: k for k, c in enumerate(SLEDAI2K_TESTCD)}
    visits = rec.select("USUBJID", "QSDY").unique().sort("USUBJID", "QSDY")
    n = visits.height
    row_of = {(u, d): i for i, (u, d) in enumerate(visits.iter_rows())}
    present = np.zeros((n, len(SLEDAI2K_TESTCD)), bool)
    attributed = np.zeros_like(present)
    seen = np.zeros_like(present)
    bad = np.zeros(n, bool)
    problems: list[tuple[str, int, str, str]] = []
    for u, d, code, res, fas in rec.iter_rows():
        i = row_of[(u, d)]
        if code not in index:
            problems.append((u, d, code, f"unknown SLEDAI-2K test code {code!r}"))
            bad[i] = True
            continue
        j = index[code]
        seen[i, j] = True
        if res not in ("Y", "N"):
            problems.append((u, d, code, f"QSSTRESC {res!r}, expected Y or N"))
            bad[i] = True
        elif res == "Y":
            if fas is None:
                problems.append((u, d, code, "present but no attribution (FA ATTRIB) recorded"))
                bad[i] = True
            elif fas not in ("SLE", "NOT SLE"):
                problems.append((u, d, code, f"attribution {fas!r}, expected SLE or NOT SLE"))
                bad[i] = True
            present[i, j] = True
            attributed[i, j] = fas == "SLE"
    for i in np.flatnonzero(~seen.all(axis=1)):
        u, d = visits.row(int(i))
        missing = [SLEDAI2K_TESTCD[j] for j in np.flatnonzero(~seen[i])]
        problems.append((u, d, ",".join(missing), "descriptor(s) not recorded at this assessment"))
        bad[i] = True
    if window_days > 0:
        counts = present & attributed
        subj = visits["USUBJID"].to_list()
        days = visits["QSDY"].to_numpy()
        widened = counts.copy()
        for i in range(n):
            k = i - 1
            while k >= 0 and subj[k] == subj[i] and days[i] - days[k] <= window_days:
                widened[i] |= counts[k]
                k -= 1
        present, attributed = widened, widened
    score = sledai2k_matrix(present, attributed, clinical=clinical).astype(float)
    score[bad] = np.nan
    scores = visits.with_columns(pl.Series("SCORE", score).fill_nan(None))
    return scores, _findings(problems)


def derive_haq_di(qs: pl.DataFrame, *, min_categories: int = 6) -> tuple[pl.DataFrame, pl.DataFrame]:
    """HAQ-DI (without the aids correction: aids are not in QS) per subject and day from HAQ01…HAQ20.

    Findings: an item outside 0–3 or not a whole number, an unknown test code. Unanswered items
    are allowed; a visit with fewer than ``min_categories`` answered categories scores null (the
    instrument's own rule).
    """
    rec = qs.filter((pl.col("QSCAT") == "HAQ-DI") & (pl.col("QSTESTCD") != "HAQDI")).select(
        "USUBJID", "QSDY", "QSTESTCD", "QSSTRESN")
    index = {c: k for k, c in enumerate(HAQ_TESTCD)}
    visits = rec.select("USUBJID", "QSDY").unique().sort("USUBJID", "QSDY")
    row_of = {(u, d): i for i, (u, d) in enumerate(visits.iter_rows())}
    items = np.full((visits.height, 20), np.nan)
    bad = np.zeros(visits.height, bool)
    problems: list[tuple[str, int, str, str]] = []
    for u, d, code, v in rec.iter_rows():
        i = row_of[(u, d)]
        if code not in index:
            problems.append((u, d, code, f"unknown HAQ-DI test code {code!r}"))
            bad[i] = True
        elif v is None:
            continue
        elif v not in (0, 1, 2, 3):
            problems.append((u, d, code, f"item score {v!r}, expected 0, 1, 2 or 3"))
            bad[i] = True
        else:
            items[i, index[code]] = v
    values = {name: items[:, k] for k, name in enumerate(HAQ_ITEMS)}
    score = np.asarray(compute_haq_di_no_aids(min_categories=min_categories, **values), dtype=float)
    score[bad] = np.nan
    return visits.with_columns(pl.Series("HAQDI", score).fill_nan(None)), _findings(problems)
