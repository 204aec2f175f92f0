"""The retention worker: old predictions go at start and then at every interval, and a failing
database is logged and retried, never raised into the server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tether.errors import ServingError
from tether.serving import Prediction, PredictionLog, RetentionResult, RetentionWorker

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def prediction(number: int, age: timedelta) -> Prediction:
    return Prediction(
        request_id=f"req-{number}",
        instance_id=f"tx-{number}",
        time=NOW - age,
        model="fraud",
        version="1",
        role="champion",
        features={"amount": 10.0},
        output=0.5,
        latency_ms=1.0,
    )


@pytest.fixture
def log(database_url: str) -> Iterator[PredictionLog]:
    prediction_log = PredictionLog(database_url, flush_interval=3600.0, clock=lambda: NOW)
    yield prediction_log
    prediction_log.close()


def instances(log: PredictionLog) -> list[str]:
    frame = log.query(NOW - timedelta(days=3650), NOW + timedelta(days=1))
    return sorted(frame["instance_id"])


def test_old_predictions_go_at_start_and_again_at_every_interval(log: PredictionLog) -> None:
    log.record(prediction(1, timedelta(days=100)))
    log.record(prediction(2, timedelta(days=1)))
    results: list[RetentionResult] = []
    ran = threading.Semaphore(0)

    def counted(result: RetentionResult) -> None:
        results.append(result)
        ran.release()

    worker = RetentionWorker(log, timedelta(days=90), interval_s=0.05, on_result=counted)
    worker.start()
    try:
        assert ran.acquire(timeout=10)  # the deletion at start
        assert instances(log) == ["tx-2"]
        log.record(prediction(3, timedelta(days=95)))  # old again, while the server runs
        log.flush()
        for _ in range(2):  # the next run may have begun before the record: wait for one more
            assert ran.acquire(timeout=10)
    finally:
        worker.stop()
    assert instances(log) == ["tx-2"]
    assert results[0] == RetentionResult(predictions=1, feedback=0)
    assert sum(result.predictions for result in results) == 2


def test_a_failing_database_is_logged_and_retried_not_raised(
    log: PredictionLog, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def down(age: timedelta, *, now: datetime | None = None) -> RetentionResult:
        raise ServingError("The prediction log at postgresql://db/test is down.")

    monkeypatch.setattr(log, "delete_older_than", down)
    worker = RetentionWorker(log, timedelta(days=90))
    with caplog.at_level(logging.WARNING, logger="tether.serving._retention"):
        assert worker.run_once() is None
    assert "postgresql://db/test is down" in caplog.text


def test_the_interval_must_be_positive(log: PredictionLog) -> None:
    with pytest.raises(ValueError, match="interval_s is 0"):
        RetentionWorker(log, timedelta(days=1), interval_s=0)
