"""Change points vs trends in a daily series: a step at day d, a gradual trend, or nothing.

A model that broke at a deploy and a model that decays as the world drifts both end lower;
what tells them apart is the *shape* of the daily series (precision, estimated precision,
score PSI). Two named methods, one for each question:

**Is the level changing at all? The CUSUM test for a change in mean** (Page 1954; the
retrospective form of Csörgő and Horváth, *Limit Theorems in Change-Point Analysis*, 1997,
ch. 1). With weights ``w_i`` (labelled rows per day: a day's metric has variance
``sigma**2 / w_i``), weighted mean ``m`` and total weight ``W``::

    S_k = sum_{i <= k} w_i (x_i - m) / (sigma * sqrt(W)),   statistic = max_k |S_k|

Under a constant level ``S`` is a Brownian bridge at times ``W_k / W``, so the statistic
follows the Kolmogorov distribution: ``P(max > 1.358) = 0.05``, ``P(max > 1.628) = 0.01``
(:data:`CUSUM_THRESHOLD`, ``h``; ``scipy.stats.kstwobign`` is the oracle). ``sigma`` is not
the series' spread (a step or a trend would inflate it and hide itself) but a robust estimate
from day-to-day differences, which a single step or a slow trend barely moves::

    e_i = (x_i - x_{i-1}) / sqrt(1/w_i + 1/w_{i-1}),   sigma = 1.4826 * median(|e - median(e)|)

**Which shape? A segmented fit compared by BIC.** Three weighted least-squares models:
*constant* (1 parameter), *trend* (a line: 2), *step* (one level before day ``b`` and one from
it, the best ``b`` searched: 3, the break counted as a parameter);
``BIC = n log(RSS_w / n) + p log n``. A series is:

- ``"none"`` when the CUSUM statistic is at most ``h``, or neither trend nor step beats the
  constant by :data:`MIN_BIC_GAIN` (6: "strong" evidence on Kass and Raftery's scale);
- else ``"step"`` (at the first day of the new level) when the step's BIC is below the
  trend's, ``"trend"`` otherwise.

Days without a value (NaN: no traffic, no labels) are left out of both fits, not imputed.
The Kolmogorov limit holds with sigma known; estimated from a short series, sigma is noisy and
the test rejects more often: on noise-only series (2,000 seeded each) the 1% threshold rejects
2.6% at 30 days, 2.1% at 60 and 1.25% at 200 (the 5% one: 7.1%, 6.7%, 4.9%), which is why the
BIC margin also has to agree before a change is called.

Measured by the seeded simulations in ``tests/monitoring/test_changepoint.py``: a step of 4
noise s.d. at a random day of 40 is called a step and located within one day in 99.5% of
series (95% at 3 s.d.); a decline of 6 s.d. over 30 days is a trend in 99.5% (89% at 4 s.d.,
the rest mostly called steps); of 400 noise-only series of 20-60 days, 3 are called anything
but ``"none"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt

from tether.errors import MonitoringError

Floats = npt.NDArray[np.float64]
SeriesShape = Literal["step", "trend", "none"]

CUSUM_THRESHOLD = 1.628
"""``h``: the 1% critical value of the Kolmogorov distribution (``kstwobign.isf(0.01)``). Daily
series are looked at every day, so a 5% test would cry wolf once a month per series."""
MIN_BIC_GAIN = 6.0
"""How much lower than the constant's a trend's or step's BIC must be to call a change."""
MIN_DAYS = 8
"""Fewer days with a value than this and no shape can be told: the series is ``"none"``."""
MIN_SEGMENT = 3
"""Days each side of a step at least: a one-day blip is an outlier, not a new level."""


@dataclass(frozen=True)
class DailySeries:
    """One value per day (NaN: none that day), with optional weights (e.g. labelled rows).

    Raises:
        MonitoringError: the tuples differ in length, days are not increasing, or a weight is
            negative.
    """

    name: str
    days: tuple[date, ...]
    values: tuple[float, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.values) != len(self.days) or (
            self.weights is not None and len(self.weights) != len(self.days)
        ):
            raise MonitoringError(
                f"The daily series {self.name!r} has {len(self.days)} days, "
                f"{len(self.values)} values and "
                f"{'no' if self.weights is None else len(self.weights)} weights; expected one "
                "value (and weight) per day."
            )
        if any(b <= a for a, b in pairwise(self.days)):
            raise MonitoringError(f"The days of the series {self.name!r} must be increasing.")
        if self.weights is not None and any(not w >= 0 for w in self.weights):
            raise MonitoringError(
                f"The weights of the series {self.name!r} must be zero or more; got "
                f"{min(self.weights)}."
            )

    @classmethod
    def consecutive(
        cls, name: str, start: date, values: Sequence[float], weights: Sequence[float] | None = None
    ) -> DailySeries:
        """A series of consecutive days from ``start``."""
        days = tuple(start + timedelta(days=i) for i in range(len(values)))
        return cls(name, days, tuple(map(float, values)), _tuple(weights))


