"""scipy reference solution of the generated model: the test oracle and the benchmark peer.

:func:`simulate_reference` integrates the *same* generated equations as the compiled kernel —
the plain-Python twins ``derive_py``, ``rhs_py``, ``initial_py`` and ``outputs_py`` of the kernel
module returned by :func:`~cartlab.model.load_kernel` — with :func:`scipy.integrate.solve_ivp`
at tight tolerances. It walks the same stop grid (:func:`~cartlab.model.build_stops`, skipping, as the
kernel does, stops that are only another patient's dose day) and applies the same events in the same
order as the kernel's ``_patient`` loop (``_solver_src.py``):

1. save the state and outputs (before any dose of that day),
2. lymphodepletion doses (cyclophosphamide concentration, fludarabine K-PD amount),
3. CAR-T infusion,
4. immunosuppressant withdrawal (``F_IST = 1 + delta_IST``),
5. daily CRS/ICANS check: severity levels, tocilizumab, start of a dexamethasone course,
6. dexamethasone dose on dose days of a running course,
7. flare check (two consecutive assessments with ``D >= D_flare`` restart immunosuppressants).

Integration restarts at every stop, so doses are jumps, as in the kernel.

Rescue decisions are threshold rules on latents, so a tiny numerical difference can flip a
decision (a knife edge) and make two otherwise equal trajectories diverge. By default the
reference therefore *replays* the kernel's decisions (``decisions="replay"``: tocilizumab days,
dexamethasone course days and the immunosuppressant restart day are taken from the kernel's
:class:`~cartlab.model.SimulationResult`), which isolates the comparison of the integrators.
``decisions="own"`` applies the kernel's rule to the reference's own latents instead.

It is slow (Python right-hand side, an implicit or switching method, ``rtol=1e-10``): use it on a
handful of patients, in tests and in ``benchmarks/simulate_throughput.py``, never in a trial.
"""

from __future__ import annotations

import math
import types
from collections.abc import Sequence

import numpy as np
from scipy.integrate import solve_ivp

from .._core.errors import SpecError
from ._codegen import load_kernel
from ._dsl import ModelSpec
from ._model import SolveStatus
from ._simulate import (
    F_CHECK,
    F_DISEASE,
    F_DOSEDAY,
    F_INFUSE,
    F_SAVE,
    F_WITHDRAW,
    PatientInputs,
    Regimen,
    SimulationResult,
    build_stops,
)

METHODS = ("LSODA", "BDF", "Radau")
DECISIONS = ("replay", "own")


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _log(x: float) -> float:
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else math.nan


def _pow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError):
        # 0 ** negative is inf in C (and numba); a negative base with a fractional exponent is nan
        return math.inf if x == 0.0 else math.nan


def _ieee_twins(k: types.ModuleType) -> dict[str, types.FunctionType]:
    """The kernel module's plain-Python functions, rebound to IEEE-754 ``exp``/``log``/``sqrt``/``pow``.

    The generated twins import the functions of :mod:`math`, which raise where the compiled
    kernel returns ``inf``/``nan`` (e.g. ``exp`` of a large argument, ``log`` of a negative trial
    value); rebinding gives the reference the kernel's arithmetic, not different errors.
    """
    g = dict(vars(k))
    g.update(exp=_exp, log=_log, sqrt=_sqrt, pow=_pow)
    out = {}
    for name in ("derive_py", "rhs_py", "outputs_py", "initial_py", "scales_py"):
        f = getattr(k, name)
        out[name] = types.FunctionType(f.__code__, g, name, f.__defaults__, f.__closure__)
    return out


