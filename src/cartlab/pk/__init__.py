"""Pharmacokinetics and cellular kinetics: non-compartmental analysis (NCA) with PKNCA's conventions,
and a NONMEM-style dataset of the CAR-T kinetics.

Pure workflow layer: arrays and polars tables in, results out; the CLI reads the trial store.
"""

from ._nca import (
    ADJ_R2_FACTOR as ADJ_R2_FACTOR,
    AUC_METHODS as AUC_METHODS,
    BLQ_ACTIONS as BLQ_ACTIONS,
    MIN_HL_POINTS as MIN_HL_POINTS,
    PARAMETERS as PARAMETERS,
    BLQRule as BLQRule,
    NCAResult as NCAResult,
    PPParameter as PPParameter,
    nca as nca,
)
from ._nonmem import nonmem_dataset as nonmem_dataset
from ._table import nca_table as nca_table, pp_units as pp_units

__all__ = [
    "ADJ_R2_FACTOR",
    "AUC_METHODS",
    "BLQ_ACTIONS",
    "MIN_HL_POINTS",
    "PARAMETERS",
    "BLQRule",
    "NCAResult",
    "PPParameter",
    "nca",
    "nca_table",
    "nonmem_dataset",
    "pp_units",
]
