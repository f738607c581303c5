"""``calibrate``: approximate Bayesian computation by sequential Monte Carlo (ABC-SMC).

The algorithm is ABC population Monte Carlo (Beaumont MA et al., Biometrika 2009;96:983; Toni T
et al., J R Soc Interface 2009;6:187): generation 0 draws particles from the prior; each later
generation resamples the previous one by weight, perturbs with a Gaussian kernel of twice the
weighted covariance (on the sampling scale), and accepts a proposal whose distance is within the
tolerance ``eps_g`` = the ``quantile`` of the previous generation's accepted distances. Weights are
prior density / kernel mixture density.

Each evaluation simulates one virtual trial of every calibration protocol at the reported arm
sizes (replicate index = evaluation number, so a run is reproducible from its seed), computes the
target metrics as :func:`cartlab.calibrate.validate_model` does, and the distance

    d = sqrt( mean_k ((s_k - y_k) / sigma_k)^2 )

with ``sigma_k = sqrt(max(y_k (1 - y_k), 0.09) / n_k)`` for a rate (the binomial standard error of
the reported proportion, floored at p = 0.1 so that 0 % and 100 % targets keep a finite scale),
``0.3 |y_k|`` for a median, and for a range target the distance outside the range over 0.3 × its
midpoint. NaN metrics (no assessable patient) count as ``|z| = 3``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .. import __version__
from .._core.errors import SpecError
from ..protocol import Protocol
from ._paramset import ParameterSet
from ._targets import Target, TargetSet
from ._validate import arm_sizes, simulate_targets, with_parameters


@dataclass(frozen=True, slots=True)
class Prior:
    """Uniform prior of one parameter, on the log scale when ``log`` (the sampling scale).

    Examples
    --------
    >>> p = Prior("IL6_ref", 35.0, 140.0)
    >>> [round(float(b), 4) for b in p.bounds], round(float(p.from_scale(p.to_scale(70.0))), 9)
    ([3.5553, 4.9416], 70.0)
    """

    name: str
    low: float
    high: float
    log: bool = True

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise SpecError(f"prior {self.name}: need 0 < low < high on a log scale (low < high otherwise); "
                            f"got low={self.low}, high={self.high}")

    def to_scale(self, x):
        return np.log(x) if self.log else x

    def from_scale(self, z):
        return np.exp(z) if self.log else z

    @property
    def bounds(self) -> tuple[float, float]:
        return float(self.to_scale(self.low)), float(self.to_scale(self.high))


#: default calibrated subset: the CRS, ICANS and neutropenia parameters that set Breakfree-1's dose
#: response (TUNING in cartlab.model._modules records their hand-tuned values, inside these ranges)
DEFAULT_PRIORS: tuple[Prior, ...] = (
    Prior("IL6_ref", 35.0, 140.0),
    Prior("theta_crs2", 1.0, 2.4),
    Prior("b_icans", 0.4, 1.6),
    Prior("c_icans", -4.4, -2.4, log=False),
    Prior("slope_inf_ANC", 0.2, 0.9),
)


@dataclass(frozen=True)
class CalibrationResult:
    """Posterior particles and the record of the run.

    Attributes
    ----------
    priors : tuple of Prior
    particles : numpy.ndarray
        ``(N, P)`` accepted parameter values (natural scale) of the last generation.
    weights : numpy.ndarray
        Normalised importance weights.
    distances : numpy.ndarray
    epsilons : tuple of float
        Tolerance of each generation (generation 0 accepts everything: inf).
    simulations, patients : int
        Trials simulated (one per protocol per evaluation) and virtual patients treated.
    seconds : float
    targets : tuple of str
        Target ids in the distance.
    failed_solves : int
        Virtual patients whose solve failed (their data stop at the failure).
    """

    priors: tuple[Prior, ...]
    particles: np.ndarray
    weights: np.ndarray
    distances: np.ndarray
    epsilons: tuple[float, ...]
    simulations: int
    patients: int
    seconds: float
    targets: tuple[str, ...]
    seed: int
    failed_solves: int = 0

    def summary(self) -> dict[str, dict[str, float]]:
        """Per parameter: prior and posterior 5th/50th/95th percentiles (natural scale) and
        ``width_ratio`` = posterior / prior 90 % width on the sampling scale (near 1: not identified)."""
        out = {}
        for j, p in enumerate(self.priors):
            z = p.to_scale(self.particles[:, j])
            q = _wquantile(z, self.weights, [0.05, 0.5, 0.95])
            a, b = p.bounds
            pq = [a + f * (b - a) for f in (0.05, 0.5, 0.95)]
            out[p.name] = {
                "prior_p05": float(p.from_scale(pq[0])), "prior_p50": float(p.from_scale(pq[1])),
                "prior_p95": float(p.from_scale(pq[2])),
                "posterior_p05": float(p.from_scale(q[0])), "posterior_p50": float(p.from_scale(q[1])),
                "posterior_p95": float(p.from_scale(q[2])),
                "width_ratio": float((q[2] - q[0]) / (pq[2] - pq[0])),
            }
        return out

    def parameter_set(self, *, version: str, command: str, targets: TargetSet) -> ParameterSet:
        """The posterior medians as a :class:`ParameterSet` with provenance and spread."""
        s = self.summary()
        prov = {
            "command": command, "seed": str(self.seed), "targets": f"{Path(targets.path).name} (version {targets.version})",
            "target_ids": ",".join(self.targets), "method": "ABC-SMC (Beaumont 2009), Gaussian kernel 2x weighted cov",
            "particles": str(len(self.weights)), "generations": str(len(self.epsilons)),
            "epsilons": ",".join(f"{e:.4g}" for e in self.epsilons),
            "final_distance_median": f"{float(np.median(self.distances)):.4g}",
            "simulations": str(self.simulations), "virtual_patients": str(self.patients),
            "failed_solves": str(self.failed_solves),
            "seconds": f"{self.seconds:.1f}", "cartlab_version": __version__,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "values": "weighted posterior medians",
        }
        return ParameterSet(version, {k: v["posterior_p50"] for k, v in s.items()}, prov, s)


def _wquantile(x: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> list[float]:
    o = np.argsort(x)
    cw = np.cumsum(w[o]) / np.sum(w)
    return [float(np.interp(q, cw - w[o] / (2 * np.sum(w)), x[o])) for q in qs]


def _sigma(t: Target) -> float:
    if t.kind == "rate":
        n = t.n or 10
        return math.sqrt(max(t.value * (1.0 - t.value), 0.09) / n)
    if t.value is None:
        return 0.3 * abs(t.lower + t.upper) / 2.0
    return 0.3 * abs(t.value) if t.value else 1.0


def distance(values: Mapping[str, float], targets: Sequence[Target]) -> float:
    """The ABC distance (module docstring) between simulated ``values`` (by target id) and ``targets``.

    Examples
    --------
    >>> from cartlab.calibrate import load_targets
    >>> t = [x for x in load_targets().targets if x.id == "bf1-sle-dl1-crs-any"]
    >>> round(distance({"bf1-sle-dl1-crs-any": 0.615}, t), 6)
    0.0
    """
    z = []
    for t in targets:
        s = values.get(t.id, float("nan"))
        if not math.isfinite(s):
            z.append(3.0)
        elif t.value is None:
            z.append(max(t.lower - s, s - t.upper, 0.0) / _sigma(t))
        else:
            z.append((s - t.value) / _sigma(t))
    return float(math.sqrt(np.mean(np.square(z))))


def _evaluate(job: tuple) -> tuple[float, int, int]:
    """One ABC evaluation (module level, so Dask can ship it): the distance of one simulated trial per
    protocol at the parameter values, the patients treated and the failed solves."""
    jobs, chosen, values, seed, replicate = job
    sim: dict[str, float] = {}
    patients = failed = 0
    for proto, ts in jobs.values():
        v, k, f = simulate_targets(with_parameters(proto, values), ts, seed=seed, replicate=replicate)
        sim.update(v)
        patients += k
        failed += f
    return distance(sim, chosen), patients, failed


def calibrate(protocols: Mapping[str, Protocol], targets: TargetSet, *, priors: Sequence[Prior] = DEFAULT_PRIORS,
              target_ids: Sequence[str] | None = None, particles: int = 100, generations: int = 4,
              quantile: float = 0.5, max_simulations: int | None = None, seed: int = 20250317,
              progress: Callable[[int, float], None] | None = None,
              map_fn: Callable[[Callable, list], list] | None = None, batch: int = 1) -> CalibrationResult:
    """Estimate ``priors``' parameters so that simulated trials reproduce the targets (ABC-SMC).

    Parameters
    ----------
    protocols : mapping of name -> Protocol
        The protocols whose targets enter the distance.
    targets : TargetSet
    priors : sequence of Prior
        The calibrated subset (applied as model-parameter overrides to every protocol's product).
    target_ids : sequence of str, optional
        Targets in the distance; default: every simulated target of ``protocols`` whose trial design
        is the protocol's own arm sizes (one trial per protocol per evaluation).
    particles, generations : int
        Population size and number of generations (generation 0 = prior sample).
    quantile : float
        Tolerance of generation g = this quantile of generation g-1's accepted distances.
    max_simulations : int, optional
        Evaluation budget per generation (default ``20 * particles``); a generation that runs out
        keeps the particles it accepted.
    seed : int
    progress : callable, optional
        ``progress(evaluations_done, current_epsilon)``.
    map_fn : callable, optional
        ``map_fn(func, items) -> list`` evaluating proposals elsewhere, e.g. on a Dask cluster
        (``client.gather(client.map(func, items))``); default: here, one after another.
    batch : int
        Proposals evaluated together (use about twice the number of workers with ``map_fn``). The
        result is the same for every ``batch`` and ``map_fn``: evaluation ``i`` always uses replicate
        ``i``, and proposals are accepted in their order.
    """
    priors = tuple(priors)
    if particles < 2 or generations < 1 or not 0 < quantile < 1:
        raise SpecError(f"need particles >= 2, generations >= 1, 0 < quantile < 1; got {particles}, "
                        f"{generations}, {quantile}")
    by_proto: dict[str, tuple[Target, ...]] = {}
    for name, proto in protocols.items():
        own = tuple((a.code, a.n) for a in proto.arms)
        ts = tuple(t for t in targets.for_protocol(name) if t.simulated
                   and (target_ids is not None and t.id in target_ids
                        or target_ids is None and arm_sizes(proto, t) == own))
        if ts:
            by_proto[name] = ts
    chosen = tuple(t for ts in by_proto.values() for t in ts)
    if target_ids is not None:
        missing = set(target_ids) - {t.id for t in chosen}
        if missing:
            raise SpecError(f"target id(s) {', '.join(sorted(missing))} not found among simulated targets of "
                            f"protocol(s) {', '.join(protocols)} in {targets.path}")
    if not chosen:
        raise SpecError(f"no simulated target of {targets.path} for protocol(s) {', '.join(protocols)}")
    budget = max_simulations or 20 * particles
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0xCA1,))))
    lo = np.array([p.bounds[0] for p in priors])
    hi = np.array([p.bounds[1] for p in priors])
    counter = 0
    patients = failed = 0
    t0 = time.perf_counter()
    jobs = {name: (protocols[name], ts) for name, ts in by_proto.items()}
    run = map_fn or (lambda f, items: [f(x) for x in items])
    size = max(int(batch), 1)

    def evaluate_batch(zs: list[np.ndarray], first: int) -> list[tuple[float, int, int]]:
        work = [(jobs, chosen, {p.name: float(p.from_scale(z[j])) for j, p in enumerate(priors)}, seed, first + m)
                for m, z in enumerate(zs)]
        return list(run(_evaluate, work))

    eps = math.inf
    epsilons: list[float] = []
    Z = np.empty((0, len(priors)))
    W = np.empty(0)
    D = np.empty(0)
    for g in range(generations):
        if g > 0:
            eps = float(np.quantile(D, quantile))
            mean = np.average(Z, axis=0, weights=W)
            cov = 2.0 * np.atleast_2d(np.cov((Z - mean).T, aweights=W)) + 1e-12 * np.eye(len(priors))
            chol = np.linalg.cholesky(cov)
            inv = np.linalg.inv(cov)
        newZ, newD = [], []
        tried = 0
        while len(newZ) < particles and tried < budget:
            # up to `size` proposals, each with the generator state before it; evaluated together (on Dask
            # with map_fn), then taken in order exactly as one at a time would: when the population is full
            # the generator is put back to just after the last proposal used, so the result does not depend
            # on the batch size or the number of workers (the unused evaluations are discarded)
            props: list[tuple[dict, np.ndarray | None]] = []
            while len(props) < size and tried + len(props) < budget:
                state = rng.bit_generator.state
                if g == 0:
                    z = lo + (hi - lo) * rng.random(len(priors))
                else:
                    z = Z[rng.choice(len(W), p=W)] + chol @ rng.standard_normal(len(priors))
                    if np.any(z < lo) or np.any(z > hi):
                        z = None
                props.append((state, z))
            results = iter(evaluate_batch([z for _, z in props if z is not None], counter))
            for m, (_, z) in enumerate(props):
                tried += 1
                if z is None:
                    continue
                d, k, f = next(results)
                counter += 1
                patients += k
                failed += f
                if progress:
                    progress(counter, eps)
                if d <= eps:
                    newZ.append(z)
                    newD.append(d)
                if len(newZ) == particles:
                    if m + 1 < len(props):
                        rng.bit_generator.state = props[m + 1][0]
                    break
        if len(newZ) < 2:
            raise SpecError(f"ABC-SMC generation {g}: {len(newZ)} particle(s) accepted within tolerance {eps:.4g} "
                            f"after {tried} proposals; raise max_simulations or lower the number of generations")
        nZ, nD = np.array(newZ), np.array(newD)
        if g == 0:
            nW = np.ones(len(nZ))
        else:
            diff = nZ[:, None, :] - Z[None, :, :]
            k = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff))
            nW = 1.0 / (k @ W)
        Z, W, D = nZ, nW / nW.sum(), nD
        epsilons.append(eps)
    X = np.column_stack([p.from_scale(Z[:, j]) for j, p in enumerate(priors)])
    return CalibrationResult(priors, X, W, D, tuple(epsilons), counter * len(by_proto), patients,
                             time.perf_counter() - t0, tuple(t.id for t in chosen), seed, failed)
