"""Pharmacokinetics and cellular kinetics: non-compartmental analysis (NCA) with PKNCA's conventions,
a NONMEM-style dataset and CDISC ADPPK/ADPP of the CAR-T kinetics, and a population cellular-kinetic
model (Stein 2019 form) fitted by Laplace/FOCE-I with M3 for BLQ data, with diagnostics and a VPC.

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
from ._adam import adpp_dataset as adpp_dataset, adppk_dataset as adppk_dataset
from ._foce import PopFitResult as PopFitResult, fit_population as fit_population
from ._nonmem import nonmem_dataset as nonmem_dataset
from ._plots import diagnostic_figures as diagnostic_figures
from ._popmodel import (
    PARAMETERS as POP_PARAMETERS,
    Covariate as Covariate,
    PopData as PopData,
    PopParameters as PopParameters,
    pop_data as pop_data,
    predict_log as predict_log,
    simulate_observations as simulate_observations,
    synthetic_dataset as synthetic_dataset,
)
from ._table import nca_table as nca_table, pp_units as pp_units
from ._vpc import vpc as vpc

__all__ = [
    "ADJ_R2_FACTOR",
    "AUC_METHODS",
    "BLQ_ACTIONS",
    "MIN_HL_POINTS",
    "PARAMETERS",
    "POP_PARAMETERS",
    "Covariate",
    "PopData",
    "PopFitResult",
    "PopParameters",
    "adpp_dataset",
    "adppk_dataset",
    "diagnostic_figures",
    "fit_population",
    "pop_data",
    "predict_log",
    "simulate_observations",
    "synthetic_dataset",
    "vpc",
    "BLQRule",
    "NCAResult",
    "PPParameter",
    "nca",
    "nca_table",
    "nonmem_dataset",
    "pp_units",
]
