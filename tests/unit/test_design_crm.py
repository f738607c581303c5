"""CRM: skeleton calibration (dfcrm getprior), posterior, next-dose rule.

Reference values: dfcrm could not be run here (the CRAN package is not installable for this R),
and no printed getprior output was found through the search tools (dfcrm 0.2-2.1's help page,
https://www.rdocumentation.org/packages/dfcrm/versions/0.2-2.1/topics/getprior, shows the call but
not its result). The expected skeletons are therefore hand-derived from the published
indifference-interval definition (Cheung and Chappell 2002; Lee and Cheung 2009), shown below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import expit

from cartlab._core.errors import DataValidationError, SpecError
from cartlab.design._crm import (
    DEFAULT_PRIOR_SD,
    crm_next_dose,
    crm_posterior,
    crm_skeleton,
)

# --- skeleton calibration ------------------------------------------------------------------------
# Empiric model p_k(beta) = s_k ** exp(beta). Indifference-interval conditions at the switch point
# b_k between levels k-1 and k:  s_k ** exp(b_k) = t + h  and  s_{k-1} ** exp(b_k) = t - h.
# Taking logs and dividing: log s_{k-1} / log s_k = log(t - h) / log(t + h) =: r, so
# s_{k-1} = s_k ** r, and with s_nu = t:  s_k = t ** (r ** (nu - k)).
# getprior(0.05, 0.25, 3, 5): r = log(0.20) / log(0.30) = 1.6094379 / 1.2039728 = 1.3367737
#   s_3 = 0.25
#   s_2 = 0.25 ** 1.3367737          = exp(-1.3862944 * 1.3367737) = exp(-1.8531555) = 0.156741
#   s_1 = 0.25 ** 1.3367737 ** 2     = exp(-1.8531555 * 1.3367737) = exp(-2.4772330) = 0.083973
#   s_4 = 0.25 ** (1 / 1.3367737)    = exp(-1.3862944 / 1.3367737) = exp(-1.0370452) = 0.354500
#   s_5 = 0.25 ** (1 / 1.3367737**2) = exp(-1.0370452 / 1.3367737) = exp(-0.7757823) = 0.460343
GETPRIOR_EMPIRIC_005_025_3_5 = [0.083973, 0.156741, 0.25, 0.354500, 0.460343]


def test_getprior_empiric_hand_derived() -> None:
    np.testing.assert_allclose(crm_skeleton(0.05, 0.25, 3, 5), GETPRIOR_EMPIRIC_005_025_3_5, atol=2e-6)


# Logistic model p_k = expit(a0 + exp(beta) x_k), a0 = 3. Same conditions on the logit scale:
# a0 + exp(b_k) x_k = logit(t + h),  a0 + exp(b_k) x_{k-1} = logit(t - h), so
# x_{k-1} = x_k * q with q = (logit(t - h) - a0) / (logit(t + h) - a0) and x_nu = logit(t) - a0.
# getprior(0.10, 0.25, 3, 6, model="logistic") (the dfcrm help-page call):
#   logit(0.15) = -1.7346011, logit(0.35) = -0.6190392, logit(0.25) = -1.0986123
#   q = (-4.7346011) / (-3.6190392) = 1.3082480;  x_3 = -4.0986123
#   x_2 = -5.3620, x_1 = -7.0148;  x_4 = -3.1329, x_5 = -2.3948, x_6 = -1.8305
#   s = expit(3 + x): 0.017726, 0.086117, 0.25, 0.466823, 0.646861, 0.763057
GETPRIOR_LOGISTIC_010_025_3_6 = [0.017726, 0.086117, 0.25, 0.466823, 0.646861, 0.763057]


def test_getprior_logistic_hand_derived() -> None:
    got = crm_skeleton(0.10, 0.25, 3, 6, model="logistic")
    np.testing.assert_allclose(got, GETPRIOR_LOGISTIC_010_025_3_6, atol=2e-6)


@pytest.mark.parametrize("model", ["empiric", "logistic"])
@pytest.mark.parametrize(("h", "t", "nu", "k"), [(0.05, 0.25, 3, 5), (0.04, 0.2, 1, 6), (0.08, 0.3, 6, 6)])
def test_skeleton_has_requested_indifference_intervals(model: str, h: float, t: float, nu: int, k: int) -> None:
    s = crm_skeleton(h, t, nu, k, model=model)
    assert s[nu - 1] == pytest.approx(t)
    assert np.all(np.diff(s) > 0)
    for j in range(1, k):
        # switch point b between levels j and j+1 (0-based j-1, j): p_{j+1}(b) = t + h
        if model == "empiric":
            b = math.log(math.log(t + h) / math.log(s[j]))
            p_lower = s[j - 1] ** math.exp(b)
        else:
            x = np.log(s / (1 - s)) - 3.0
            b = math.log((math.log((t + h) / (1 - t - h)) - 3.0) / x[j])
            p_lower = 1.0 / (1.0 + math.exp(-(3.0 + math.exp(b) * x[j - 1])))
        assert p_lower == pytest.approx(t - h, abs=1e-12)


@pytest.mark.parametrize(
    ("args", "match"),
    [((0.3, 0.25, 3, 5), "halfwidth"), ((0.05, 1.2, 3, 5), "target"), ((0.05, 0.25, 6, 5), "prior_mtd"),
     ((0.05, 0.25, 1, 0), "n_levels")],
)
def test_skeleton_rejects_bad_arguments(args: tuple[float, float, int, int], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        crm_skeleton(*args)


# --- posterior -------------------------------------------------------------------------------------
SKEL = [0.05, 0.12, 0.25, 0.40, 0.55]


def _grid_posterior(skel: list[float], n: list[int], y: list[int], model: str) -> np.ndarray:
    """Independent check: trapezoid rule on a fine grid, written from the model definition."""
    s = np.asarray(skel)
    b = np.linspace(-14.0, 14.0, 200_001)
    if model == "empiric":
        p = s[None, :] ** np.exp(b)[:, None]
    else:
        x = np.log(s / (1 - s)) - 3.0
        p = expit(3.0 + np.exp(b)[:, None] * x[None, :])
    p = np.clip(p, 1e-300, 1 - 1e-16)
    loglik = (np.asarray(y) * np.log(p) + (np.asarray(n) - np.asarray(y)) * np.log1p(-p)).sum(axis=1)
    logw = loglik - 0.5 * b**2 / 1.34
    w = np.exp(logw - logw.max())
    return np.trapezoid(p * w[:, None], b, axis=0) / np.trapezoid(w, b)


@pytest.mark.parametrize("model", ["empiric", "logistic"])
@pytest.mark.parametrize(
    ("n", "y"), [([0] * 5, [0] * 5), ([3, 3, 3, 0, 0], [0, 0, 1, 0, 0]), ([3, 6, 6, 3, 0], [0, 1, 2, 3, 0])]
)
def test_posterior_mean_matches_grid_integration(model: str, n: list[int], y: list[int]) -> None:
    post = crm_posterior(SKEL, n, y, model=model)
    np.testing.assert_allclose(post.ptox, _grid_posterior(SKEL, n, y, model), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("model", ["empiric", "logistic"])
def test_no_data_posterior_equals_prior(model: str) -> None:
    post = crm_posterior(SKEL, [0] * 5, [0] * 5, model=model)
    # prior mean of beta is 0 and prior SD is dfcrm's sqrt(1.34)
    assert post.beta_mean == pytest.approx(0.0, abs=1e-10)
    assert post.beta_sd == pytest.approx(DEFAULT_PRIOR_SD, rel=1e-8)
    np.testing.assert_allclose(post.ptox_plugin, SKEL, rtol=1e-10)
    # prior mean of p_i: E[s_i ** exp(beta)] with beta ~ N(0, 1.34), by Gauss-Hermite (200 nodes)
    z, wts = np.polynomial.hermite_e.hermegauss(200)
    beta = math.sqrt(1.34) * z
    s = np.asarray(SKEL)
    if model == "empiric":
        p = s[None, :] ** np.exp(beta)[:, None]
    else:
        x = np.log(s / (1 - s)) - 3.0
        p = expit(3.0 + np.exp(beta)[:, None] * x[None, :])
    prior_mean = (wts[:, None] * p).sum(axis=0) / wts.sum()
    np.testing.assert_allclose(post.ptox, prior_mean, rtol=1e-7)


counts = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), min_size=4, max_size=4).map(
    lambda pairs: ([max(a, b) for a, b in pairs], [min(a, b) for a, b in pairs])
)


@settings(max_examples=40, deadline=None)
@given(data=counts, level=st.integers(0, 3), model=st.sampled_from(["empiric", "logistic"]))
def test_more_dlts_never_lower_posterior_toxicity(
    data: tuple[list[int], list[int]], level: int, model: str
) -> None:
    n, y = data
    skel = [0.05, 0.12, 0.25, 0.40]
    if y[level] == n[level]:
        n = list(n)
        n[level] += 1  # room for one more DLT at this level
    y_more = list(y)
    y_more[level] += 1
    before = crm_posterior(skel, n, y, model=model).ptox
    after = crm_posterior(skel, n, y_more, model=model).ptox
    assert all(a >= b - 1e-9 for a, b in zip(after, before, strict=True))


def test_posterior_rejects_bad_data() -> None:
    with pytest.raises(DataValidationError, match="level 2"):
        crm_posterior(SKEL, [3, 1, 0, 0, 0], [0, 2, 0, 0, 0])
    with pytest.raises(DataValidationError, match="one count per dose level"):
        crm_posterior(SKEL, [3, 1], [0, 0])
    with pytest.raises(SpecError, match="increasing"):
        crm_posterior([0.1, 0.05], [0, 0], [0, 0])
    with pytest.raises(SpecError, match="model"):
        crm_posterior(SKEL, [0] * 5, [0] * 5, model="probit")  # type: ignore[arg-type]


# --- next dose -------------------------------------------------------------------------------------
def test_next_dose_is_closest_to_target_and_respects_no_skip() -> None:
    n, y = [3, 0, 0, 0, 0], [0, 0, 0, 0, 0]
    free = crm_next_dose(SKEL, n, y, 0.25, no_skip=False)
    p = np.asarray(free.posterior.ptox)
    assert free.next_level == int(np.argmin(np.abs(p - 0.25))) + 1
    assert free.next_level > 2  # 0/3 at DL1 pushes the estimate down: the free rule skips levels
    held = crm_next_dose(SKEL, n, y, 0.25)
    assert held.max_allowed_level == 2 and held.next_level == 2


def test_next_dose_with_no_data_starts_at_level_one_when_no_skip() -> None:
    assert crm_next_dose(SKEL, [0] * 5, [0] * 5, 0.25).next_level == 1


def test_next_dose_de_escalates_after_toxicity() -> None:
    d = crm_next_dose(SKEL, [3, 3, 3, 0, 0], [0, 0, 3, 0, 0], 0.25)
    assert d.next_level <= 2


def test_plugin_estimate_matches_definition() -> None:
    post = crm_posterior(SKEL, [3, 3, 3, 0, 0], [0, 0, 1, 0, 0])
    np.testing.assert_allclose(post.ptox_plugin, np.asarray(SKEL) ** math.exp(post.beta_mean), rtol=1e-12)
