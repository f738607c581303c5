"""Population estimation by the Laplace / FOCE-I method, vectorised across subjects.

Objective
---------
For subject *i* with random effects ``eta`` (``q`` of them, ``eta ~ N(0, Omega)``) the conditional
objective is::

    g_i(eta) = sum_{quantified j} (y_ij - f_ij)^2 / (2 sigma^2)
             - sum_{BLQ j} log Phi((log LLOQ_ij - f_ij) / sigma)          (M3; Beal 2001)
             + eta' Omega^-1 eta / 2

and the Laplace approximation of -2 log-likelihood, summed over subjects, is::

    OFV = sum_i [ 2 g_i(eta_i^) + log det Omega + log det H_i ] + n_quantified (2 log sigma + log 2 pi)

with ``eta_i^`` the mode of ``g_i`` (the empirical Bayes estimate) and ``H_i`` its Hessian in the
first-order (Gauss-Newton) form ``sum_j w_ij J_ij J_ij' + Omega^-1``, ``J_ij = d f_ij / d eta``,
``w_ij = 1/sigma^2`` for a quantified sample and ``lambda (z + lambda) / sigma^2`` for a BLQ sample
(``z = (log LLOQ - f)/sigma``, ``lambda = phi(z)/Phi(z)``, the second derivative of ``-log Phi``).
Without BLQ samples this is NONMEM's FOCE with interaction for an additive (log-scale) error; with
them, the Laplace objective NONMEM requires for M3 (Beal SL, J Pharmacokinet Pharmacodyn
2001;28:481; Wang Y, J Pharmacokinet Pharmacodyn 2007;34:575 for FOCE-I/Laplace). For a model linear
in ``eta`` and no BLQ data it is the exact marginal likelihood (checked in the tests).

Algorithm: the modes ``eta_i^`` of all subjects are found together by damped Gauss-Newton steps
(batched 5x5 solves, Armijo backtracking per subject); the outer problem (typical values, covariate
effects, log variances, log sigma) is minimised by BFGS on central finite-difference gradients, each
inner search warm-started at the current modes. Standard errors come from the inverse of the
finite-difference Hessian of the OFV at the optimum (``cov = 2 R^-1``, NONMEM's ``$COV MATRIX=R``).
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import optimize
from scipy.special import log_ndtr

from .._core.errors import ConvergenceError, DataValidationError, SpecError
from ._popmodel import PARAMETER_UNITS, PARAMETERS, STEIN_2019, PopData, PopParameters, from_phi, predict_log, to_phi

_LOG2PI = float(np.log(2.0 * np.pi))
_LOG_SQRT2PI = 0.5 * _LOG2PI

#: |dOFV/dtheta| below which a BFGS stop for "precision loss" is accepted as convergence: moving any
#: unconstrained parameter by 0.01 then changes the OFV by < 0.005, well under the 3.84 of a 1-df LRT.
_GTOL_ACCEPT = 0.5

Predictor = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class _Problem:
    """Arrays of one estimation problem; ``predict(phi, t) -> (f, J)`` is the structural model."""

    predict: Predictor
    names: tuple[str, ...]          # names of the phi columns
    t: np.ndarray
    y: np.ndarray
    obs: np.ndarray                 # quantified sample
    cen: np.ndarray                 # BLQ sample (M3)
    log_lloq: np.ndarray
    design: np.ndarray
    design_cols: np.ndarray         # phi column of each design column
    iiv: np.ndarray                 # phi columns with a random effect
    eta: np.ndarray = field(default=None)  # type: ignore[assignment]  # warm start, updated in place

    @property
    def n_theta(self) -> int:
        return len(self.names) + self.design.shape[1] + len(self.iiv) + 1

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        p, k, q = len(self.names), self.design.shape[1], len(self.iiv)
        mu, beta, log_om, log_sig = theta[:p], theta[p:p + k], theta[p + k:p + k + q], theta[-1]
        phi_mu = np.tile(mu, (self.t.shape[0], 1))
        if k:
            np.add.at(phi_mu.T, self.design_cols, (self.design * beta).T)
        return phi_mu, np.exp(log_om), beta, float(np.exp(log_sig))


def _conditional(pr: _Problem, phi_mu: np.ndarray, eta: np.ndarray, om_inv: np.ndarray, sigma: float,
                 derivs: bool = True, rows: np.ndarray | slice = slice(None)):
    """g, its gradient and Gauss-Newton Hessian in eta, and f, for the subjects ``rows``."""
    phi = phi_mu[rows].copy()
    phi[:, pr.iiv] += eta
    t, y, obs, cen = pr.t[rows], pr.y[rows], pr.obs[rows], pr.cen[rows]
    f, J = pr.predict(phi, t)
    r = y - f
    z = np.where(cen, (pr.log_lloq[rows] - f) / sigma, 0.0)
    log_cdf = log_ndtr(z)
    g = (np.where(obs, 0.5 * (r / sigma) ** 2, 0.0) - np.where(cen, log_cdf, 0.0)).sum(1)
    g += 0.5 * np.einsum("nq,q,nq->n", eta, om_inv, eta)
    if not derivs:
        return g, None, None, f
    lam = np.exp(-0.5 * z * z - _LOG_SQRT2PI - log_cdf)  # inverse Mills ratio phi(z)/Phi(z)
    d = np.where(obs, -r / sigma**2, 0.0) + np.where(cen, lam / sigma, 0.0)
    w = np.where(obs, 1.0 / sigma**2, 0.0) + np.where(cen, lam * (z + lam) / sigma**2, 0.0)
    Je = J[..., pr.iiv]
    grad = np.einsum("nm,nmq->nq", d, Je) + eta * om_inv
    H = np.einsum("nm,nmq,nmr->nqr", w, Je, Je)
    H[:, np.arange(len(om_inv)), np.arange(len(om_inv))] += om_inv
    return g, grad, H, f


def _modes(pr: _Problem, phi_mu: np.ndarray, om_inv: np.ndarray, sigma: float, eta0: np.ndarray,
           tol: float = 1e-8, max_iter: int = 60):
    """Damped Gauss-Newton search for every subject's mode; returns eta, g, H, converged (N,).

    Only subjects still moving are recomputed, so one slow subject does not cost the whole population."""
    eta = eta0.copy()
    g, grad, H, _ = _conditional(pr, phi_mu, eta, om_inv, sigma)
    done = np.zeros(eta.shape[0], bool)
    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        e, ga, gr, Ha = eta[act], g[act], grad[act], H[act]
        step = -np.linalg.solve(Ha, gr[..., None])[..., 0]
        slope = (gr * step).sum(1)
        a = np.ones(act.size)
        for _ls in range(30):
            g_new = _conditional(pr, phi_mu, e + a[:, None] * step, om_inv, sigma, derivs=False, rows=act)[0]
            ok = (g_new <= ga + 1e-4 * a * slope) | (a == 0.0)
            if ok.all():
                break
            a = np.where(ok, a, 0.5 * a)
            a[a < 1e-10] = 0.0
        moved = np.abs(a[:, None] * step).max(1)
        eta[act] = e + a[:, None] * step
        g[act], grad[act], H[act], _ = _conditional(pr, phi_mu, eta[act], om_inv, sigma, rows=act)
        done[act] = (moved < tol) | ((ga - g[act]) < 1e-13 * (1.0 + np.abs(ga)))
    grad_ok = np.abs(grad).max(1) < 1e-4 * (1.0 + np.abs(g))
    return eta, g, H, done & grad_ok


def _ofv(pr: _Problem, theta: np.ndarray, update: bool = False) -> float:
    phi_mu, om, _, sigma = pr.unpack(theta)
    if not np.all(np.isfinite(phi_mu)) or not np.isfinite(sigma) or np.any(om <= 0) or sigma <= 0:
        return np.inf
    om_inv = 1.0 / om
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        eta, g, H, _ = _modes(pr, phi_mu, om_inv, sigma, pr.eta)
        sign, logdet = np.linalg.slogdet(H)
    if not (np.all(np.isfinite(g)) and np.all(sign > 0)):
        return np.inf
    if update:
        pr.eta = eta
    n = pr.t.shape[0]
    return float(2.0 * g.sum() + logdet.sum() + n * np.log(om).sum()
                 + pr.obs.sum() * (2.0 * np.log(sigma) + _LOG2PI))


def _grad(pr: _Problem, theta: np.ndarray, f0: float | None = None, h: float = 1e-5) -> np.ndarray:
    """Forward-difference gradient of the OFV (the modes are converged to 1e-8, so the noise is ~1e-3)."""
    f0 = _ofv(pr, theta) if f0 is None else f0
    out = np.empty_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        out[k] = (_ofv(pr, theta + e) - f0) / h
    return out


def _hessian(pr: _Problem, theta: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Forward-difference Hessian of the OFV: (p^2 + 3p)/2 + 1 evaluations."""
    p = theta.size
    f0 = _ofv(pr, theta)
    E = np.eye(p) * h
    fi = np.array([_ofv(pr, theta + E[i]) for i in range(p)])
    H = np.empty((p, p))
    for i in range(p):
        for j in range(i, p):
            H[i, j] = H[j, i] = (_ofv(pr, theta + E[i] + E[j]) - fi[i] - fi[j] + f0) / h**2
    return H


