"""Storage and file formats: the trial store (DuckDB, one file per trial) and the SBML export.

The trial store keeps SDTM and ADaM tables (lower-case domain codes, CDISC column names, exact
polars dtypes) and a provenance record in ``DIR/trial.duckdb``, written atomically.
"""

from ._sdtm_read import DEFAULT_MAX_FILE_BYTES as DEFAULT_MAX_FILE_BYTES
from ._sdtm_read import SdtmFile as SdtmFile
from ._sdtm_read import read_sdtm_dir as read_sdtm_dir
from ._sdtm_read import read_sdtm_file as read_sdtm_file
from .ingest import IngestError as IngestError
from .ingest import IngestResult as IngestResult
from .ingest import export_sdtm as export_sdtm
from .ingest import ingest_sdtm as ingest_sdtm
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
    "DEFAULT_MAX_FILE_BYTES",
    "IngestError",
    "IngestResult",
    "PROVENANCE_TABLE",
    "STORE_FILENAME",
    "SdtmFile",
    "TrialStore",
    "check_writable",
    "export_adam",
    "export_sdtm",
    "ingest_sdtm",
    "model_to_sbml",
    "open_trial",
    "read_sdtm_dir",
    "read_sdtm_file",
    "store_path",
    "update_trial",
    "write_trial",
    "xpt_names",
]
