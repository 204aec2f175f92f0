"""The loop's alerts go where monitoring's go: an alert row of kind ``loop``, the log, and the
webhook of ``[monitoring] webhook_url`` (a real receiver on 127.0.0.1), delivery recorded."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tether import ReplayClock
from tether.config import load_settings
from tether.loop import ProjectPorts
from tether.monitoring import NO_MONITOR_RUN, MonitorResults
from tether.project import Project

NOW = datetime(2026, 6, 1, tzinfo=UTC)
MODEL = "fraud-detector"
EVIDENCE = {"cause": "precision fell", "champion": "3", "diagnosis": {"precision": 0.71}}


class Receiver(ThreadingHTTPServer):
    """A webhook that takes every POST with a 204 and keeps its body."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.bodies: list[dict[str, object]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        self.server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _project(directory: Path, webhook_url: str) -> Project:
    settings = load_settings(directory)
    monitoring = dataclasses.replace(settings.monitoring, webhook_url=webhook_url)
    changed = dataclasses.replace(settings, monitoring=monitoring)
    return Project.open(changed, clock=ReplayClock(NOW))


def test_a_loop_alert_reaches_the_webhook_with_its_evidence_and_its_delivery_is_marked(
    fraud_project: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    with _project(fraud_project, receiver.url) as project:
        ProjectPorts(project).alert(MODEL, "rollback", f"{MODEL}: rolled back", EVIDENCE)
        store_url = project.store_url
    # Closing the project drained the sender: the POST was answered and its state written.
    (body,) = receiver.bodies
    assert body["kind"] == "loop" and body["name"] == "rollback"
    assert body["model"] == MODEL and body["message"] == f"{MODEL}: rolled back"
    assert body["evidence"] == EVIDENCE and body["time"] == NOW.isoformat()
    with MonitorResults(store_url) as results:
        (stored,) = results.alerts(MODEL)
    assert stored.alert_id == body["alert_id"] and stored.run_id == NO_MONITOR_RUN
    assert (stored.kind, stored.delivery, stored.attempts) == ("loop", "sent", 1)
    assert "rolled back" in caplog.text


def test_without_a_webhook_a_loop_alert_is_still_stored_and_logged(
    fraud_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _project(fraud_project, "") as project:
        assert project.alert_sender is None
        message = f"{MODEL}: data incident, loop holding"
        ProjectPorts(project).alert(MODEL, "hold", message, {"incident": ["a", "b"]})
        (stored,) = project.monitor_results.alerts(MODEL)
    assert (stored.kind, stored.name, stored.message) == ("loop", "hold", message)
    assert stored.evidence == {"incident": ["a", "b"]}
    assert (stored.delivery, stored.attempts) == ("none", 0)
    assert "data incident, loop holding" in caplog.text