@dataclass(frozen=True)
class PopFitResult:
    """Estimates and diagnostics of :func:`fit_population`.

    Attributes
    ----------
    params : PopParameters
        The estimates (typical values at the covariate references, effects, IIV variances, sigma).
    table : polars.DataFrame
        One row per estimated quantity: ``PARAMETER``, ``KIND`` (typical / effect / omega2 / sigma),
        ``ESTIMATE``, ``SE``, ``RSE_PCT`` (100 SE/|estimate|, by the delta method from the
        unconstrained scale), ``SHRINKAGE_PCT`` (eta shrinkage 100 (1 - SD(eta^)/omega), Savic RM,
        Karlsson MO, AAPS J 2009;11:558; omega2 rows only), ``UNIT``.
    individual : polars.DataFrame
        Per subject: ``USUBJID``, ``ETA_<P>`` for each parameter with IIV, the individual parameters
        on the natural scale, ``CMAX`` and ``INNER_OK`` (the mode search converged).
    predictions : polars.DataFrame
        Per sample: ``USUBJID``, ``TIME``, ``DV`` (the LLOQ on a BLQ sample), ``BLQ``, ``PRED``
        (``eta = 0``) and ``IPRED`` (``eta^``) on the natural scale, ``IWRES`` (log scale,
        ``(log DV - log IPRED)/sigma``) and ``CWRES`` (Hooker AC et al., Pharm Res 2007;24:2187:
        ``L^-1 (y - f(eta^) + J eta^)``, ``L L' = J Omega J' + sigma^2 I``), both null on a BLQ sample.
    ofv : float
        Final objective (-2 log-likelihood, Laplace).
    covariance : ndarray or None
        Covariance of the unconstrained estimates (None if the Hessian was not positive definite).
    """

    params: PopParameters
    table: pl.DataFrame
    individual: pl.DataFrame
    predictions: pl.DataFrame
    ofv: float
    converged: bool
    message: str
    n_subjects: int
    n_obs: int
    n_blq: int
    n_iterations: int
    n_inner_failed: int
    seconds: float
    covariance: np.ndarray | None
    theta: np.ndarray
    theta_names: tuple[str, ...]
    iiv: tuple[str, ...]
    eta: np.ndarray
    epsilon_shrinkage_pct: float

    def summary(self) -> str:
        """The estimates as a plain-text table."""
        lines = [f"Population fit (Laplace/FOCE-I, M3 for BLQ): {self.n_subjects} subjects, {self.n_obs} samples "
                 f"({self.n_blq} BLQ); OFV {self.ofv:.3f}; {'converged' if self.converged else 'NOT converged'} "
                 f"({self.message}); {self.seconds:.1f} s",
                 f"{'parameter':<22}{'estimate':>12}{'RSE %':>9}{'shrink %':>10}  unit"]
        for r in self.table.iter_rows(named=True):
            rse = "" if r["RSE_PCT"] is None else f"{r['RSE_PCT']:.1f}"
            sh = "" if r["SHRINKAGE_PCT"] is None else f"{r['SHRINKAGE_PCT']:.1f}"
            lines.append(f"{r['PARAMETER']:<22}{r['ESTIMATE']:>12.4g}{rse:>9}{sh:>10}  {r['UNIT']}")
        lines.append(f"epsilon shrinkage {self.epsilon_shrinkage_pct:.1f} %")
        return "\n".join(lines)


