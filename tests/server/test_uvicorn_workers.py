"""The real server: uvicorn with two worker processes on 127.0.0.1, real HTTP requests.

Also checks Prometheus multiprocess mode: whichever worker answers ``/metrics`` reports the
predictions of both.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_app import STATE_DIR_ENV
from server_cases import ROW, TOKEN

from subprocess_servers import free_port, running_server

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
STARTUP_TIMEOUT_S = 120.0  # two workers each import scikit-learn on a shared 2-core machine


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {**os.environ, STATE_DIR_ENV: str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    command = [sys.executable, "-m", "uvicorn", "e2e_app:build", "--factory", "--workers", "2",
               "--host", "127.0.0.1", "--port", str(port), "--app-dir", str(HERE),
               "--log-level", "warning"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with running_server(
        command, f"{base}/readyz", name="uvicorn", env=env, timeout_s=STARTUP_TIMEOUT_S
    ):
        yield base


def metric_samples(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_real_http_predict_feedback_admin_and_multiprocess_metrics(server: str) -> None:
    requests = 24
    for i in range(requests):  # a new connection each time, so both workers get some
        body = {"instances": [{"features": ROW, "instance_id": f"tx-{i}", "unit_id": f"c{i}"}]}
        response = httpx.post(f"{server}/v1/predict", json=body, timeout=30.0)
        assert response.status_code == 200, response.text
        [answer] = response.json()["predictions"]
        assert (answer["instance_id"], answer["model_version"]) == (f"tx-{i}", "1")

    feedback = {"instance_id": "tx-3", "label": 0, "business": {"loss": 0.0}}
    response = httpx.post(f"{server}/v1/feedback", json=feedback, timeout=30.0)
    assert response.status_code == 201, response.text
    bad = httpx.post(f"{server}/v1/predict", content=b"{", timeout=30.0,
                     headers={"content-type": "application/json"})  # fmt: skip
    assert bad.status_code == 400
    assert httpx.get(f"{server}/v1/admin/status", timeout=30.0).status_code == 401
    status = httpx.get(f"{server}/v1/admin/status", timeout=30.0,
                       headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert status.json()["serving"]["champion"] == "1"

    deadline = time.monotonic() + 60.0
    while True:  # each worker sets its gauge when it loads; both have loaded by now
        text = httpx.get(f"{server}/metrics", timeout=30.0).text
        pids = {line.split('pid="')[1].split('"')[0]
                for line in metric_samples(text, "tether_deployment_event_id")}  # fmt: skip
        if len(pids) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(pids) == 2, "the metrics of both workers should be collected"
    [predictions] = metric_samples(text, "tether_model_predictions_total")
    assert float(predictions.rsplit(" ", 1)[1]) == requests
