"""Feature statuses travel with each prediction: explained on request, logged, counted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from server_cases import (
    ROW,
    MemoryRegistry,
    MemoryStore,
    TestClient,
    one,
    running_app,
    settings_for,
    store_url,
)
from test_health_metrics import sample

from tether.features import FeatureStatus
from tether.server import create_app
from tether.serving import SERVED_STATUSES, FeatureRow, PredictionLog, Redaction
from tether.serving._features import FeatureValue


class StatusStore(MemoryStore):
    """Every customer gets ``b`` and ``c`` with the statuses of ``statuses[customer]``."""

    def __init__(self, statuses: Mapping[str, tuple[str, str]]) -> None:
        super().__init__({})
        self.statuses = statuses

    def lookup(
        self,
        entities: Sequence[Mapping[str, str]],
        request_data: Sequence[Mapping[str, FeatureValue]],
        at: Sequence[datetime],
    ) -> list[FeatureRow]:
        rows = []
        for entity in entities:
            b, c = self.statuses[entity["customer_id"]]
            rows.append(FeatureRow({"b": -1.0, "c": 2.0, "unused": 7.0},
                                   {"b": b, "c": c, "unused": "value"}))  # fmt: skip
        return rows


STATUSES = {"c1": ("value", "empty"), "c2": ("stale", "unknown_entity")}


def _everything(path: Path) -> pd.DataFrame:
    with PredictionLog(store_url(path)) as log:
        return log.query(pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))


def _instances() -> list[dict[str, object]]:
    return [
        {"instance_id": "t1", "features": {"a": 0.5}, "entity": {"customer_id": "c1"}},
        {"instance_id": "t2", "features": {"a": 0.25}, "entity": {"customer_id": "c2"}},
        {"instance_id": "t3", "features": ROW},
    ]


def test_explain_returns_each_feature_with_its_value_and_status(tmp_path: Path) -> None:
    with running_app(tmp_path, store=StatusStore(STATUSES)) as client:
        body = client.post("/v1/predict", json={"instances": _instances(), "explain": True})
        plain = client.post("/v1/predict", json={"instances": _instances()[2:]})
    assert body.status_code == 200, body.text
    explained = [p["features"] for p in body.json()["predictions"]]
    assert explained == [
        {"a": {"value": 0.5, "status": "request"}, "b": {"value": -1.0, "status": "value"},
         "c": {"value": 2.0, "status": "empty"}},
        {"a": {"value": 0.25, "status": "request"}, "b": {"value": -1.0, "status": "stale"},
         "c": {"value": 2.0, "status": "unknown_entity"}},
        {name: {"value": value, "status": "request"} for name, value in ROW.items()},
    ]  # fmt: skip
    assert "features" not in plain.json()["predictions"][0]  # only on request


def test_a_raw_value_equal_to_the_stores_keeps_the_stores_status(tmp_path: Path) -> None:
    store = MemoryStore({"c1": {"b": -1.0, "c": 2.0}})
    instance = {"features": {"a": 0.5, "b": -1.0}, "entity": {"customer_id": "c1"}}
    with running_app(tmp_path, store=store) as client:
        body = client.post("/v1/predict", json={"instances": [instance], "explain": True}).json()
    statuses = {k: v["status"] for k, v in body["predictions"][0]["features"].items()}
    assert statuses == {"a": "request", "b": "value", "c": "value"}


@pytest.mark.parametrize("explain", ["yes", 1, None, [True]])
def test_explain_must_be_a_boolean(tmp_path: Path, explain: object) -> None:
    with running_app(tmp_path) as client:
        response = client.post("/v1/predict", json={**one(), "explain": explain})
        unknown = client.post("/v1/predict", json={**one(), "explained": True})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "explain"
    assert unknown.status_code == 422 and unknown.json()["field"] == "explained"


def test_statuses_entity_and_request_data_are_logged_with_each_prediction(
    tmp_path: Path,
) -> None:
    registry = MemoryRegistry()
    registry.aliases["shadow-3"] = "3"
    with running_app(tmp_path, registry, store=StatusStore(STATUSES)) as client:
        instances = _instances()
        instances[0]["features"] = {"a": 0.5, "country": "FR"}  # request data, no feature
        assert client.post("/v1/predict", json={"instances": instances}).status_code == 200
        client.app.state.tether.router.shadows.drain(10.0)  # type: ignore[attr-defined]
    frame = _everything(tmp_path)
    champion = frame[frame["role"] == "champion"].set_index("instance_id")
    assert champion.loc["t1", "statuses"] == {"a": "request", "b": "value", "c": "empty"}
    assert champion.loc["t2", "statuses"] == {"a": "request", "b": "stale", "c": "unknown_entity"}
    assert champion.loc["t3", "statuses"] == dict.fromkeys(ROW, "request")
    assert champion.loc["t1", "entity"] == {"customer_id": "c1"}
    assert champion.loc["t3", "entity"] is None  # no entity: nothing looked up
    assert champion.loc["t1", "request_data"] == {"country": "FR"}
    assert champion.loc["t3", "request_data"] == {}  # every raw value is a feature
    shadow = frame[frame["role"] == "shadow"].set_index("instance_id")
    assert shadow.loc["t1", "statuses"] == champion.loc["t1", "statuses"]  # the same vector
    assert shadow.loc["t1", "entity"] == {"customer_id": "c1"}
    assert shadow.loc["t1", "request_data"] == {"country": "FR"}


def test_redaction_hashes_and_drops_entity_keys_and_request_data(tmp_path: Path) -> None:
    redaction = Redaction(hash=["customer_id"], drop=["country", "a"], salt="s3cret")
    settings = settings_for(tmp_path)
    app = create_app(
        settings,
        source=MemoryRegistry(),
        predictions=PredictionLog(store_url(tmp_path), redaction=redaction),
        features=StatusStore(STATUSES),
    )
    instance = {"instance_id": "t1", "features": {"a": 0.5, "country": "FR"},
                "entity": {"customer_id": "c1"}}  # fmt: skip
    with TestClient(app) as client:
        assert client.post("/v1/predict", json={"instances": [instance]}).status_code == 200
    [row] = _everything(tmp_path).to_dict("records")
    assert row["entity"] == {"customer_id": redaction.digest("c1")}
    assert row["request_data"] == {}  # the dropped country leaves no trace
    assert row["statuses"] == {"b": "value", "c": "empty"}  # nor does the dropped feature a
    assert "a" not in row["features"]


def test_metrics_count_each_feature_status_per_model_for_served_features_only(
    tmp_path: Path,
) -> None:
    with running_app(tmp_path, store=StatusStore(STATUSES)) as client:
        client.post("/v1/predict", json={"instances": _instances()})
        client.post("/v1/predict", json={"instances": _instances()[:1]})
        text = client.get("/metrics").text

    def count(feature: str, status: str) -> float:
        return sample(text, "tether_feature_status_total", model="fraud", feature=feature,
                      status=status)  # fmt: skip

    assert count("a", "request") == 4
    assert (count("b", "value"), count("b", "stale"), count("b", "request")) == (2, 1, 1)
    assert (count("c", "empty"), count("c", "unknown_entity"), count("c", "request")) == (2, 1, 1)
    assert 'feature="unused"' not in text  # the store's other features: no model takes them
    series = [line for line in text.splitlines() if line.startswith("tether_feature_status_total")]
    assert len(series) == 7


def test_the_status_vocabulary_is_the_stores_and_request() -> None:
    assert (*(status.value for status in FeatureStatus), "request") == SERVED_STATUSES


@pytest.mark.parametrize("status", ["fresh", None])
def test_a_status_the_store_does_not_know_is_a_server_error_not_a_label(
    tmp_path: Path, status: str | None
) -> None:
    class Unknown(StatusStore):
        def lookup(self, *args: Any, **kwargs: Any) -> list[FeatureRow]:
            [row] = super().lookup(*args, **kwargs)
            statuses = {"b": "value"} if status is None else {**row.statuses, "c": status}
            return [FeatureRow(row.values, statuses)]

    with running_app(tmp_path, store=Unknown(STATUSES)) as client:
        response = client.post("/v1/predict", json={"instances": _instances()[:1]})
        text = client.get("/metrics").text
    assert response.status_code == 500
    assert "fresh" not in text and "tether_feature_status_total{" not in text


def test_the_schema_documents_explain_and_the_explained_features(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert components["PredictRequest"]["properties"]["explain"]["type"] == "boolean"
    prediction = components["InstancePrediction"]["properties"]["features"]
    assert "explain" in prediction["description"]
    status = components["ExplainedFeature"]["properties"]["status"]
    assert status["enum"] == list(SERVED_STATUSES)
    assert "features" not in components["InstancePrediction"].get("required", [])
