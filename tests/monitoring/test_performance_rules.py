"""Maturity of labels and performance alerts, on hand-worked windows."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from tether.errors import ConfigError
from tether.monitoring import (
    CellAggregate,
    ConfusionCells,
    LabelStatus,
    MaturityRule,
    PerformanceRule,
    realized_from_counts,
)

UTC = dt.UTC
CUTOFF = dt.datetime(2026, 3, 1, tzinfo=UTC)


def day(month: int, d: int) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime(2026, month, d, tzinfo=UTC))


def predictions() -> pd.DataFrame:
    """Five predictions: labels known, known later, received later, and one never labelled."""
    return pd.DataFrame(
        {
            "event_time": [day(1, 1), day(1, 2), day(2, 20), day(2, 25), day(1, 1)],
            "label": [1.0, 0.0, 1.0, 0.0, None],
            "label_time": [day(1, 10), day(3, 5), day(2, 24), day(2, 27), pd.NaT],
            "received": [day(1, 11), day(3, 6), day(2, 24), day(3, 2), pd.NaT],
        }
    )


def test_a_label_is_known_when_known_and_received_by_the_cutoff() -> None:
    frame = predictions()
    rule = MaturityRule(outcome_window_days=30)
    assert rule.known(frame, CUTOFF).tolist() == [True, False, True, True, False]
    known = rule.known(frame, CUTOFF, received_time="received")
    assert known.tolist() == [True, False, True, False, False]


def test_a_prediction_matures_when_its_outcome_window_closes() -> None:
    rule = MaturityRule(outcome_window_days=30)
    assert rule.closed_before(CUTOFF) == dt.datetime(2026, 1, 30, tzinfo=UTC)
    assert rule.matured(predictions(), CUTOFF).tolist() == [True, True, False, False, True]


def test_status_counts_completeness_and_unknowns() -> None:
    status = MaturityRule(30).status(predictions(), CUTOFF, received_time="received")
    assert status == LabelStatus(predictions=5, labelled=2, matured=3, matured_labelled=1)
    assert status.label_completeness == pytest.approx(0.4)
    assert status.matured_completeness == pytest.approx(1 / 3)
    assert status.unknown == 2  # one label still in flight, one lost: neither counts as 0
    assert math.isnan(LabelStatus(0, 0, 0, 0).label_completeness)


def test_labels_at_hides_labels_from_the_future_of_the_cutoff() -> None:
    seen = MaturityRule(30).labels_at(predictions(), CUTOFF, received_time="received")
    assert seen["label"].isna().tolist() == [False, True, False, True, True]


def test_negative_outcome_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="outcome_window_days is -1"):
        MaturityRule(-1)


def cells(tp: int, fp: int, fn: int, tn: int) -> ConfusionCells:
    return ConfusionCells(
        CellAggregate(tp), CellAggregate(fp), CellAggregate(fn), CellAggregate(tn)
    )


def test_precision_below_rule_fires_on_a_complete_window() -> None:
    rule = PerformanceRule.parse("precision below 0.80")
    outcome = rule.check(realized_from_counts(cells(700, 300, 100, 8900)), label_completeness=0.95)
    assert outcome.state == "fired"
    assert outcome.message.startswith(
        "precision 0.700 [0.671, 0.728] on 1000 labelled rows behind it"
    )
    ok = rule.check(realized_from_counts(cells(900, 100, 100, 8900)), label_completeness=0.95)
    assert ok.state == "ok"


def test_no_alert_fires_on_a_window_with_incomplete_labels() -> None:
    rule = PerformanceRule("precision", "below", 0.80, min_label_completeness=0.9)
    outcome = rule.check(realized_from_counts(cells(700, 300, 100, 8900)), label_completeness=0.6)
    assert outcome.state == "insufficient"
    assert "labels 60% complete, below the 90% required" in outcome.message


def test_no_alert_fires_on_too_few_labelled_rows() -> None:
    rule = PerformanceRule("precision", "below", 0.80, min_labelled=200)
    outcome = rule.check(realized_from_counts(cells(50, 50, 10, 890)), label_completeness=1.0)
    assert outcome.state == "insufficient" and "100 labelled rows" in outcome.message


def test_a_rule_on_a_business_metric_reads_the_business_values() -> None:
    from tether.monitoring import BusinessMetric

    window = cells(700, 300, 100, 8900)
    loss = BusinessMetric("false_alarm_cost", "5 * fp.count").evaluate(window)
    rule = PerformanceRule.parse("false_alarm_cost above 1000")
    outcome = rule.check(realized_from_counts(window), 1.0, {"false_alarm_cost": loss})
    assert outcome.state == "fired" and outcome.value == loss


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("precision under 0.8", "expected '<metric> below|above <number>'"),
        ("precision below high", "'high' is not a number"),
        ("precision below", "expected '<metric> below|above <number>'"),
    ],
)
def test_malformed_rules_are_refused(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PerformanceRule.parse(text)


def test_a_rule_on_an_unknown_metric_names_it() -> None:
    rule = PerformanceRule.parse("accuracy below 0.9")
    with pytest.raises(ConfigError, match="metric 'accuracy' is not computed"):
        rule.check(realized_from_counts(cells(1, 1, 1, 1)), 1.0)


def test_a_naive_cutoff_is_refused() -> None:
    from tether.errors import MonitoringError

    with pytest.raises(MonitoringError, match="has no time zone"):
        MaturityRule(30).status(predictions(), dt.datetime(2026, 3, 1))
