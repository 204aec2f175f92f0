"""``tether serve`` on a trained project: the registry, the log and the server together."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from subprocess_servers import free_port, running_server
from tether.config import load_settings
from tether.lineage import SnapshotStore, train_project
from tether.project import Project
from tether.serving._predlog import PredictionLog

pytestmark = pytest.mark.slow
TOKEN = "a-test-token"


@contextlib.contextmanager
def _serve(project: Path, log: list[str] | None = None) -> Iterator[str]:
    """Serve ``project``; once stopped, what it printed is appended to ``log``."""
    port = free_port()
    env = {**os.environ, "TETHER_ADMIN_TOKEN": TOKEN}
    command = [sys.executable, "-m", "tether", "-C", str(project), "serve", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with running_server(
        command, f"{base}/readyz", name="tether serve", env=env, stdout=subprocess.PIPE
    ) as process:
        try:
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            if log is not None and process.stderr is not None and process.stdout is not None:
                # uvicorn writes its access log on stdout, everything else on stderr.
                log.append(process.stderr.read().decode() + process.stdout.read().decode())


def _rows(project: Path, digest: str, count: int) -> list[dict[str, object]]:
    """Rows of the recorded evaluation frame, without NaN (JSON has no NaN)."""
    store = SnapshotStore(load_settings(project).stores.snapshot_uri)
    frame = pd.read_parquet(io.BytesIO(store.read_bytes(digest))).drop(columns=["is_fraud"])
    return list(frame.dropna().head(count).to_dict(orient="records"))


def test_tether_serve_answers_routes_and_logs_with_the_registry(fraud_project: Path) -> None:
    settings = load_settings(fraud_project)
    first = train_project(settings.with_params({"max_iter": "20"}))
    second = train_project(settings.with_params({"max_iter": "21"}))
    aliases = Project.open(settings).aliases
    aliases.deploy("1", "champion", actor="test", reason="first")
    rows = _rows(fraud_project, first.record.evaluation.digest, 50)

    server_log: list[str] = []
    with _serve(fraud_project, server_log) as base:
        one = httpx.post(f"{base}/v1/predict", json={"instances": [{"features": rows[0]}]})
        assert one.status_code == 200, one.text
        answer = one.json()
        assert answer["predictions"][0]["model_version"] == "1"

        bad = httpx.post(f"{base}/v1/predict", json={"instances": [{"features": {"x": 1}}]})
        assert bad.status_code == 422
        assert "amount" in bad.text

        refused = httpx.post(f"{base}/v1/admin/deploy", json={"version": "2"})
        assert refused.status_code in {401, 403}
        deployed = httpx.post(
            f"{base}/v1/admin/deploy",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"version": second.model_version, "role": "challenger", "traffic": 0.5,
                  "actor": "test", "reason": "try v2"},
        )  # fmt: skip
        assert deployed.status_code == 200, deployed.text
        instances = [{"features": row, "unit_id": f"customer-{i}"} for i, row in enumerate(rows)]
        routed = httpx.post(f"{base}/v1/predict", json={"instances": instances}).json()
        versions = {p["model_version"] for p in routed["predictions"]}
        assert versions == {"1", "2"}

        instance = routed["predictions"][0]["instance_id"]
        feedback = {"instance_id": instance, "label": 1, "business": {"amount": 12.5}}
        assert httpx.post(f"{base}/v1/feedback", json=feedback).status_code == 201
        assert httpx.post(f"{base}/v1/feedback", json=feedback).status_code == 200
        conflict = {**feedback, "label": 0}
        assert httpx.post(f"{base}/v1/feedback", json=conflict).status_code == 409

    # What tether serve printed: versions and stores at start, an access log, what it flushed.
    printed = server_log[0]
    # The event ids count the registrations too, so the champion's event id is not pinned.
    assert re.search(
        r"serving fraud-detector champion 1 \(event \d+\); stores: tracking sqlite:///", printed
    ), printed
    assert "Uvicorn running on http://127.0.0.1:" in printed
    assert '"POST /v1/predict HTTP/1.1" 200' in printed
    assert '"POST /v1/admin/deploy HTTP/1.1" 401' in printed
    assert f"wrote {1 + len(rows)} predictions, dropped 0" in printed

    log = PredictionLog(settings.store.url)
    try:
        logged = log.query(pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp.now(tz="UTC"))
    finally:
        log.close()
    assert len(logged) >= 1 + len(rows)
    assert set(logged["version"].astype(str)) == {"1", "2"}
