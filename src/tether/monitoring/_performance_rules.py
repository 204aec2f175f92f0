"""When labels count, and when a performance metric raises an alert.

**Maturity.** Labels arrive late and in an order that depends on their value: in the fraud
scenario a chargeback comes 3 to 45 days after the payment, an honest outcome only at the
close of the 30-to-60-day dispute window. The labels known by a cut-off are therefore a
*biased* selection of a recent window (its fraud is labelled, its honest traffic is not yet),
and precision computed from them looks better than it is (measured on the scenario at 60,000
payments: see ``tests/monitoring/test_performance_maturity.py``).

:class:`MaturityRule` decides which predictions may be judged:

- a label is **known** at a cut-off when the outcome was known (feedback ``time``) *and*
  tether had received it (its receipt time) by the cut-off: a replay must not read a label
  from the future of its clock;
- a prediction is **matured** when its outcome window has closed at the cut-off (its event
  time is at least ``outcome_window_days`` before it). The issue's rule reads "the label has
  arrived *or* the outcome window has closed"; a prediction whose label arrived early but
  whose window is open is *labelled* (it counts toward completeness) but **not matured**,
  because admitting early arrivals is the very selection that biases a recent window (the
  test shows it: precision over "arrived or closed" is biased upward as much as over labels
  so far). The loop chooses training windows by the same rule.
- a matured prediction with no label is **unknown**, not negative: in the scenario an honest
  payment's outcome is *delivered* at the close of its window, so a missing label means lost
  feedback, not "no fraud". Unknowns are left out of realized metrics and reported, and they
  lower the window's completeness so that a window with lost feedback does not alert.

**Label completeness** = labelled predictions / predictions in the window (matured
completeness: labelled / matured).

**Alerts.** A :class:`PerformanceRule` ("precision below 0.80") fires when the metric's value
crosses its bound, and never on a window whose label completeness is below
``min_label_completeness`` or which has fewer than ``min_labelled`` labelled rows: it then
reports ``insufficient`` with the numbers that kept it quiet.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tether.errors import ConfigError, MonitoringError
from tether.monitoring._performance import MetricValue, RealizedPerformance

OUTCOME_WINDOW_DAYS = 60
"""The fraud example's outcome window: its dispute window closes 30 to 60 days after payment."""
MIN_LABEL_COMPLETENESS = 0.9
"""No performance alert on a window with fewer than 90% of its predictions labelled."""
MIN_LABELLED = 200
"""Nor on fewer labelled rows: at 200 rows a Wilson interval on precision 0.8 is +-0.055."""

Bound = Literal["below", "above"]
RuleState = Literal["fired", "ok", "insufficient"]


@dataclass(frozen=True)
class MaturityRule:
    """Which predictions may be judged at a cut-off (module docstring).

    Example:
        >>> MaturityRule(60).closed_before(dt.datetime(2026, 3, 2, tzinfo=dt.UTC)).date()
        datetime.date(2026, 1, 1)
    """

    outcome_window_days: int = OUTCOME_WINDOW_DAYS

    def __post_init__(self) -> None:
        """Refuse a negative outcome window."""
        if self.outcome_window_days < 0:
            raise ConfigError(
                f"outcome_window_days is {self.outcome_window_days}; expected 0 or more days"
            )

    def closed_before(self, cutoff: dt.datetime) -> dt.datetime:
        """Predictions with an event time at or before this instant are matured at ``cutoff``."""
        _aware(cutoff)
        return cutoff - dt.timedelta(days=self.outcome_window_days)

    def known(
        self,
        frame: pd.DataFrame,
        cutoff: dt.datetime,
        *,
        label: str = "label",
        known_time: str = "label_time",
        received_time: str | None = None,
    ) -> np.ndarray:
        """Whether each row's label is known at ``cutoff`` (known and received by then)."""
        _require(frame, [label, known_time, *([received_time] if received_time else [])])
        stamp = pd.Timestamp(_aware(cutoff))
        mask = frame[label].notna() & (frame[known_time] <= stamp)
        if received_time is not None:
            mask &= frame[received_time] <= stamp
        return mask.to_numpy(dtype=bool)

    def matured(
        self, frame: pd.DataFrame, cutoff: dt.datetime, *, event_time: str = "event_time"
    ) -> np.ndarray:
        """Whether each row's outcome window has closed at ``cutoff``."""
        _require(frame, [event_time])
        return (frame[event_time] <= pd.Timestamp(self.closed_before(cutoff))).to_numpy(dtype=bool)

    def labels_at(
        self,
        frame: pd.DataFrame,
        cutoff: dt.datetime,
        *,
        label: str = "label",
        known_time: str = "label_time",
        received_time: str | None = None,
    ) -> pd.DataFrame:
        """``frame`` as the monitor sees it at ``cutoff``: labels not yet known are missing."""
        known = self.known(
            frame, cutoff, label=label, known_time=known_time, received_time=received_time
        )
        out = frame.copy()
        out[label] = frame[label].astype(float).where(known)
        return out

    def status(
        self,
        frame: pd.DataFrame,
        cutoff: dt.datetime,
        *,
        label: str = "label",
        event_time: str = "event_time",
        known_time: str = "label_time",
        received_time: str | None = None,
    ) -> LabelStatus:
        """How complete the labels of a window of predictions are at ``cutoff``."""
        known = self.known(
            frame, cutoff, label=label, known_time=known_time, received_time=received_time
        )
        matured = self.matured(frame, cutoff, event_time=event_time)
        return LabelStatus(
            predictions=len(frame),
            labelled=int(known.sum()),
            matured=int(matured.sum()),
            matured_labelled=int((known & matured).sum()),
        )


