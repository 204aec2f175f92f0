"""Reading the prediction log back, on SQLite and on PostgreSQL: the latest predictions with
their current feedback, and the served vectors the skew audit recomputes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tether.errors import ServingError
from tether.serving import SKIP_REASONS, Prediction, PredictionLog, PredictionReader, Redaction

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NEVER = 3600.0


def _prediction(number: int, **changes: object) -> Prediction:
    prediction = Prediction(
        request_id=f"req-{number}",
        instance_id=f"tx-{number}",
        time=T0 + timedelta(seconds=number),
        model="fraud",
        version="1",
        role="champion",
        features={"amount": 10.0 + number, "n_1d": float(number)},
        output=number / 10,
        latency_ms=2.5,
        unit_id=f"customer-{number % 3}",
        cohort="champion",
        event_time=T0 + timedelta(seconds=number),
        entity={"customer_id": f"c{number % 3}"},
        statuses={"amount": "request", "n_1d": "value"},
        request_data={"country": "FR"},
    )
    return replace(prediction, **changes)  # type: ignore[arg-type]


@pytest.fixture
def log(database_url: str) -> Iterator[PredictionLog]:
    prediction_log = PredictionLog(database_url, flush_interval=NEVER, clock=lambda: T0)
    yield prediction_log
    prediction_log.close()


def _record(log: PredictionLog, *predictions: Prediction) -> None:
    for prediction in predictions:
        assert log.record(prediction)
    log.flush()


def test_recent_is_newest_first_limited_and_filtered(log: PredictionLog, database_url: str) -> None:
    _record(
        log,
        *(_prediction(n) for n in range(5)),
        _prediction(5, version="2", role="challenger", cohort="challenger"),
        _prediction(6, model="churn"),
    )
    with PredictionReader(database_url) as reader:

        def ids(**filters: object) -> list[str]:
            return list(reader.recent(**filters)["instance_id"])  # type: ignore[arg-type]

        assert ids() == [f"tx-{n}" for n in range(6, -1, -1)]
        assert ids(limit=2) == ["tx-6", "tx-5"]
        assert ids(model="fraud", limit=3) == ["tx-5", "tx-4", "tx-3"]
        assert ids(version="2") == ["tx-5"]
        assert ids(cohort="challenger") == ["tx-5"]
        assert ids(role="champion", model="fraud") == ["tx-4", "tx-3", "tx-2", "tx-1", "tx-0"]
        assert ids(since=T0 + timedelta(seconds=4)) == ["tx-6", "tx-5", "tx-4"]  # inclusive
        assert ids(since=T0 + timedelta(days=1)) == []
        # The oracle: the time-ordered query of the same window, reversed.
        ordered = log.query(T0, T0 + timedelta(days=1))
        assert ids(limit=100) == list(ordered["instance_id"])[::-1]


def test_recent_joins_the_latest_feedback_of_each_prediction(
    log: PredictionLog, database_url: str
) -> None:
    _record(log, _prediction(1), _prediction(2), _prediction(3))
    log.record_feedback("tx-1", 1, {"loss": 120.0})
    log.record_feedback("tx-2", 0)
    log.record_feedback("tx-2", 1, {"loss": 5.0}, correction=True, reason="chargeback")
    with PredictionReader(database_url) as reader:
        frame = reader.recent().set_index("instance_id")
    assert frame.loc["tx-1", "label"] == 1 and frame.loc["tx-1", "business"] == {"loss": 120.0}
    assert frame.loc["tx-2", "label"] == 1 and frame.loc["tx-2", "business"] == {"loss": 5.0}
    assert frame.loc["tx-3", "label"] is None and pd.isna(frame.loc["tx-3", "feedback_time"])
    assert frame.loc["tx-1", "score"] == 0.1
    assert frame.loc["tx-1", "statuses"] == {"amount": "request", "n_1d": "value"}
    assert frame.loc["tx-1", "entity"] == {"customer_id": "c1"}


def test_a_superseded_revision_gets_no_feedback(log: PredictionLog, database_url: str) -> None:
    first = _prediction(1)
    _record(log, first, replace(first, time=T0 + timedelta(seconds=9), features={"amount": 2.0}))
    log.record_feedback("tx-1", 1)
    with PredictionReader(database_url) as reader:
        frame = reader.recent()
    assert list(frame["superseded"]) == [False, True]
    assert list(frame["label"]) == [1, None]


def test_a_limit_below_one_is_refused(database_url: str) -> None:
    with PredictionReader(database_url) as reader, pytest.raises(ServingError, match="limit"):
        reader.recent(limit=0)


def test_served_vectors_hold_keys_time_request_columns_and_features(
    log: PredictionLog, database_url: str
) -> None:
    sent = {"features": {"amount": 11.0}, "entity": {"customer_id": "c1"}}  # as the router
    served = _prediction(1, inputs=sent)
    shadow = replace(served, version="3", role="shadow", features={"amount": 11.0, "mean": 4.0})
    _record(log, served, shadow, _prediction(2))
    with PredictionReader(database_url) as reader:
        vectors = reader.served_vectors(["customer_id"])
    assert vectors.read == 3 and vectors.skipped == {}
    frame = vectors.frame.sort_values("request_time").reset_index(drop=True)
    assert list(frame["customer_id"]) == ["c1", "c2"]
    assert list(frame["request_time"]) == [T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]
    assert list(frame["country"]) == ["FR", "FR"]
    assert list(frame["amount"]) == [11.0, 12.0]
    assert list(frame["n_1d"]) == [1.0, 2.0]
    # The shadow scored the same instance: its features join the one vector of the instance.
    assert frame["mean"].iloc[0] == 4.0 and pd.isna(frame["mean"].iloc[1])


def test_served_vectors_skip_and_count_what_cannot_be_recomputed(
    database_url: str,
) -> None:
    redaction = Redaction(hash=["email"], salt="s3cret")
    with PredictionLog(database_url, redaction=redaction, flush_interval=NEVER) as log:
        _record(
            log,
            _prediction(1, request_data={"email": "a@b.c"}),  # a hashed request column
            _prediction(2, entity={"customer_id": "c2", "email": "a@b.c"}),  # a hashed key
            _prediction(3, entity=None),  # raw features only
            _prediction(4, entity={"device_id": "d1"}),  # lacks the customer key
            _prediction(5),
        )
    with PredictionReader(database_url) as reader:
        vectors = reader.served_vectors(["customer_id"], hashed=["email"])
    assert vectors.read == 5
    assert vectors.skipped == {"hashed": 2, "no_entity": 1, "missing_key": 1}
    assert set(vectors.skipped) <= set(SKIP_REASONS)
    assert list(vectors.frame["customer_id"]) == ["c2"]  # tx-5 only
    assert len(vectors.frame) == 1


def test_served_vectors_of_an_empty_log_are_an_empty_frame(database_url: str) -> None:
    with PredictionReader(database_url) as reader:
        vectors = reader.served_vectors(["customer_id"])
    assert vectors.frame.empty and vectors.read == 0 and vectors.skipped == {}
