"""Calibrated parameter sets: values with their provenance, versioned as TOML in the repository."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ParameterSet:
    """Population-level parameter values estimated by :func:`cartlab.calibrate.calibrate`.

    Attributes
    ----------
    version : str
    values : dict of str -> float
        Typical values (posterior medians) to use in place of the model's.
    provenance : dict of str -> str
        Command, seed, targets file and version, date, cartlab version, tolerance, distance.
    spread : dict of str -> dict
        Per parameter: prior and posterior 5th/50th/95th percentiles and the ratio of the posterior to
        the prior 90 % width on the sampling scale (near 1: the targets do not identify it).
    """

    version: str
    values: dict[str, float]
    provenance: dict[str, str] = field(default_factory=dict)
    spread: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_toml(self) -> str:
        """TOML text (what :func:`load_parameter_set` reads)."""
        def q(s: str) -> str:
            return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = ["# cartlab calibrated parameter set (written by `cartlab calibrate`; do not edit by hand:",
                 "# a change needs a new calibration run or a recorded reason in [provenance])",
                 f"version = {q(self.version)}", "", "[values]"]
        lines += [f"{k} = {v!r}" for k, v in self.values.items()]
        lines += ["", "[provenance]"] + [f"{k} = {q(v)}" for k, v in self.provenance.items()]
        for k, s in self.spread.items():
            lines += ["", f"[spread.{k}]"] + [f"{a} = {b!r}" for a, b in s.items()]
        return "\n".join(lines) + "\n"


def load_parameter_set(path: str | Path) -> ParameterSet:
    """Read a calibrated parameter set; every value must name a model parameter.

    Raises
    ------
    SpecError
        Naming the file, the key and the value (:func:`cartlab.model.read_parameter_values`).
    """
    from ..model import read_parameter_values

    values, doc = read_parameter_values(path)
    return ParameterSet(str(doc.get("version", "")), values,
                        {k: str(v) for k, v in doc.get("provenance", {}).items()},
                        {k: dict(v) for k, v in doc.get("spread", {}).items()})
