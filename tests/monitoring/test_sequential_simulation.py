"""The mSPRT's error rates by seeded simulation: a 60-day experiment looked at every day.

Each simulated experiment has two arms of 1,000 labelled predictions a day; a look after
every day sees the cumulative aggregates, exactly what :func:`decide` reads. The rule under
test is the decision's own (:func:`decision_path`, the vectorised :func:`decide`; a test
below checks that the two agree look by look). Measured (10,000 runs each, alpha 0.05,
``mixing_sd`` 0.05, ``min_samples`` 1,000; the tests below compute each number):

- no true difference, a proportion of 0.10: the mSPRT promotes in 0.0101 of the runs
  (a decision on significance either way, 0.0199); the naive fixed-horizon z-test checked
  daily promotes in 0.1666 (3.3 x alpha) and finds a "significant" difference in 0.3295
  (6.6 x alpha);
- no true difference, a mean business value (normal moments): the mSPRT promotes in 0.0080
  (either way 0.0169), the naive test in 0.1642 (either way 0.3334);
- no true difference, a heavy-tailed value like money caught (98% of predictions worth 0,
  the rest Gamma(0.7, 120): skewness ~17 per observation; 4,000 runs, drawn value by
  value): the mSPRT promotes in 0.0095 (either way 0.0188), so the plug-in variance holds;
- no true difference, other mixing sds: a significant result either way in 0.0054 (tau
  0.01), 0.0108 (0.2), 0.0024 (1.0);
- no true difference, a sticky challenger cohort of a tenth of the traffic (111 a day
  against 1,000; the test starts on day 10, when it has 1,000): mSPRT 0.0041, naive 0.1723;
- with ``min_lift`` 0.01: a challenger exactly at it is stopped for futility in 0.0111 of
  the runs (promoted in 0.986); one without any lift, in 0.988 (median day 15);
- a true lift of 0.10 -> 0.11 (the fixed-horizon test needs 14,745 rows per arm, 14.7 days,
  at 80% power): power 0.9968 within 60 days, median 16 days to the promotion (quartiles 9
  and 24); the confidence sequence holds the true difference at every look at once in 0.9802
  of the runs;
- a lift half that size, 0.10 -> 0.105 (fixed horizon: 57,756 per arm, 58 days): power 0.47
  within 60 days, median 33 days: the mixture spends power on being valid at every look;
- a mean lifted by 0.04 of its spread (fixed horizon: 9,812 per arm): power 1.0, median 11
  days.

The rates are checked against honest bounds: with 10,000 runs the standard error of a rate
near alpha is 0.0022, so "at most alpha" is checked as at most alpha + 3.5 standard errors
(a true rate of alpha fails it with probability 0.0002); the naive test's excess is checked
as at least 2.5 x alpha, 11 standard errors below what it measures.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from tether.monitoring import (
    DecisionCode,
    ExperimentLook,
    ExperimentPolicy,
    MeanMoments,
    ProportionCounts,
    decide,
    decision_path,
    fixed_horizon_test,
    required_sample_size,
)

RUNS, DAYS, PER_DAY, ALPHA = 10_000, 60, 1000, 0.05
POLICY = ExperimentPolicy(metric="m", alpha=ALPHA, min_samples=1000, max_days=DAYS)
SLACK = 3.5 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)
Array = npt.NDArray[np.float64]


def proportion_experiments(
    p_champion: float, p_challenger: float, seed: int, challenger_per_day: int = PER_DAY
) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    days = np.arange(1.0, DAYS + 1)
    n = np.broadcast_to(PER_DAY * days, (RUNS, DAYS))
    n2 = np.broadcast_to(challenger_per_day * days, (RUNS, DAYS))
    x1 = rng.binomial(PER_DAY, p_champion, (RUNS, DAYS)).cumsum(axis=1).astype(np.float64)
    x2 = rng.binomial(challenger_per_day, p_challenger, (RUNS, DAYS)).cumsum(axis=1)
    p1, p2 = x1 / n, x2 / n2
    pooled = (x1 + x2) / (n + n2)
    return {
        "x1": x1,
        "x2": x2.astype(np.float64),
        "n": n,
        "n2": n2,
        "estimate": p2 - p1,
        "variance": p1 * (1 - p1) / n + p2 * (1 - p2) / n2,
        "naive_z": (p2 - p1) / np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n2)),
    }


def mean_experiments(mean: float, lift: float, sd: float, seed: int) -> dict[str, Array]:
    """Daily moments of normal values drawn exactly: the sum is normal, the centred sum of
    squares sd^2 chi^2(n - 1), independent of it."""
    rng = np.random.default_rng(seed)
    out: dict[str, Array] = {}
    for arm, mu in (("1", mean), ("2", mean + lift)):
        sums = PER_DAY * mu + sd * math.sqrt(PER_DAY) * rng.standard_normal((RUNS, DAYS))
        centred = sd * sd * rng.chisquare(PER_DAY - 1, (RUNS, DAYS))
        out["sum" + arm] = sums.cumsum(axis=1)
        out["squares" + arm] = (centred + sums * sums / PER_DAY).cumsum(axis=1)
    n = np.broadcast_to(PER_DAY * np.arange(1.0, DAYS + 1), (RUNS, DAYS))
    m1, m2 = out["sum1"] / n, out["sum2"] / n
    v1 = (out["squares1"] - n * m1 * m1) / (n - 1)
    v2 = (out["squares2"] - n * m2 * m2) / (n - 1)
    out |= {"n": n, "estimate": m2 - m1, "variance": v1 / n + v2 / n}
    # The naive analyst's z on the pooled variance (statsmodels ztest).
    pooled = ((n - 1) * (v1 + v2)) / (2 * n - 2)
    out["naive_z"] = (m2 - m1) / np.sqrt(pooled * 2 / n)
    return out


def outcomes(
    sim: dict[str, Array], policy: ExperimentPolicy = POLICY
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each run's deciding code and the index of its deciding look (-1: never decided)."""
    n2 = sim.get("n2", sim["n"])
    days = np.arange(1, DAYS + 1)
    codes, _ = decision_path(sim["estimate"], sim["variance"], sim["n"], n2, days, policy)
    decided = codes != DecisionCode.CONTINUE
    first = np.where(decided.any(axis=1), decided.argmax(axis=1), -1)
    code = np.where(first >= 0, codes[np.arange(RUNS), np.maximum(first, 0)], DecisionCode.CONTINUE)
    return code, first