def _initial_theta(data: PopData, iiv: Sequence[str], init: dict[str, float] | None) -> np.ndarray:
    start = dict(STEIN_2019)
    ymax = np.where(data.mask & ~data.blq, data.y, -np.inf).max(1)
    ymax = ymax[np.isfinite(ymax)]
    if ymax.size == 0:
        raise DataValidationError("fit_population: every sample is BLQ; there is nothing to fit")
    start["C0"] = float(np.exp(np.median(ymax) - start["RHO"] * start["TMAX"]))
    start.update(init or {})
    mu = [to_phi(p, start[p]) for p in PARAMETERS]
    return np.array([*mu, *np.zeros(data.design.shape[1]), *np.full(len(iiv), np.log(0.1)), np.log(0.5)])


def _problem(data: PopData, iiv: Sequence[str]) -> _Problem:
    return _Problem(
        predict=predict_log, names=PARAMETERS, t=data.time, y=data.y, obs=data.mask & ~data.blq,
        cen=data.mask & data.blq, log_lloq=np.where(data.blq, data.y, 0.0), design=data.design,
        design_cols=np.array([PARAMETERS.index(n.split("~")[0]) for n in data.design_names], dtype=int),
        iiv=np.array([PARAMETERS.index(p) for p in iiv], dtype=int),
        eta=np.zeros((data.n_subjects, len(iiv))))


