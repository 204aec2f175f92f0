"""POST /v1/predict: answers, and a 4xx naming the field for every client mistake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from server_cases import (
    NAN_VERSION,
    ROW,
    MemoryRegistry,
    MemoryStore,
    TestClient,
    one,
    running_app,
    served,
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with running_app(tmp_path, max_instances=5, max_body_bytes=20_000) as client:
        yield client


def test_one_instance_is_answered_by_the_champion(client: TestClient) -> None:
    response = client.post("/v1/predict", json=one(instance_id="tx-1", unit_id="c1"))
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    [answer] = body["predictions"]
    expected = served("1").model.predict_proba(pd.DataFrame([ROW]))[0, 1]
    # This version recorded no decision threshold: its decision is null.
    assert answer == {
        "instance_id": "tx-1", "prediction": pytest.approx(expected), "decision": None,
        "model_version": "1", "cohort": "champion", "fallback": False,
    }  # fmt: skip


def test_a_batch_is_answered_in_order_with_cohorts(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    registry.aliases["challenger"], registry.share = "2", 0.5
    with running_app(tmp_path, registry) as client:
        instances = [{"features": ROW, "unit_id": f"c{i}", "instance_id": f"t{i}"}
                     for i in range(20)]  # fmt: skip
        body = client.post("/v1/predict", json={"instances": instances}).json()
    assert [p["instance_id"] for p in body["predictions"]] == [f"t{i}" for i in range(20)]
    cohorts = {(p["cohort"], p["model_version"]) for p in body["predictions"]}
    assert cohorts == {("champion", "1"), ("challenger", "2")}


@pytest.mark.parametrize(
    ("instance", "field", "words"),
    [
        ({"features": {"a": 1, "b": 2}}, "instances[0].features.c", "lacks ['c']"),
        ({"features": {**ROW, "zz": 1}}, "instances[0].features.zz", "no served model"),
        ({"features": {**ROW, "a": "high"}}, "instances[0].features.a", "finite number"),
        ({"features": {**ROW, "a": None}}, "instances[0].features.a", "finite number"),
        ({"features": {**ROW, "a": None}}, "instances[0].features.a", "missing values"),
        ({"features": {**ROW, "a": True}}, "instances[0].features.a", "finite number"),
        ({"features": {**ROW, "a": [1]}}, "instances[0].features.a", "got a list"),
        (
            {"features": ROW, "event_time": "2024-05-01T12:00:00"},
            "instances[0].event_time",
            "timezone",
        ),
        ({"features": ROW, "event_time": 1714564800}, "instances[0].event_time", "ISO-8601"),
        ({"features": ROW, "unit_id": ""}, "instances[0].unit_id", "at least 1 character"),
        ({"features": ROW, "featurez": {}}, "instances[0].featurez", "Extra inputs"),
        ({"features": ROW, "instance_id": "x\x00y"}, "instances[0].instance_id", "NUL"),
    ],
)
def test_invalid_instances_are_422_naming_the_field(
    client: TestClient, instance: dict[str, object], field: str, words: str
) -> None:
    response = client.post("/v1/predict", json={"instances": [instance]})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field
    assert words in body["message"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_refused(client: TestClient, literal: bytes) -> None:
    body = b'{"instances": [{"features": {"a": ' + literal + b', "b": 1, "c": 2}}]}'
    response = client.post("/v1/predict", content=body,
                           headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["field"] == "instances[0].features.a"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"instances": [', 400, "malformed_json"),
        (b'{"instances": [{"features": {"a": 1' + b"0" * 5000 + b"}}]}", 400, "bad_request"),
        (b"[]", 422, "invalid_request"),
        (b'{"instances": []}', 422, "invalid_request"),
        (b'{"instances": {"features": {}}}', 422, "invalid_request"),
    ],
)
def test_malformed_bodies_are_4xx_with_a_reason(
    client: TestClient, body: bytes, status: int, code: str
) -> None:
    response = client.post("/v1/predict", content=body,
                           headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]


def test_too_many_instances_is_413(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"instances": [{"features": ROW}] * 6})
    assert response.status_code == 413
    assert "at most 5" in response.json()["message"]


def test_a_body_over_the_limit_is_413_by_header_and_by_bytes(client: TestClient) -> None:
    large = b'{"instances": [{"features": {"a": "' + b"x" * 25_000 + b'"}}]}'
    response = client.post("/v1/predict", content=large,
                           headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    assert "20000 bytes" in response.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the actual bytes are counted
        yield large[:15_000]
        yield large[15_000:]

    response = client.post("/v1/predict", content=chunks(),
                           headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    assert "more than 20000 bytes" in response.json()["message"]


def test_an_online_store_outage_is_503(tmp_path: Path) -> None:
    store = MemoryStore({"c1": {"b": -1.0, "c": 2.0}})
    with running_app(tmp_path, store=store) as client:
        request = one({"a": 0.5}, entity={"customer_id": "c1"})
        assert client.post("/v1/predict", json=request).status_code == 200
        store.down = True
        response = client.post("/v1/predict", json=request)
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
    assert "redis://127.0.0.1:1/0 is down" in response.json()["message"]


def test_no_deployment_is_503_not_500(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    registry.failure = RuntimeError("registry unreachable")
    with running_app(tmp_path, registry) as client:
        response = client.post("/v1/predict", json=one())
    assert response.status_code == 503
    assert response.json()["error"] == "not_ready"


def test_unknown_routes_and_methods_use_the_error_shape(client: TestClient) -> None:
    assert client.get("/v1/nothing").json()["error"] == "not_found"
    response = client.get("/v1/predict")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
               "9999-12-31T23:59:59-01:00", "1677-09-21T00:00:00Z"]
)  # fmt: skip
def test_an_event_time_outside_the_stores_range_is_422_naming_field_and_range(
    tmp_path: Path, moment: str
) -> None:
    store = MemoryStore({"c1": {"b": -1.0, "c": 2.0}})
    with running_app(tmp_path, store=store) as client:
        request = one({"a": 0.5}, entity={"customer_id": "c1"}, event_time=moment)
        response = client.post("/v1/predict", json=request)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "instances[0].event_time"
        assert "1678-01-01T00:00:00Z (inclusive) to 2262-01-01T00:00:00Z" in response.text
        # The connection still serves the next request.
        ok = client.post("/v1/predict", json=one(event_time="2261-12-31T23:59:59Z"))
        assert ok.status_code == 200, ok.text


def test_a_null_raw_feature_is_nan_to_the_model_as_on_the_entity_path(tmp_path: Path) -> None:
    store = MemoryStore({"new-customer": {"a": None}})  # no events yet: the store has no value
    with running_app(tmp_path, MemoryRegistry(NAN_VERSION), store) as client:
        raw = client.post("/v1/predict", json=one({**ROW, "a": None}))
        assert raw.status_code == 200, raw.text
        looked_up = client.post("/v1/predict", json=one(
            {"b": ROW["b"], "c": ROW["c"]}, entity={"customer_id": "new-customer"}
        ))  # fmt: skip
        assert looked_up.status_code == 200, looked_up.text
    row = pd.DataFrame([{**ROW, "a": float("nan")}])
    expected = served(NAN_VERSION).model.predict_proba(row)[0, 1]
    assert raw.json()["predictions"][0]["prediction"] == pytest.approx(expected)
    assert looked_up.json()["predictions"][0]["prediction"] == pytest.approx(expected)


def test_an_entity_missing_a_key_column_is_422_naming_the_entity(tmp_path: Path) -> None:
    store = MemoryStore({"c1": {"b": -1.0, "c": 2.0}}, keys=("customer_id", "device_id"))
    with running_app(tmp_path, store=store) as client:
        good = {"features": {"a": 0.5}, "entity": {"customer_id": "c1", "device_id": "d1"}}
        bad = {"features": {"a": 0.5}, "entity": {"customer_id": "c1"}}
        for instances, position in [([bad], 0), ([good, good, bad, good], 2)]:
            response = client.post("/v1/predict", json={"instances": instances})
            assert response.status_code == 422, response.text
            assert response.json()["field"] == f"instances[{position}].entity"
            assert "device_id" in response.json()["message"]


def test_a_prediction_the_full_log_refused_is_503_never_200(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The log's queue refusing a row is what a full queue does (PredictionLog.record -> False).
    predictions = client.app.state.tether.predictions  # type: ignore[attr-defined]
    monkeypatch.setattr(predictions, "record", lambda prediction: False)
    response = client.post("/v1/predict", json=one(instance_id="tx-full"))
    assert response.status_code == 503, response.text
    assert "prediction log is full" in response.json()["message"]
    metrics = client.get("/metrics").text
    assert "tether_prediction_log_dropped_total 1.0" in metrics