def naive_daily(sim: dict[str, Array]) -> tuple[float, float]:
    """The naive analyst: a two-sided z-test at alpha after every day, stopping at the first
    significant result. Returns (false-promotion rate, any-significance rate)."""
    significant = np.abs(sim["naive_z"]) > 1.959963984540054
    first = np.where(significant.any(axis=1), significant.argmax(axis=1), -1)
    promoted = (first >= 0) & (sim["naive_z"][np.arange(RUNS), np.maximum(first, 0)] > 0)
    return float(promoted.mean()), float(significant.any(axis=1).mean())


def test_without_a_true_difference_a_proportion_is_falsely_promoted_at_most_alpha() -> None:
    sim = proportion_experiments(0.10, 0.10, seed=20260101)
    code, _ = outcomes(sim)
    false_promotion = float((code == DecisionCode.PROMOTE).mean())
    any_significant = float(np.isin(code, [DecisionCode.PROMOTE, DecisionCode.WORSE]).mean())
    naive_promotion, naive_significant = naive_daily(sim)
    assert false_promotion <= ALPHA + SLACK, false_promotion
    assert any_significant <= ALPHA + SLACK, any_significant
    assert naive_promotion >= 2.5 * ALPHA, naive_promotion
    assert naive_significant >= 5 * ALPHA, naive_significant
    # The naive statistic is the fixed-horizon test's own (statsmodels proportions_ztest).
    x1, x2, n = sim["x1"][0, 9], sim["x2"][0, 9], int(sim["n"][0, 9])
    test = fixed_horizon_test(ProportionCounts(int(x1), n), ProportionCounts(int(x2), n))
    assert test.statistic == pytest.approx(sim["naive_z"][0, 9], rel=1e-9)


@pytest.mark.parametrize("mixing_sd", [0.01, 0.2, 1.0])
def test_any_mixing_variance_keeps_the_false_promotion_rate_at_most_alpha(
    mixing_sd: float,
) -> None:
    # tau only trades power between effect sizes; the guarantee holds for every tau.
    sim = proportion_experiments(0.10, 0.10, seed=20260111)
    policy = ExperimentPolicy(metric="m", alpha=ALPHA, max_days=DAYS, mixing_sd=mixing_sd)
    code, _ = outcomes(sim, policy)
    assert float(np.isin(code, [DecisionCode.PROMOTE, DecisionCode.WORSE]).mean()) <= (
        ALPHA + SLACK
    )


