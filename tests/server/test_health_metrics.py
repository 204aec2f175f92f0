"""/healthz, /readyz and /metrics; and the public surface of tether.server."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest
from server_cases import MemoryRegistry, MemoryStore, one, running_app

from tether.errors import ServingError
from tether.serving import Deployment, PredictionLog


def test_alive_and_ready(tmp_path: Path) -> None:
    store = MemoryStore({})
    with running_app(tmp_path, store=store) as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
        assert set(ready.json()["checks"]) == {"deployment", "prediction_log", "online_store"}
        store.down = True
        not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["online_store"] == {
        "ok": False, "detail": "The online store at redis://127.0.0.1:1/0 is down.",
    }  # fmt: skip


def test_not_ready_when_the_prediction_log_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: PredictionLog) -> None:
        raise ServingError("The prediction log at postgresql://db/test is down.")

    with running_app(tmp_path) as client:
        monkeypatch.setattr(PredictionLog, "ping", down)
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["prediction_log"] == {
        "ok": False, "detail": "The prediction log at postgresql://db/test is down.",
    }  # fmt: skip


def test_not_ready_without_a_deployment(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    registry.failure = RuntimeError("no champion")
    with running_app(tmp_path, registry) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 503
    assert response.json()["checks"]["deployment"]["ok"] is False


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(part.split("=", 1) for part in line[line.find("{") + 1 : line.find("}")]
                         .replace('"', "").split(",") if "=" in part)  # fmt: skip
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels} in the metrics")


def test_metrics_count_predictions_latency_errors_and_fallbacks(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    registry.aliases["challenger"], registry.share = "2", 1.0
    with running_app(tmp_path, registry) as client:
        client.post("/v1/predict", json={"instances": [one()["instances"][0]] * 3})
        client.post("/v1/predict", json=one(unit_id="c1"))
        client.post("/v1/predict", json=one({"a": 1}))
        text = client.get("/metrics").text
    assert sample(text, "tether_model_predictions_total", version="1", role="champion") == 3
    assert sample(text, "tether_model_predictions_total", version="2", role="challenger") == 1
    assert sample(text, "tether_model_latency_seconds_count", version="1", role="champion") == 1
    assert sample(text, "tether_deployment_reloads_total", outcome="success") == 1
    assert sample(text, "tether_deployment_event_id") == 1
    assert sample(text, "tether_shadow_queue_depth") == 0
    assert sample(text, "tether_http_requests_total", route="/v1/predict", status="200") == 2
    assert sample(text, "tether_http_requests_total", route="/v1/predict", status="422") == 1
    assert "tether_challenger_fallbacks_total" in text
    assert "tether_model_errors_total" in text


def test_server_exports_are_sorted_and_exist() -> None:
    module = importlib.import_module("tether.server")
    assert list(module.__all__) == sorted(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)
    assert "create_app" in module.__all__ and "Admin" in module.__all__


class _DegradedRegistry(MemoryRegistry):
    """A registry whose challenger could not be loaded (dropped by the deployment source)."""

    def load(self) -> Deployment:
        reason = "challenger m/2 is not served: m/2 is not a version in the model registry"
        return dataclasses.replace(super().load(), dropped=(reason,))


def test_a_dropped_challenger_is_degraded_not_unready(tmp_path: Path) -> None:
    store = MemoryStore({})
    with running_app(tmp_path, _DegradedRegistry(), store=store) as client:
        degraded = client.get("/readyz")
        answered = client.post("/v1/predict", json=one())
        store.down = True
        down = client.get("/readyz")
    assert degraded.status_code == 200 and degraded.json()["status"] == "degraded"
    assert (
        "degraded: challenger m/2 is not served"
        in degraded.json()["checks"]["deployment"]["detail"]
    )
    assert answered.status_code == 200
    assert down.status_code == 503 and down.json()["status"] == "not_ready"
