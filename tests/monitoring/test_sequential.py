"""The mixture SPRT's likelihood ratio, p-values and confidence sequence, worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from tether.errors import MonitoringError
from tether.monitoring import always_valid_path, effective_n


def mixture_ratio_by_integration(theta: float, variance: float, tau_abs: float) -> float:
    """The oracle: the integral of N(theta_hat; t, V) N(t; 0, tau^2) dt / N(theta_hat; 0, V)."""
    sd = math.sqrt(variance)

    def density(t: float) -> float:
        return float(stats.norm.pdf(theta, t, sd) * stats.norm.pdf(t, 0.0, tau_abs))

    width = 12 * max(sd, tau_abs)
    mixture, _ = integrate.quad(density, theta - width, theta + width, points=[0.0, theta])
    return float(mixture / stats.norm.pdf(theta, 0.0, sd))


@pytest.mark.parametrize(
    ("theta", "n1", "n2", "s1", "s2", "tau"),
    [
        (0.01, 5000, 5000, 0.3, 0.31, 0.05),
        (-2.5, 800, 3000, 40.0, 55.0, 0.1),
        (0.0, 50, 60, 1, 1, 1),
    ],
)
def test_the_likelihood_ratio_is_the_normal_mixture(
    theta: float, n1: int, n2: int, s1: float, s2: float, tau: float
) -> None:
    variance = s1**2 / n1 + s2**2 / n2
    n_eff = float(effective_n(n1, n2))
    assert n_eff == pytest.approx(n1 * n2 / (n1 + n2))
    # tau is an effect size: the mixing sd in metric units is tau times sqrt(V n_eff).
    tau_abs = tau * math.sqrt(variance * n_eff)
    path = always_valid_path([theta], [variance], [n_eff], alpha=0.05, mixing_sd=tau)
    expected = mixture_ratio_by_integration(theta, variance, tau_abs)
    assert math.exp(path.log_likelihood_ratio[0]) == pytest.approx(expected, rel=1e-6)
    assert path.p_values[0] == pytest.approx(min(1.0, 1.0 / expected), rel=1e-6)


def test_it_is_johari_pekelis_walshs_formula_for_equal_arms() -> None:
    # Their two-sample mSPRT with n pairs of known variance sigma^2 each:
    # Lambda = sqrt(2 s2 / (2 s2 + n t2)) exp(n^2 t2 delta^2 / (4 s2 (2 s2 + n t2))),
    # s2 = sigma^2, t2 = tau^2 (in metric units).
    n, sigma, delta, tau_abs = 4000, 2.0, 0.09, 0.1
    expected = math.sqrt(2 * sigma**2 / (2 * sigma**2 + n * tau_abs**2)) * math.exp(
        n**2 * tau_abs**2 * delta**2 / (4 * sigma**2 * (2 * sigma**2 + n * tau_abs**2))
    )
    path = always_valid_path(
        [delta], [2 * sigma**2 / n], effective_n(n, n), alpha=0.05, mixing_sd=tau_abs / sigma
    )
    assert math.exp(path.log_likelihood_ratio[0]) == pytest.approx(expected, rel=1e-12)


def test_p_values_are_a_running_minimum_and_the_sequence_a_running_intersection() -> None:
    estimates = np.array([0.02, 0.05, 0.01, 0.04, -0.01])
    variances = np.array([4e-4, 2e-4, 1.3e-4, 1e-4, 8e-5])
    n_eff = np.array([500.0, 1000, 1500, 2000, 2500])
    path = always_valid_path(estimates, variances, n_eff, alpha=0.1, mixing_sd=0.2)
    per_look = np.minimum(1, np.exp(-path.log_likelihood_ratio))
    assert path.p_values.tolist() == np.minimum.accumulate(per_look).tolist()
    assert np.all(np.diff(path.p_values) <= 0)
    assert np.all(np.diff(path.low) >= 0) and np.all(np.diff(path.high) <= 0)


def test_the_confidence_sequence_is_the_inverted_test() -> None:
    # At a bound theta0 of a single look's interval, the test of theta = theta0 has p exactly alpha.
    theta, variance, n, alpha = 0.03, 1e-4, 3000.0, 0.05
    path = always_valid_path([theta], [variance], [n], alpha=alpha, mixing_sd=0.05)
    for bound in (path.low[0], path.high[0]):
        shifted = always_valid_path([theta - bound], [variance], [n], alpha=alpha, mixing_sd=0.05)
        assert shifted.p_values[0] == pytest.approx(alpha, rel=1e-9)
    assert path.low[0] < theta < path.high[0]


def test_a_look_without_variance_carries_no_evidence() -> None:
    path = always_valid_path([0.0, 0.2, math.nan], [0.0, 0.0, 1e-3], [10, 10, 10], alpha=0.05)
    assert path.log_likelihood_ratio.tolist() == [0.0, 0.0, 0.0]
    assert path.p_values.tolist() == [1.0, 1.0, 1.0]
    assert path.low.tolist() == [-math.inf] * 3 and path.high.tolist() == [math.inf] * 3
    assert float(effective_n(0, 100)) == 0.0


def test_it_runs_over_many_experiments_at_once() -> None:
    estimates = np.array([[0.0, 0.1], [0.3, 0.3]])
    path = always_valid_path(estimates, np.full((2, 2), 0.01), np.full((2, 2), 100.0), alpha=0.05)
    single = always_valid_path(estimates[1], [0.01, 0.01], [100.0, 100.0], alpha=0.05)
    assert path.p_values.shape == (2, 2)
    assert path.p_values[1].tolist() == single.p_values.tolist()


@pytest.mark.parametrize(("alpha", "tau"), [(0.0, 0.1), (1.0, 0.1), (0.05, 0.0)])
def test_bad_parameters_are_refused(alpha: float, tau: float) -> None:
    with pytest.raises(MonitoringError, match=f"mixing_sd={tau}, alpha={alpha}"):
        always_valid_path([0.1], [0.01], [10], alpha=alpha, mixing_sd=tau)
