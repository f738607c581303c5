"""Continual reassessment method (CRM) for dose finding, with dfcrm's working models.

The CRM (O'Quigley, Pepe and Fisher 1990) models the dose-toxicity curve with a one-parameter
working model over a *skeleton* (prior guesses of the DLT probability at each dose level),
updates the parameter by Bayes' rule after each cohort and assigns the next cohort to the dose
whose estimated DLT probability is closest to the target.

Working models (as in the R package dfcrm, Cheung 2011):

- ``"empiric"`` (power): ``p_i(beta) = s_i ** exp(beta)``.
- ``"logistic"`` (one parameter): ``p_i(beta) = 1 / (1 + exp(-(a0 + exp(beta) * x_i)))`` with a fixed
  intercept ``a0`` (default 3) and scaled doses back-computed from the skeleton,
  ``x_i = logit(s_i) - a0``, so that ``p_i(0) = s_i``.

The prior is ``beta ~ Normal(0, prior_sd**2)`` with dfcrm's default ``prior_sd = sqrt(1.34)``.

Dose levels are numbered from 1 (DL1, DL2, ...) in every argument and result of this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import quad_vec
from scipy.optimize import minimize_scalar

from cartlab._core.errors import DataValidationError, SpecError

CRMModel = Literal["empiric", "logistic"]
CRM_MODELS: tuple[str, ...] = ("empiric", "logistic")
DEFAULT_PRIOR_SD: float = math.sqrt(1.34)
DEFAULT_INTERCEPT: float = 3.0

# Half-width of the integration window in prior standard deviations around the posterior mode.
# The log-likelihood of both working models is concave in beta, so the posterior is at least as
# concentrated as the normal prior and 12 SD leaves a tail mass far below double precision.
_WINDOW_SD = 12.0


def _check_model(model: str) -> None:
    if model not in CRM_MODELS:
        raise SpecError(f"model must be one of {CRM_MODELS}; got {model!r}")


def _check_probability(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 < value < 1.0) or math.isnan(value):
        raise SpecError(f"{name} must be strictly between 0 and 1; got {value!r}")
    return value


def _check_skeleton(skeleton: ArrayLike) -> NDArray[np.float64]:
    s = np.asarray(skeleton, dtype=float)
    if s.ndim != 1 or s.size < 1:
        raise SpecError(f"skeleton must be a 1-D sequence of at least one probability; got shape {s.shape}")
    if not np.all((s > 0.0) & (s < 1.0)):
        raise SpecError(f"skeleton values must be strictly between 0 and 1; got {s.tolist()}")
    if s.size > 1 and not np.all(np.diff(s) > 0.0):
        raise SpecError(f"skeleton must be strictly increasing with dose level; got {s.tolist()}")
    return s


def _check_counts(n: ArrayLike, y: ArrayLike, n_levels: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n_arr = np.asarray(n)
    y_arr = np.asarray(y)
    for name, arr in (("n", n_arr), ("y", y_arr)):
        if arr.shape != (n_levels,):
            raise DataValidationError(
                f"{name} must hold one count per dose level ({n_levels}); got shape {arr.shape}"
            )
        if not np.all(np.equal(np.mod(arr, 1), 0)) or np.any(arr < 0):
            raise DataValidationError(f"{name} must be non-negative whole numbers; got {arr.tolist()}")
    n_int = n_arr.astype(np.int64)
    y_int = y_arr.astype(np.int64)
    bad = np.flatnonzero(y_int > n_int)
    if bad.size:
        k = int(bad[0])
        raise DataValidationError(
            f"y (DLTs) must not exceed n (patients) at any dose level; got y={int(y_int[k])} > n={int(n_int[k])} "
            f"at level {k + 1}"
        )
    return n_int, y_int


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def crm_skeleton(
    halfwidth: float,
    target: float,
    prior_mtd: int,
    n_levels: int,
    *,
    model: CRMModel = "empiric",
    intercept: float = DEFAULT_INTERCEPT,
) -> NDArray[np.float64]:
    """Calibrate a CRM skeleton by the indifference-interval method (dfcrm ``getprior``).

    The skeleton is chosen so that every dose level has the indifference interval
    ``target ± halfwidth`` (Cheung and Chappell 2002; Lee and Cheung 2009): at the value ``b_k``
    of the model parameter where the recommendation switches from level ``k-1`` to level ``k``,
    ``p_k(b_k) = target + halfwidth`` and ``p_{k-1}(b_k) = target - halfwidth``; the prior MTD has
    skeleton value ``target``. For the empiric model this gives the closed form
    ``s_k = target ** (r ** (prior_mtd - k))`` with ``r = log(target - halfwidth) / log(target + halfwidth)``;
    for the logistic model ``x_k = (logit(target) - a0) * q ** (prior_mtd - k)`` with
    ``q = (logit(target - halfwidth) - a0) / (logit(target + halfwidth) - a0)`` and ``s_k = expit(a0 + x_k)``.

    Parameters
    ----------
    halfwidth : float
        Half-width of the indifference interval, ``0 < halfwidth < min(target, 1 - target)``.
    target : float
        Target DLT probability, in (0, 1).
    prior_mtd : int
        Prior guess of the MTD as a dose level, 1..n_levels (dfcrm's ``nu``).
    n_levels : int
        Number of dose levels (dfcrm's ``nlevel``), >= 1.
    model : {"empiric", "logistic"}
        Working model.
    intercept : float
        Fixed intercept ``a0`` of the logistic model (ignored for ``"empiric"``).

    Returns
    -------
    numpy.ndarray
        Skeleton, one DLT probability per dose level, increasing.

    References
    ----------
    Lee SM, Cheung YK (2009). Model calibration in the continual reassessment method.
    Clinical Trials 6:227-238. Cheung YK (2011). Dose Finding by the Continual Reassessment
    Method. Chapman & Hall/CRC.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(crm_skeleton(0.05, 0.25, 3, 5), 4)
    array([0.084 , 0.1567, 0.25  , 0.3545, 0.4603])
    """
    _check_model(model)
    target = _check_probability("target", target)
    halfwidth = float(halfwidth)
    if not (0.0 < halfwidth < min(target, 1.0 - target)):
        raise SpecError(
            f"halfwidth must be > 0 and < min(target, 1 - target) = {min(target, 1.0 - target):g}; got {halfwidth!r}"
        )
    if isinstance(n_levels, bool) or int(n_levels) != n_levels or n_levels < 1:
        raise SpecError(f"n_levels must be a whole number >= 1; got {n_levels!r}")
    if isinstance(prior_mtd, bool) or int(prior_mtd) != prior_mtd or not (1 <= prior_mtd <= n_levels):
        raise SpecError(f"prior_mtd must be a dose level between 1 and n_levels={n_levels}; got {prior_mtd!r}")
    steps = int(prior_mtd) - np.arange(1, int(n_levels) + 1)  # prior_mtd - k
    lo, hi = target - halfwidth, target + halfwidth
    if model == "empiric":
        r = math.log(lo) / math.log(hi)
        return np.asarray(np.exp(math.log(target) * r ** steps.astype(float)), dtype=float)
    a0 = float(intercept)
    denom = _logit(hi) - a0
    if denom == 0.0:
        raise SpecError(f"intercept must differ from logit(target + halfwidth) = {_logit(hi):g}; got {a0!r}")
    q = (_logit(lo) - a0) / denom
    x = (_logit(target) - a0) * q ** steps.astype(float)
    return np.asarray(1.0 / (1.0 + np.exp(-(a0 + x))), dtype=float)


def _log_p_and_q(
    beta: float, model: str, skeleton: NDArray[np.float64], intercept: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """log p_i(beta) and log(1 - p_i(beta)) for every level, computed without cancellation."""
    b = float(beta)
    if model == "empiric":
        z = math.exp(b) * np.log(skeleton)  # log p, <= 0
        return z, np.log(-np.expm1(z))
    x = np.log(skeleton / (1.0 - skeleton)) - intercept
    eta = intercept + math.exp(b) * x
    return -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta)


@dataclass(frozen=True, slots=True)
class CRMPosterior:
    """Posterior summary of a CRM working model after the observed data.

    Attributes
    ----------
    model : str
        Working model, ``"empiric"`` or ``"logistic"``.
    skeleton : tuple of float
        Skeleton used.
    ptox : tuple of float
        Posterior mean DLT probability at each dose level, ``E[p_i(beta) | data]``.
    ptox_plugin : tuple of float
        ``p_i(E[beta | data])``, the plug-in estimate that dfcrm's ``crm`` reports as ``ptox``.
    beta_mean, beta_sd : float
        Posterior mean and standard deviation of ``beta``.
    """

    model: str
    skeleton: tuple[float, ...]
    ptox: tuple[float, ...]
    ptox_plugin: tuple[float, ...]
    beta_mean: float
    beta_sd: float


def crm_posterior(
    skeleton: ArrayLike,
    n: ArrayLike,
    y: ArrayLike,
    *,
    model: CRMModel = "empiric",
    prior_sd: float = DEFAULT_PRIOR_SD,
    intercept: float = DEFAULT_INTERCEPT,
) -> CRMPosterior:
    """Posterior of the CRM working model given patients and DLTs per dose level.

    The posterior density of ``beta`` is proportional to
    ``prod_i p_i(beta)**y_i * (1 - p_i(beta))**(n_i - y_i) * phi(beta / prior_sd)``; its moments and the
    posterior mean DLT probabilities are computed by adaptive quadrature
    (``scipy.integrate.quad_vec``) over ``mode ± 12 * prior_sd``.

    Parameters
    ----------
    skeleton : array_like
        Prior DLT probabilities per dose level, strictly increasing in (0, 1).
    n, y : array_like of int
        Patients treated and DLTs observed at each dose level (same length as ``skeleton``).
    model : {"empiric", "logistic"}
        Working model.
    prior_sd : float
        Standard deviation of the normal prior on ``beta`` (dfcrm ``scale``; default ``sqrt(1.34)``).
    intercept : float
        Fixed intercept of the logistic model.

    Returns
    -------
    CRMPosterior

    Examples
    --------
    >>> post = crm_posterior([0.05, 0.12, 0.25, 0.4], [3, 3, 0, 0], [0, 1, 0, 0])
    >>> [round(p, 3) for p in post.ptox]
    [0.131, 0.219, 0.351, 0.487]
    """
    _check_model(model)
    s = _check_skeleton(skeleton)
    n_int, y_int = _check_counts(n, y, s.size)
    prior_sd = float(prior_sd)
    if not (prior_sd > 0.0 and math.isfinite(prior_sd)):
        raise SpecError(f"prior_sd must be a finite number > 0; got {prior_sd!r}")
    a0 = float(intercept)

    def log_post(beta: float) -> float:
        lp, lq = _log_p_and_q(beta, model, s, a0)
        return float(np.sum(y_int * lp + (n_int - y_int) * lq)) - 0.5 * (beta / prior_sd) ** 2

    if n_int.sum() == 0:
        mode = 0.0
    else:
        half = 40.0 * prior_sd
        opt = minimize_scalar(lambda b: -log_post(b), bounds=(-half, half), method="bounded",
                              options={"xatol": 1e-10})
        mode = float(opt.x)
    top = log_post(mode)

    def integrand(beta: float) -> NDArray[np.float64]:
        lp, _ = _log_p_and_q(beta, model, s, a0)
        w = math.exp(log_post(beta) - top)
        return w * np.concatenate(([1.0, beta, beta * beta], np.exp(lp)))

    half = _WINDOW_SD * prior_sd
    moments, _err = quad_vec(integrand, mode - half, mode + half, epsabs=1e-13, epsrel=1e-10, points=(mode,))
    moments = np.asarray(moments, dtype=float)
    mass = moments[0]
    beta_mean = moments[1] / mass
    beta_var = max(moments[2] / mass - beta_mean * beta_mean, 0.0)
    ptox = moments[3:] / mass
    plug_lp, _ = _log_p_and_q(beta_mean, model, s, a0)
    return CRMPosterior(
        model=model,
        skeleton=tuple(float(v) for v in s),
        ptox=tuple(float(v) for v in ptox),
        ptox_plugin=tuple(float(v) for v in np.exp(plug_lp)),
        beta_mean=float(beta_mean),
        beta_sd=math.sqrt(beta_var),
    )


@dataclass(frozen=True, slots=True)
class CRMDecision:
    """Dose recommended by the CRM for the next cohort.

    Attributes
    ----------
    next_level : int
        Recommended dose level (1-based).
    target : float
        Target DLT probability.
    max_allowed_level : int
        Highest level that could be recommended (one above the highest level tried when
        skipping untried levels is not allowed, else the top level).
    posterior : CRMPosterior
        Posterior summary the decision was based on.
    """

    next_level: int
    target: float
    max_allowed_level: int
    posterior: CRMPosterior


def crm_next_dose(
    skeleton: ArrayLike,
    n: ArrayLike,
    y: ArrayLike,
    target: float,
    *,
    model: CRMModel = "empiric",
    prior_sd: float = DEFAULT_PRIOR_SD,
    intercept: float = DEFAULT_INTERCEPT,
    no_skip: bool = True,
    estimate: Literal["mean", "plugin"] = "mean",
) -> CRMDecision:
    """Recommend the next dose level: the one whose estimated DLT probability is closest to target.

    Parameters
    ----------
    skeleton, n, y, model, prior_sd, intercept
        As for :func:`crm_posterior`.
    target : float
        Target DLT probability, in (0, 1).
    no_skip : bool
        If true (default), never recommend a level more than one above the highest level tried so
        far; with no patients yet, level 1.
    estimate : {"mean", "plugin"}
        Rank doses by the posterior mean DLT probability (default) or by dfcrm's plug-in
        ``p_i(E[beta | data])``.

    Returns
    -------
    CRMDecision
        Ties in distance go to the lower dose.

    Examples
    --------
    >>> crm_next_dose([0.05, 0.12, 0.25, 0.4], [3, 0, 0, 0], [0, 0, 0, 0], 0.25).next_level
    2
    >>> crm_next_dose([0.05, 0.12, 0.25, 0.4], [3, 0, 0, 0], [0, 0, 0, 0], 0.25, no_skip=False).next_level
    4
    """
    target = _check_probability("target", target)
    if estimate not in ("mean", "plugin"):
        raise SpecError(f"estimate must be 'mean' or 'plugin'; got {estimate!r}")
    post = crm_posterior(skeleton, n, y, model=model, prior_sd=prior_sd, intercept=intercept)
    p = np.asarray(post.ptox if estimate == "mean" else post.ptox_plugin)
    n_levels = p.size
    if no_skip:
        tried = np.flatnonzero(np.asarray(n) > 0)
        max_allowed = int(tried.max()) + 2 if tried.size else 1
        max_allowed = min(max_allowed, n_levels)
    else:
        max_allowed = n_levels
    dist = np.abs(p[:max_allowed] - target)
    level = int(np.argmin(dist)) + 1
    return CRMDecision(next_level=level, target=target, max_allowed_level=max_allowed, posterior=post)


__all__ = [
    "CRM_MODELS",
    "DEFAULT_INTERCEPT",
    "DEFAULT_PRIOR_SD",
    "CRMDecision",
    "CRMPosterior",
    "crm_next_dose",
    "crm_posterior",
    "crm_skeleton",
]
