"""Assemble the model for an indication and expose its metadata."""

from __future__ import annotations

import math
from enum import IntEnum
from functools import lru_cache
from pathlib import Path

from .._core.errors import SpecError
from .._core.toml import read_toml
from ._dsl import ModelSpec, assemble
from ._modules import CORE, DISEASE

INDICATIONS = ("SLE", "SSC", "IIM")


class SolveStatus(IntEnum):
    """Per-patient outcome of the integration; ``message`` reads as a sentence."""

    OK = 0
    MAX_STEPS = 1
    STEP_TOO_SMALL = 2
    NON_FINITE = 3

    @property
    def message(self) -> str:
        return {
            0: "solved",
            1: "stopped: the step budget was used up (model too stiff for these parameters)",
            2: "stopped: the step size fell below 1e-10 days",
            3: "stopped: the state became non-finite",
        }[int(self)]


@lru_cache(maxsize=None)
def build_model(indication: str) -> ModelSpec:
    """The virtual-patient model for ``indication`` (``"SLE"``, ``"SSC"`` or ``"IIM"``).

    Examples
    --------
    >>> m = build_model("SLE")
    >>> m.state_names[:3]
    ('C_Cy', 'X_Flu', 'TOC1')
    """
    key = indication.upper()
    if key not in DISEASE:
        raise SpecError(f"indication must be one of {', '.join(INDICATIONS)}; got {indication!r}")
    return assemble(f"cart-{key.lower()}", CORE + (DISEASE[key],))


def parameter_names() -> frozenset[str]:
    """Names of every parameter of any indication's model (for protocol validation)."""
    names: set[str] = set()
    for ind in INDICATIONS:
        names.update(build_model(ind).parameter_names)
    return frozenset(names)


def read_parameter_values(path: str | Path) -> tuple[dict[str, float], dict]:
    """The ``[values]`` table of a parameter-set TOML (``cartlab calibrate`` writes them) and the whole document.

    Raises
    ------
    SpecError
        Naming the file and the key: no ``[values]`` table, a name that is no model parameter, or a
        value that is not a finite number.
    """
    p = Path(path)
    doc = read_toml(p, "the parameter set (a .toml file)")
    values = doc.get("values")
    if not isinstance(values, dict) or not values:
        raise SpecError(f"{p}: expected a [values] table of parameter = number; got {values!r}")
    known = parameter_names()
    for k, v in values.items():
        if k not in known:
            raise SpecError(f"{p} [values] {k}: not a model parameter")
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise SpecError(f"{p} [values] {k}: must be a finite number; got {v!r}")
    return {k: float(v) for k, v in values.items()}, doc


def parameter_table(indication: str) -> list[dict[str, object]]:
    """One row per parameter: module, name, value, unit, IIV ω², kind, description and source."""
    spec = build_model(indication)
    rows = []
    for m in spec.modules:
        for p in m.parameters:
            rows.append({
                "module": m.name, "name": p.name, "value": p.value, "unit": p.unit, "omega2": p.omega2,
                "kind": p.kind, "description": p.description, "source": p.source,
            })
    return rows
