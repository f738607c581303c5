"""Trial execution: the virtual site that turns a protocol into SDTM tables, and per-arm summaries."""

from ._execute import TrialRun as TrialRun
from ._execute import regimen_for as regimen_for
from ._execute import run_trial as run_trial
from ._grading import episodes as episodes
from ._grading import grade_crs_astct as grade_crs_astct
from ._grading import grade_ctcae_low as grade_ctcae_low
from ._grading import grade_icans_astct as grade_icans_astct
from ._summary import PRIMARY_LABEL as PRIMARY_LABEL
from ._summary import SUMMARY_COLUMNS as SUMMARY_COLUMNS
from ._summary import km_median as km_median
from ._summary import summarize as summarize
from ._summary import summarize_replicates as summarize_replicates
from ._summary import tis_points as tis_points

__all__ = [
    "PRIMARY_LABEL",
    "SUMMARY_COLUMNS",
    "TrialRun",
    "episodes",
    "grade_crs_astct",
    "grade_ctcae_low",
    "grade_icans_astct",
    "km_median",
    "regimen_for",
    "run_trial",
    "summarize",
    "summarize_replicates",
    "tis_points",
]
