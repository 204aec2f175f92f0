"""A started server deletes predictions older than ``retention_days`` (and keeps doing so)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server_cases import one, running_app, store_url

from tether.serving import Prediction, PredictionLog


def test_a_started_server_deletes_predictions_older_than_the_retention(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    log = PredictionLog(store_url(tmp_path))
    for number, age in ((1, timedelta(days=40)), (2, timedelta(days=10))):
        log.record(
            Prediction(
                request_id=f"req-{number}",
                instance_id=f"old-{number}",
                time=now - age,
                model="fraud",
                version="1",
                role="champion",
                features={"amount": 1.0},
                output=0.5,
                latency_ms=1.0,
            )
        )
    log.close()
    with running_app(tmp_path, retention_days=30) as client:
        assert client.post("/v1/predict", json=one()).status_code == 200
        served: PredictionLog = client.app.state.tether.predictions  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while True:  # retention runs on its own thread as the server starts
            frame = served.query(now - timedelta(days=60), now + timedelta(days=1))
            kept = set(frame["instance_id"])
            if "old-1" not in kept or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert "old-1" not in kept
    assert "old-2" in kept
