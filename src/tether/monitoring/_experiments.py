"""Arm statistics and the classic fixed-horizon comparison of a champion and a challenger.

Everything here works on **per-arm aggregates**, never on rows: the prediction log computes
them in its engine (SQL) for each arm's sticky cohort, so a window of millions of
predictions costs the same here as a window of ten. Two kinds of metric:

- :class:`ProportionCounts` (``successes``, ``trials``): precision (true positives over the
  flagged predictions that have a label), recall (true positives over the labelled fraud),
  the decision rate (flagged over all). Its interval is Wilson's score interval
  (statsmodels ``proportion_confint(method="wilson")``).
- :class:`MeanMoments` (``n``, ``total``, ``total_squares``): the mean of a per-prediction
  business value (net value caught per prediction, cost of a false alarm...). The variance
  is the sample variance (``ddof=1``) recovered from the moments; its interval is Student's.

A comparison is always **challenger - champion** (:func:`arm_difference`): the unpooled (Wald)
interval for proportions (statsmodels ``confint_proportions_2indep(method="wald")``) and
Welch's interval for means (statsmodels ``CompareMeans.tconfint_diff(usevar="unequal")``).
:func:`fixed_horizon_test` is the textbook test, valid **once**, at a sample size fixed in
advance (:func:`required_sample_size`): the pooled two-proportion z-test (statsmodels
``proportions_ztest``), Welch's t-test (``ttest_ind(usevar="unequal")``) or the pooled
z-test of means (``ztest``). Looked at every day it rejects a true null far more often than
its alpha (``tests/monitoring/test_sequential_simulation.py`` measures by how much), which is
why the decision of an experiment uses the always-valid test of :mod:`._sequential`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import optimize, stats

from tether.errors import MonitoringError

CONFIDENCE = 0.95
"""The confidence of every interval unless a caller says otherwise."""

Alternative = Literal["two-sided", "larger", "smaller"]
"""The alternative of a test, in statsmodels' words: "larger" means challenger > champion."""


@dataclass(frozen=True)
class ProportionCounts:
    """A proportion's counts for one arm: ``successes`` out of ``trials``.

    Example: precision is ``ProportionCounts(true_positives, flagged_and_labelled)``.
    """

    successes: int
    trials: int

    def __post_init__(self) -> None:
        if self.trials < 0 or not 0 <= self.successes <= self.trials:
            raise MonitoringError(
                f"proportion counts successes={self.successes}, trials={self.trials}: "
                "expected 0 <= successes <= trials"
            )

    @property
    def n(self) -> int:
        """The number of observations (``trials``)."""
        return self.trials

    @property
    def estimate(self) -> float:
        """``successes / trials`` (nan with no trials)."""
        return self.successes / self.trials if self.trials else math.nan

    @property
    def variance(self) -> float:
        """The plug-in variance of one observation, ``p (1 - p)`` (nan with no trials)."""
        p = self.estimate
        return p * (1.0 - p)

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """Wilson's score interval, as statsmodels ``proportion_confint(method="wilson")``."""
        return wilson_interval(self.successes, self.trials, confidence)


@dataclass(frozen=True)
class MeanMoments:
    """The moments of a per-prediction value for one arm: ``n``, sum and sum of squares."""

    n: int
    total: float
    total_squares: float

    def __post_init__(self) -> None:
        if self.n < 0 or self.total_squares < 0:
            raise MonitoringError(
                f"mean moments n={self.n}, total_squares={self.total_squares}: "
                "expected n >= 0 and a sum of squares >= 0"
            )

    @property
    def estimate(self) -> float:
        """The mean (nan with no observations)."""
        return float(self.total) / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """The sample variance (``ddof=1``), clipped at 0 against rounding (nan if n < 2)."""
        if self.n < 2:
            return math.nan
        centred = float(self.total_squares) - float(self.total) ** 2 / self.n
        return max(0.0, centred / (self.n - 1))

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """Student's interval for the mean (statsmodels ``DescrStatsW.tconfint_mean``)."""
        if self.n < 2:
            return (math.nan, math.nan)
        half = stats.t.ppf(0.5 + confidence / 2, self.n - 1) * math.sqrt(self.variance / self.n)
        return (self.estimate - half, self.estimate + half)


