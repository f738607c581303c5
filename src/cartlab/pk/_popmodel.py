"""The piecewise expansion / biphasic contraction model of CAR-T cellular kinetics (Stein 2019 form),
its data layout for population fitting, and simulation from it.

Model
-----
On the natural-log scale of the analyte (transgene copies/ug gDNA, or CAR+ cells/uL), a subject with
start level ``C0`` at the infusion (day 0), expansion rate ``RHO`` (1/day) up to ``TMAX`` (days), and
contraction in which a fraction ``FB`` of the cells decays at the slow rate ``BETA`` and the rest at the
fast rate ``ALPHA`` (1/day), has::

    log C(t) = log C0 + RHO * t                                             for t <= TMAX
    log C(t) = log C0 + RHO * TMAX + log((1 - FB) e^(-ALPHA s) + FB e^(-BETA s)),  s = t - TMAX > 0

so that ``Cmax = C0 e^(RHO TMAX)`` (fold expansion ``e^(RHO TMAX)``). This is the empirical model of
Stein AM et al., CPT Pharmacometrics Syst Pharmacol 2019;8:285 (tisagenlecleucel: fold expansion 3,900,
Tmax 9.3 d, alpha 0.16/d, F_B 0.0079, beta 0.0032/d), with the expansion anchored at the dose-dependent
start level ``C0`` rather than at Cmax, so that dose enters as a covariate of ``C0``.

Individual parameters are estimated on an unconstrained scale, ``phi``: log of ``C0``, ``RHO``,
``TMAX``, ``ALPHA``, ``BETA`` and logit of ``FB``; ``phi_ik = mu_k + sum_c beta_kc x_ic + eta_ik``
with ``eta_i ~ N(0, Omega)`` (log-normal inter-individual variability). Observations are
``log y_ij = log C_i(t_ij) + eps_ij``, ``eps ~ N(0, sigma^2)`` (additive on the log scale, i.e.
proportional on the natural scale); a value below the LLOQ is censored at ``log LLOQ`` (M3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from .._core.errors import DataValidationError, SpecError

#: Structural parameters in the order of ``phi``; units and the scale of ``phi``.
PARAMETERS: tuple[str, ...] = ("C0", "RHO", "TMAX", "ALPHA", "BETA", "FB")
PARAMETER_UNITS: dict[str, str] = {"C0": "analyte unit", "RHO": "1/day", "TMAX": "day", "ALPHA": "1/day",
                                   "BETA": "1/day", "FB": "fraction"}
_LOGIT = {"FB"}

#: Stein 2019 (tisagenlecleucel, Table 2 typical values) as start values; C0 is taken from the data.
STEIN_2019 = {"RHO": float(np.log(3900.0) / 9.3), "TMAX": 9.3, "ALPHA": 0.16, "BETA": 0.0032, "FB": 0.0079}


def to_phi(name: str, value: float) -> float:
    """A structural parameter's value on its unconstrained (log or logit) scale.

    >>> round(to_phi("TMAX", 9.3), 4), round(to_phi("FB", 0.5), 4)
    (2.23, 0.0)
    """
    if name in _LOGIT:
        return float(np.log(value / (1.0 - value)))
    return float(np.log(value))


def from_phi(name: str, phi: np.ndarray | float) -> np.ndarray | float:
    """Inverse of :func:`to_phi` (elementwise)."""
    if name in _LOGIT:
        return 1.0 / (1.0 + np.exp(-np.asarray(phi)))
    return np.exp(phi)


def predict_log(phi: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log concentration and its derivatives with respect to ``phi``, vectorised over subjects.

    Parameters
    ----------
    phi : ndarray, shape (N, 6)
        Individual parameters on the unconstrained scale, columns in :data:`PARAMETERS` order.
    t : ndarray, shape (N, M)
        Times in days after the infusion (padding entries may hold any finite value).

    Returns
    -------
    f : ndarray, shape (N, M)
        ``log C(t)``.
    J : ndarray, shape (N, M, 6)
        ``d log C / d phi`` (analytic; one-sided at ``t == TMAX``).

    Examples
    --------
    >>> phi = np.array([[np.log(10.0), np.log(0.5), np.log(8.0), np.log(0.2), np.log(0.01), 0.0]])
    >>> f, J = predict_log(phi, np.array([[0.0, 8.0]]))
    >>> np.round(np.exp(f), 3).tolist()   # C0, and Cmax = C0 * e^(0.5 * 8)
    [[10.0, 545.982]]
    """
    lc0 = phi[:, 0:1]
    rho = np.exp(phi[:, 1:2])
    tmax = np.exp(phi[:, 2:3])
    alpha = np.exp(phi[:, 3:4])
    beta = np.exp(phi[:, 4:5])
    fb = 1.0 / (1.0 + np.exp(-phi[:, 5:6]))
    after = t > tmax
    s = np.where(after, t - tmax, 0.0)
    # log((1-FB) e^{-alpha s} + FB e^{-beta s}) without underflow: factor out the larger term
    la = np.log1p(-fb) - alpha * s
    lb = np.log(fb) - beta * s
    big = np.maximum(la, lb)
    wa = np.exp(la - big)
    wb = np.exp(lb - big)
    den = wa + wb
    ld = big + np.log(den)
    pa, pb = wa / den, wb / den  # share of each phase in C(t)
    f = lc0 + rho * np.minimum(t, tmax) + np.where(after, ld, 0.0)
    J = np.empty((*t.shape, 6))
    J[..., 0] = 1.0
    J[..., 1] = rho * np.minimum(t, tmax)
    J[..., 2] = np.where(after, tmax * (rho + alpha * pa + beta * pb), 0.0)
    J[..., 3] = np.where(after, -alpha * s * pa, 0.0)
    J[..., 4] = np.where(after, -beta * s * pb, 0.0)
    # d ld / d logit(FB) = FB (1 - FB) (e^{-beta s} - e^{-alpha s}) / D = pb (1 - FB) - pa FB
    J[..., 5] = np.where(after, pb * (1.0 - fb) - pa * fb, 0.0)
    return f, J


