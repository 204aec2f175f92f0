"""POST /v1/feedback joins a served prediction in the real prediction log (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from server_cases import one, running_app

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

    with PredictionLog(f"sqlite:///{tmp_path / 'predictions.db'}") as log:
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
