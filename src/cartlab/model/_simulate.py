"""Drive the compiled kernel: build the stop grid, call the batch solver, wrap the results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

from .._core.errors import SpecError
from ._codegen import OUTPUTS, load_kernel
from ._dsl import ModelSpec
from ._model import SolveStatus


@dataclass(frozen=True, slots=True)
class SolverOptions:
    """Error control of the kernel's ARK5(4) integrator (see :mod:`._solver_src`).

    The error test is a weighted max norm: every state's local error estimate must be below
    ``atol * scale_i + rtol * |y_i|`` (``atol`` is relative to each state's typical scale, see
    :class:`~cartlab.model.State`; for the log-integrated states the same test on ``ln y``, and
    filtered for states outside feedback loops). The defaults keep every state above 1e-6 of its
    scale within 1e-4 relative of scipy's LSODA at rtol 1e-10 at the visits
    (``tests/unit/test_kernel.py``, ``benchmarks/simulate_throughput.py``: 3.3e-5 on 60
    benchmark patients; the kernel with linear B-lineage and ``Dep`` needed rtol 3e-6 for 6e-5).
    """

    rtol: float = 1e-5
    atol: float = 1e-12
    max_steps: int = 200_000
    hmax: float = 10.0


@dataclass(frozen=True, slots=True)
class Regimen:
    """What happens to every patient, in model terms (the trial layer builds it from a protocol).

    Attributes
    ----------
    save_days : tuple of float
        Days (from infusion) at which the state is recorded, before any dose given that day.
    check_days : int
        Number of daily CRS/ICANS checks, on days 0 … check_days − 1.
    disease_days : tuple of float
        Days of disease assessment, used for the flare rule.
    withdrawal_day : float
        Day by which immunosuppressants are stopped.
    restart_on_flare : bool
        Restart immunosuppressants after two consecutive assessments in flare.
    crs_trigger, icans_trigger : int
        CRS grade that triggers tocilizumab; ICANS grade that triggers dexamethasone.
    toci_max : int
        Maximum tocilizumab doses.
    dex_mg_per_day : float
        Dexamethasone dose per day of a course; ``dex_days`` days per course.
    """

    save_days: tuple[float, ...]
    check_days: int
    disease_days: tuple[float, ...]
    withdrawal_day: float
    restart_on_flare: bool
    crs_trigger: int
    icans_trigger: int
    toci_max: int
    dex_mg_per_day: float
    dex_days: int
    dex_max_courses: int = 3


@dataclass(frozen=True, slots=True)
class PatientInputs:
    """Per-patient arrays fed to the kernel (``n`` patients).

    ``params`` is ``(n, n_parameters)`` in the model's parameter order; ``ld_day``, ``ld_cy_mg`` and
    ``ld_flu_mg_m2`` are ``(n, k)`` lymphodepletion doses (day, cyclophosphamide amount in mg — the
    model turns it into a concentration with the patient's own ``V_Cy`` — and fludarabine K-PD
    amount; unused slots have day NaN); ``eps_crs``/``eps_icans`` are the daily
    latent noises ``(n, check_days)``.
    """

    params: np.ndarray
    ld_day: np.ndarray
    ld_cy_mg: np.ndarray
    ld_flu_mg_m2: np.ndarray
    dose_effector: np.ndarray
    dose_memory: np.ndarray
    toci_mg: np.ndarray
    eps_crs: np.ndarray
    eps_icans: np.ndarray

    @property
    def n(self) -> int:
        return int(self.params.shape[0])

    def take(self, idx: np.ndarray) -> "PatientInputs":
        """The inputs of a subset of patients (for batching)."""
        return PatientInputs(*(np.ascontiguousarray(getattr(self, f)[idx]) for f in self.__slots__))


@dataclass(frozen=True)
class SimulationResult:
    """Kernel output: states and outputs at the save days, toxicity levels and events per patient.

    ``states[i, k, j]`` is state ``j`` of patient ``i`` at ``days[k]``; ``outputs`` likewise for
    :data:`~cartlab.model.OUTPUTS`. ``crs_level``/``icans_level`` ``(n, check_days)`` are the latent
    severities (0–4) on days 0 …; ``toci_day``/``dex_day`` the days rescue was given (NaN padded);
    ``ist_restart_day`` NaN when never restarted; ``status`` :class:`SolveStatus` codes.
    """

    spec: ModelSpec
    days: np.ndarray
    states: np.ndarray
    outputs: np.ndarray
    crs_level: np.ndarray
    icans_level: np.ndarray
    toci_day: np.ndarray
    dex_day: np.ndarray
    ist_restart_day: np.ndarray
    status: np.ndarray
    n_steps: np.ndarray
    output_names: tuple[str, ...] = field(default=OUTPUTS)

    def state(self, name: str) -> np.ndarray:
        """``(n, n_days)`` trajectory of state ``name``."""
        return self.states[:, :, self.spec.state_index(name)]

    def output(self, name: str) -> np.ndarray:
        """``(n, n_days)`` trajectory of output ``name``."""
        try:
            return self.outputs[:, :, self.output_names.index(name)]
        except ValueError:
            raise SpecError(f"no model output {name!r}; outputs are {', '.join(self.output_names)}") from None

    def status_messages(self) -> list[str]:
        return [SolveStatus(int(s)).message for s in self.status]


F_SAVE, F_CHECK, F_DOSEDAY, F_DISEASE, F_WITHDRAW, F_INFUSE = 1, 2, 4, 8, 16, 32


def build_stops(regimen: Regimen, ld_day: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The common stop grid: every save, dose, check and assessment day, with flags.

    Returns ``(t0, stops, flags, save_slot, save_days)``; ``t0`` is the earliest event or save day.
    Events after the last save day are dropped (they cannot change anything recorded).
    """
    finite_ld = ld_day[np.isfinite(ld_day)]
    if np.any(finite_ld != np.round(finite_ld)):
        raise SpecError("lymphodepletion days must be whole days")
    day_set: dict[float, int] = {}

    def add(d: float, f: int) -> None:
        day_set[float(d)] = day_set.get(float(d), 0) | f

    for d in regimen.save_days:
        add(d, F_SAVE)
    for d in np.unique(finite_ld):
        add(d, 0)
    add(0.0, F_INFUSE)
    for d in range(regimen.check_days):
        add(d, F_CHECK | F_DOSEDAY)
    for d in range(regimen.check_days, regimen.check_days + regimen.dex_days * regimen.dex_max_courses):
        add(d, F_DOSEDAY)
    for d in regimen.disease_days:
        add(d, F_DISEASE)
    add(regimen.withdrawal_day, F_WITHDRAW)
    # nothing after the last save day is ever recorded: integrating to later events is wasted work
    horizon = max(regimen.save_days)
    stops = np.array(sorted(d for d in day_set if d <= horizon), dtype=np.float64)
    flags = np.array([day_set[d] for d in stops], dtype=np.int64)
    save_days = np.array(sorted(set(float(d) for d in regimen.save_days)), dtype=np.float64)
    slot = np.full(stops.shape[0], -1, dtype=np.int64)
    for k, d in enumerate(stops):
        if flags[k] & F_SAVE:
            slot[k] = int(np.searchsorted(save_days, d))
    return float(stops[0]), stops, flags, slot, save_days