ArmAggregate = ProportionCounts | MeanMoments
"""What the log computes per arm for one metric."""


@dataclass(frozen=True)
class ArmDifference:
    """Challenger minus champion for one metric, with its interval at ``confidence``."""

    champion: float
    challenger: float
    estimate: float
    standard_error: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True)
class FixedHorizonTest:
    """A two-sample test of challenger against champion, valid at one pre-planned look."""

    method: Literal["z-proportions", "welch", "z-means"]
    statistic: float
    p_value: float
    alternative: Alternative
    df: float | None = None
    """Welch-Satterthwaite degrees of freedom (Welch's test only)."""


def wilson_interval(
    successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Wilson's score interval for a proportion (nan, nan with no trials).

    ``(p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, z the two-sided normal
    quantile; it stays inside [0, 1] and behaves at 0 and n successes, where Wald's does not.
    """
    if trials == 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    half /= 1 + z * z / trials
    return (max(0.0, centre - half), min(1.0, centre + half))


def arm_difference(
    champion: ArmAggregate, challenger: ArmAggregate, confidence: float = CONFIDENCE
) -> ArmDifference:
    """The difference challenger - champion and its interval.

    Proportions: the unpooled Wald interval ``d +- z sqrt(p1 q1/n1 + p2 q2/n2)``. Means:
    Welch's interval, with Welch-Satterthwaite degrees of freedom.
    """
    _check_same_kind(champion, challenger)
    estimate = challenger.estimate - champion.estimate
    variance = difference_variance(champion, challenger)
    se = math.sqrt(variance)
    if isinstance(champion, MeanMoments) and isinstance(challenger, MeanMoments):
        df = _welch_df(champion, challenger)
        quantile = float(stats.t.ppf(0.5 + confidence / 2, df))
    else:
        quantile = float(stats.norm.ppf(0.5 + confidence / 2))
    return ArmDifference(
        champion=champion.estimate,
        challenger=challenger.estimate,
        estimate=estimate,
        standard_error=se,
        low=estimate - quantile * se,
        high=estimate + quantile * se,
        confidence=confidence,
    )


def difference_variance(champion: ArmAggregate, challenger: ArmAggregate) -> float:
    """The plug-in variance of the difference of the arms' estimates, ``s1^2/n1 + s2^2/n2``."""
    _check_same_kind(champion, challenger)
    if champion.n == 0 or challenger.n == 0:
        return math.nan
    return champion.variance / champion.n + challenger.variance / challenger.n


def fixed_horizon_test(
    champion: ArmAggregate,
    challenger: ArmAggregate,
    *,
    alternative: Alternative = "two-sided",
    pooled_means: bool = False,
) -> FixedHorizonTest:
    """The classic two-sample test of challenger against champion at one planned look.

    Proportions: the pooled z-test, ``z = (p2 - p1) / sqrt(p (1-p) (1/n1 + 1/n2))`` with
    ``p`` the pooled proportion (statsmodels ``proportions_ztest``). Means: Welch's t-test
    (``ttest_ind(usevar="unequal")``), or with ``pooled_means`` the z-test on the pooled
    variance (statsmodels ``ztest``). A test with no variance at all returns nan.
    """
    _check_same_kind(champion, challenger)
    if isinstance(champion, ProportionCounts) and isinstance(challenger, ProportionCounts):
        n1, n2 = champion.trials, challenger.trials
        pooled = (champion.successes + challenger.successes) / (n1 + n2) if n1 + n2 else math.nan
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)) if n1 and n2 else math.nan
        z = _ratio(challenger.estimate - champion.estimate, se)
        return FixedHorizonTest("z-proportions", z, _normal_p(z, alternative), alternative)
    assert isinstance(champion, MeanMoments) and isinstance(challenger, MeanMoments)
    delta = challenger.estimate - champion.estimate
    if pooled_means:
        dof = champion.n + challenger.n - 2
        ss = champion.variance * (champion.n - 1) + challenger.variance * (challenger.n - 1)
        se = math.sqrt(ss / dof * (1 / champion.n + 1 / challenger.n)) if dof > 0 else math.nan
        z = _ratio(delta, se)
        return FixedHorizonTest("z-means", z, _normal_p(z, alternative), alternative)
    t = _ratio(delta, math.sqrt(difference_variance(champion, challenger)))
    df = _welch_df(champion, challenger)
    if alternative == "two-sided":
        p = 2 * float(stats.t.sf(abs(t), df))
    else:
        p = float(stats.t.sf(t if alternative == "larger" else -t, df))
    return FixedHorizonTest("welch", t, p, alternative, df)


