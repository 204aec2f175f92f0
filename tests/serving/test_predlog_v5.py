"""Schema version 5 of the prediction log, on SQLite and PostgreSQL: a version 4 log with rows
(NaN in its JSON features) is upgraded in batches; new rows and feedback fill every new
column; corrections and retention keep the typed copies in step."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tether._schema import upgrade
from tether._storage import Database, Params, Row, Transaction, open_database, to_micros
from tether.errors import ServingError
from tether.serving import LogAggregates, Prediction, PredictionLog
from tether.serving import _predlog_typed as typed
from tether.serving._predlog_sql import PREDICTIONS_SCHEMA

T0 = datetime(2025, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url, error=ServingError, purpose="test")
    yield db
    db.dispose()


def _v4_log(database: Database, count: int) -> None:
    upgrade(database, PREDICTIONS_SCHEMA, target=4)
    features = ['{"amount":NaN,"country":"FR"}', '{"amount":2.5,"country":"DE","flag":true}',
                '{"amount":Infinity,"tags":[1,2]}']  # fmt: skip
    with database.write() as transaction:
        transaction.execute_many(
            "INSERT INTO tether_predictions (instance_id, model, version, input_digest, role, "
            "request_id, time_us, event_time_us, cohort, features, output, score, latency_ms) "
            "VALUES (:id, 'fraud', '1', 'd', 'champion', 'r', :time_us, :event_us, 'A', "
            ":features, '0.5', 0.5, 1.0)",
            [
                {"id": f"tx-{n:03d}", "time_us": to_micros(T0) + n,
                 "event_us": None if n % 2 else to_micros(T0 - DAY),
                 "features": features[n % 3]}
                for n in range(count)
            ],
        )  # fmt: skip
        for n, (label, business) in enumerate((("1", '{"loss":12.5,"note":"x"}'), ('"a"', "{}"))):
            params = {"id": f"tx-{n:03d}", "label": label, "business": business,
                      "t": to_micros(T0 + DAY)}  # fmt: skip
            transaction.execute(
                "INSERT INTO tether_feedback (instance_id, label, business, time_us) "
                "VALUES (:id, :label, :business, :t)",
                params,
            )
            transaction.execute(
                "INSERT INTO tether_feedback_history (instance_id, revision, label, business, "
                "time_us) VALUES (:id, 1, :label, :business, :t)",
                params,
            )


def test_a_version_4_log_is_upgraded_in_batches(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _v4_log(database, 7)
    monkeypatch.setattr(typed, "BACKFILL_BATCH", 3)  # 3 + 3 + 1 predictions, 2 feedback
    batches: list[int] = []
    fetch_all = Transaction.fetch_all

    def counted(self: Transaction, sql: str, params: Params | None = None) -> list[Row]:
        rows = fetch_all(self, sql, params)
        if "event_time_us, score, features FROM" in sql:
            batches.append(len(rows))
        return rows

    monkeypatch.setattr(Transaction, "fetch_all", counted)
    with LogAggregates(database_url) as aggregates:
        monkeypatch.setattr(Transaction, "fetch_all", fetch_all)
        summary = aggregates.feature_summary(
            T0 - DAY, T0 + DAY, "fraud", numeric={"amount": (1.0,)},
            categorical={"country": ("FR",), "flag": ("true",)},
        )  # fmt: skip
        counts = aggregates.counts(T0 - DAY, T0 + DAY, by=("version",))
    assert batches == [3, 3, 1]
    # NaN and Infinity in the JSON are missing values; the list is not typed.
    assert summary.rows == 7
    assert (summary.features["amount"].count, summary.features["amount"].nulls) == (2, 5)
    assert summary.features["amount"].counts == (0, 2)
    assert summary.features["country"].frequencies == {"FR": 3}
    assert summary.features["country"].other == 2 and summary.features["flag"].count == 2
    assert counts["labelled"].tolist() == [2]  # a text label is a label, with no number
    with database.read() as transaction:
        keys = transaction.fetch_all("SELECT instance_id, sample_key FROM tether_predictions")
        feedback = transaction.fetch_all(
            "SELECT instance_id, label_value, received_us, time_us FROM tether_feedback "
            "ORDER BY instance_id"
        )
        history = transaction.fetch_all("SELECT received_us, time_us FROM tether_feedback_history")
        values = transaction.fetch_all(
            "SELECT instance_id, name, value FROM tether_feedback_values"
        )
    assert all(key == typed.sample_key(str(instance)) for instance, key in keys)
    assert [(i, v) for i, v, _, _ in feedback] == [("tx-000", 1.0), ("tx-001", None)]
    assert all(received == known for _, _, received, known in feedback)
    assert all(received == known for received, known in history)
    assert values == [("tx-000", "loss", 12.5)]


def test_new_rows_fill_every_new_column(database: Database, database_url: str) -> None:
    received = datetime(2026, 1, 2, tzinfo=UTC)
    with PredictionLog(database_url, flush_interval=3600.0) as log:
        log.record(Prediction(
            request_id="r", instance_id="tx-1", time=T0, model="fraud", version="2",
            role="challenger", features={"amount": math.nan, "n": 3}, output=math.inf,
            latency_ms=1.0, cohort="B", experiment_id=42, decision=1,
        ))  # fmt: skip
        log.flush()
        log.record_feedback("tx-1", True, {"loss": 3.0, "flag": True}, time=T0 + DAY,
                            received=received)  # fmt: skip
        log.record_feedback("tx-1", False, {"loss": 1.0}, time=T0 + 2 * DAY, correction=True,
                            reason="reversed", received=received + DAY)  # fmt: skip
    with database.read() as transaction:
        prediction = transaction.fetch_one(
            "SELECT experiment_id, decision, sample_key FROM tether_predictions"
        )
        feedback = transaction.fetch_one("SELECT label_value, received_us FROM tether_feedback")
        history = transaction.fetch_all(
            "SELECT revision, received_us FROM tether_feedback_history ORDER BY revision"
        )
        values = transaction.fetch_all("SELECT name, value FROM tether_feedback_values")
        typed_row = transaction.fetch_one(
            "SELECT experiment_id, decision, score, n1, n2 FROM tether_features_1"
        )
    assert prediction == (42, 1, typed.sample_key("tx-1"))
    assert feedback == (0.0, to_micros(received + DAY))
    assert history == [(1, to_micros(received)), (2, to_micros(received + DAY))]
    assert values == [("loss", 1.0)]  # the correction replaced the business values
    assert typed_row == (42, 1, None, None, 3.0)  # inf score and NaN amount stored as NULL


def test_retention_deletes_the_typed_copies(database: Database, database_url: str) -> None:
    with PredictionLog(database_url, flush_interval=3600.0) as log:
        for number in range(3):
            log.record(Prediction(
                request_id="r", instance_id=f"tx-{number}", time=T0 + number * DAY,
                model="fraud", version="1", role="champion", features={"a": 1.0},
                output=0.5, latency_ms=1.0,
            ))  # fmt: skip
        log.flush()
        log.record_feedback("tx-0", 1, {"loss": 2.0}, time=T0)
        log.delete_older_than(DAY, now=T0 + 2 * DAY)
    with database.read() as transaction:
        left = transaction.fetch_all("SELECT instance_id FROM tether_features_1 ORDER BY 1")
        values = transaction.fetch_all("SELECT instance_id FROM tether_feedback_values")
    assert left == [("tx-1",), ("tx-2",)] and values == []


def test_the_sample_key_is_31_bits_of_sha256() -> None:
    assert typed.sample_key("tx-1") == typed.sample_key("tx-1")
    keys = {typed.sample_key(f"tx-{n}") for n in range(1000)}
    assert len(keys) == 1000 and all(0 <= key < typed.SAMPLE_PRIME for key in keys)
    assert typed.label_value(True) == 1.0 and typed.label_value("fraud") is None
    assert typed.typed_value(math.nan) == ("numeric", None)
    assert typed.typed_value([1]) is None and typed.typed_value(False) == ("text", "false")


def test_two_logs_adding_the_same_features_at_once_agree_on_the_catalog(
    database_url: str,
) -> None:
    logs = [PredictionLog(database_url, flush_interval=3600.0) for _ in range(2)]
    try:
        for which, log in enumerate(logs):  # each log's cache knows nothing of the other's
            for number in range(20):
                log.record(Prediction(
                    request_id="r", instance_id=f"tx-{which}-{number}", time=T0, model="fraud",
                    version="1", role="champion", latency_ms=1.0, output=0.5,
                    features={"a": float(number), f"only_{which}": "x", "b": number},
                ))  # fmt: skip
        threads = [threading.Thread(target=log.flush) for log in logs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for log in logs:
            log.close()
    with LogAggregates(database_url) as aggregates:
        summary = aggregates.feature_summary(
            T0, T0 + DAY, "fraud", numeric={"a": (10.0,), "b": ()},
            categorical={"only_0": ("x",), "only_1": ("x",)},
        )  # fmt: skip
    assert summary.rows == 40 and summary.features["a"].counts == (20, 20)
    assert summary.features["b"].count == 40
    assert summary.features["only_0"].frequencies == {"x": 20}
    assert summary.features["only_1"].frequencies == {"x": 20}