def simulate(spec: ModelSpec, regimen: Regimen, inputs: PatientInputs,
             options: SolverOptions = SolverOptions()) -> SimulationResult:
    """Integrate every patient of ``inputs`` under ``regimen`` with the compiled kernel.

    Deterministic: each patient is solved independently, so the result does not depend on the
    number of threads or on how patients are batched.
    """
    k = load_kernel(spec)
    if inputs.params.shape[1] != len(spec.parameters):
        raise SpecError(f"params has {inputs.params.shape[1]} columns; model {spec.name} has "
                        f"{len(spec.parameters)} parameters")
    t0, stops, flags, slot, save_days = build_stops(regimen, inputs.ld_day)
    ctrl = np.zeros(k.NCTRL)
    ctrl[k.C_RTOL] = options.rtol
    ctrl[k.C_ATOL] = options.atol
    ctrl[k.C_MAXSTEPS] = options.max_steps
    ctrl[k.C_HMAX] = options.hmax
    ctrl[k.C_CRS_TRIG] = regimen.crs_trigger
    ctrl[k.C_TOCI_MAX] = regimen.toci_max
    ctrl[k.C_ICANS_TRIG] = regimen.icans_trigger
    ctrl[k.C_DEX_MG] = regimen.dex_mg_per_day
    ctrl[k.C_DEX_DAYS] = regimen.dex_days
    ctrl[k.C_DEX_MAX] = regimen.dex_max_courses
    ctrl[k.C_WITHDRAW] = regimen.withdrawal_day
    ctrl[k.C_RESTART] = 1.0 if regimen.restart_on_flare else 0.0
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    n, n_save, n_check = inputs.n, save_days.shape[0], inputs.eps_crs.shape[1]
    out = (
        np.full((n, n_save, k.NY), np.nan), np.full((n, n_save, k.NO), np.nan),
        np.zeros((n, n_check), np.int8), np.zeros((n, n_check), np.int8),
        np.full((n, max(regimen.toci_max, 1)), np.nan), np.full((n, max(regimen.dex_max_courses, 1)), np.nan),
        np.full(n, np.nan), np.zeros(n, np.int8), np.zeros(n, np.int32),
    )
    args = (f64(inputs.params), t0, stops, flags, slot, f64(inputs.ld_day), f64(inputs.ld_cy_mg),
            f64(inputs.ld_flu_mg_m2), f64(inputs.dose_effector), f64(inputs.dose_memory), f64(inputs.toci_mg), ctrl,
            f64(inputs.eps_crs), f64(inputs.eps_icans), *out)
    _run_ranges(k.simulate_range, n, args)
    return SimulationResult(spec, save_days, *out)


#: patients per work item: small enough to balance two threads, large enough to amortise the call
CHUNK = 64


def _run_ranges(kernel, n: int, args: tuple) -> None:
    """Run ``kernel(lo, hi, *args)`` over ``0 … n`` on ``numba.get_num_threads()`` threads.

    The kernel releases the GIL and writes each patient's own rows, so the split into ranges and
    the number of threads never change a result.
    """
    ranges = [(lo, min(lo + CHUNK, n)) for lo in range(0, n, CHUNK)]
    threads = min(numba.get_num_threads(), len(ranges))
    if threads <= 1:
        for lo, hi in ranges:
            kernel(lo, hi, *args)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(kernel, lo, hi, *args) for lo, hi in ranges]:
            f.result()
