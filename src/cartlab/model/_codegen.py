"""Generate the simulation kernel's source from a :class:`ModelSpec`.

The generated module holds plain-Python functions (``derive_py``, ``rhs_py``, ``diag_py``,
``outputs_py``, ``initial_py``, ``scales_py``, and ``rhs_stage_py``, the right-hand side at a
stage with the slaved states' stage equation solved) — used by the scipy reference and the tests — and
their numba-compiled twins plus the solver loop (:mod:`._solver_src`). ``diag_py`` is the diagonal
of the Jacobian, differentiated symbolically with sympy (the solver treats it implicitly). From the
equations the generator also lists the states the solver integrates as ``ln x`` (``LOG_IDX``, see
:func:`log_states`), the states on no feedback loop whose error estimate it filters (``DAMPED``),
the pure decays it integrates exactly (``DECAY_IDX``) and the slaved states it treats wholly
implicitly (``SLAVED_IDX``, see :data:`SLAVED_NAMES`). The module is written to a cache
directory named by the model's structure, the log-integrated states and the generator's own
source, so later runs neither regenerate it nor recompile it (numba's on-disk cache).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from ._dsl import FUNCTIONS, ModelSpec
from ._solver_src import SOLVER_SOURCE

#: helpers recorded at every save time, in this order, besides the states
OUTPUTS = ("A", "S_IL6", "RO", "ster", "CAR_ul", "z_crs", "z_icans", "X_LD")


def _names(expr: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}


def _reads(helpers: dict[str, str], name: str, state: str) -> bool:
    """Whether helper ``name`` (of ``helpers``: name -> expression) reads ``state``, directly or
    through other helpers."""
    return any(n == state or (n in helpers and _reads(helpers, n, state)) for n in _names(helpers[name]))


def split_helpers(spec: ModelSpec) -> tuple[list, list]:
    """Split helpers into per-patient constants (parameters only) and time-varying ones.

    Parameters of kind ``"input"`` change during a simulation (events set them), so helpers that
    use them are time-varying.
    """
    const: list = []
    varying: list = []
    const_names = {p.name for p in spec.parameters if p.kind != "input"}
    for h in spec.helpers:
        used = _names(h.expr) - FUNCTIONS
        if used <= const_names:
            const.append(h)
            const_names.add(h.name)
        else:
            varying.append(h)
    return const, varying


_STEP_FUNCTIONS = """

@njit(cache=True, error_model='numpy', inline='always')
def _step(x):
    return 1.0 if x > 0.0 else (0.5 if x == 0.0 else 0.0)


@njit(cache=True, error_model='numpy', inline='always')
def _sign(x):
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


@njit(cache=True, error_model='numpy', inline='always')
def _pow(a, b):
    # the model's pow(a, b): exactly a for b == 1, exp(b log a) for a positive base (glibc's pow
    # took ~22 % of the kernel's time, exp and log together cost ~80 % of it), pow otherwise
    if b == 1.0:
        return a
    if a > 0.0:
        return exp(b * log(a))
    return pow(a, b)


@njit(cache=True, error_model='numpy', inline='always')
def _tanh(z):
    # the model's tanh(z): from one exp for |z| >= 0.55 (glibc's tanh calls expm1 up to |z| = 22),
    # the library's below, where (1 - e^{-2|z|}) / (1 + e^{-2|z|}) would lose relative accuracy
    a = abs(z)
    if not (a >= 0.55):
        return tanh(z)
    if a >= 19.1:
        # e^{-2a} < 2.6e-17, below half an ulp of 1: (1 - e) / (1 + e) rounds to exactly 1 (no exp needed;
        # the CAR-T expansion window is at one of its ends for all but days -10 to 28)
        return 1.0 if z > 0.0 else -1.0
    e = exp(-2.0 * a)
    r = (1.0 - e) / (1.0 + e)
    return r if z > 0.0 else -r
