"""SBML Level 3 Version 2 export of the virtual-patient model, from its one declarative definition.

Every state is an SBML ``parameter`` with ``constant="false"``, a ``rateRule`` (its equation) and an
``initialAssignment`` (its initial value expression); every model parameter is a constant
``parameter`` (per-patient values can be given); every helper is an ``assignmentRule``. Time is in
days. Expressions are translated from the model's Python syntax to MathML by libSBML's L3 formula
parser (``max``/``min`` are L3V2 MathML; ``t`` becomes the ``time`` csymbol; ``log`` is the natural
log). Events — lymphodepletion doses, the infusion, rescue, immunosuppressant changes — are not
part of the model definition (the virtual site applies them) and are not exported: a client sets
the state after a dose, as the test against libroadrunner does.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from .._core.errors import CartlabError


def _formula(expr: str) -> str:
    """The model's Python expression as an SBML L3 infix formula (``t`` -> ``time``, ``**`` -> ``^``)."""
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "t":
            node.id = "time"
    return ast.unparse(tree).replace("**", "^")


def model_to_sbml(spec, parameters: Mapping[str, float] | None = None) -> str:
    """SBML L3V2 text of ``spec`` (a :class:`cartlab.model.ModelSpec`), with optional parameter values."""
    import libsbml

    values = dict(parameters or {})
    unknown = sorted(set(values) - set(spec.parameter_names))
    if unknown:
        raise CartlabError(f"model {spec.name} has no parameter {unknown[0]!r}")
    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel()
    model.setId(spec.name.replace("-", "_"))
    model.setName(f"cartlab virtual-patient model {spec.name}")
    model.setTimeUnits("dimensionless")
    settings = libsbml.L3ParserSettings()
    settings.setParseLog(libsbml.L3P_PARSE_LOG_AS_LN)
    settings.setModel(model)

    def math(expr: str, where: str):
        ast_ = libsbml.parseL3FormulaWithSettings(_formula(expr), settings)
        if ast_ is None:
            raise CartlabError(f"SBML export of {spec.name}: cannot translate {where}: {expr!r} "
                               f"({libsbml.getLastParseL3Error()})")
        return ast_

    for p in spec.parameters:
        q = model.createParameter()
        q.setId(p.name)
        q.setValue(float(values.get(p.name, p.value)))
        q.setConstant(True)
        q.setName(f"{p.description} [{p.unit}]")
    for h in spec.helpers:
        q = model.createParameter()
        q.setId(h.name)
        q.setConstant(False)
        q.setName(f"{h.description or h.name} [{h.unit}]")
    for s in spec.states:
        q = model.createParameter()
        q.setId(s.name)
        q.setConstant(False)
        q.setName(f"{s.description} [{s.unit}]")
    for h in spec.helpers:
        rule = model.createAssignmentRule()
        rule.setVariable(h.name)
        rule.setMath(math(h.expr, f"helper {h.name}"))
    for s in spec.states:
        ia = model.createInitialAssignment()
        ia.setSymbol(s.name)
        ia.setMath(math(s.initial, f"initial value of {s.name}"))
        rr = model.createRateRule()
        rr.setVariable(s.name)
        rr.setMath(math(spec.equations[s.name], f"d{s.name}/dt"))
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
    if doc.checkInternalConsistency() or doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR):
        msgs = [doc.getError(k).getMessage() for k in range(doc.getNumErrors())]
        raise CartlabError(f"SBML export of {spec.name} is not valid SBML: {msgs[:3]}")
    return libsbml.writeSBMLToString(doc)