def fit_population(data: PopData, *, iiv: Sequence[str] = ("C0", "RHO", "TMAX", "ALPHA", "BETA"),
                   init: dict[str, float] | None = None, max_iter: int = 500, covariance: bool = True
                   ) -> PopFitResult:
    """Fit the Stein-form CAR-T kinetic model to ``data`` by Laplace/FOCE-I with M3 for BLQ samples.

    Parameters
    ----------
    data : PopData
        From :func:`cartlab.pk.pop_data`; its covariates define the covariate effects.
    iiv : sequence of str
        Parameters with log-normal (logit-normal for ``FB``) inter-individual variability; diagonal Omega.
    init : dict, optional
        Start values of typical parameters (natural scale); the rest start at Stein 2019's values
        (``C0`` at the median peak divided by Stein's fold expansion).
    max_iter : int
        Maximum BFGS iterations.
    covariance : bool
        Compute standard errors (the covariance step; about ``2 p^2`` objective evaluations).

    Returns
    -------
    PopFitResult

    Raises
    ------
    SpecError
        If ``iiv`` names an unknown parameter.
    ConvergenceError
        If the objective cannot be evaluated at the start values.
    """
    unknown = [p for p in iiv if p not in PARAMETERS]
    if unknown or len(set(iiv)) != len(iiv):
        raise SpecError(f"fit_population: iiv must be distinct names among {', '.join(PARAMETERS)}; got {list(iiv)}")
    iiv = tuple(iiv)
    t0 = _time.perf_counter()
    pr = _problem(data, iiv)
    theta0 = _initial_theta(data, iiv, init)
    if not np.isfinite(_ofv(pr, theta0, update=True)):
        raise ConvergenceError("fit_population: the objective is not finite at the start values; give start "
                               "values (init=) closer to the data")
    n_iter = 0

    cache: dict[bytes, float] = {}

    def fun(th: np.ndarray) -> float:
        v = _ofv(pr, th)
        cache[th.tobytes()] = v
        return v

    def jac(th: np.ndarray) -> np.ndarray:
        return _grad(pr, th, cache.get(th.tobytes()))

    def callback(th: np.ndarray) -> None:
        nonlocal n_iter
        n_iter += 1
        _ofv(pr, th, update=True)  # warm-start the next modes at this iterate's

    res = optimize.minimize(fun, theta0, jac=jac, method="BFGS", callback=callback,
                            options={"maxiter": max_iter, "gtol": 1e-2})
    theta = res.x
    ofv = _ofv(pr, theta, update=True)
    g = _grad(pr, theta, ofv)
    # BFGS on finite-difference gradients often stops with "precision loss" at the optimum; accept it when
    # the gradient is small relative to the objective's curvature scale.
    converged = bool(res.success or np.abs(g).max() < _GTOL_ACCEPT)
    cov = None
    if covariance:
        R = _hessian(pr, theta)
        R = 0.5 * (R + R.T)
        try:
            np.linalg.cholesky(R)
            cov = 2.0 * np.linalg.inv(R)
        except np.linalg.LinAlgError:
            cov = None
    return _result(data, pr, theta, ofv, cov, iiv, converged, str(res.message), n_iter,
                   _time.perf_counter() - t0)


