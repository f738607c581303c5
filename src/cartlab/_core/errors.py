"""One error hierarchy for cartlab.

Every message names what was wrong (argument, key, column), the value received, what was
expected and where (file, row, key), so that the CLI can print it as is, without a traceback.
"""

from __future__ import annotations


class CartlabError(Exception):
    """Base class of every error cartlab raises on purpose."""


class SpecError(CartlabError):
    """A protocol, model or design specification is invalid."""


class DataValidationError(CartlabError):
    """Input data (SDTM files, CSV, arrays) failed validation."""


class UnitError(CartlabError):
    """A unit is unknown or cannot be converted."""


class ConvergenceError(CartlabError):
    """A numerical method failed to converge where failure cannot be recorded as data."""


class StoreError(CartlabError):
    """The trial store cannot be created, opened or written as asked."""


__all__ = [
    "CartlabError",
    "ConvergenceError",
    "DataValidationError",
    "SpecError",
    "StoreError",
    "UnitError",
]
