"""A small declarative language for the virtual-patient model.

States, parameters, helper expressions and equations are written once, as data. The compiled
kernel (numba), the scipy reference right-hand side, the parameter table of the report and the
SBML export are all generated from these objects, so they cannot drift apart.

Expressions are Python expressions over state names, parameter names, helper names, ``t`` and
the functions ``exp``, ``log``, ``sqrt``, ``pow``, ``min``, ``max``, ``abs``; they are checked
when the model is assembled (unknown names are a :class:`~cartlab._core.errors.SpecError`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .._core.errors import SpecError

FUNCTIONS = frozenset({"exp", "log", "sqrt", "pow", "tanh", "min", "max", "abs"})


@dataclass(frozen=True, slots=True)
class State:
    """A state variable of the model.

    Parameters
    ----------
    name : str
        Identifier used in equations.
    unit : str
        Unit of the state (cells, pg/mL, 10^9/L, fold of baseline, …).
    description : str
        What the state is.
    initial : str
        Expression (over parameters) for the value before lymphodepletion.
    scale : str
        Expression for the state's typical magnitude; the solver's absolute tolerance is
        ``atol_rel * scale`` so that error control is relative for every state.
    """

    name: str
    unit: str
    description: str
    initial: str
    scale: str


@dataclass(frozen=True, slots=True)
class Parameter:
    """A model parameter with its typical value, variability and source.

    ``omega2`` is the variance of the log-normal inter-individual variability (0: none);
    ``kind`` is ``"model"`` for population parameters, ``"covariate"`` for per-patient values
    filled from the virtual population, and ``"input"`` for piecewise-constant inputs that
    events change during a run (immunosuppression factor).
    """

    name: str
    value: float
    unit: str
    description: str
    source: str
    omega2: float = 0.0
    kind: str = "model"


@dataclass(frozen=True, slots=True)
class Helper:
    """A named intermediate expression, evaluated in order before the equations."""

    name: str
    expr: str
    unit: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Module:
    """One module of the model (CAR-T, B lineage, …): its states, parameters and equations."""

    name: str
    description: str
    states: tuple[State, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    helpers: tuple[Helper, ...] = ()
    equations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """An assembled model: modules merged, names checked, order fixed.

    Attributes
    ----------
    name : str
        Model name (e.g. ``"cart-sle"``).
    states, parameters, helpers : tuple
        In kernel order.
    equations : dict[str, str]
        ``state name -> d/dt expression``.
    """

    name: str
    modules: tuple[Module, ...]
    states: tuple[State, ...]
    parameters: tuple[Parameter, ...]
    helpers: tuple[Helper, ...]
    equations: dict[str, str]

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def state_index(self, name: str) -> int:
        try:
            return self.state_names.index(name)
        except ValueError:
            raise SpecError(f"model {self.name}: no state {name!r}; states are {', '.join(self.state_names)}") from None

    def parameter_index(self, name: str) -> int:
        try:
            return self.parameter_names.index(name)
        except ValueError:
            raise SpecError(
                f"model {self.name}: no parameter {name!r}; parameters are {', '.join(self.parameter_names)}"
            ) from None

    def typical_values(self):
        """Typical parameter values as a float64 array in kernel order."""
        import numpy as np

        return np.array([p.value for p in self.parameters], dtype=np.float64)

    def fingerprint(self) -> str:
        """A hash of everything that determines the generated code."""
        import hashlib

        h = hashlib.sha256()
        for s in self.states:
            h.update(repr((s.name, s.initial, s.scale)).encode())
        for p in self.parameters:
            h.update(repr(p.name).encode())
        for hp in self.helpers:
            h.update(repr((hp.name, hp.expr)).encode())
        for k in self.state_names:
            h.update(repr((k, self.equations[k])).encode())
        return h.hexdigest()[:16]


def _names_in(expr: str, where: str) -> set[str]:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"{where}: expression {expr!r} is not valid: {exc.msg}") from None
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def assemble(name: str, modules: tuple[Module, ...]) -> ModelSpec:
    """Merge modules into a :class:`ModelSpec`, checking that every name is defined once and used rightly.

    Raises
    ------
    SpecError
        On a duplicate name, a state without an equation, an equation for an unknown state, or an
        expression using a name that is not a state, parameter, earlier helper, ``t`` or function.
    """
    states: list[State] = []
    params: list[Parameter] = []
    helpers: list[Helper] = []
    equations: dict[str, str] = {}
    seen: dict[str, str] = {}

    def claim(n: str, what: str) -> None:
        if n in seen or n in FUNCTIONS or n == "t":
            raise SpecError(f"model {name}: {what} {n!r} is defined twice (also {seen.get(n, 'reserved')})")
        seen[n] = what

    for m in modules:
        for s in m.states:
            claim(s.name, f"state of module {m.name}")
            states.append(s)
        for p in m.parameters:
            claim(p.name, f"parameter of module {m.name}")
            params.append(p)
    param_names = {p.name for p in params}
    state_names = {s.name for s in states}
    for m in modules:
        for hp in m.helpers:
            known = param_names | state_names | {h.name for h in helpers} | FUNCTIONS | {"t"}
            unknown = _names_in(hp.expr, f"model {name} helper {hp.name}") - known
            if unknown:
                raise SpecError(f"model {name}: helper {hp.name} uses undefined {sorted(unknown)}")
            claim(hp.name, f"helper of module {m.name}")
            helpers.append(hp)
    known = param_names | state_names | {h.name for h in helpers} | FUNCTIONS | {"t"}
    for m in modules:
        for sname, expr in m.equations.items():
            if sname not in state_names:
                raise SpecError(f"model {name}: module {m.name} has an equation for unknown state {sname!r}")
            if sname in equations:
                raise SpecError(f"model {name}: state {sname!r} has two equations")
            unknown = _names_in(expr, f"model {name} d{sname}/dt") - known
            if unknown:
                raise SpecError(f"model {name}: d{sname}/dt uses undefined {sorted(unknown)}")
            equations[sname] = expr
    const = set(param_names)
    for hp in helpers:
        if _names_in(hp.expr, hp.name) - FUNCTIONS <= const:
            const.add(hp.name)
    for s in states:
        if s.name not in equations:
            raise SpecError(f"model {name}: state {s.name!r} has no equation")
        for what, expr in (("initial", s.initial), ("scale", s.scale)):
            unknown = _names_in(expr, f"model {name} {s.name}.{what}") - (const | FUNCTIONS)
            if unknown:
                raise SpecError(
                    f"model {name}: {what} value of {s.name} may use only parameters and parameter-only "
                    f"helpers; it uses {sorted(unknown)}"
                )
    return ModelSpec(name, tuple(modules), tuple(states), tuple(params), tuple(helpers), equations)
