"""The performance section of ``tether.toml``, as one frozen value.

The fraud example's::

    [monitoring.performance]
    outcome_window_days = 60          # the maturity rule (the loop chooses training windows by it)
    min_label_completeness = 0.9      # no alert on a window with fewer labels
    min_labelled = 200
    confidence = 0.95
    calibration_bins = 10
    alerts = ["precision below 0.80"]

    [monitoring.business]
    missed_fraud_loss = "fn.amount"
    false_alarm_cost = "5 * fp.count"
    net_value = "tp.amount - 5 * fp.count"

:meth:`PerformanceConfig.from_tables` builds it from those two tables (already parsed TOML),
refusing an unknown key or a value of the wrong type by name; every default is a named
constant of the module that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.errors import ConfigError
from tether.monitoring._business import BusinessMetric, business_metrics
from tether.monitoring._performance import CALIBRATION_BINS, CONFIDENCE
from tether.monitoring._performance_rules import (
    MIN_LABEL_COMPLETENESS,
    MIN_LABELLED,
    OUTCOME_WINDOW_DAYS,
    MaturityRule,
    PerformanceRule,
)

DEFAULT_ALERTS = ("precision below 0.80",)
"""The mission's alert: the fraud model's precision fell from 94% to 71% unwatched."""
_SECTION = "monitoring.performance"
_NUMBERS = {
    "outcome_window_days": int,
    "min_label_completeness": float,
    "min_labelled": int,
    "confidence": float,
    "calibration_bins": int,
}


@dataclass(frozen=True)
class PerformanceConfig:
    """Maturity, alerts, business metrics and interval settings of performance monitoring.

    Example:
        >>> PerformanceConfig.from_tables({"alerts": ["recall below 0.8"]}).alerts[0].metric
        'recall'
    """

    maturity: MaturityRule = field(default_factory=MaturityRule)
    alerts: tuple[PerformanceRule, ...] = field(
        default_factory=lambda: tuple(PerformanceRule.parse(text) for text in DEFAULT_ALERTS)
    )
    business: tuple[BusinessMetric, ...] = ()
    confidence: float = CONFIDENCE
    calibration_bins: int = CALIBRATION_BINS

    def __post_init__(self) -> None:
        """Refuse a confidence level or bin count that cannot give an interval or a table."""
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError(f"{_SECTION}.confidence is {self.confidence}; expected 0.5 to < 1")
        if not 1 <= self.calibration_bins <= 100:
            raise ConfigError(
                f"{_SECTION}.calibration_bins is {self.calibration_bins}; expected 1 to 100"
            )

    @classmethod
    def from_tables(
        cls, performance: Mapping[str, Any], business: Mapping[str, Any] | None = None
    ) -> PerformanceConfig:
        """Build from the ``[monitoring.performance]`` and ``[monitoring.business]`` tables."""
        unknown = sorted(set(performance) - {*_NUMBERS, "alerts"})
        if unknown:
            raise ConfigError(
                f"{_SECTION} has unknown key(s) {unknown}; expected {sorted({*_NUMBERS, 'alerts'})}"
            )
        numbers = {
            name: _number(name, performance[name], kind)
            for name, kind in _NUMBERS.items()
            if name in performance
        }
        alerts = performance.get("alerts", list(DEFAULT_ALERTS))
        if not isinstance(alerts, list) or not all(isinstance(a, str) for a in alerts):
            raise ConfigError(f"{_SECTION}.alerts is {alerts!r}; expected a list of strings")
        completeness = float(numbers.get("min_label_completeness", MIN_LABEL_COMPLETENESS))
        labelled = int(numbers.get("min_labelled", MIN_LABELLED))
        for name, expression in (business or {}).items():
            if not isinstance(expression, str):
                raise ConfigError(
                    f"monitoring.business.{name} is {expression!r}; expected an expression string"
                )
        return cls(
            maturity=MaturityRule(int(numbers.get("outcome_window_days", OUTCOME_WINDOW_DAYS))),
            alerts=tuple(
                PerformanceRule.parse(
                    text, min_label_completeness=completeness, min_labelled=labelled
                )
                for text in alerts
            ),
            business=business_metrics(dict(business or {})),
            confidence=float(numbers.get("confidence", CONFIDENCE)),
            calibration_bins=int(numbers.get("calibration_bins", CALIBRATION_BINS)),
        )


def _number(name: str, value: object, kind: type) -> float:
    # TOML gives int or float; a bool is an int to Python but never a number here.
    valid = isinstance(value, int) if kind is int else isinstance(value, int | float)
    if isinstance(value, bool) or not valid:
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"{_SECTION}.{name} is {value!r}; expected {expected}")
    assert isinstance(value, int | float)
    return float(value)