@dataclass(frozen=True)
class ChangePolicy:
    """The thresholds of :func:`detect_change`; see the module's docstring."""

    cusum_threshold: float = CUSUM_THRESHOLD
    min_bic_gain: float = MIN_BIC_GAIN
    min_days: int = MIN_DAYS
    min_segment: int = MIN_SEGMENT


@dataclass(frozen=True)
class ChangeFinding:
    """What :func:`detect_change` saw in one series.

    Attributes:
        series: the series' name.
        kind: ``"step"``, ``"trend"`` or ``"none"``.
        day: a step's first day at the new level; ``None`` otherwise.
        before / after: the levels each side of a step, or the trend line's first and last
            day values; the mean (twice) for ``"none"``.
        slope_per_day: the trend line's slope (per day), whatever the kind.
        cusum: the CUSUM statistic (``nan`` on too short a series), and ``threshold`` its ``h``.
        bic: each model's BIC (``"constant"``, ``"trend"``, ``"step"``).
        reason: the finding in words.
    """

    series: str
    kind: SeriesShape
    day: date | None
    before: float
    after: float
    slope_per_day: float
    cusum: float
    threshold: float
    bic: dict[str, float]
    reason: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "series": self.series,
            "kind": self.kind,
            "day": None if self.day is None else self.day.isoformat(),
            "before": _finite(self.before),
            "after": _finite(self.after),
            "slope_per_day": _finite(self.slope_per_day),
            "cusum": _finite(self.cusum),
            "threshold": self.threshold,
            "bic": {k: _finite(v) for k, v in self.bic.items()},
            "reason": self.reason,
        }


def cusum_statistic(values: Floats, weights: Floats) -> tuple[float, int]:
    """The standardised CUSUM statistic ``max_k |S_k|`` and the ``k`` (0-based, last index of
    the first segment) where it peaks. ``values`` finite, ``weights`` positive."""
    sigma = robust_sigma(values, weights)
    total = float(weights.sum())
    mean = float(np.dot(weights, values) / total)
    if not sigma > 0:
        # Perfectly smooth days: any departure from the mean is a change, none is no change.
        return (math.inf if np.ptp(values) > 0 else 0.0), 0
    partial = np.cumsum(weights * (values - mean)) / (sigma * math.sqrt(total))
    peak = int(np.argmax(np.abs(partial[:-1]))) if len(partial) > 1 else 0
    return float(abs(partial[peak])), peak


def robust_sigma(values: Floats, weights: Floats) -> float:
    """The per-unit-weight noise s.d. from day-to-day differences (MAD, scaled to a normal;
    their plain s.d. when the MAD is zero)."""
    scaled = np.diff(values) / np.sqrt(1.0 / weights[1:] + 1.0 / weights[:-1])
    if len(scaled) == 0:
        return math.nan
    mad = float(1.4826 * np.median(np.abs(scaled - np.median(scaled))))
    # Over half the differences equal (a metric stuck at 1.0 on most days): the MAD says no
    # noise at all, and any blip would be infinitely significant. Their s.d. is honest then.
    return mad if mad > 0 else float(np.std(scaled))