def simulate_reference(
    spec: ModelSpec,
    regimen: Regimen,
    inputs: PatientInputs,
    kernel_result: SimulationResult | None = None,
    *,
    decisions: str = "replay",
    patients: Sequence[int] | None = None,
    method: str = "LSODA",
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> SimulationResult:
    """Solve the model with :func:`scipy.integrate.solve_ivp`, event by event, like the kernel.

    Parameters
    ----------
    spec : ModelSpec
        The model (as for :func:`~cartlab.model.simulate`).
    regimen : Regimen
        Save days, checks, rescue rules (as for :func:`~cartlab.model.simulate`).
    inputs : PatientInputs
        The whole batch given to the kernel. The stop grid is built from *all* of its patients'
        lymphodepletion days, as the kernel does, even when ``patients`` selects a subset.
    kernel_result : SimulationResult, optional
        The kernel's result for ``inputs`` (row ``i`` = patient ``i``); required when
        ``decisions="replay"``.
    decisions : {"replay", "own"}
        ``"replay"`` gives tocilizumab on the kernel's ``toci_day``, starts dexamethasone courses on
        its ``dex_day`` and restarts immunosuppressants on its ``ist_restart_day``; ``"own"``
        decides with the kernel's rule from the reference's own latents. CRS/ICANS levels are
        always the reference's own.
    patients : sequence of int, optional
        Rows of ``inputs`` to solve (default: all). The result has one row per entry, in order.
    method : {"LSODA", "BDF", "Radau"}
        ``solve_ivp`` method.
    rtol : float
        ``solve_ivp`` relative tolerance.
    atol : float
        Absolute tolerance relative to each state's scale: ``solve_ivp`` gets ``atol * scale_i``.

    Returns
    -------
    SimulationResult
        Same layout as the kernel's. ``n_steps`` counts ``solve_ivp``'s accepted steps. A failed
        ``solve_ivp`` call gives status :attr:`SolveStatus.NON_FINITE` if the state became
        non-finite, else :attr:`SolveStatus.STEP_TOO_SMALL`, and ``NaN`` from the failure on.

    Notes
    -----
    The only rescue-rule quirk reproduced on purpose: like the kernel, ``dex_day`` records at
    most ``regimen.dex_max_courses`` courses, but a course that starts after the record is full
    is still given (``decisions="own"``); replay can only give recorded courses.

    Examples
    --------
    >>> import numpy as np
    >>> from cartlab.model import build_model, PatientInputs, Regimen, simulate_reference
    >>> m = build_model("SLE")
    >>> reg = Regimen((0.0, 7.0), 0, (), 1e9, False, 2, 2, 0, 0.0, 0)
    >>> inp = PatientInputs(m.typical_values()[None, :], np.full((1, 1), np.nan), np.zeros((1, 1)),
    ...                     np.zeros((1, 1)), np.array([1e7]), np.zeros(1), np.zeros(1),
    ...                     np.zeros((1, 0)), np.zeros((1, 0)))
    >>> r = simulate_reference(m, reg, inp, decisions="own")
    >>> bool(r.state("E")[0, 1] > 1e7)
    True
    """
    if method not in METHODS:
        raise SpecError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if decisions not in DECISIONS:
        raise SpecError(f"decisions must be one of {', '.join(DECISIONS)}; got {decisions!r}")
    if decisions == "replay" and kernel_result is None:
        raise SpecError("decisions='replay' needs kernel_result (the kernel's SimulationResult for these inputs)")
    if inputs.params.shape[1] != len(spec.parameters):
        raise SpecError(f"params has {inputs.params.shape[1]} columns; model {spec.name} has "
                        f"{len(spec.parameters)} parameters")
    rows = list(range(inputs.n)) if patients is None else [int(i) for i in patients]
    if kernel_result is not None and kernel_result.states.shape[0] != inputs.n:
        raise SpecError(f"kernel_result has {kernel_result.states.shape[0]} patients; inputs has {inputs.n}")

    k = load_kernel(spec)
    t0, stops, flags, slot, save_days = build_stops(regimen, inputs.ld_day)
    n = len(rows)
    n_check = inputs.eps_crs.shape[1]
    Y = np.full((n, save_days.shape[0], k.NY), np.nan)
    O = np.full((n, save_days.shape[0], k.NO), np.nan)
    crs = np.zeros((n, n_check), np.int8)
    icans = np.zeros((n, n_check), np.int8)
    toci = np.full((n, max(regimen.toci_max, 1)), np.nan)
    dex = np.full((n, max(regimen.dex_max_courses, 1)), np.nan)
    ist = np.full(n, np.nan)
    status = np.zeros(n, np.int8)
    nsteps = np.zeros(n, np.int32)

    for r, i in enumerate(rows):
        replay = None
        if decisions == "replay":
            assert kernel_result is not None
            replay = (
                {float(d) for d in kernel_result.toci_day[i] if np.isfinite(d)},
                {float(d) for d in kernel_result.dex_day[i] if np.isfinite(d)},
                float(kernel_result.ist_restart_day[i]),
            )
        _patient(k, regimen, inputs, i, r, t0, stops, flags, slot, replay, method, rtol, atol,
                 Y, O, crs, icans, toci, dex, ist, status, nsteps)
    return SimulationResult(spec, save_days, Y, O, crs, icans, toci, dex, ist, status, nsteps)


def _patient(k, regimen, inputs, i, r, t0, stops, flags, slot, replay, method, rtol, atol,
             Y, O, crs, icans, toci, dex, ist, status, nsteps) -> None:
    py = _ieee_twins(k)
    p = np.array(inputs.params[i], dtype=np.float64)
    q = np.empty(k.NQ)
    py["derive_py"](p, q)
    y = py["initial_py"](p, q, np.empty(k.NY))
    sc = py["scales_py"](p, q, np.empty(k.NY))
    o = np.empty(k.NO)
    ny = k.NY
    rhs_py = py["rhs_py"]
    outputs_py = py["outputs_py"]

    def fun(t, yy):
        # a fresh array each call: solve_ivp's steppers keep references to returned derivatives
        return rhs_py(t, yy, p, q, np.empty(ny))

    ld_t = inputs.ld_day[i]
    itcrs = [k.PARAM_INDEX[f"theta_crs{g}"] for g in (2, 3, 4)]
    iticans = [k.PARAM_INDEX[f"theta_icans{g}"] for g in (2, 3, 4)]
    n_check = crs.shape[1]
    n_dex = dex.shape[1]
    toci_max = regimen.toci_max
    t = t0
    toci_n = dex_n = dex_left = flare_run = 0
    restarted = False
    st = 0
    for kk in range(stops.shape[0]):
        tk = float(stops[kk])
        fl = int(flags[kk])
        if fl == 0 and not np.any(ld_t == tk):
            # another patient's dose day: the kernel does not stop there either
            continue
        if tk > t:
            sol = solve_ivp(fun, (t, tk), y, method=method, rtol=rtol, atol=atol * sc)
            nsteps[r] += len(sol.t) - 1
            if sol.status < 0 or not np.all(np.isfinite(sol.y[:, -1])):
                st = int(SolveStatus.NON_FINITE if not np.all(np.isfinite(sol.y)) else SolveStatus.STEP_TOO_SMALL)
                break
            y = np.array(sol.y[:, -1])
            t = tk
        if fl & F_SAVE:
            Y[r, slot[kk]] = y
            O[r, slot[kk]] = outputs_py(t, y, p, q, o)
        for d in range(ld_t.shape[0]):
            if ld_t[d] == tk:
                y[k.I_CCY] += inputs.ld_cy_mg[i, d] / q[k.Q_VCY]
                y[k.I_XFLU] += inputs.ld_flu_mg_m2[i, d]
        if fl & F_INFUSE:
            y[k.I_E] += inputs.dose_effector[i]
            y[k.I_M] += inputs.dose_memory[i]
        if fl & F_WITHDRAW:
            p[k.I_FIST] = 1.0 + p[k.I_DELTA_IST]
        if fl & F_CHECK:
            dday = int(tk)
            if 0 <= dday < n_check:
                outputs_py(t, y, p, q, o)
                lev = k.level.py_func(o[k.I_ZCRS] + inputs.eps_crs[i, dday], *(p[j] for j in itcrs))
                ilev = k.level.py_func(o[k.I_ZICANS] + inputs.eps_icans[i, dday], *(p[j] for j in iticans))
                crs[r, dday] = lev
                icans[r, dday] = ilev
                if replay is None:
                    give_toci = lev >= regimen.crs_trigger and toci_n < toci_max
                    start_dex = ilev >= regimen.icans_trigger and dex_left == 0
                else:
                    give_toci = tk in replay[0] and toci_n < toci_max
                    start_dex = tk in replay[1]
                if give_toci:
                    y[k.I_TOC1] += inputs.toci_mg[i]
                    toci[r, toci_n] = tk
                    toci_n += 1
                if start_dex:
                    dex_left = regimen.dex_days
                    if dex_n < n_dex:
                        dex[r, dex_n] = tk
                        dex_n += 1
        if (fl & F_DOSEDAY) and dex_left > 0:
            y[k.I_DEX] += regimen.dex_mg_per_day
            dex_left -= 1
        if (fl & F_DISEASE) and regimen.restart_on_flare and not restarted and tk > regimen.withdrawal_day:
            if replay is None:
                flare_run = flare_run + 1 if y[k.I_D] >= p[k.I_DFLARE] else 0
                do_restart = flare_run >= 2
            else:
                do_restart = tk == replay[2]
            if do_restart:
                p[k.I_FIST] = p[k.I_FRESTART]
                restarted = True
                ist[r] = tk
    status[r] = st