@dataclass(frozen=True)
class Covariate:
    """A covariate effect on one structural parameter.

    ``kind="power"``: ``phi += beta * log(value / ref)`` (e.g. dose or weight, ``ref`` the median or
    70 kg); ``kind="category"``: ``phi += beta_level`` for every level other than ``ref``.
    """

    parameter: str
    name: str
    kind: str = "power"
    ref: float | str | None = None

    def __post_init__(self) -> None:
        if self.parameter not in PARAMETERS:
            raise SpecError(f"Covariate {self.name}: parameter must be one of {', '.join(PARAMETERS)}; "
                            f"got {self.parameter!r}")
        if self.kind not in ("power", "category"):
            raise SpecError(f"Covariate {self.name}: kind must be 'power' or 'category'; got {self.kind!r}")


@dataclass(frozen=True)
class PopData:
    """Observations of N subjects, padded to M samples each (see :func:`pop_data`).

    ``time`` (days), ``y`` (log of the value, log LLOQ for a BLQ sample), ``blq`` (censored),
    ``mask`` (real sample, not padding) are (N, M); ``design`` (N, K) holds the covariate columns named
    in ``design_names`` (``"DOSE"`` for a power covariate, ``"ARMCD=DL2"`` for a category level);
    ``lloq`` (N, M) is on the natural scale; ``subjects`` the N subject identifiers.
    """

    subjects: tuple[str, ...]
    time: np.ndarray
    y: np.ndarray
    blq: np.ndarray
    mask: np.ndarray
    lloq: np.ndarray
    design: np.ndarray
    design_names: tuple[str, ...]
    covariates: tuple[Covariate, ...]
    covariate_values: Mapping[str, np.ndarray]

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def n_obs(self) -> int:
        return int(self.mask.sum())


def _design(cov_values: Mapping[str, np.ndarray], covariates: Sequence[Covariate], where: str
            ) -> tuple[np.ndarray, tuple[str, ...], tuple[Covariate, ...]]:
    cols, names, resolved = [], [], []
    for c in covariates:
        if c.name not in cov_values:
            raise DataValidationError(f"{where}: covariate {c.name} is not a column; columns are "
                                      f"{', '.join(cov_values)}")
        v = cov_values[c.name]
        if c.kind == "power":
            v = np.asarray(v, dtype=float)
            bad = ~np.isfinite(v) | (v <= 0)
            if bad.any():
                raise DataValidationError(f"{where}: covariate {c.name} must be > 0 for a power model; got "
                                          f"{v[bad][0]!r} ({int(bad.sum())} subject(s))")
            ref = float(np.median(v)) if c.ref is None else float(c.ref)
            cols.append(np.log(v / ref))
            names.append(f"{c.parameter}~{c.name}")
            resolved.append(Covariate(c.parameter, c.name, "power", ref))
        else:
            levels = sorted({str(x) for x in v})
            ref = levels[0] if c.ref is None else str(c.ref)
            if ref not in levels:
                raise DataValidationError(f"{where}: reference level {ref!r} of covariate {c.name} not in the "
                                          f"data (levels {levels})")
            for lev in levels:
                if lev == ref:
                    continue
                cols.append(np.array([str(x) == lev for x in v], dtype=float))
                names.append(f"{c.parameter}~{c.name}={lev}")
            resolved.append(Covariate(c.parameter, c.name, "category", ref))
    n = len(next(iter(cov_values.values()))) if cov_values else 0
    design = np.column_stack(cols) if cols else np.zeros((n, 0))
    return design, tuple(names), tuple(resolved)


