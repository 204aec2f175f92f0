"""The prediction log's contract, run on SQLite and on PostgreSQL: predictions stored exactly
as served, queried with their feedback, redacted before writing, deleted after retention."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tether._storage import open_database
from tether.errors import FeedbackConflictError, InvalidFeedbackError, ServingError
from tether.serving._labels import LabelSpace
from tether.serving._prediction import Prediction
from tether.serving._predlog import PredictionLog, UnknownInstanceError
from tether.serving._predlog_feedback import FeedbackRecord
from tether.serving._redaction import Redaction

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NEVER = 3600.0  # a flush interval that never elapses during a test
COLUMNS = [
    "instance_id",
    "model",
    "version",
    "input_digest",
    "role",
    "request_id",
    "time",
    "event_time",
    "unit_id",
    "cohort",
    "features",
    "output",
    "score",
    "latency_ms",
    "entity",
    "request_data",
    "statuses",
    "superseded",
]
FEEDBACK_COLUMNS = ["label", "business", "feedback_time"]


def _prediction(number: int, **changes: object) -> Prediction:
    prediction = Prediction(
        request_id=f"req-{number}",
        instance_id=f"tx-{number}",
        time=T0 + timedelta(seconds=number),
        model="fraud",
        version="1",
        role="champion",
        features={"amount": 10.0 + number, "country": "FR"},
        output=0.5,
        latency_ms=2.5,
        unit_id=f"customer-{number % 3}",
        cohort="A",
    )
    return replace(prediction, **changes)  # type: ignore[arg-type]


@pytest.fixture
def log(database_url: str) -> Iterator[PredictionLog]:
    prediction_log = PredictionLog(database_url, flush_interval=NEVER, clock=lambda: T0)
    yield prediction_log
    prediction_log.close()


def _all(log: PredictionLog) -> pd.DataFrame:
    return log.query(T0 - timedelta(days=365), T0 + timedelta(days=365))


def _record(log: PredictionLog, *predictions: Prediction) -> None:
    for prediction in predictions:
        assert log.record(prediction)
    log.flush()


def test_ping_is_one_round_trip_that_returns_nothing(log: PredictionLog) -> None:
    assert log.ping() is None
    assert _all(log).empty


def test_a_prediction_is_stored_exactly_as_served(log: PredictionLog) -> None:
    features = {"z": 1, "amount": math.nan, "nested": {"list": [1, 2.5, None]}, "city": "Orléans"}
    prediction = _prediction(
        1, features=features, output={"p": 0.25, "label": "ok"}, event_time=T0, latency_ms=1.75
    )
    _record(log, prediction)

    row = _all(log).iloc[0]
    assert list(row["features"]) == ["z", "amount", "nested", "city"]  # key order kept
    assert math.isnan(row["features"]["amount"])
    assert {k: v for k, v in row["features"].items() if k != "amount"} == {
        "z": 1,
        "nested": {"list": [1, 2.5, None]},
        "city": "Orléans",
    }
    assert row["output"] == {"p": 0.25, "label": "ok"}
    assert pd.isna(row["score"])  # not a single number
    assert (row["time"], row["event_time"]) == (prediction.time, T0)
    assert (row["instance_id"], row["request_id"], row["unit_id"]) == (
        "tx-1",
        "req-1",
        "customer-1",
    )
    assert (row["model"], row["version"], row["role"], row["cohort"]) == (
        "fraud",
        "1",
        "champion",
        "A",
    )
    assert row["latency_ms"] == 1.75


def test_query_selects_a_half_open_window_and_filters(log: PredictionLog) -> None:
    _record(
        log,
        _prediction(0),
        _prediction(1, version="2", role="challenger", cohort="B"),
        _prediction(2, cohort="B"),
        _prediction(3, model="churn"),
        _prediction(4),
    )
    start, end = T0, T0 + timedelta(seconds=4)

    def ids(**filters: str) -> list[str]:
        return list(log.query(start, end, **filters)["instance_id"])  # type: ignore[arg-type]

    assert ids() == ["tx-0", "tx-1", "tx-2", "tx-3"]  # tx-4 is at `end`: excluded
    assert ids(model="fraud") == ["tx-0", "tx-1", "tx-2"]
    assert ids(model="fraud", version="2") == ["tx-1"]
    assert ids(cohort="B") == ["tx-1", "tx-2"]
    assert ids(role="challenger") == ["tx-1"]
    assert ids(cohort="B", role="champion") == ["tx-2"]


def test_an_empty_query_has_the_documented_columns_and_types(log: PredictionLog) -> None:
    frame = _all(log)
    assert frame.empty
    assert list(frame.columns) == COLUMNS + FEEDBACK_COLUMNS
    assert str(frame["time"].dtype) == str(frame["feedback_time"].dtype) == "datetime64[us, UTC]"
    assert str(frame["score"].dtype) == "float64"
    assert list(log.query(T0, T0, with_feedback=False).columns) == COLUMNS


def test_a_retried_prediction_keeps_the_first_row(log: PredictionLog) -> None:
    _record(log, _prediction(1, output=0.1), _prediction(1, output=0.9))
    frame = _all(log)
    assert list(frame["score"]) == [0.1]


def test_predictions_recorded_from_many_threads_are_all_written(log: PredictionLog) -> None:
    def record(offset: int) -> None:
        for number in range(offset, offset + 100):
            log.record(_prediction(number))

    threads = [threading.Thread(target=record, args=(100 * n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.flush()

    assert sorted(_all(log)["instance_id"]) == sorted(f"tx-{n}" for n in range(400))
    assert (log.written, log.dropped, log.rejected) == (400, 0, 0)


def test_feedback_joins_every_prediction_of_its_instance(log: PredictionLog) -> None:
    champion = _prediction(1)
    shadow = replace(champion, version="2", role="shadow", output=0.75)
    _record(log, champion, shadow, _prediction(2))

    assert log.record_feedback("tx-1", 1, {"loss": 120.0}, time=T0 + timedelta(days=3)) == "created"

    frame = _all(log).set_index(["instance_id", "role"])
    for role in ("champion", "shadow"):
        assert frame.loc[("tx-1", role), "label"] == 1
        assert frame.loc[("tx-1", role), "business"] == {"loss": 120.0}
        assert frame.loc[("tx-1", role), "feedback_time"] == T0 + timedelta(days=3)
    assert frame.loc[("tx-2", "champion"), "label"] is None
    assert pd.isna(frame.loc[("tx-2", "champion"), "feedback_time"])


def test_the_same_feedback_twice_is_recorded_once(log: PredictionLog) -> None:
    _record(log, _prediction(1))
    first = log.record_feedback("tx-1", True, {"loss": 5, "currency": "EUR"}, time=T0)
    again = log.record_feedback(
        "tx-1", True, {"currency": "EUR", "loss": 5}, time=T0 + timedelta(hours=1)
    )

    assert (first, again) == ("created", "duplicate")
    assert _all(log)["feedback_time"].iloc[0] == T0  # the first one is kept


@pytest.mark.parametrize(
    ("label", "business"), [(0, {"loss": 5}), (1, {"loss": 6}), (1, {})], ids=str
)
def test_conflicting_feedback_is_refused(
    log: PredictionLog, label: int, business: dict[str, int]
) -> None:
    _record(log, _prediction(1))
    log.record_feedback("tx-1", 1, {"loss": 5})

    with pytest.raises(FeedbackConflictError, match="'tx-1' already has feedback"):
        log.record_feedback("tx-1", label, business)
    row = _all(log).iloc[0]
    assert (row["label"], row["business"]) == (1, {"loss": 5})


def test_feedback_for_an_unknown_instance_is_refused(log: PredictionLog) -> None:
    _record(log, _prediction(1))
    with pytest.raises(UnknownInstanceError, match="No prediction of instance 'tx-9'"):
        log.record_feedback("tx-9", 1)


def test_feedback_may_arrive_before_its_prediction_is_written(log: PredictionLog) -> None:
    log.record(_prediction(1))  # queued; the writer would wait an hour for more

    assert log.record_feedback("tx-1", 0) == "created"
    assert log.written == 1


def test_retention_deletes_old_predictions_and_their_feedback(log: PredictionLog) -> None:
    day = timedelta(days=1)
    old, recent = _prediction(1, time=T0 - 10 * day), _prediction(2, time=T0 - day)
    rescored_old = _prediction(3, time=T0 - 10 * day)
    rescored_recent = replace(rescored_old, version="2", role="shadow", time=T0 - day)
    _record(log, old, recent, rescored_old, rescored_recent)
    for instance_id in ("tx-1", "tx-2", "tx-3"):
        log.record_feedback(instance_id, 1)

    result = log.delete_older_than(timedelta(days=7))

    assert (result.predictions, result.feedback) == (2, 1)
    frame = _all(log)
    assert sorted(zip(frame["instance_id"], frame["version"], strict=True)) == [
        ("tx-2", "1"),
        ("tx-3", "2"),
    ]
    assert list(frame["label"]) == [1, 1]  # tx-3 keeps its feedback for its recent row
    with pytest.raises(UnknownInstanceError):
        log.record_feedback("tx-1", 1)


def test_redaction_hashes_and_drops_before_anything_is_written(database_url: str) -> None:
    redaction = Redaction(hash=["customer_id", "unit_id"], drop=["email"], salt="pepper")
    features = {"customer_id": "c-42", "email": "ana@example.com", "amount": 9.5, "missing": None}
    with PredictionLog(database_url, redaction=redaction, flush_interval=NEVER) as log:
        _record(log, _prediction(1, features=features, unit_id="c-42"))
        row = _all(log).iloc[0]

    digest = hmac.new(b"pepper", b"c-42", hashlib.sha256).hexdigest()
    assert row["features"] == {"customer_id": digest, "amount": 9.5, "missing": None}
    assert row["unit_id"] == digest
    database = open_database(database_url, error=ServingError, purpose="test")
    with database.read() as transaction:
        stored = transaction.fetch_all("SELECT * FROM tether_predictions")
    database.dispose()
    assert "c-42" not in repr(stored) and "ana@example.com" not in repr(stored)


def test_a_dropped_unit_id_is_stored_as_null(database_url: str) -> None:
    with PredictionLog(database_url, redaction=Redaction(drop=["unit_id"])) as log:
        _record(log, _prediction(1))
        assert _all(log)["unit_id"].isna().all()


def test_a_prediction_that_cannot_be_stored_is_skipped_alone(log: PredictionLog) -> None:
    _record(log, _prediction(1), _prediction(2, features={"bad": object()}), _prediction(3))

    assert list(_all(log)["instance_id"]) == ["tx-1", "tx-3"]
    assert log.rejected == 1


def test_close_writes_everything_and_later_records_are_refused(database_url: str) -> None:
    log = PredictionLog(database_url, max_batch=1000, flush_interval=NEVER)
    for number in range(30):
        log.record(_prediction(number))
    log.close()
    log.close()  # closing twice does nothing

    with pytest.raises(ServingError, match="is closed"):
        log.record(_prediction(99))
    with PredictionLog(database_url) as reopened:
        assert len(_all(reopened)) == 30


def test_invalid_predictions_are_refused_when_built() -> None:
    with pytest.raises(ServingError, match="role 'winner'"):
        _prediction(1, role="winner")
    with pytest.raises(ServingError, match="naive time"):
        _prediction(1, time=datetime(2025, 1, 1))


# Retries and revisions: the same instance id with the same fields is one row; with other
# fields it is a new revision, stored and counted, and only the latest one takes the label.


def test_a_retry_with_the_same_fields_is_one_row_and_counted(log: PredictionLog) -> None:
    _record(log, _prediction(1), _prediction(1, request_id="req-retry"), _prediction(2))

    assert list(_all(log)["request_id"]) == ["req-1", "req-2"]
    assert (log.written, log.retries, log.rejected, log.dropped) == (3, 1, 0, 0)


def test_the_same_instance_with_other_inputs_is_stored_as_a_new_revision(
    log: PredictionLog,
) -> None:
    first = _prediction(1, output=0.1)
    revised = _prediction(
        1, output=0.9, features={"amount": 99.0, "country": "FR"}, time=T0 + timedelta(hours=1)
    )
    _record(log, first, revised)
    log.record_feedback("tx-1", 1)

    frame = _all(log)
    assert list(frame["score"]) == [0.1, 0.9]
    assert list(frame["superseded"]) == [True, False]
    assert frame["input_digest"].nunique() == 2
    assert frame["label"].iloc[0] is None and frame["label"].iloc[1] == 1  # the latest only
    assert (log.retries, log.rejected) == (0, 0)


def test_the_input_digest_is_the_request_fields_when_given(log: PredictionLog) -> None:
    sent = {"features": {"amount": 11.0}, "entity": None, "unit_id": None, "event_time": None}
    # Online features changed between the request and its retry: the sent fields did not.
    _record(
        log,
        _prediction(1, inputs=sent, features={"amount": 11.0, "mean_7d": 1.0}),
        _prediction(1, inputs=dict(sent), features={"amount": 11.0, "mean_7d": 2.0}),
    )
    assert len(_all(log)) == 1 and log.retries == 1


def test_the_input_digest_is_keyed_by_the_redaction_salt(database_url: str) -> None:
    redaction = Redaction(hash=["customer_id"], salt="pepper")
    with PredictionLog(database_url, redaction=redaction, flush_interval=NEVER) as log:
        _record(log, _prediction(1, features={"customer_id": "c-42"}))
        digest = _all(log)["input_digest"].iloc[0]
    inputs = {"features": {"customer_id": "c-42"}, "unit_id": "customer-1", "event_time": None}
    assert digest == Redaction(salt="pepper").digest(inputs)[:32]
    assert digest != Redaction().digest(inputs)[:32]


# Feedback labels are checked against the model that predicted, and corrected explicitly.

BINARY = LabelSpace((0, 1))


@pytest.mark.parametrize("label", ["yes", True, 2, 0.5, None], ids=repr)
def test_a_label_a_classifier_cannot_have_is_refused(log: PredictionLog, label: object) -> None:
    _record(log, _prediction(1, labels=BINARY))

    with pytest.raises(InvalidFeedbackError, match=r"expected one of 0, 1") as caught:
        log.record_feedback("tx-1", label)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.expected) == ("label", "one of 0, 1")
    assert _all(log)["label"].iloc[0] is None
    assert log.record_feedback("tx-1", 1) == "created"  # still open for the right label


def test_a_label_is_stored_as_the_models_own_class(log: PredictionLog) -> None:
    _record(log, _prediction(1, labels=BINARY), _prediction(2, labels=LabelSpace(("ok", "fraud"))))

    assert log.record_feedback("tx-1", 1.0) == "created"
    assert log.record_feedback("tx-1", 1) == "duplicate"
    assert log.record_feedback("tx-2", "fraud") == "created"
    assert list(_all(log)["label"]) == [1, "fraud"]
    with pytest.raises(InvalidFeedbackError, match='expected one of "ok", "fraud"'):
        log.record_feedback("tx-2", "FRAUD")


def test_a_regressors_label_is_a_finite_number(log: PredictionLog) -> None:
    _record(log, _prediction(1, labels=LabelSpace(None)))
    for label in ("yes", True, math.inf):
        with pytest.raises(InvalidFeedbackError, match="expected a finite number"):
            log.record_feedback("tx-1", label)
    assert log.record_feedback("tx-1", 12.5) == "created"


def test_every_model_of_the_instance_must_accept_the_label(log: PredictionLog) -> None:
    champion = _prediction(1, labels=BINARY)
    shadow = replace(champion, version="2", role="shadow", labels=LabelSpace((1, 2)))
    _record(log, champion, shadow)
    with pytest.raises(InvalidFeedbackError, match="expected one of 1, 2"):
        log.record_feedback("tx-1", 0)
    assert log.record_feedback("tx-1", 1) == "created"


def test_a_correction_supersedes_the_label_and_keeps_the_history(log: PredictionLog) -> None:
    _record(log, _prediction(1, labels=BINARY))
    log.record_feedback("tx-1", 1, {"loss": 120.0}, time=T0)

    with pytest.raises(FeedbackConflictError, match='send a correction \\("correction": true'):
        log.record_feedback("tx-1", 0, {"loss": 0.0})
    status = log.record_feedback(
        "tx-1", 0, {"loss": 0.0}, time=T0 + timedelta(days=30), correction=True,
        reason="chargeback reversed",
    )  # fmt: skip
    again = log.record_feedback(
        "tx-1", 0, {"loss": 0.0}, correction=True, reason="chargeback reversed"
    )

    assert (status, again) == ("corrected", "duplicate")
    row = _all(log).iloc[0]
    assert (row["label"], row["business"]) == (0, {"loss": 0.0})
    assert row["feedback_time"] == T0 + timedelta(days=30)
    assert log.feedback_history("tx-1") == [
        FeedbackRecord(1, 1, {"loss": 120.0}, T0, None),
        FeedbackRecord(2, 0, {"loss": 0.0}, T0 + timedelta(days=30), "chargeback reversed"),
    ]
    assert log.feedback_history("tx-9") == []


def test_a_correction_is_checked_like_a_label(log: PredictionLog) -> None:
    _record(log, _prediction(1, labels=BINARY))
    log.record_feedback("tx-1", 1)
    with pytest.raises(InvalidFeedbackError, match="expected one of 0, 1"):
        log.record_feedback("tx-1", "no", correction=True, reason="typo")
    assert [record.label for record in log.feedback_history("tx-1")] == [1]


@pytest.mark.parametrize(
    ("correction", "reason"), [(True, None), (True, "  "), (False, "because")], ids=str
)
def test_a_correction_needs_a_reason_and_a_reason_a_correction(
    log: PredictionLog, correction: bool, reason: str | None
) -> None:
    _record(log, _prediction(1))
    log.record_feedback("tx-1", 1)
    with pytest.raises(InvalidFeedbackError) as caught:
        log.record_feedback("tx-1", 0, correction=correction, reason=reason)
    assert caught.value.field == "reason"
    assert _all(log)["label"].iloc[0] == 1


def test_a_correction_of_an_instance_without_feedback_is_refused(log: PredictionLog) -> None:
    _record(log, _prediction(1))
    with pytest.raises(FeedbackConflictError, match="'tx-1' has no feedback yet"):
        log.record_feedback("tx-1", 1, correction=True, reason="late")
    assert log.feedback_history("tx-1") == []


def test_retention_deletes_the_history_of_deleted_feedback(log: PredictionLog) -> None:
    _record(log, _prediction(1, time=T0 - timedelta(days=10)), _prediction(2))
    for instance_id in ("tx-1", "tx-2"):
        log.record_feedback(instance_id, 1)
        log.record_feedback(instance_id, 0, correction=True, reason="reversed")

    log.delete_older_than(timedelta(days=7))

    assert log.feedback_history("tx-1") == []
    assert [record.revision for record in log.feedback_history("tx-2")] == [1, 2]


def test_errors_that_reach_a_client_do_not_name_the_database(database_url: str) -> None:
    log = PredictionLog(database_url, flush_interval=NEVER)
    with pytest.raises(UnknownInstanceError) as unknown:
        log.record_feedback("tx-9", 1)
    log.close()
    with pytest.raises(ServingError) as closed:
        log.record(_prediction(1))

    location = database_url.split("?")[0].split("///")[-1].split("@")[-1]
    for error in (unknown.value, closed.value):
        assert location not in str(error)
        assert "sqlite" not in str(error) and "postgresql" not in str(error)