def _result(data: PopData, pr: _Problem, theta: np.ndarray, ofv: float, cov: np.ndarray | None,
            iiv: tuple[str, ...], converged: bool, message: str, n_iter: int, seconds: float) -> PopFitResult:
    phi_mu, om, beta, sigma = pr.unpack(theta)
    om_inv = 1.0 / om
    eta, _g, _H, ok = _modes(pr, phi_mu, om_inv, sigma, pr.eta)
    p, k, q = len(PARAMETERS), data.design.shape[1], len(iiv)
    se_u = np.sqrt(np.clip(np.diag(cov), 0, None)) if cov is not None else np.full(theta.size, np.nan)
    shrink = 100.0 * (1.0 - eta.std(axis=0, ddof=1) / np.sqrt(om)) if data.n_subjects > 1 else np.full(q, np.nan)
    rows = []
    typical = {}
    for j, name in enumerate(PARAMETERS):
        est = float(from_phi(name, theta[j]))
        typical[name] = est
        se = est * (1 - est) * se_u[j] if name == "FB" else est * se_u[j]
        rows.append((name, "typical", est, se, PARAMETER_UNITS[name], None))
    for j, name in enumerate(data.design_names):
        rows.append((name, "effect", float(theta[p + j]), se_u[p + j],
                     "exponent" if "=" not in name else "shift on log/logit scale", None))
    for j, name in enumerate(iiv):
        rows.append((f"omega2 {name}", "omega2", float(om[j]), om[j] * se_u[p + k + j], "variance", shrink[j]))
    rows.append(("sigma (log scale)", "sigma", sigma, sigma * se_u[-1], "SD of log residual", None))
    table = pl.DataFrame(
        {"PARAMETER": [r[0] for r in rows], "KIND": [r[1] for r in rows],
         "ESTIMATE": [float(r[2]) for r in rows],
         "SE": [None if not np.isfinite(r[3]) else float(r[3]) for r in rows],
         "RSE_PCT": [None if not np.isfinite(r[3]) or r[2] == 0 else float(100 * r[3] / abs(r[2])) for r in rows],
         "SHRINKAGE_PCT": [None if r[5] is None else float(r[5]) for r in rows],
         "UNIT": [r[4] for r in rows]},
        schema={"PARAMETER": pl.String, "KIND": pl.String, "ESTIMATE": pl.Float64, "SE": pl.Float64,
                "RSE_PCT": pl.Float64, "SHRINKAGE_PCT": pl.Float64, "UNIT": pl.String})
    params = PopParameters(typical=typical, omega2=dict(zip(iiv, map(float, om))), sigma=sigma,
                           effects=dict(zip(data.design_names, map(float, beta))))
    # predictions and residuals
    phi = phi_mu.copy()
    phi[:, pr.iiv] += eta
    ipred, J = predict_log(phi, data.time)
    pred, _ = predict_log(phi_mu, data.time)
    iwres = np.where(pr.obs, (data.y - ipred) / sigma, np.nan)
    cwres = np.full(data.y.shape, np.nan)
    Je = J[..., pr.iiv]
    for i in range(data.n_subjects):
        m = pr.obs[i]
        if not m.any():
            continue
        Ji = Je[i, m]
        C = (Ji * om) @ Ji.T + sigma**2 * np.eye(m.sum())
        e = data.y[i, m] - (ipred[i, m] - Ji @ eta[i])
        cwres[i, m] = np.linalg.solve(np.linalg.cholesky(C), e)
    mk = data.mask
    subj = np.repeat(np.array(data.subjects, dtype=object)[:, None], data.time.shape[1], 1)
    predictions = pl.DataFrame({
        "USUBJID": subj[mk].astype(str).tolist(), "TIME": data.time[mk], "DV": np.exp(data.y[mk]),
        "BLQ": data.blq[mk].astype(np.int64), "PRED": np.exp(pred[mk]), "IPRED": np.exp(ipred[mk]),
        "IWRES": iwres[mk], "CWRES": cwres[mk]}).with_columns(pl.col("IWRES", "CWRES").fill_nan(None))
    indiv = {"USUBJID": list(data.subjects)}
    for j, name in enumerate(iiv):
        indiv[f"ETA_{name}"] = eta[:, j]
    for j, name in enumerate(PARAMETERS):
        indiv[name] = np.asarray(from_phi(name, phi[:, j]), dtype=float)
    indiv["CMAX"] = indiv["C0"] * np.exp(indiv["RHO"] * indiv["TMAX"])
    indiv["INNER_OK"] = ok
    obs_iw = iwres[pr.obs]
    eps_shr = float(100.0 * (1.0 - obs_iw.std(ddof=1))) if obs_iw.size > 1 else float("nan")
    names = (*[f"mu {n}" for n in PARAMETERS], *data.design_names, *[f"log omega2 {n}" for n in iiv], "log sigma")
    return PopFitResult(params=params, table=table, individual=pl.DataFrame(indiv), predictions=predictions,
                        ofv=ofv, converged=converged, message=message, n_subjects=data.n_subjects,
                        n_obs=data.n_obs, n_blq=int(data.blq.sum()), n_iterations=n_iter,
                        n_inner_failed=int((~ok).sum()), seconds=seconds, covariance=cov, theta=theta,
                        theta_names=names, iiv=iiv, eta=eta, epsilon_shrinkage_pct=eps_shr)