def pop_data(df: pl.DataFrame, covariates: Sequence[Covariate] = (), *, where: str = "data") -> PopData:
    """Arrange a NONMEM-style table (see :func:`cartlab.pk.nonmem_dataset`) for :func:`fit_population`.

    Uses the observation records (``EVID == 0``) with columns ``USUBJID`` (or ``ID``), ``TIME`` (days
    after the infusion), ``DV`` (natural scale, > 0; the LLOQ on a BLQ record), ``BLQ`` (0/1) and
    ``LLOQ``; covariate columns must be constant within a subject (the first value is taken).

    >>> df = pl.DataFrame({"ID": [1, 1, 2], "TIME": [1.0, 7.0, 1.0], "DV": [5.0, 900.0, 40.0],
    ...                    "EVID": [0, 0, 0], "BLQ": [1, 0, 0], "LLOQ": [5.0, 5.0, 5.0], "DOSE": [1e7, 1e7, 2.5e7]})
    >>> d = pop_data(df, [Covariate("C0", "DOSE")])
    >>> d.time.shape, d.blq.tolist(), d.design_names
    ((2, 2), [[True, False], [False, False]], ('C0~DOSE',))
    """
    sid = "USUBJID" if "USUBJID" in df.columns else "ID"
    need = [sid, "TIME", "DV", "BLQ", "LLOQ", *{c.name for c in covariates}]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataValidationError(f"{where}: column(s) {', '.join(missing)} missing; columns are "
                                  f"{', '.join(df.columns)}")
    obs = df.filter(pl.col("EVID") == 0) if "EVID" in df.columns else df
    obs = obs.with_row_index("_ROW", offset=1)
    if obs.height == 0:
        raise DataValidationError(f"{where}: no observation records (EVID = 0)")
    dv = obs["DV"].cast(pl.Float64).to_numpy()
    blq = obs["BLQ"].cast(pl.Int64).fill_null(0).to_numpy().astype(bool)
    lloq = obs["LLOQ"].cast(pl.Float64).to_numpy()
    t = obs["TIME"].cast(pl.Float64).to_numpy()
    bad_dv = ~blq & ~(dv > 0)
    bad_ll = blq & ~(lloq > 0)
    bad_t = ~np.isfinite(t) | (t < 0)
    for bad, col, expect, vals in ((bad_dv, "DV", "> 0 on a quantified record (log-scale model)", dv),
                                   (bad_ll, "LLOQ", "> 0 on a BLQ record", lloq),
                                   (bad_t, "TIME", "finite and >= 0 (days after the infusion)", t)):
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DataValidationError(f"{where}: observation row {obs['_ROW'][k]} ({sid} {obs[sid][k]}): {col} must "
                                      f"be {expect}; got {float(vals[k])!r} ({int(bad.sum())} such row(s))")
    y = np.log(np.where(blq, lloq, dv))
    ids = obs[sid].cast(pl.String).to_list()
    order: dict[str, list[int]] = {}
    for k, s in enumerate(ids):
        order.setdefault(s, []).append(k)
    n, m = len(order), max(len(v) for v in order.values())
    T, Y, B, K, L = (np.zeros((n, m)), np.zeros((n, m)), np.zeros((n, m), bool), np.zeros((n, m), bool),
                     np.ones((n, m)))
    cov_values: dict[str, list] = {c.name: [] for c in covariates}
    for i, rows in enumerate(order.values()):
        r = np.array(rows)
        T[i, :len(r)], Y[i, :len(r)], B[i, :len(r)], K[i, :len(r)] = t[r], y[r], blq[r], True
        L[i, :len(r)] = np.where(np.isfinite(lloq[r]), lloq[r], np.nan)
        T[i, len(r):] = t[r][-1]
        for name in cov_values:
            cov_values[name].append(obs[name][rows[0]])
    arrays = {k: np.array(v, dtype=object if obs.schema[k] == pl.String else float) for k, v in cov_values.items()}
    design, names, resolved = _design(arrays, covariates, where)
    return PopData(subjects=tuple(order), time=T, y=Y, blq=B, mask=K, lloq=L, design=design, design_names=names,
                   covariates=resolved, covariate_values=arrays)