def test_a_small_sticky_cohort_is_falsely_promoted_at_most_alpha() -> None:
    # The challenger gets a tenth of the traffic; the champion keeps the rest.
    sim = proportion_experiments(0.10, 0.10, seed=20260108, challenger_per_day=PER_DAY // 9)
    code, _ = outcomes(sim)
    naive_promotion, _ = naive_daily(sim)
    assert float((code == DecisionCode.PROMOTE).mean()) <= ALPHA + SLACK
    assert naive_promotion >= 2.5 * ALPHA
    n1, n2 = int(sim["n"][0, 20]), int(sim["n2"][0, 20])
    counts = [ProportionCounts(int(sim[x][0, 20]), n) for x, n in (("x1", n1), ("x2", n2))]
    assert fixed_horizon_test(*counts).statistic == pytest.approx(sim["naive_z"][0, 20])


def test_a_challenger_exactly_at_the_minimum_lift_is_stopped_for_futility_at_most_alpha() -> None:
    sim = proportion_experiments(0.10, 0.11, seed=20260109)
    policy = ExperimentPolicy(metric="m", alpha=ALPHA, max_days=DAYS, min_lift=0.01)
    code, _ = outcomes(sim, policy)
    assert float((code == DecisionCode.FUTILE).mean()) <= ALPHA + SLACK
    # And one with no lift at all is stopped for futility, as it should be, most of the time.
    flat, _ = outcomes(proportion_experiments(0.10, 0.10, seed=20260110), policy)
    assert float((flat == DecisionCode.FUTILE).mean()) >= 0.5


def test_without_a_true_difference_a_mean_is_falsely_promoted_at_most_alpha() -> None:
    sim = mean_experiments(mean=2.0, lift=0.0, sd=15.0, seed=20260102)
    code, _ = outcomes(sim)
    false_promotion = float((code == DecisionCode.PROMOTE).mean())
    naive_promotion, _ = naive_daily(sim)
    assert false_promotion <= ALPHA + SLACK, false_promotion
    assert naive_promotion >= 2.5 * ALPHA, naive_promotion
    moments = [
        MeanMoments(PER_DAY * 5, sim["sum" + a][3, 4], sim["squares" + a][3, 4]) for a in "12"
    ]
    z = fixed_horizon_test(*moments, pooled_means=True).statistic
    assert z == pytest.approx(sim["naive_z"][3, 4], rel=1e-9)


def zero_inflated_experiments(runs: int, seed: int) -> dict[str, Array]:
    """Money per prediction: 2% of predictions are worth Gamma(0.7, 120), the rest nothing.

    Drawn value by value (only the non-zero ones), summed per day with ``bincount``."""
    rng = np.random.default_rng(seed)
    cells = runs * DAYS
    n = np.broadcast_to(PER_DAY * np.arange(1.0, DAYS + 1), (runs, DAYS))
    means, variances = [], []
    for _ in range(2):
        nonzero = rng.binomial(PER_DAY, 0.02, cells)
        cell = np.repeat(np.arange(cells), nonzero)
        values = rng.gamma(0.7, 120.0, cell.size)
        total = np.bincount(cell, values, cells).reshape(runs, DAYS).cumsum(axis=1)
        squares = np.bincount(cell, values * values, cells).reshape(runs, DAYS).cumsum(axis=1)
        means.append(total / n)
        variances.append((squares - n * (total / n) ** 2) / (n - 1) / n)
    return {"n": n, "estimate": means[1] - means[0], "variance": variances[0] + variances[1]}


def test_without_a_true_difference_a_heavy_tailed_value_is_falsely_promoted_at_most_alpha() -> None:
    runs = 4000
    sim = zero_inflated_experiments(runs, seed=20260107)
    codes, _ = decision_path(
        sim["estimate"], sim["variance"], sim["n"], sim["n"], np.arange(1, DAYS + 1), POLICY
    )
    decided = codes != DecisionCode.CONTINUE
    first = np.where(decided.any(axis=1), decided.argmax(axis=1), 0)
    promoted = decided.any(axis=1) & (codes[np.arange(runs), first] == DecisionCode.PROMOTE)
    assert float(promoted.mean()) <= ALPHA + 3.5 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


def test_a_true_lift_is_promoted_with_high_power_in_about_the_fixed_horizon() -> None:
    sim = proportion_experiments(0.10, 0.11, seed=20260103)
    code, first = outcomes(sim)
    promoted = code == DecisionCode.PROMOTE
    power = float(promoted.mean())
    median_days = float(np.median(first[promoted] + 1))
    fixed_days = required_sample_size(baseline=0.10, lift=0.01) / PER_DAY
    assert power >= 0.95, power
    assert median_days <= 2 * fixed_days, (median_days, fixed_days)
    # The confidence sequence holds the true difference at every look at once.
    _, path = decision_path(
        sim["estimate"], sim["variance"], sim["n"], sim["n"], np.arange(1, DAYS + 1), POLICY
    )
    covered = ((path.low <= 0.01) & (path.high >= 0.01)).all(axis=1)
    assert float(covered.mean()) >= 1 - ALPHA - SLACK


def test_a_true_lift_of_a_mean_business_value_is_promoted() -> None:
    sim = mean_experiments(mean=2.0, lift=0.6, sd=15.0, seed=20260106)
    code, first = outcomes(sim)
    promoted = code == DecisionCode.PROMOTE
    assert float(promoted.mean()) >= 0.95
    fixed_days = required_sample_size(baseline=0.0, lift=0.6, sd=15.0) / PER_DAY
    assert float(np.median(first[promoted] + 1)) <= 2 * fixed_days


def test_decide_on_looks_agrees_with_the_vectorised_path() -> None:
    sim = proportion_experiments(0.10, 0.106, seed=20260104)
    code, first = outcomes(sim)
    for run in range(12):
        history = [
            ExperimentLook(
                float(day + 1),
                {"m": ProportionCounts(int(sim["x1"][run, day]), int(sim["n"][run, day]))},
                {"m": ProportionCounts(int(sim["x2"][run, day]), int(sim["n"][run, day]))},
            )
            for day in range(DAYS)
        ]
        decision = decide(history, POLICY)
        assert decision.action == DecisionCode(int(code[run])).action
        assert decision.evidence["day"] == (first[run] + 1 if first[run] >= 0 else DAYS)
