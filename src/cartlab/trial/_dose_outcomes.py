"""Per-patient dose-finding outcomes (DLT and response) from a trial's SDTM tables.

A dose-escalation design sees two binary outcomes per treated patient; this module derives both from
the tables the virtual site writes (the same tables a real trial would have), so that model-informed
scenarios and the escalation of ``cartlab run`` use one definition.

DLT: ASTCT cytokine release syndrome or ICANS of grade >= 3 (Lee DW et al., Biol Blood Marrow
Transplant 2019;25:625-638), as graded by the site in AE (``AETOXGR``), starting within the DLT window
(study days 1 … ``dlt_window_days`` + 1; infusion is study day 1).

Response, per indication, at study day ``day`` + 1 (``day`` days after infusion), the definitions
the shipped protocols' composite endpoints already use:

* SLE: SLEDAI-2K reduction >= 4 points from the last pre-infusion assessment: the SLEDAI-2K component
  of the SLE Responder Index SRI-4 (Furie RA et al., Arthritis Rheum 2009;61:1143-1151). Chosen over
  DORIS remission because it needs only the SLEDAI-2K the site records at every disease visit (DORIS
  also needs the PGA and the glucocorticoid dose), and because a >= 4-point fall is the
  conventional binary response of lupus dose-finding and phase II trials.
* SSc: ACR CRISS improved (predicted probability >= 0.6; Khanna D et al., Arthritis Rheumatol
  2016;68:299-311), as derived by :func:`cartlab.instruments._derive_scores.derive_criss`.
* IIM: 2016 ACR/EULAR Total Improvement Score >= 40 (moderate or major improvement; Aggarwal R et al.,
  Arthritis Rheumatol 2017;69:898-910).

A treated patient without an evaluable assessment at that day (death, withdrawal, a failed solve, a
missing item) counts as a non-responder (non-responder imputation, the usual convention of SLE
responder analyses).
"""

from __future__ import annotations

import polars as pl

from .._core.errors import SpecError
from ._summary import CRS, ICANS, _primary

#: indication -> (endpoint used by :func:`_primary`, how to read its per-subject value as a response, label)
RESPONSE_DEFINITIONS: dict[str, tuple[str, str]] = {
    "SLE": ("sledai2k_change", "SLEDAI-2K reduction >= 4 from baseline (SRI-4 component)"),
    "SSC": ("criss", "ACR CRISS improved (>= 0.6)"),
    "IIM": ("tis", "TIS >= 40 (moderate or major improvement)"),
}


def dose_outcomes(tables: dict[str, pl.DataFrame], indication: str, response_day: int, *,
                  dlt_window_days: int = 28) -> pl.DataFrame:
    """One row per treated patient: ``USUBJID``, ``ARMCD``, ``DLT`` and ``RESPONSE`` (booleans).

    Parameters
    ----------
    tables
        SDTM tables of a trial (``dm``, ``ae``, ``qs``, ``fa``, and ``lb`` / ``re`` as the response needs).
    indication
        ``SLE``, ``SSC`` or ``IIM`` (see the module docstring for each response definition).
    response_day
        Days after infusion of the response assessment (a scheduled disease visit).
    dlt_window_days
        DLTs count if they start within this many days after infusion.
    """
    key = str(indication).upper()
    if key not in RESPONSE_DEFINITIONS:
        raise SpecError(f"indication must be one of {', '.join(RESPONSE_DEFINITIONS)}; got {indication!r}")
    if isinstance(dlt_window_days, bool) or not isinstance(dlt_window_days, int) or dlt_window_days < 1:
        raise SpecError(f"dlt_window_days must be an integer >= 1; got {dlt_window_days!r}")
    treated = tables["dm"].filter(pl.col("RFXSTDTC").is_not_null()).select("USUBJID", "ARMCD")
    ae = tables["ae"]
    dlt_rows = ae.filter(pl.col("AEDECOD").is_in([CRS, ICANS]) & (pl.col("AETOXGR").cast(pl.Int64) >= 3))
    if "AESTDY" in ae.columns:
        dlt_rows = dlt_rows.filter(pl.col("AESTDY").is_between(1, dlt_window_days + 1))
    dlt = set(dlt_rows["USUBJID"].to_list())
    endpoint, _label = RESPONSE_DEFINITIONS[key]
    values = _primary(tables, endpoint, int(response_day))
    if endpoint == "sledai2k_change":
        resp = {u for u, v in values.items() if v is not None and v <= -4}
    else:
        resp = {u for u, v in values.items() if v == 1.0}
    return treated.with_columns(pl.col("USUBJID").is_in(list(dlt)).alias("DLT"),
                                pl.col("USUBJID").is_in(list(resp)).alias("RESPONSE"))


def dose_level_rates(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Per arm (in order of first appearance): patients ``N``, ``DLT`` and ``RESPONSE`` counts, and the
    rates ``P_DLT`` and ``P_RESPONSE``."""
    return (outcomes.group_by("ARMCD", maintain_order=True)
            .agg(pl.len().alias("N"), pl.col("DLT").sum().alias("DLT"), pl.col("RESPONSE").sum().alias("RESPONSE"))
            .with_columns((pl.col("DLT") / pl.col("N")).alias("P_DLT"),
                          (pl.col("RESPONSE") / pl.col("N")).alias("P_RESPONSE")))


__all__ = ["RESPONSE_DEFINITIONS", "dose_level_rates", "dose_outcomes"]