@dataclass(frozen=True)
class PopParameters:
    """Population parameters of the model (natural scale).

    ``typical`` maps each of :data:`PARAMETERS` to its typical value (at the covariates' references);
    ``effects`` maps a design column name (``"C0~DOSE"``) to its coefficient on the ``phi`` scale;
    ``omega2`` maps the parameters with IIV to their variance on the ``phi`` scale; ``sigma`` is the
    residual SD on the log scale.
    """

    typical: Mapping[str, float]
    omega2: Mapping[str, float]
    sigma: float
    effects: Mapping[str, float]

    def mu_matrix(self, design: np.ndarray, design_names: Sequence[str]) -> np.ndarray:
        """Typical ``phi`` of every subject, shape (N, 6)."""
        mu = np.array([to_phi(p, self.typical[p]) for p in PARAMETERS])
        out = np.tile(mu, (design.shape[0], 1))
        for j, name in enumerate(design_names):
            out[:, PARAMETERS.index(name.split("~")[0])] += self.effects.get(name, 0.0) * design[:, j]
        return out


def simulate_observations(params: PopParameters, data: PopData, rng: np.random.Generator
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate log observations on the design of ``data`` (times, LLOQs, covariates).

    Returns ``(y, blq, eta)``: ``y`` (N, M) log values with BLQ samples set to log LLOQ, ``blq`` (N, M),
    and the sampled ``eta`` (N, q) in the order of ``params.omega2``.
    """
    mu = params.mu_matrix(data.design, data.design_names)
    iiv = list(params.omega2)
    eta = rng.standard_normal((data.n_subjects, len(iiv))) * np.sqrt([params.omega2[p] for p in iiv])
    phi = mu.copy()
    for k, p in enumerate(iiv):
        phi[:, PARAMETERS.index(p)] += eta[:, k]
    f, _ = predict_log(phi, data.time)
    y = f + params.sigma * rng.standard_normal(f.shape)
    log_lloq = np.log(np.where(np.isfinite(data.lloq), data.lloq, 0.0) + 1e-300)
    blq = (y < log_lloq) & data.mask
    return np.where(blq, log_lloq, y), blq, eta


def synthetic_dataset(params: PopParameters, *, n_subjects: int, times: Sequence[float], lloq: float,
                      doses: Sequence[float], seed: int, weight_range: tuple[float, float] | None = None
                      ) -> pl.DataFrame:
    """A NONMEM-style observation table simulated from ``params`` (for recovery tests and benchmarks).

    Subjects are assigned to ``doses`` in turn; ``DOSE`` is the covariate of a ``"C0~DOSE"`` effect
    (reference: the median dose) and, with ``weight_range``, ``WT`` is uniform in it (reference 70 kg).
    """
    rng = np.random.default_rng(seed)
    dose = np.array([doses[i % len(doses)] for i in range(n_subjects)], dtype=float)
    wt = rng.uniform(*weight_range, n_subjects) if weight_range else np.full(n_subjects, 70.0)
    tt = np.tile(np.asarray(times, float), (n_subjects, 1))
    design_cols, names = [], []
    for name in params.effects:
        cov = name.split("~")[1]
        if cov == "DOSE":
            design_cols.append(np.log(dose / np.median(dose)))
        elif cov == "WT":
            design_cols.append(np.log(wt / 70.0))
        else:
            raise SpecError(f"synthetic_dataset: covariate {cov!r} is not simulated (DOSE, WT are)")
        names.append(name)
    design = np.column_stack(design_cols) if design_cols else np.zeros((n_subjects, 0))
    proto = PopData(subjects=tuple(f"SIM-{i + 1:04d}" for i in range(n_subjects)), time=tt, y=np.zeros_like(tt),
                    blq=np.zeros(tt.shape, bool), mask=np.ones(tt.shape, bool), lloq=np.full(tt.shape, lloq),
                    design=design, design_names=tuple(names), covariates=(), covariate_values={})
    y, blq, _ = simulate_observations(params, proto, rng)
    m = len(times)
    return pl.DataFrame({
        "ID": np.repeat(np.arange(1, n_subjects + 1), m),
        "USUBJID": np.repeat(np.array(proto.subjects), m),
        "TIME": tt.ravel(), "DV": np.exp(y).ravel(), "EVID": np.zeros(n_subjects * m, dtype=np.int64),
        "BLQ": blq.ravel().astype(np.int64), "LLOQ": np.full(n_subjects * m, float(lloq)),
        "DOSE": np.repeat(dose, m), "WT": np.repeat(wt, m),
    })
