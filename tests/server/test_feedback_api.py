"""POST /v1/feedback joins a served prediction in the real prediction log (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from server_cases import one, running_app, store_url

from tether.serving._predlog import PredictionLog


def test_feedback_is_created_once_then_duplicate_conflict_or_unknown(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        served = client.post("/v1/predict", json=one(instance_id="tx-1", unit_id="c1"))
        assert served.status_code == 200
        feedback = {"instance_id": "tx-1", "label": 1, "business": {"loss": 120.5},
                    "time": "2024-05-02T08:00:00+02:00"}  # fmt: skip

        created = client.post("/v1/feedback", json=feedback)
        assert created.status_code == 201
        assert created.json() == {
            "instance_id": "tx-1", "status": "created",
            "message": "Feedback for instance 'tx-1' recorded.",
        }  # fmt: skip

        again = client.post("/v1/feedback", json=feedback)
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")

        conflict = client.post("/v1/feedback", json={**feedback, "label": 0})
        assert conflict.status_code == 409
        assert conflict.json()["error"] == "feedback_conflict"
        assert "already has feedback" in conflict.json()["message"]

        unknown = client.post("/v1/feedback", json={**feedback, "instance_id": "tx-404"})
        assert unknown.status_code == 404
        assert unknown.json()["error"] == "unknown_instance"
        assert "'tx-404'" in unknown.json()["message"]

    with PredictionLog(store_url(tmp_path)) as log:
        now = datetime.now(UTC)
        frame = log.query(now - timedelta(hours=1), now + timedelta(hours=1))
    [row] = frame.to_dict("records")
    assert (row["instance_id"], row["role"], row["cohort"], row["unit_id"]) == (
        "tx-1", "champion", "champion", "c1",
    )  # fmt: skip
    assert row["label"] == 1 and row["business"] == {"loss": 120.5}
    assert row["feedback_time"] == datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
    assert row["score"] == served.json()["predictions"][0]["prediction"]


def test_invalid_feedback_is_422(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        for body in [
            {"label": 1},
            {"instance_id": "tx-1", "label": {"nested": 1}},
            {"instance_id": "tx-1", "label": 1, "business": {"loss": [1]}},
            {"instance_id": "tx-1", "label": 1, "time": "yesterday"},
            {"instance_id": "tx-1", "label": 1, "extra": True},
        ]:
            response = client.post("/v1/feedback", json=body)
            assert response.status_code == 422, body
            assert response.json()["field"]
        nan = b'{"instance_id": "tx-1", "label": NaN}'
        response = client.post("/v1/feedback", content=nan,
                               headers={"content-type": "application/json"})  # fmt: skip
        assert response.status_code == 422
        assert response.json()["field"] == "label"


def test_a_label_the_classifier_cannot_have_is_422_naming_label(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        assert client.post("/v1/predict", json=one(instance_id="tx-1")).status_code == 200
        for label in ("yes", True, 2):
            refused = client.post("/v1/feedback", json={"instance_id": "tx-1", "label": label})
            assert refused.status_code == 422, label
            body = refused.json()
            assert (body["error"], body["field"], body["expected"]) == (
                "invalid_feedback", "label", "one of 0, 1",
            )  # fmt: skip
            assert "tx-1" in body["message"]
        # A refused label leaves the instance open for the real one.
        created = client.post("/v1/feedback", json={"instance_id": "tx-1", "label": 1})
        assert created.status_code == 201


def test_a_correction_replaces_the_label_and_the_log_keeps_the_history(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        assert client.post("/v1/predict", json=one(instance_id="tx-1")).status_code == 200
        assert client.post("/v1/predict", json=one(instance_id="tx-2")).status_code == 200
        first = {"instance_id": "tx-1", "label": 1, "business": {"loss": 80.0}}
        assert client.post("/v1/feedback", json=first).status_code == 201
        correction = {"instance_id": "tx-1", "label": 0, "business": {"loss": 0.0},
                      "correction": True, "reason": "chargeback reversed"}  # fmt: skip

        corrected = client.post("/v1/feedback", json=correction)
        assert (corrected.status_code, corrected.json()["status"]) == (200, "corrected")
        again = client.post("/v1/feedback", json=correction)
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")

        no_reason = client.post("/v1/feedback", json={**correction, "reason": None})
        assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
        nothing = client.post("/v1/feedback", json={**correction, "instance_id": "tx-2"})
        assert nothing.status_code == 409
        assert "no feedback yet" in nothing.json()["message"]

    with PredictionLog(store_url(tmp_path)) as log:
        history = log.feedback_history("tx-1")
    assert [(r.label, r.business, r.reason) for r in history] == [
        (1, {"loss": 80.0}, None), (0, {"loss": 0.0}, "chargeback reversed"),
    ]  # fmt: skip


def test_the_404_for_an_unknown_instance_does_not_show_the_database(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        unknown = client.post("/v1/feedback", json={"instance_id": "tx-404", "label": 1})
    assert unknown.status_code == 404
    assert "tx-404" in unknown.json()["message"]
    for secret in (str(tmp_path), "tether.db", "sqlite"):
        assert secret not in unknown.text


def test_the_server_records_when_it_received_feedback_apart_from_when_it_was_known(
    tmp_path: Path,
) -> None:
    with running_app(tmp_path) as client:
        assert client.post("/v1/predict", json=one(instance_id="tx-1")).status_code == 200
        before = datetime.now(UTC)
        known = "2024-05-02T08:00:00+00:00"  # the outcome became known long before
        assert (
            client.post(
                "/v1/feedback", json={"instance_id": "tx-1", "label": 1, "time": known}
            ).status_code
            == 201
        )
        after = datetime.now(UTC)
        assert client.post("/v1/predict", json=one(instance_id="tx-2")).status_code == 200

    from tether._storage import open_database, to_micros
    from tether.errors import ServingError

    database = open_database(store_url(tmp_path), error=ServingError, purpose="test")
    try:
        with database.read() as transaction:
            row = transaction.fetch_one(
                "SELECT time_us, received_us, label_value FROM tether_feedback"
            )
            experiments = transaction.fetch_all(
                "SELECT DISTINCT experiment_id FROM tether_predictions"
            )
    finally:
        database.dispose()
    assert row is not None
    assert row[0] == to_micros(datetime(2024, 5, 2, 8, 0, tzinfo=UTC))
    assert to_micros(before) <= int(row[1] or 0) <= to_micros(after) and row[2] == 1.0
    # Both predictions carry the deploy event that assigned their cohort: one experiment.
    assert len(experiments) == 1 and int(experiments[0][0] or 0) > 0