"""


class _Hoister(ast.NodeTransformer):
    """Move subexpressions that depend on per-patient constants only out of the right-hand side.

    ``rewrite`` replaces every maximal constant subexpression (an operation, not a bare name or
    number) by a name ``_kN``; ``defs`` lists ``(name, expression)`` for ``derive``, which computes
    them once per patient. The arithmetic is unchanged, only done earlier.
    """

    def __init__(self, const_names: set[str]):
        self.const = set(const_names)
        self.defs: dict[str, str] = {}

    def _is_const(self, node: ast.AST) -> bool:
        """Only per-patient constants, numbers and model functions (``exp``, ``pow`` …) inside."""
        called = {id(c.func) for c in ast.walk(node) if isinstance(c, ast.Call)}
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name) and n.func.id in FUNCTIONS):
                return False
            if isinstance(n, ast.Name) and id(n) not in called and n.id not in self.const:
                return False
        return True

    def _name_for(self, src: str) -> str:
        if src not in self.defs:
            self.defs[src] = f"_k{len(self.defs)}"
        return self.defs[src]

    def generic_visit(self, node):
        if isinstance(node, (ast.BinOp, ast.Call, ast.UnaryOp)) and self._is_const(node) and not (
                isinstance(node, ast.UnaryOp) and isinstance(node.operand, (ast.Name, ast.Constant))):
            return ast.copy_location(ast.Name(self._name_for(ast.unparse(node)), ast.Load()), node)
        node = super().generic_visit(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("pow", "tanh"):
            node.func = ast.copy_location(ast.Name("_" + node.func.id, ast.Load()), node.func)
        return node

    def rewrite(self, expr: str) -> str:
        tree = ast.parse(expr, mode="eval")
        return ast.unparse(self.visit(tree))


def symbolic_parts(spec: ModelSpec, const: list, varying: list) -> tuple:
    """What the solver needs beyond the right-hand side, derived with sympy.

    Returns ``(diag_lines, decays, damped, proportional, slaved)``: ``(target, expression)`` lines of ``diag_py`` computing
    ``out[i] = d f_i / d y_i`` (helpers substituted; kinks — ``max``, ``min``, ``abs`` —
    differentiate to step functions, and the value at a kink does not matter to the solver, which
    only needs a diagonal close to the Jacobian's), and ``(state index, rate expression)`` of the
    states whose equation is exactly ``-k * y`` with ``k`` a per-patient constant (the solver
    integrates those exactly), the indices of the states on no feedback loop (see
    :func:`_outside_feedback`; the slaved states left out) and of the states whose right-hand side vanishes with the state
    (``f = y g``: it can never change sign; see :func:`log_states`), and the states the solver
    treats wholly implicitly (see :func:`_slaved`).
    """
    import sympy as sp
    from sympy.parsing.sympy_parser import parse_expr
    from sympy.printing.pycode import PythonCodePrinter

    class _Printer(PythonCodePrinter):
        def _print_Heaviside(self, e):  # noqa: N802 (sympy's dispatch name)
            return f"_step({self._print(e.args[0])})"

        def _print_sign(self, e):
            return f"_sign({self._print(e.args[0])})"

        def _print_tanh(self, e):
            return f"_tanh({self._print(e.args[0])})"

        def _print_Pow(self, e, rational=False):  # noqa: N802
            if e.exp.is_Number:
                return super()._print_Pow(e, rational)
            return f"_pow({self._print(e.base)}, {self._print(e.exp)})"

    names = [p.name for p in spec.parameters] + [h.name for h in const] + list(spec.state_names) + ["t"]
    local: dict = {n: sp.Symbol(n, real=True) for n in names}
    local.update(max=sp.Max, min=sp.Min, pow=sp.Pow, abs=sp.Abs, exp=sp.exp, log=sp.log, sqrt=sp.sqrt,
                 tanh=sp.tanh)
    for h in varying:
        local[h.name] = parse_expr(h.expr, local_dict=local)
    constant = {local[p.name] for p in spec.parameters if p.kind != "input"} | {local[h.name] for h in const}
    pr = _Printer({"fully_qualified_modules": False, "standard": "python3", "strict": True})
    diag, decays, proportional = [], [], []
    for i, s in enumerate(spec.state_names):
        f = parse_expr(spec.equations[s], local_dict=local)
        d = sp.diff(f, local[s])
        diag.append(d)
        # expand decides these identities exactly for the model's equations (polynomial in the state) and
        # is much cheaper than simplify, which took most of the symbolic time of a cold start
        if d.free_symbols <= constant and sp.expand(f - d * local[s]) == 0:
            decays.append((i, pr.doprint(-d)))
        elif sp.expand(f.subs(local[s], 0)) == 0:
            proportional.append(i)
    damped = _outside_feedback(spec, local)
    shared, reduced = sp.cse(diag, symbols=sp.numbered_symbols("_d"), order="none")
    lines = [(str(a), pr.doprint(b)) for a, b in shared]
    lines += [(f"out[{i}]", f"float({pr.doprint(d)})") for i, d in enumerate(reduced)]
    slaved = _slaved(spec, local, varying, [i for i in damped if i not in {j for j, _ in decays}], pr)
    # a slaved state's error is what its exact stage solution leaves, not a filtered estimate
    damped = [i for i in damped if i not in {j for j, _, _ in slaved}]
    return lines, decays, damped, proportional, slaved


def _slaved(spec: ModelSpec, local: dict, varying: list, candidates: list[int], pr) -> list[tuple[int, str, str]]:
    """The states of :data:`SLAVED_NAMES` that qualify: on no feedback loop (``candidates``) and
    linear in themselves, ``f = F + λ y`` with ``F`` and ``λ`` free of ``y`` (read through no
    helper that reads ``y``).

    Returns ``(index, F, λ)`` in dependency order (a state after those it reads), ``F`` and ``λ``
    printed over the model's helpers. The solver treats the whole of such an equation with the
    implicit (ESDIRK) tableau and solves its stage equation exactly (see :mod:`._solver_src`).
    """
    import sympy as sp
    from sympy.parsing.sympy_parser import parse_expr

    helper_expr = {h.name: h.expr for h in varying}
    plain = dict(local)
    plain.update({h.name: sp.Symbol(h.name, real=True) for h in varying})
    found: dict[int, tuple[str, str, set[int]]] = {}
    for i in candidates:
        s = spec.state_names[i]
        if s not in SLAVED_NAMES:
            continue
        y = local[s]
        full = parse_expr(spec.equations[s], local_dict=local)
        if any(_reads(helper_expr, n, s) for n in _names(spec.equations[s]) if n in helper_expr):
            continue
        f = parse_expr(spec.equations[s], local_dict=plain)
        lam = sp.diff(f, y)
        rest = f.subs(y, 0)
        if y in lam.free_symbols or lam == 0 or sp.expand(f - rest - lam * y) != 0:
            continue
        needs = {j for j, n in enumerate(spec.state_names) if local[n] in full.free_symbols and j != i}
        found[i] = (pr.doprint(rest), pr.doprint(lam), needs)
    order: list[tuple[int, str, str]] = []
    while len(order) < len(found):
        left = set(found) - {i for i, _, _ in order}
        i = min(j for j in left if not (found[j][2] & left))
        order.append((i, found[i][0], found[i][1]))
    return order


def _outside_feedback(spec: ModelSpec, local: dict) -> list[int]:
    """Indices of the states that are on no feedback loop through another state.

    ``i`` depends on ``j`` when ``y_j`` appears in ``f_i`` (helpers substituted). A state whose
    value reaches no state that reaches it back sees its own error only through its own
    equation: an error there decays at the rate of its own diagonal, which is what the error
    filter of the solver relies on.
    """
    from sympy.parsing.sympy_parser import parse_expr

    n = len(spec.states)
    sym = [local[s] for s in spec.state_names]
    reach = [[False] * n for _ in range(n)]
    for i, s in enumerate(spec.state_names):
        free = parse_expr(spec.equations[s], local_dict=local).free_symbols
        for j in range(n):
            reach[j][i] = sym[j] in free  # j influences i
    for k in range(n):
        for i in range(n):
            if reach[i][k]:
                for j in range(n):
                    if reach[k][j]:
                        reach[i][j] = True
    return [i for i in range(n) if not any(reach[i][j] and reach[j][i] for j in range(n) if j != i)]


#: states the kernel treats wholly implicitly where they qualify (see :func:`_slaved`): serum IL-6,
#: whose elimination (t½ 4 h) is the model's fastest process while its drive (CAR-T activation and
#: CD19+ killing) changes over days to months. In the split of the ARK pair its production is the
#: explicit part: a stiff state under an explicitly treated forcing (the explicit stages have stage
#: order 1), whose error kept the steps of months 1–12 near 1 day (IL-6 set 185 of their 333 steps);
#: with the whole equation implicit and the stage equation solved exactly, a 1-day step on the same
#: kind of quasi-steady drive leaves 6.7e-11 instead of 2.7e-6 (``test_solver_method``). Other states on
#: no feedback loop and linear in themselves were measured too: the lymphocytes (``L``, driven by the
#: lymphodepleting drugs and feeding the CAR-T expansion) put the depletion integral 1.3e-4 from the
#: reference, and C4, IL6e and the kidney latent saved no steps.
SLAVED_NAMES = frozenset({"IL6"})
#: units of the states the kernel integrates as ``u = ln x`` (see :func:`log_states`)
LOG_UNITS = frozenset({"cells"})
#: further states integrated as ``u = ln x``, by name (see :func:`log_states`)
LOG_NAMES = frozenset({"Dep"})


def log_states(spec: ModelSpec) -> tuple[str, ...]:
    """Names of the states the kernel integrates as ``u = ln x`` while they are positive.

    Rule: positive states that change by orders of magnitude at rates set by other states, where
    what matters is their relative error —

    * the cell populations, the states whose unit is in :data:`LOG_UNITS` (``"cells"``: CD19+ B
      lineage, effector and memory CAR-T): expansion ~1e4-fold, killing ~20 e-folds in days;
    * the states named in :data:`LOG_NAMES`: ``Dep``, the depletion depth-time, which grows from
      ~1e-18 through the switch of ``h_dep`` (``(A / 1 % A0)^-8``) and never decays, so its
      error is a sum of local errors; integrated linearly it set the agreement with the reference
      (day 5–8) at every tolerance tried.

    An error test on ``ln x`` is a relative test on ``x``, and exponential change at a slowly
    varying rate is a slowly varying slope of ``ln x``, which a 5th-order method follows in long
    steps. Concentrations, amounts and latents stay linear (some cross or reach 0). This is a
    change of the integration variable only: equations and outputs are the model's. A name in
    :data:`LOG_NAMES` that the model lacks is ignored.

    Besides these, the kernel integrates as ``ln x`` any state whose right-hand side vanishes with
    the state (``f = x g``, found by the code generator: the myeloid proliferating pools) once it is
    below ``LOG_BELOW`` of its scale at the start of a segment: such a state cannot change sign,
    but where it collapses (an inflammatory drug effect above 1 drove a neutrophil pool to 1e-69
    in one benchmark patient in 100,000) a linear step far below ``atol`` can take it through 0
    (and ``pow`` of the negative count gave NaN); near its scale linear is as good and cheaper.
    """
    return tuple(s.name for s in spec.states if s.unit in LOG_UNITS or s.name in LOG_NAMES)


def generate_source(spec: ModelSpec) -> str:
    """Return the Python source of the kernel module for ``spec``."""
    const, varying = split_helpers(spec)
    const_names = {p.name for p in spec.parameters if p.kind != "input"} | {h.name for h in const}
    hoist = _Hoister(const_names)
    varying_src = [(h.name, hoist.rewrite(h.expr)) for h in varying]
    equations = [(s, hoist.rewrite(spec.equations[s])) for s in spec.state_names]
    outputs = [(n, hoist.rewrite(n)) for n in OUTPUTS]
    diag_src, decays, damped, proportional, slaved = symbolic_parts(spec, const, varying)
    diag_lines = [(tgt, hoist.rewrite(e)) for tgt, e in diag_src]
    slaved = [(i, hoist.rewrite(F), hoist.rewrite(lam)) for i, F, lam in slaved]
    derived = [(h.name, h.expr) for h in const] + [(k, e) for e, k in hoist.defs.items()]
    derived += [(f"_r{m}", e) for m, (_, e) in enumerate(decays)]

    pidx = {p.name: i for i, p in enumerate(spec.parameters)}
    qidx = {name: i for i, (name, _) in enumerate(derived)}
    sidx = {s.name: i for i, s in enumerate(spec.states)}
    logged = [sidx[n] for n in log_states(spec)]
    logged += [i for i in proportional if i not in logged]
    for name in OUTPUTS:
        if name not in sidx and name not in qidx and name not in {h.name for h in varying}:
            raise ValueError(f"output {name} is not a state or helper of model {spec.name}")

    def unpack(need: set[str], with_states: bool) -> list[str]:
        lines = [f"    {n} = p[{i}]" for n, i in pidx.items() if n in need]
        lines += [f"    {n} = q[{i}]" for n, i in qidx.items() if n in need]
        if with_states:
            lines += [f"    {n} = y[{i}]" for n, i in sidx.items() if n in need]
        return lines

    def used_by(exprs: list[str]) -> set[str]:
        out: set[str] = set()
        for e in exprs:
            out |= _names(e)
        return out

    L: list[str] = [
        f"# Generated by cartlab.model from model {spec.name!r} (fingerprint {spec.fingerprint()}). Do not edit.",
        "import numpy as np",
        "from math import exp, log, sqrt, pow, tanh",
        "from numba import njit",
        "",
        f"NY = {len(spec.states)}",
        f"NP = {len(spec.parameters)}",
        f"NQ = {max(len(derived), 1)}",
        f"NO = {len(OUTPUTS)}",
        f"STATE_NAMES = {spec.state_names!r}",
        f"OUTPUT_NAMES = {OUTPUTS!r}",
        f"PARAM_INDEX = {pidx!r}",
        f"STATE_INDEX = {sidx!r}",
        "# states that only decay at a per-patient constant rate: index, and the rate's slot in q",
        f"ND = {len(decays)}",
        f"DECAY_IDX = np.array({[i for i, _ in decays]!r}, dtype=np.int64)",
        f"DECAY_Q = np.array({[qidx[f'_r{m}'] for m in range(len(decays))]!r}, dtype=np.int64)",
        "# 1.0 for the states on no feedback loop through another state (error filter)",
        f"DAMPED = np.array({[1.0 if i in damped else 0.0 for i in range(len(spec.states))]!r})",
        "# states integrated as u = ln x while positive: always (1.0), or below LOG_BELOW of their scale (0.0)",
        f"NL = {len(logged)}",
        f"LOG_IDX = np.array({logged!r}, dtype=np.int64)",
        f"NA = {len(log_states(spec))}",
        "# slaved states: wholly implicit, their stage equation solved exactly in rhs_stage",
        f"NSL = {len(slaved)}",
        f"SLAVED_IDX = np.array({[i for i, _, _ in slaved]!r}, dtype=np.int64)",
        f"LOG_ALWAYS = np.array({[1.0 if spec.state_names[i] in log_states(spec) else 0.0 for i in logged]!r})",
        "# slot of the cyclophosphamide volume in q: a dose (mg) raises C_Cy by dose / V_Cy",
        f"Q_VCY = {qidx['V_Cy']}",
        _STEP_FUNCTIONS,
        "",
        "def derive_py(p, q):",
    ]
    L += unpack(used_by([e for _, e in derived]) - set(qidx), False)
    for name, e in derived:
        L.append(f"    {name} = {e}")
        L.append(f"    q[{qidx[name]}] = {name}")
    L.append("    return q")

    def closure(exprs: list[str]) -> list[tuple[str, str]]:
        """The varying helpers ``exprs`` need, directly or through each other, in evaluation order."""
        need = used_by(exprs)
        chosen = []
        for name, e in reversed(varying_src):  # transitive closure, walking backwards
            if name in need:
                chosen.append((name, e))
                need |= _names(e)
        return chosen[::-1]

    def rhs_like(fname: str, targets: list[tuple[str, str]], locals_: list[tuple[str, str]] = ()) -> None:
        """A function of (t, y, p, q) computing ``targets``, with the varying helpers they need."""
        exprs = [e for _, e in targets] + [e for _, e in locals_]
        chosen = closure(exprs)
        L.extend(["", "", f"def {fname}(t, y, p, q, out):"])
        L.extend(unpack(used_by(exprs + [e for _, e in chosen]), True))
        for name, e in chosen + list(locals_):
            L.append(f"    {name} = {e}")
        for target, e in targets:
            L.append(f"    {target} = {e}")
        L.append("    return out")

    rhs_like("rhs_py", [(f"out[{sidx[s]}]", e) for s, e in equations])

    # rhs_stage_py: the right-hand side at a stage of an ARK step, after solving the stage equation
    # y = bse + hg (F + λ y) of each slaved state (in dependency order) at the stage values of the
    # others; helpers that read a slaved state are computed after it is solved
    helper_src = dict(varying_src)
    eq_exprs = [e for _, e in equations]
    solve_exprs = [x for _, F, lam in slaved for x in (F, lam)]
    L.extend(["", "", "def rhs_stage_py(t, y, p, q, out, bse, hg):"])
    L.extend(unpack(used_by(eq_exprs + solve_exprs + [e for _, e in closure(eq_exprs)]), True))
    current: set[str] = set()
    for i, F, lam in slaved:
        for name, e in closure([F, lam]):
            if name not in current:
                L.append(f"    {name} = {e}")
                current.add(name)
        st = spec.state_names[i]
        L.append(f"    {st} = (bse[{i}] + hg * ({F})) / (1.0 - hg * ({lam}))")
        L.append(f"    y[{i}] = {st}")
        current = {n for n in current if not _reads(helper_src, n, st)}
    for name, e in closure(eq_exprs):
        if name not in current:
            L.append(f"    {name} = {e}")
    for st, e in equations:
        L.append(f"    out[{sidx[st]}] = {e}")
    L.append("    return out")

    rhs_like("outputs_py", [(f"out[{i}]", e) for i, (_, e) in enumerate(outputs)])
    rhs_like("diag_py", [(t, e) for t, e in diag_lines if t.startswith("out[")],
             [(t, e) for t, e in diag_lines if not t.startswith("out[")])

    L.extend(["", "", "def initial_py(p, q, out):"])
    L.extend(unpack(used_by([s.initial for s in spec.states]), False))
    for s in spec.states:
        L.append(f"    out[{sidx[s.name]}] = {s.initial}")
    L.append("    return out")
    L.extend(["", "", "def scales_py(p, q, out):"])
    L.extend(unpack(used_by([s.scale for s in spec.states]), False))
    for s in spec.states:
        L.append(f"    out[{sidx[s.name]}] = {s.scale}")
    L.append("    return out")
    L.extend([
        "",
        "",
        "derive = njit(cache=True, error_model='numpy', inline='always')(derive_py)",
        "rhs = njit(cache=True, error_model='numpy', fastmath={'contract'})(rhs_py)",
        "rhs_stage = njit(cache=True, error_model='numpy', fastmath={'contract'})(rhs_stage_py)",
        "diag = njit(cache=True, error_model='numpy', fastmath={'contract'})(diag_py)",
        "outputs = njit(cache=True, error_model='numpy')(outputs_py)",
        "initial = njit(cache=True, error_model='numpy')(initial_py)",
        "scales = njit(cache=True, error_model='numpy')(scales_py)",
        "",
        "I_E = STATE_INDEX['E']",
        "I_M = STATE_INDEX['M']",
        "I_CCY = STATE_INDEX['C_Cy']",
        "I_XFLU = STATE_INDEX['X_Flu']",
        "I_TOC1 = STATE_INDEX['TOC1']",
        "I_DEX = STATE_INDEX['DEX']",
        "I_D = STATE_INDEX['D']",
        "I_FIST = PARAM_INDEX['F_IST']",
        "I_DELTA_IST = PARAM_INDEX['delta_IST']",
        "I_DFLARE = PARAM_INDEX['D_flare']",
        "I_FRESTART = PARAM_INDEX['F_restart']",
        "I_ZCRS = OUTPUT_NAMES.index('z_crs')",
        "I_ZICANS = OUTPUT_NAMES.index('z_icans')",
        "I_TCRS = (PARAM_INDEX['theta_crs2'], PARAM_INDEX['theta_crs3'], PARAM_INDEX['theta_crs4'])",
        "I_TICANS = (PARAM_INDEX['theta_icans2'], PARAM_INDEX['theta_icans3'], PARAM_INDEX['theta_icans4'])",
        "",
    ])
    return "\n".join(L) + "\n" + SOLVER_SOURCE


def cache_dir() -> Path:
    """Where generated kernels live: ``$CARTLAB_CACHE_DIR`` or ``~/.cache/cartlab/kernels``."""
    env = os.environ.get("CARTLAB_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cartlab"
    return base / "kernels"


_LOADED: dict[str, ModuleType] = {}


def _generator_digest() -> str:
    """Hash of the code generator and the solver source: a change to either makes a new kernel."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(SOLVER_SOURCE.encode())
    return h.hexdigest()


def kernel_key(spec: ModelSpec) -> str:
    """Cache key of the kernel of ``spec``: the model's structure (not its parameter values) and the
    generator's source."""
    h = hashlib.sha256(spec.fingerprint().encode())
    h.update(_generator_digest().encode())
    h.update(repr(log_states(spec)).encode())
    return f"{spec.name.replace('-', '_')}_{h.hexdigest()[:16]}"


def load_kernel(spec: ModelSpec) -> ModuleType:
    """Generate (once per structure), write and import the kernel module of ``spec``."""
    key = kernel_key(spec)
    if key in _LOADED:
        return _LOADED[key]
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"cartlab_kernel_{key}.py"
    if not path.exists():
        src = generate_source(spec)
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(src)
        os.replace(tmp, path)
    modname = f"cartlab_kernel_{key}"
    mspec = importlib.util.spec_from_file_location(modname, path)
    assert mspec is not None and mspec.loader is not None
    mod = importlib.util.module_from_spec(mspec)
    sys.modules[modname] = mod
    mspec.loader.exec_module(mod)
    _LOADED[key] = mod
    return mod
