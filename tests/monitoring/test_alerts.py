"""Alerts reach a real webhook receiver on 127.0.0.1, are retried, and never block the monitor."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tether.monitoring import _alerts
from tether.monitoring._alerts import AlertSender, WebhookSettings
from tether.monitoring._results import AlertRecord, Delivery


class Receiver(ThreadingHTTPServer):
    """A webhook that answers ``failures`` 503s, then 204s, keeping each body it took."""

    def __init__(self, failures: int) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.failures = failures
        self.bodies: list[dict[str, object]] = []
        self.attempts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook?token=s3cret"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.attempts += 1
        if self.server.attempts <= self.server.failures:
            self.send_response(503)
        else:
            self.server.bodies.append(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(getattr(request, "param", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _alert(alert_id: int) -> AlertRecord:
    time = datetime(2026, 5, 1, tzinfo=UTC)
    return AlertRecord(alert_id, 1, "fraud", "performance", "precision", "precision 0.71 < 0.8",
                       {"value": 0.71}, time, "pending", 0)  # fmt: skip


class Deliveries:
    def __init__(self) -> None:
        self.states: list[tuple[int, Delivery, int, str | None]] = []

    def __call__(self, alert_id: int, delivery: Delivery, attempts: int, error: str | None) -> None:
        self.states.append((alert_id, delivery, attempts, error))


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_an_alert_is_retried_until_the_receiver_takes_it(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_alerts, "BACKOFF_S", 0.01)
    deliveries = Deliveries()
    with AlertSender(WebhookSettings(receiver.url, retries=3), deliveries) as sender:
        sender.send(_alert(7))
    assert receiver.attempts == 3
    assert receiver.bodies == [_alerts.alert_payload(_alert(7))]
    assert receiver.bodies[0]["message"] == "precision 0.71 < 0.8"
    assert deliveries.states[-1] == (7, "sent", 3, None)
    assert [state[1] for state in deliveries.states] == ["pending", "pending", "sent"]


@pytest.mark.parametrize("receiver", [100], indirect=True)
def test_an_undeliverable_alert_is_marked_failed_and_logged_without_the_token(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_alerts, "BACKOFF_S", 0.01)
    deliveries = Deliveries()
    with AlertSender(WebhookSettings(receiver.url, retries=2), deliveries) as sender:
        sender.send(_alert(8))
    assert receiver.attempts == 3
    assert deliveries.states[-1] == (8, "failed", 3, "HTTP 503")
    assert "not delivered" in caplog.text and "s3cret" not in caplog.text


def test_a_receiver_that_is_down_is_a_failure_not_a_hang() -> None:
    deliveries = Deliveries()
    # A port nobody listens on: connection refused at once, each attempt bounded anyway.
    settings = WebhookSettings("http://127.0.0.1:9/hook", timeout_s=1.0, retries=0)
    with AlertSender(settings, deliveries) as sender:
        sender.send(_alert(9))
    (state,) = deliveries.states
    assert state[:3] == (9, "failed", 1) and state[3] is not None


def test_a_full_queue_refuses_and_counts_instead_of_blocking(receiver: Receiver) -> None:
    deliveries = Deliveries()
    gate = threading.Event()
    original = AlertSender._deliver

    def slow(self: AlertSender, alert: AlertRecord) -> None:
        gate.wait(5)
        original(self, alert)

    sender = AlertSender(WebhookSettings(receiver.url, queue_size=1), deliveries)
    try:
        sender._deliver = slow.__get__(sender)  # type: ignore[method-assign]
        for alert_id in range(1, 5):
            sender.send(_alert(alert_id))
        assert sender.dropped >= 2
        assert ("queue full") in {state[3] for state in deliveries.states}
    finally:
        gate.set()
        sender.close()
    sent = {state[0] for state in deliveries.states if state[1] == "sent"}
    failed = {state[0] for state in deliveries.states if state[1] == "failed"}
    assert sent | failed == {1, 2, 3, 4} and not sent & failed