def detect_change(series: DailySeries, policy: ChangePolicy | None = None) -> ChangeFinding:
    """Whether ``series`` holds a step, a trend or neither, with the evidence."""
    policy = policy or ChangePolicy()
    days, values, weights = _finite_days(series)
    if len(values) < max(policy.min_days, 2 * policy.min_segment):
        mean = float(np.mean(values)) if len(values) else math.nan
        return ChangeFinding(
            series.name, "none", None, mean, mean, math.nan, math.nan, policy.cusum_threshold,
            {}, f"{series.name}: {len(values)} days with a value, fewer than the "
            f"{max(policy.min_days, 2 * policy.min_segment)} needed to tell a change",
        )  # fmt: skip
    cusum, _ = cusum_statistic(values, weights)
    offsets = np.array([(d - days[0]).days for d in days], dtype=np.float64)
    constant_rss = _weighted_rss(values, weights, np.ones((len(values), 1)))
    line = np.column_stack([np.ones_like(offsets), offsets])
    trend_rss, (intercept, slope) = _weighted_fit(values, weights, line)
    step_rss, split, levels = _best_step(values, weights, policy.min_segment)
    n = len(values)
    bic = {
        "constant": _bic(constant_rss, n, 1),
        "trend": _bic(trend_rss, n, 2),
        "step": _bic(step_rss, n, 3),
    }
    best = "step" if bic["step"] < bic["trend"] else "trend"
    changed = cusum > policy.cusum_threshold and bic["constant"] - bic[best] > policy.min_bic_gain
    detail = (
        f"CUSUM {cusum:.2f} vs h {policy.cusum_threshold:.2f}; BIC constant "
        f"{bic['constant']:.1f}, trend {bic['trend']:.1f}, step {bic['step']:.1f}"
    )
    if not changed:
        mean = float(np.dot(weights, values) / weights.sum())
        return ChangeFinding(
            series.name, "none", None, mean, mean, slope, cusum, policy.cusum_threshold, bic,
            f"{series.name}: no change ({detail})",
        )  # fmt: skip
    if best == "step":
        day = days[split]
        return ChangeFinding(
            series.name, "step", day, levels[0], levels[1], slope, cusum,
            policy.cusum_threshold, bic, f"{series.name}: a step from {levels[0]:.4g} to "
            f"{levels[1]:.4g} on {day.isoformat()} ({detail})",
        )  # fmt: skip
    first, last = intercept, intercept + slope * offsets[-1]
    return ChangeFinding(
        series.name, "trend", None, first, last, slope, cusum, policy.cusum_threshold, bic,
        f"{series.name}: a gradual trend of {slope:+.4g} a day, from {first:.4g} to "
        f"{last:.4g} over {int(offsets[-1]) + 1} days ({detail})",
    )  # fmt: skip


def _finite_days(series: DailySeries) -> tuple[list[date], Floats, Floats]:
    values = np.asarray(series.values, dtype=np.float64)
    weights = (
        np.ones_like(values)
        if series.weights is None
        else np.asarray(series.weights, dtype=np.float64)
    )
    keep = np.isfinite(values) & (weights > 0)
    days = [day for day, kept in zip(series.days, keep, strict=True) if kept]
    return days, values[keep], weights[keep]


def _weighted_fit(values: Floats, weights: Floats, design: Floats) -> tuple[float, Floats]:
    root = np.sqrt(weights)
    coef, *_ = np.linalg.lstsq(design * root[:, None], values * root, rcond=None)
    residual = values - design @ coef
    return float(np.dot(weights, residual**2)), np.asarray(coef, dtype=np.float64)


def _weighted_rss(values: Floats, weights: Floats, design: Floats) -> float:
    return _weighted_fit(values, weights, design)[0]


def _best_step(
    values: Floats, weights: Floats, min_segment: int
) -> tuple[float, int, tuple[float, float]]:
    """The split (first index of the second level) with the least weighted RSS, by prefix sums
    (every split in one pass)."""
    cw = np.cumsum(weights)
    cwx = np.cumsum(weights * values)
    cwx2 = np.cumsum(weights * values**2)
    best: tuple[float, int, tuple[float, float]] = (math.inf, min_segment, (math.nan, math.nan))
    for split in range(min_segment, len(values) - min_segment + 1):
        w1, s1, q1 = cw[split - 1], cwx[split - 1], cwx2[split - 1]
        w2, s2, q2 = cw[-1] - w1, cwx[-1] - s1, cwx2[-1] - q1
        rss = float((q1 - s1**2 / w1) + (q2 - s2**2 / w2))
        if rss < best[0]:
            best = (rss, split, (float(s1 / w1), float(s2 / w2)))
    return best


def _bic(rss: float, n: int, parameters: int) -> float:
    # A perfect fit would be -inf; a floor keeps comparisons finite and ordered.
    return n * math.log(max(rss, 1e-300) / n) + parameters * math.log(n)


def _tuple(values: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(map(float, values))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
