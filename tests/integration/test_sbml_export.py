"""SBML export of the virtual-patient model, simulated by libroadrunner (test-only dependency)
against cartlab's own kernel: every state within 1e-4 relative over days 1-14 after infusion.

Expected values: the kernel (``cartlab.model.simulate``, default tolerances) on the same patients;
roadrunner integrates the exported SBML with CVODE at rtol 1e-10, atol 1e-12. Rescue is switched off
(triggers above grade 4) so no event happens between the compared days; the comparison starts from
the kernel's state on day 1, after lymphodepletion and the infusion, which SBML does not encode
(the virtual site applies doses).
"""

from __future__ import annotations

import dataclasses

import libsbml
import numpy as np
import pytest
import roadrunner
from typer.testing import CliRunner

from cartlab.cli import app
from cartlab.io.sbml import model_to_sbml
from cartlab.model import INDICATIONS, PatientInputs, build_model, simulate
from cartlab.protocol import load_protocol, resolve_protocol
from cartlab.trial import regimen_for


def _patients(spec, reg, n: int = 3):
    rng = np.random.default_rng(17)
    tv = spec.typical_values()
    omega = np.sqrt(np.array([p.omega2 for p in spec.parameters]))
    P = tv * np.exp(rng.standard_normal((n, tv.size)) * omega)
    col = spec.parameter_index
    P[:, col("bsa_m2")] = [1.6, 1.8, 2.0][:n]
    ld = np.tile([-5.0, -4.0, -3.0], (n, 1))
    return P, PatientInputs(P, ld, np.tile((300.0 * P[:, col("bsa_m2")])[:, None], (1, 3)), np.full((n, 3), 30.0),
                            np.array([10e6, 25e6, 10e6][:n]), np.zeros(n), np.full(n, 600.0),
                            np.zeros((n, reg.check_days)), np.zeros((n, reg.check_days)))


@pytest.mark.parametrize("indication", INDICATIONS)
def test_sbml_simulated_by_roadrunner_agrees_with_the_kernel(indication: str) -> None:
    spec = build_model(indication)
    reg = dataclasses.replace(regimen_for(load_protocol(resolve_protocol("breakfree1-sle"))),
                              crs_trigger=9, icans_trigger=9)
    P, inputs = _patients(spec, reg)
    kern = simulate(spec, reg, inputs)
    assert (kern.status == 0).all()
    i1 = list(kern.days).index(1.0)
    rr = roadrunner.RoadRunner(model_to_sbml(spec))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    worst, where = 0.0, ""
    for k in range(P.shape[0]):
        rr.resetAll()
        for name, value in zip(spec.parameter_names, P[k]):
            rr.setValue(name, float(value))
        for j, name in enumerate(spec.state_names):
            rr.setValue(name, float(kern.states[k, i1, j]))
        res = rr.simulate(1.0, 14.0, 14, selections=list(spec.state_names))
        for j, name in enumerate(spec.state_names):
            ker = kern.states[k, i1:i1 + 14, j]
            mask = np.abs(ker) > 1e-6 * np.abs(ker).max()
            if mask.any():
                rel = float(np.max(np.abs(res[:, j][mask] - ker[mask]) / np.abs(ker[mask])))
                if rel > worst:
                    worst, where = rel, f"patient {k} {name}"
    assert worst <= 1e-4, f"SBML (roadrunner) vs kernel: {worst:.3g} at {where}"


def test_sbml_is_valid_and_carries_parameter_values() -> None:
    spec = build_model("SLE")
    text = model_to_sbml(spec, {"rho": 0.8})
    doc = libsbml.readSBMLFromString(text)
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    m = doc.getModel()
    assert m.getParameter("rho").getValue() == 0.8
    assert m.getNumRules() == len(spec.helpers) + len(spec.states)
    assert m.getNumInitialAssignments() == len(spec.states)


def test_export_sbml_cli(tmp_path) -> None:
    out = tmp_path / "sle.xml"
    res = CliRunner().invoke(app, ["export", "sbml", "SLE", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert libsbml.readSBMLFromFile(str(out)).getModel().getNumRules() > 0
    bad = CliRunner().invoke(app, ["export", "sbml", "XYZ", "--out", str(out)])
    assert bad.exit_code == 1 and "indication" in bad.output
