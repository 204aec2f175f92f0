"""Predictions with features from the online store: served vectors equal offline ones."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from tether.config import load_settings
from tether.features import measure_skew
from tether.lineage import train_project
from tether.project import Project
from tether.server import create_project_app
from tether.serving import PredictionLog, PredictionReader

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's httpx deprecation notice, on import only
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow


def test_entity_features_come_from_the_online_store_without_skew(feature_project: Path) -> None:
    settings = load_settings(feature_project)
    train_project(settings)
    project = Project.open(settings)
    project.aliases.deploy("1", "champion", actor="test", reason="first")
    project.online_store.materialize(incremental=False)

    times = ["2026-01-10T12:00:00+00:00", "2026-01-25T08:30:00+00:00"]
    instances = [
        {"entity": {"customer_id": c}, "features": {"amount": 55.0}, "event_time": t}
        for c in ("a", "b", "c")
        for t in times
    ]
    with TestClient(create_project_app(Project.open(settings))) as client:
        answer = client.post("/v1/predict", json={"instances": instances})
        assert answer.status_code == 200, answer.text
        ids = [p["instance_id"] for p in answer.json()["predictions"]]
        unknown = client.post(
            "/v1/predict",
            json={"instances": [{"entity": {"customer_id": "a"}, "features": {}}]},
        )
        assert unknown.status_code == 422
        assert "amount" in unknown.text

    log = PredictionLog(settings.store.url)
    try:
        logged = log.query(pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp.now(tz="UTC"))
    finally:
        log.close()
    assert len(logged) == len(instances)
    logged = logged.set_index("instance_id").loc[ids]
    served = pd.DataFrame(list(logged["features"]))
    served["customer_id"] = [i["entity"]["customer_id"] for i in instances]
    served["request_time"] = pd.to_datetime([i["event_time"] for i in instances], utc=True)
    report = measure_skew(project.feature_store, served, timestamp="request_time")
    assert {f.feature for f in report.features} == {"n_1d", "mean_7d", "ratio"}
    assert report.worst_rate == 0.0

    # The log itself holds what the audit needs: entity keys, times, statuses.
    assert all(s["amount"] == "request" for s in logged["statuses"])
    assert {s["n_1d"] for s in logged["statuses"]} <= {"value", "empty"}
    with PredictionReader(settings.store.url) as reader:
        from_log = reader.served_vectors(["customer_id"])
    assert (from_log.read, len(from_log.frame), from_log.skipped) == (6, 6, {})
    audit = measure_skew(project.feature_store, from_log.frame, timestamp=from_log.timestamp)
    assert {f.feature for f in audit.features} == {"n_1d", "mean_7d", "ratio"}
    assert audit.rows == 6 and audit.worst_rate == 0.0
    project.close()
