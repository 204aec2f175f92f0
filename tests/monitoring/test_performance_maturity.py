"""The maturity rule on the fraud scenario: labels so far flatter a recent window, matured
predictions do not.

The scenario's chargebacks come 3 to 45 days after the payment and honest outcomes at the
close of a 30-to-60-day dispute window, so ten days after March ends almost only March's
fraud is labelled. A fixed rule flags payments (abroad, or in the top decile of amounts);
its true March precision is known once every label is in. At 60,000 payments it was
measured at 0.257 (408 flagged); from the labels known on 10 April, 0.888 (98 labelled).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tether.examples.fraud import ScenarioConfig, simulate
from tether.monitoring import MaturityRule, PerformanceRule, realized

UTC = dt.UTC
SCENARIO = ScenarioConfig(n_transactions=60_000, n_customers=600)
MARCH, APRIL = dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 4, 1, tzinfo=UTC)
RULE = MaturityRule(outcome_window_days=60)


@pytest.fixture(scope="module")
def march() -> pd.DataFrame:
    """March's payments with a rule's score, and every label with the time it became known."""
    events, labels = simulate(SCENARIO)
    frame = events.merge(labels, on="event_id")
    abroad = (frame["country"] != "US").astype(float)
    large = (frame["amount"] > frame["amount"].quantile(0.9)).astype(float)
    frame["score"] = 0.5 * abroad + 0.4 * large
    frame["label"] = frame["is_fraud"].astype(float)
    return frame.loc[(frame["event_time"] >= MARCH) & (frame["event_time"] < APRIL)]


def precision(frame: pd.DataFrame) -> tuple[float, float, float]:
    value = realized(frame, threshold=0.5).precision
    assert value is not None
    return value.value, value.low, value.high


def test_labels_so_far_bias_a_recent_windows_precision_upward(march: pd.DataFrame) -> None:
    truth, _, truth_high = precision(march)
    cutoff = APRIL + dt.timedelta(days=10)
    seen = RULE.labels_at(march, cutoff)
    so_far, so_far_low, _ = precision(seen)
    assert so_far_low > truth_high, (so_far, truth)
    # The literal rule, "label arrived or window closed", admits the same early
    # labels and is just as biased: why matured means "window closed" here.
    arrived_or_closed = seen.loc[RULE.known(march, cutoff) | RULE.matured(march, cutoff)]
    assert precision(arrived_or_closed)[0] == pytest.approx(so_far)


def test_matured_predictions_give_an_unbiased_precision(march: pd.DataFrame) -> None:
    truth = precision(march)[0]
    cutoff = APRIL + dt.timedelta(days=45)  # the first half of March has matured
    seen = RULE.labels_at(march, cutoff)
    matured = seen.loc[RULE.matured(march, cutoff)]
    value, low, high = precision(matured)
    assert 0.3 < len(matured) / len(march) < 0.7
    assert matured["label"].notna().all()  # every matured prediction has its label
    assert low <= truth <= high
    assert precision(seen)[0] > value  # labels so far still flatter it at this cut-off


def test_no_alert_on_the_incomplete_window_and_an_alert_once_matured(march: pd.DataFrame) -> None:
    rule = PerformanceRule.parse("precision below 0.5", min_labelled=50)
    early = APRIL + dt.timedelta(days=10)
    status = RULE.status(march, early)
    outcome = rule.check(
        realized(RULE.labels_at(march, early), threshold=0.5), status.label_completeness
    )
    assert status.label_completeness < 0.1 and outcome.state == "insufficient"
    late = APRIL + dt.timedelta(days=60)
    status = RULE.status(march, late)
    assert status.matured == status.labelled == len(march)
    outcome = rule.check(
        realized(RULE.labels_at(march, late), threshold=0.5), status.label_completeness
    )
    assert outcome.state == "fired"