def required_sample_size(
    *,
    baseline: float,
    lift: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sd: float | None = None,
) -> int:
    """The champion arm's sample size that detects ``lift`` (two-sided, at ``alpha``/``power``).

    The challenger's arm is ``ratio`` times as large. For a proportion (``sd`` None) the
    effect size is Cohen's h, ``2 asin sqrt(baseline + lift) - 2 asin sqrt(baseline)``
    (statsmodels ``proportion_effectsize``); for a mean it is ``lift / sd``. The size solves
    statsmodels ``NormalIndPower`` 's two-sided power equation (both tails counted)
    ``power = Phi(d sqrt(m) - z) + Phi(-d sqrt(m) - z)``, ``m = n ratio / (1 + ratio)``,
    ``z = Phi^-1(1 - alpha/2)``; close to the hand formula ``(1 + 1/ratio) ((z + z_power)/d)^2``.
    Rounded up to a whole observation.
    """
    if lift == 0 or not 0 < alpha < 1 or not 0 < power < 1 or ratio <= 0:
        raise MonitoringError(
            f"sample size for lift={lift}, alpha={alpha}, power={power}, ratio={ratio}: "
            "expected a non-zero lift, 0 < alpha, power < 1 and a positive ratio"
        )
    if sd is None:
        if not 0 <= baseline <= 1 or not 0 <= baseline + lift <= 1:
            raise MonitoringError(
                f"sample size for a proportion: baseline {baseline} with lift {lift} "
                "leaves [0, 1]; pass sd= for a mean"
            )
        effect = 2 * math.asin(math.sqrt(baseline + lift)) - 2 * math.asin(math.sqrt(baseline))
    else:
        if sd <= 0:
            raise MonitoringError(f"sample size for a mean: sd={sd}, expected > 0")
        effect = lift / sd
    d = abs(effect)
    z = float(stats.norm.ppf(1 - alpha / 2))

    def shortfall(n: float) -> float:
        root = d * math.sqrt(n * ratio / (1 + ratio))
        return float(stats.norm.cdf(root - z) + stats.norm.cdf(-root - z)) - power

    hand = (1 + 1 / ratio) * ((z + float(stats.norm.ppf(power))) / d) ** 2
    # The power is increasing in n; the hand formula (one tail) is a lower bound of the root.
    high = 2 * hand + 2
    root = float(optimize.brentq(shortfall, 1e-9, high, xtol=1e-10))
    return math.ceil(root - 1e-9)


def _check_same_kind(champion: ArmAggregate, challenger: ArmAggregate) -> None:
    if type(champion) is not type(challenger):
        raise MonitoringError(
            f"comparing a {type(challenger).__name__} challenger with a "
            f"{type(champion).__name__} champion: expected the same kind of metric"
        )


def _welch_df(champion: MeanMoments, challenger: MeanMoments) -> float:
    if champion.n < 2 or challenger.n < 2:
        return math.nan
    a = champion.variance / champion.n
    b = challenger.variance / challenger.n
    denominator = a * a / (champion.n - 1) + b * b / (challenger.n - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _normal_p(z: float, alternative: Alternative) -> float:
    if alternative == "two-sided":
        return 2 * float(stats.norm.sf(abs(z)))
    return float(stats.norm.sf(z if alternative == "larger" else -z))
