"""Trial execution: the virtual site that turns a protocol into SDTM tables, and per-arm summaries."""

from ._dose_outcomes import RESPONSE_DEFINITIONS as RESPONSE_DEFINITIONS
from ._dose_outcomes import dose_level_rates as dose_level_rates
from ._dose_outcomes import dose_outcomes as dose_outcomes
from ._escalation import run_escalation as run_escalation
from ._execute import TrialRun as TrialRun
from ._execute import regimen_for as regimen_for
from ._execute import run_trial as run_trial
from ._summary import PRIMARY_LABEL as PRIMARY_LABEL
from ._summary import SUMMARY_COLUMNS as SUMMARY_COLUMNS
from ._summary import km_median as km_median
from ._summary import summarize as summarize
from ._summary import summarize_replicates as summarize_replicates
from ._summary import tis_points as tis_points

__all__ = [
    "PRIMARY_LABEL",
    "RESPONSE_DEFINITIONS",
    "SUMMARY_COLUMNS",
    "TrialRun",
    "dose_level_rates",
    "dose_outcomes",
    "km_median",
    "regimen_for",
    "run_escalation",
    "run_trial",
    "summarize",
    "summarize_replicates",
    "tis_points",
]
