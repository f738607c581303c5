"""Storage and file formats: the trial store (DuckDB, one file per trial) and the SBML export.

The trial store keeps SDTM and ADaM tables (lower-case domain codes, CDISC column names, exact
polars dtypes) and a provenance record in ``DIR/trial.duckdb``, written atomically.
"""

from ._adam_export import FORMATS as ADAM_FORMATS
from ._adam_export import export_adam as export_adam
from ._adam_export import xpt_names as xpt_names
from ._update import update_trial as update_trial
from .sbml import model_to_sbml as model_to_sbml
from .store import (
    PROVENANCE_TABLE as PROVENANCE_TABLE,
    STORE_FILENAME as STORE_FILENAME,
    TrialStore as TrialStore,
    check_writable as check_writable,
    open_trial as open_trial,
    store_path as store_path,
    write_trial as write_trial,
)

__all__ = [
    "ADAM_FORMATS",
    "PROVENANCE_TABLE",
    "STORE_FILENAME",
    "TrialStore",
    "check_writable",
    "export_adam",
    "model_to_sbml",
    "open_trial",
    "store_path",
    "update_trial",
    "write_trial",
    "xpt_names",
]
