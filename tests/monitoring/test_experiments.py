"""Arm statistics, differences, the fixed-horizon tests and the sample size, against statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind, ztest

from tether.errors import MonitoringError
from tether.monitoring import (
    MeanMoments,
    ProportionCounts,
    arm_difference,
    fixed_horizon_test,
    required_sample_size,
    wilson_interval,
)


def moments(values: np.ndarray) -> MeanMoments:
    return MeanMoments(len(values), float(values.sum()), float((values * values).sum()))


@pytest.fixture
def values() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    # A skewed business value (most predictions worth little, a few a lot), unequal arms.
    return rng.gamma(0.5, 40.0, 900) - 5.0, rng.gamma(0.5, 44.0, 400) - 5.0


@pytest.mark.parametrize(("successes", "trials"), [(0, 20), (7, 50), (50, 50), (1234, 5000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_wilson_interval_matches_statsmodels(
    successes: int, trials: int, confidence: float
) -> None:
    expected = proportion_confint(successes, trials, 1 - confidence, method="wilson")
    assert wilson_interval(successes, trials, confidence) == pytest.approx(expected, abs=1e-12)
    counts = ProportionCounts(successes, trials)
    assert counts.interval(confidence) == pytest.approx(expected, abs=1e-12)


def test_a_proportion_with_no_trials_is_nan_and_impossible_counts_are_refused() -> None:
    empty = ProportionCounts(0, 0)
    assert math.isnan(empty.estimate)
    assert all(math.isnan(v) for v in empty.interval())
    with pytest.raises(MonitoringError, match="successes=6, trials=5"):
        ProportionCounts(6, 5)
    with pytest.raises(MonitoringError, match="n=-1"):
        MeanMoments(-1, 0.0, 0.0)


def test_mean_moments_recover_mean_variance_and_interval(
    values: tuple[np.ndarray, np.ndarray],
) -> None:
    x, _ = values
    m = moments(x)
    assert m.estimate == pytest.approx(x.mean(), rel=1e-12)
    assert m.variance == pytest.approx(x.var(ddof=1), rel=1e-9)
    assert m.interval(0.9) == pytest.approx(DescrStatsW(x).tconfint_mean(alpha=0.1), rel=1e-9)
    one = MeanMoments(1, 3.0, 9.0)
    assert math.isnan(one.variance)


def test_difference_of_proportions_is_the_unpooled_wald_interval() -> None:
    champion, challenger = ProportionCounts(120, 1000), ProportionCounts(150, 1100)
    diff = arm_difference(champion, challenger, 0.95)
    low, high = confint_proportions_2indep(150, 1100, 120, 1000, method="wald", compare="diff")
    assert diff.estimate == pytest.approx(150 / 1100 - 120 / 1000)
    assert (diff.low, diff.high) == pytest.approx((low, high), abs=1e-12)
    # By hand: sqrt(.12 * .88 / 1000 + (15/110)(95/110) / 1100).
    assert diff.standard_error == pytest.approx(math.sqrt(0.1056 / 1000 + 0.11777 / 1100), rel=1e-4)


def test_difference_of_means_is_welchs_interval(values: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = values
    diff = arm_difference(moments(x), moments(y), 0.9)
    expected = CompareMeans(DescrStatsW(y), DescrStatsW(x)).tconfint_diff(
        alpha=0.1, usevar="unequal"
    )
    assert diff.estimate == pytest.approx(y.mean() - x.mean(), rel=1e-9)
    assert (diff.low, diff.high) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_proportions_test_matches_statsmodels_proportions_ztest(alternative: str) -> None:
    champion, challenger = ProportionCounts(480, 6000), ProportionCounts(560, 6100)
    test = fixed_horizon_test(champion, challenger, alternative=alternative)  # type: ignore[arg-type]
    z, p = proportions_ztest([560, 480], [6100, 6000], alternative=alternative)
    assert (test.statistic, test.p_value) == pytest.approx((z, p), rel=1e-10)
    assert test.method == "z-proportions"


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_means_tests_match_statsmodels_welch_and_z(
    values: tuple[np.ndarray, np.ndarray], alternative: str
) -> None:
    x, y = values
    welch = fixed_horizon_test(moments(x), moments(y), alternative=alternative)  # type: ignore[arg-type]
    t, p, df = ttest_ind(y, x, usevar="unequal", alternative=alternative)
    assert (welch.statistic, welch.p_value, welch.df) == pytest.approx((t, p, df), rel=1e-9)
    pooled = fixed_horizon_test(
        moments(x),
        moments(y),
        alternative=alternative,  # type: ignore[arg-type]
        pooled_means=True,
    )
    z, p = ztest(y, x, alternative=alternative)
    assert (pooled.statistic, pooled.p_value) == pytest.approx((z, p), rel=1e-9)


def test_arms_too_small_for_a_variance_give_nan_not_an_error() -> None:
    one, many = MeanMoments(1, 3.0, 9.0), MeanMoments(5, 10.0, 30.0)
    diff = arm_difference(one, many)
    assert diff.estimate == pytest.approx(-1.0)
    assert math.isnan(diff.low) and math.isnan(diff.high)
    assert math.isnan(fixed_horizon_test(one, many).p_value)
    empty = ProportionCounts(0, 0)
    assert math.isnan(fixed_horizon_test(empty, ProportionCounts(3, 10)).p_value)


def test_a_proportion_is_not_compared_with_a_mean() -> None:
    with pytest.raises(MonitoringError, match="MeanMoments challenger with a ProportionCounts"):
        arm_difference(ProportionCounts(1, 10), MeanMoments(10, 1.0, 1.0))


@pytest.mark.parametrize(
    ("baseline", "lift", "alpha", "power", "ratio"),
    [(0.10, 0.02, 0.05, 0.8, 1.0), (0.5, -0.05, 0.05, 0.9, 0.25), (0.02, 0.005, 0.01, 0.8, 3.0)],
)
def test_sample_size_of_a_proportion_matches_statsmodels_power(
    baseline: float, lift: float, alpha: float, power: float, ratio: float
) -> None:
    effect = proportion_effectsize(baseline + lift, baseline)
    expected = NormalIndPower().solve_power(
        effect_size=effect, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"
    )
    n = required_sample_size(baseline=baseline, lift=lift, alpha=alpha, power=power, ratio=ratio)
    assert n == math.ceil(expected)


def test_sample_size_by_hand() -> None:
    # A mean moving by a tenth of its spread, equal arms, 5% two-sided, 80% power:
    # n = 2 (1.959964 + 0.841621)^2 / 0.1^2 = 1569.77 (the far tail adds ~1e-9): 1570.
    assert required_sample_size(baseline=0.0, lift=1.0, sd=10.0) == 1570
    # 0.10 -> 0.12: h = 2 asin(sqrt(.12)) - 2 asin(sqrt(.10)) = 0.06398; 2 (2.80159 / h)^2 = 3834.6.
    assert required_sample_size(baseline=0.10, lift=0.02) == 3835


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline": 0.5, "lift": 0.0}, "non-zero lift"),
        ({"baseline": 0.95, "lift": 0.1}, "leaves"),
        ({"baseline": 0.0, "lift": 1.0, "sd": 0.0}, "sd=0.0"),
        ({"baseline": 0.5, "lift": 0.1, "power": 1.0}, "power=1.0"),
    ],
)
def test_sample_size_refuses_what_has_no_answer(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(MonitoringError, match=message):
        required_sample_size(**kwargs)
