"""Core utilities shared by every layer: errors, units, rng, provenance."""

from .errors import (
    CartlabError as CartlabError,
    ConvergenceError as ConvergenceError,
    DataValidationError as DataValidationError,
    SpecError as SpecError,
    StoreError as StoreError,
    UnitError as UnitError,
)

__all__ = [
    "CartlabError",
    "ConvergenceError",
    "DataValidationError",
    "SpecError",
    "StoreError",
    "UnitError",
]
