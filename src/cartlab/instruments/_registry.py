"""The instrument registry: every score and grade cartlab computes, with its version and citation.

An instrument is a pure, vectorised function plus the facts a user (and the report) needs to trust
it: published version, citation, output unit, the inputs it takes with their units and valid
ranges, and CDISC test codes where they exist. ``cartlab instruments`` lists the registry;
``cartlab score NAME --input file.csv`` calls ``Instrument.score`` on a table whose columns are
the input names.

Registering is declarative, next to the function::

    @instrument(
        name="SLEDAI-2K", version="2002", citation="Gladman DD et al. J Rheumatol 2002;29:288",
        unit="points", output_range=(0, 105),
        inputs=(Input("seizure", "bool", ...), ...),
        cdisc=("SLEDAI",),
    )
    def sledai_2k(...): ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._core.errors import DataValidationError, SpecError


@dataclass(frozen=True, slots=True)
class Input:
    """One input of an instrument.

    ``kind`` is ``"float"``, ``"int"``, ``"bool"`` or ``"category"``; ``low``/``high`` bound a
    numeric input (inclusive); ``categories`` lists the allowed values of a categorical one;
    ``optional`` inputs may be missing (the function documents what that means).
    """

    name: str
    kind: str
    description: str
    unit: str = "1"
    low: float | None = None
    high: float | None = None
    categories: tuple[Any, ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class Instrument:
    """A registered instrument: metadata plus the function that computes it."""

    name: str
    version: str
    citation: str
    unit: str
    inputs: tuple[Input, ...]
    function: Callable[..., Any]
    description: str = ""
    output_range: tuple[float, float] | None = None
    cdisc: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def check(self, values: Mapping[str, Any], where: str = "input", first_row: int = 0) -> dict[str, np.ndarray]:
        """Validate ``values`` (column name -> array-like) against the declared inputs.

        Raises :class:`DataValidationError` naming the input, the first offending row (counted
        from ``first_row``), the value received and what was expected; missing required inputs and
        unknown inputs are errors too.
        """
        names = {i.name for i in self.inputs}
        unknown = sorted(set(values) - names)
        if unknown:
            raise DataValidationError(f"{where}: {self.name} has no input {unknown[0]!r}; inputs are "
                                      f"{', '.join(sorted(names))}")
        out: dict[str, np.ndarray] = {}
        for inp in self.inputs:
            if inp.name not in values:
                if inp.optional:
                    continue
                raise DataValidationError(f"{where}: {self.name} needs input {inp.name!r} ({inp.description})")
            arr = np.asarray(values[inp.name])
            out[inp.name] = _check_one(self.name, inp, arr, where, first_row)
        return out

    def score(self, **values: Any) -> Any:
        """Check the inputs, then compute; keywords that name an option (``options``) are passed on."""
        opts = {k: v for k, v in values.items() if k in self.options}
        checked = self.check({k: v for k, v in values.items() if k not in self.options})
        return self.function(**checked, **opts)


def _check_one(instrument: str, inp: Input, arr: np.ndarray, where: str, first_row: int) -> np.ndarray:
    flat = arr.reshape(-1)

    def bad(k: int, expected: str) -> DataValidationError:
        v = flat[k].item() if isinstance(flat[k], np.generic) else flat[k]
        return DataValidationError(f"{where}: {instrument} input {inp.name!r} row {first_row + k}: got "
                                   f"{v!r}, expected {expected}")

    if inp.kind == "bool":
        for k, v in enumerate(flat):
            if not (isinstance(v, (bool, np.bool_)) or v in (0, 1)):
                if inp.optional and _missing(v):
                    continue
                raise bad(k, "true/false (or 1/0)")
        return arr
    if inp.kind == "category":
        for k, v in enumerate(flat):
            if v not in inp.categories and not (inp.optional and _missing(v)):
                raise bad(k, f"one of {', '.join(map(str, inp.categories))}")
        return arr
    if inp.kind not in ("float", "int"):
        raise SpecError(f"{instrument}: input {inp.name!r} has unknown kind {inp.kind!r}")
    try:
        num = arr.astype(float)
    except (TypeError, ValueError):
        k = next(i for i, v in enumerate(flat) if not _is_number(v))
        raise bad(k, f"a number in {inp.unit}") from None
    nflat = num.reshape(-1)
    for k, v in enumerate(nflat):
        if math.isnan(v):
            if inp.optional:
                continue
            raise bad(k, f"a number in {inp.unit} (missing values are not allowed here)")
        if inp.kind == "int" and v != round(v):
            raise bad(k, "a whole number")
        if (inp.low is not None and v < inp.low) or (inp.high is not None and v > inp.high):
            raise bad(k, f"{inp.low if inp.low is not None else '-inf'} to "
                         f"{inp.high if inp.high is not None else 'inf'} {inp.unit}")
    return num


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


_REGISTRY: dict[str, Instrument] = {}


def instrument(*, name: str, version: str, citation: str, unit: str, inputs: tuple[Input, ...],
               description: str = "", output_range: tuple[float, float] | None = None,
               cdisc: tuple[str, ...] = (), options: Mapping[str, Any] | None = None):
    """Decorator: register the decorated function as instrument ``name``; returns the function."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise SpecError(f"instrument {name!r} is registered twice")
        _REGISTRY[name] = Instrument(name, version, citation, unit, inputs, fn,
                                     description or (fn.__doc__ or "").strip().splitlines()[0],
                                     output_range, cdisc, dict(options or {}))
        return fn

    return wrap


def registry() -> dict[str, Instrument]:
    """Every registered instrument, by name (importing :mod:`cartlab.instruments` registers them)."""
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Instrument:
    """The instrument called ``name`` (case-insensitive); a clear error lists the known ones."""
    for key, ins in _REGISTRY.items():
        if key.lower() == name.lower():
            return ins
    raise SpecError(f"no instrument {name!r}; known: {', '.join(sorted(_REGISTRY))}")
