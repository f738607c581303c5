"""Rendering of trial reports: tables, SVG figures and a self-contained HTML document.

The report layer never reads the store: callers (the CLI) read it with :mod:`cartlab.io` and pass
the frames in (``render_report(derive_adam(tables, …), protocol, …)``).
"""

from ._figures import MAX_LINES_PER_ARM as MAX_LINES_PER_ARM
from ._figures import MAX_SWIMMERS as MAX_SWIMMERS
from ._figures import figures as figures
from ._html import METHODS as METHODS
from ._html import render_report as render_report
from ._replicates import REPORTED_ROWS as REPORTED_ROWS
from ._replicates import efficacy_days as efficacy_days
from ._replicates import replicate_stats as replicate_stats
from ._replicates import with_replicates as with_replicates
from ._tables import kinetics_table as kinetics_table
from ._validation import render_validation as render_validation
from ._validation import dose_response_figure as dose_response_figure
from ._validation import trajectory_figure as trajectory_figure
from ._validation import validation_figure as validation_figure
from ._validation import validation_figures as validation_figures
from ._validation import validation_table as validation_table
from ._tables import replicate_table as replicate_table

__all__ = ["MAX_LINES_PER_ARM", "MAX_SWIMMERS", "METHODS", "REPORTED_ROWS", "dose_response_figure", "efficacy_days",
           "figures", "trajectory_figure", "validation_figures",
           "kinetics_table", "render_report", "render_validation", "replicate_stats", "replicate_table", "validation_figure",
           "validation_table", "with_replicates"]
