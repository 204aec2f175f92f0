"""The performance section of tether.toml: defaults, the example's tables, refusals by name."""

from __future__ import annotations

import tomllib

import pytest

from tether.errors import ConfigError
from tether.monitoring import MaturityRule, PerformanceConfig, PerformanceRule

EXAMPLE = """
[monitoring.performance]
outcome_window_days = 45
min_label_completeness = 0.8
min_labelled = 100
confidence = 0.9
calibration_bins = 15
alerts = ["precision below 0.80", "recall below 0.75"]

[monitoring.business]
missed_fraud_loss = "fn.amount"
net_value = "tp.amount - 5 * fp.count"
"""


def test_defaults_are_the_missions() -> None:
    config = PerformanceConfig()
    assert config.maturity == MaturityRule(60)
    assert config.alerts == (PerformanceRule("precision", "below", 0.8, 0.9, 200),)
    assert config.business == () and config.confidence == 0.95 and config.calibration_bins == 10
    assert PerformanceConfig.from_tables({}) == config


def test_the_example_tables_build_every_part() -> None:
    tables = tomllib.loads(EXAMPLE)["monitoring"]
    config = PerformanceConfig.from_tables(tables["performance"], tables["business"])
    assert config.maturity.outcome_window_days == 45
    assert [(a.metric, a.threshold) for a in config.alerts] == [
        ("precision", 0.8),
        ("recall", 0.75),
    ]
    assert {a.min_label_completeness for a in config.alerts} == {0.8}
    assert {a.min_labelled for a in config.alerts} == {100}
    assert [m.name for m in config.business] == ["missed_fraud_loss", "net_value"]
    assert (config.confidence, config.calibration_bins) == (0.9, 15)


@pytest.mark.parametrize(
    ("performance", "business", "match"),
    [
        ({"outcome_window": 60}, None, r"unknown key\(s\) \['outcome_window'\]"),
        ({"min_labelled": 1.5}, None, "min_labelled is 1.5; expected an integer"),
        ({"confidence": True}, None, "confidence is True; expected a number"),
        ({"confidence": 1.0}, None, "confidence is 1.0; expected 0.5 to < 1"),
        (
            {"alerts": "precision below 0.8"},
            None,
            "alerts is 'precision below 0.8'; expected a list",
        ),
        ({"alerts": ["precision beneath 0.8"]}, None, "expected '<metric> below|above <number>'"),
        ({}, {"loss": 5}, "monitoring.business.loss is 5; expected an expression string"),
        ({}, {"loss": "open('x')"}, "\"open\\('x'\\)\" at column 1 is not allowed"),
    ],
)
def test_bad_values_are_refused_by_name(
    performance: dict[str, object], business: dict[str, object] | None, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        PerformanceConfig.from_tables(performance, business)
