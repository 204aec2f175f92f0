"""The batch form of POST /v1/feedback: one answer per item, one transaction, a bounded size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server_cases import ROW, running_app, store_url

from tether.serving._predlog import PredictionLog


def serve(client: Any, *ids: str) -> None:
    instances = [{"instance_id": i, "features": dict(ROW)} for i in ids]
    assert client.post("/v1/predict", json={"instances": instances}).status_code == 200


def fb(instance_id: str, label: object = 1, **fields: object) -> dict[str, object]:
    return {"instance_id": instance_id, "label": label, "business": {"amount": 12.5}, **fields}


def test_an_all_new_batch_is_201_and_every_item_is_stored(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        serve(client, "a", "b", "c")
        answer = client.post("/v1/feedback", json={"feedback": [fb("a"), fb("b", 0), fb("c")]})
        assert answer.status_code == 201
        body = answer.json()
        assert [(r["index"], r["instance_id"], r["status"]) for r in body["results"]] == [
            (0, "a", "created"), (1, "b", "created"), (2, "c", "created"),
        ]  # fmt: skip
        assert body["counts"] == {"created": 3}
        again = client.post("/v1/feedback", json={"feedback": [fb("a"), fb("b", 0)]})
        assert (again.status_code, again.json()["counts"]) == (200, {"duplicate": 2})
    with PredictionLog(store_url(tmp_path)) as log:
        now = datetime.now(UTC)
        frame = log.query(now - timedelta(hours=1), now + timedelta(hours=1))
    labels = dict(zip(frame["instance_id"], frame["label"], strict=True))
    assert labels == {"a": 1, "b": 0, "c": 1}
    assert all(business == {"amount": 12.5} for business in frame["business"])


def test_a_mixed_batch_is_207_answering_every_status_and_storing_only_the_accepted(
    tmp_path: Path,
) -> None:
    with running_app(tmp_path) as client:
        serve(client, "a", "b", "c", "d", "e")
        assert client.post("/v1/feedback", json=fb("b")).status_code == 201
        assert client.post("/v1/feedback", json=fb("c")).status_code == 201
        assert client.post("/v1/feedback", json=fb("d")).status_code == 201
        batch = [
            fb("a"),  # created
            fb("b"),  # duplicate
            fb("c", 0, correction=True, reason="chargeback reversed"),  # corrected
            fb("zz"),  # not found
            fb("d", 0),  # conflict
            fb("e", 7),  # invalid: a label the classifier cannot have
            {"instance_id": "e", "label": 1, "extra": True},  # invalid: an unknown field
            fb("e", 1, correction=True),  # invalid: a correction without a reason
            "not an object",  # invalid
        ]
        answer = client.post("/v1/feedback", json={"feedback": batch})
        assert answer.status_code == 207
        results = answer.json()["results"]
        assert [r["status"] for r in results] == [
            "created", "duplicate", "corrected", "not_found", "conflict",
            "invalid", "invalid", "invalid", "invalid",
        ]  # fmt: skip
        assert [r["index"] for r in results] == list(range(len(batch)))
        assert [r.get("field") for r in results[5:]] == [
            "feedback[5].label",
            "feedback[6].extra",
            "feedback[7].reason",
            "feedback[8]",
        ]
        assert results[5]["expected"] == "one of 0, 1"
        assert "'zz'" in results[3]["message"]
        assert "already has feedback" in results[4]["message"]
        assert answer.json()["counts"] == {
            "conflict": 1, "corrected": 1, "created": 1, "duplicate": 1, "invalid": 4,
            "not_found": 1,
        }  # fmt: skip
    with PredictionLog(store_url(tmp_path)) as log:
        now = datetime.now(UTC)
        frame = log.query(now - timedelta(hours=1), now + timedelta(hours=1))
        history = log.feedback_history("c")
    labels = {i: label for i, label in zip(frame["instance_id"], frame["label"], strict=True)}
    assert (labels["a"], labels["b"], labels["c"], labels["d"]) == (1, 1, 0, 1)
    assert labels["e"] is None or labels["e"] != labels["e"]  # no feedback for e: null / NaN
    assert [record.label for record in history] == [1, 0]


def test_the_same_instance_twice_in_one_batch_is_created_then_duplicate(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        serve(client, "a")
        answer = client.post("/v1/feedback", json={"feedback": [fb("a"), fb("a"), fb("a", 0)]})
        assert answer.status_code == 207
        statuses = [r["status"] for r in answer.json()["results"]]
        assert statuses == ["created", "duplicate", "conflict"]


def test_a_batch_past_the_limit_is_413_and_an_empty_or_malformed_one_is_422(
    tmp_path: Path,
) -> None:
    with running_app(tmp_path, max_instances=3) as client:
        serve(client, "a")
        too_many = client.post("/v1/feedback", json={"feedback": [fb("a")] * 4})
        assert too_many.status_code == 413
        assert "3" in too_many.json()["message"]
        for body in ({"feedback": []}, {"feedback": {"a": 1}}, {"feedback": [fb("a")], "x": 1}):
            refused = client.post("/v1/feedback", json=body)
            assert refused.status_code == 422, body
            assert refused.json()["field"], body
        # Nothing of a refused batch was stored: the first label of "a" is still to come.
        assert client.post("/v1/feedback", json=fb("a")).status_code == 201


def test_the_schema_shows_both_forms_and_the_207(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/feedback"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"oneOf": [
        {"$ref": "#/components/schemas/Feedback"}, {"$ref": "#/components/schemas/FeedbackBatch"},
    ]}  # fmt: skip
    assert {"201", "200", "207", "413", "422"} <= set(operation["responses"])
    assert "FeedbackBatch" in schema["components"]["schemas"]
    assert "Feedback" in schema["components"]["schemas"]