@dataclass(frozen=True)
class LabelStatus:
    """A window's label counts at a cut-off."""

    predictions: int
    labelled: int
    matured: int
    matured_labelled: int

    @property
    def label_completeness(self) -> float:
        """Labelled predictions over predictions (``nan`` on an empty window)."""
        return self.labelled / self.predictions if self.predictions else math.nan

    @property
    def matured_completeness(self) -> float:
        """Labelled matured predictions over matured ones (``nan`` when none matured)."""
        return self.matured_labelled / self.matured if self.matured else math.nan

    @property
    def unknown(self) -> int:
        """Matured predictions without a label: lost feedback, left out of the metrics."""
        return self.matured - self.matured_labelled


@dataclass(frozen=True)
class RuleOutcome:
    """What a :class:`PerformanceRule` concluded on one window, in words."""

    rule: PerformanceRule
    state: RuleState
    value: MetricValue | None
    message: str


@dataclass(frozen=True)
class PerformanceRule:
    """An alert on a metric: ``PerformanceRule("precision", "below", 0.80)``.

    Example:
        >>> PerformanceRule.parse("precision below 0.80").threshold
        0.8
    """

    metric: str
    bound: Bound
    threshold: float
    min_label_completeness: float = MIN_LABEL_COMPLETENESS
    min_labelled: int = MIN_LABELLED

    def __post_init__(self) -> None:
        """Refuse an unknown bound or an impossible completeness."""
        if self.bound not in ("below", "above"):
            raise ConfigError(
                f"rule on {self.metric!r}: bound {self.bound!r}; expected below or above"
            )
        if not 0.0 <= self.min_label_completeness <= 1.0:
            raise ConfigError(
                f"rule on {self.metric!r}: min_label_completeness {self.min_label_completeness}; "
                f"expected a share from 0 to 1"
            )

    @classmethod
    def parse(cls, text: str, **options: float) -> PerformanceRule:
        """A rule from its config text: ``"<metric> below|above <number>"``."""
        parts = text.split()
        if len(parts) != 3 or parts[1] not in ("below", "above"):
            raise ConfigError(
                f"performance rule {text!r}; expected '<metric> below|above <number>'"
            )
        try:
            threshold = float(parts[2])
        except ValueError as exc:
            raise ConfigError(f"performance rule {text!r}: {parts[2]!r} is not a number") from exc
        bound: Bound = "below" if parts[1] == "below" else "above"
        min_labelled = int(options.pop("min_labelled", MIN_LABELLED))
        completeness = float(options.pop("min_label_completeness", MIN_LABEL_COMPLETENESS))
        if options:
            raise ConfigError(f"performance rule {text!r}: unknown option(s) {sorted(options)}")
        return cls(parts[0], bound, threshold, completeness, min_labelled)

    def check(
        self,
        performance: RealizedPerformance,
        label_completeness: float,
        business: Mapping[str, MetricValue | None] | None = None,
    ) -> RuleOutcome:
        """Fire, stay quiet, or refuse to judge the window (``insufficient``)."""
        metrics = dict(business or {})
        if self.metric in metrics:
            value = metrics[self.metric]
        else:
            try:
                value = performance.metric(self.metric)
            except MonitoringError as exc:
                raise ConfigError(f"performance rule on {self.metric!r}: {exc}") from exc
        if not label_completeness >= self.min_label_completeness:
            return RuleOutcome(
                self, "insufficient", value,
                f"{self.metric}: labels {label_completeness:.0%} complete, below the "
                f"{self.min_label_completeness:.0%} required; no alert",
            )  # fmt: skip
        if value is None or value.n < self.min_labelled:
            rows = 0 if value is None else value.n
            return RuleOutcome(
                self, "insufficient", value,
                f"{self.metric}: {rows} labelled rows behind it (for precision: flagged ones), "
                f"fewer than the {self.min_labelled} required; no alert",
            )  # fmt: skip
        crossed = (
            value.value < self.threshold if self.bound == "below" else value.value > self.threshold
        )
        words = (
            f"{self.metric} {value.value:.3f} [{value.low:.3f}, {value.high:.3f}] on "
            f"{value.n} labelled rows behind it"
        )
        if crossed:
            return RuleOutcome(self, "fired", value, f"{words} is {self.bound} {self.threshold:g}")
        return RuleOutcome(self, "ok", value, f"{words}: not {self.bound} {self.threshold:g}")


def _require(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MonitoringError(f"frame lacks column(s) {missing}; it has {list(frame.columns)}")


def _aware(cutoff: dt.datetime) -> dt.datetime:
    # The log's times are UTC instants; a naive cut-off would be compared in no time zone.
    if cutoff.tzinfo is None or cutoff.utcoffset() is None:
        raise MonitoringError(
            f"cut-off {cutoff.isoformat()} has no time zone; expected a UTC instant"
        )
    return cutoff
