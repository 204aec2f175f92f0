"""Sending alerts: to the log always, and to a webhook (a JSON POST) when one is configured.

The monitor's alerts and the loop's (kind ``loop``: a rollback, a hold on a data incident, via
:func:`raise_alert`) share this one path, the alert table and the one sender.

A monitor run must never wait on a receiver that is slow or down, so delivery happens on one
background thread fed by a bounded queue: :meth:`AlertSender.send` only enqueues. Each alert
is POSTed as JSON with a bounded timeout and retried with exponential backoff; a 2xx is
delivered, anything else (a refusal, a timeout, a connection error) is retried, and after the
last attempt the alert is marked ``failed`` with the error. Every outcome is written back to
the alert's row (:meth:`MonitorResults.mark_delivery`), so an alert that was not delivered is
visible in ``tether monitor`` and ``tether audit``, never lost silently. An alert that finds
the queue full is marked ``failed`` at once ("queue full") and counted.

The webhook URL may hold a token; it is never logged unmasked (:func:`tether._uris.mask_uri`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import httpx

from tether._closing import Closing
from tether._storage import JSONValue
from tether._uris import mask_uri
from tether.monitoring._results import AlertRecord, Delivery, MonitorResults, NewAlert

_LOGGER = logging.getLogger("tether.monitoring")
DEFAULT_TIMEOUT_S: Final = 5.0
DEFAULT_RETRIES: Final = 3
DEFAULT_QUEUE_SIZE: Final = 1000
BACKOFF_S: Final = 0.5
"""The first retry waits this long, each later one twice the one before."""

DeliveryRecorder = Callable[[int, Delivery, int, "str | None"], None]
"""Writes an alert's delivery state: ``(alert_id, delivery, attempts, error)``."""


@dataclass(frozen=True)
class WebhookSettings:
    """Where alerts are POSTed, how long one attempt may take, and how often to retry."""

    url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    queue_size: int = DEFAULT_QUEUE_SIZE


def alert_payload(alert: AlertRecord) -> dict[str, JSONValue]:
    """The JSON body POSTed for ``alert``."""
    return {
        "alert_id": alert.alert_id,
        "run_id": alert.run_id,
        "model": alert.model,
        "kind": alert.kind,
        "name": alert.name,
        "message": alert.message,
        "evidence": dict(alert.evidence),
        "time": alert.time.isoformat(),
    }


def log_alert(alert: AlertRecord) -> None:
    """Write ``alert`` to tether's log, at warning level."""
    _LOGGER.warning(
        "alert %s on %s: %s (%s %s)",
        alert.alert_id,
        alert.model,
        alert.message,
        alert.kind,
        alert.name,
    )


def dispatch(alert: AlertRecord, sender: AlertSender | None) -> None:
    """Log a stored alert and, when a webhook is configured, queue it for delivery."""
    log_alert(alert)
    if sender is not None:
        sender.send(alert)


def raise_alert(
    results: MonitorResults,
    sender: AlertSender | None,
    model: str,
    alert: NewAlert,
    *,
    time: datetime,
) -> AlertRecord:
    """Store ``alert`` (outside a monitor run: the loop's), log it and send it as the
    monitor's alerts are sent; its delivery is written back to its row.

    Example::

        raise_alert(project.monitor_results, project.alert_sender, "fraud",
                    NewAlert("loop", "rollback", "fraud: rolled back", {"champion": "3"}),
                    time=clock.now())
    """
    delivery: Delivery = "none" if sender is None else "pending"
    stored = results.record_alert(
        model, alert, time=time, wall_time=datetime.now(UTC), delivery=delivery
    )
    dispatch(stored, sender)
    return stored


class AlertSender(Closing):
    """Delivers alerts to a webhook in the background; ``close`` waits for the queue to drain
    (each alert at most ``retries + 1`` attempts of ``timeout_s``, so the wait is bounded)."""

    def __init__(self, settings: WebhookSettings, record: DeliveryRecorder) -> None:
        self._settings = settings
        self._record = record
        self._queue: queue.Queue[AlertRecord | None] = queue.Queue(settings.queue_size)
        self._client = httpx.Client(timeout=settings.timeout_s, follow_redirects=False)
        self.dropped = 0
        """Alerts refused because the queue was full (each is also marked failed)."""
        self._thread = threading.Thread(target=self._run, name="tether-alerts", daemon=True)
        self._thread.start()

    def send(self, alert: AlertRecord) -> None:
        """Queue ``alert`` for delivery; never blocks."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            _LOGGER.error("alert %s not sent: the alert queue is full", alert.alert_id)
            self._record(alert.alert_id, "failed", 0, "queue full")

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._client.close()

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            try:
                self._deliver(alert)
            except Exception:  # the delivery thread must outlive any one alert
                _LOGGER.exception("alert %s: delivery failed unexpectedly", alert.alert_id)

    def _deliver(self, alert: AlertRecord) -> None:
        body = alert_payload(alert)
        error = ""
        for attempt in range(1, self._settings.retries + 2):
            error = self._post(body)
            if not error:
                self._record(alert.alert_id, "sent", attempt, None)
                return
            if attempt <= self._settings.retries:
                self._record(alert.alert_id, "pending", attempt, error)
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
        _LOGGER.error(
            "alert %s not delivered to %s after %s attempts: %s",
            alert.alert_id,
            mask_uri(self._settings.url),
            self._settings.retries + 1,
            error,
        )
        self._record(alert.alert_id, "failed", self._settings.retries + 1, error)

    def _post(self, body: Mapping[str, JSONValue]) -> str:
        """POST ``body``; the empty string when the receiver took it, else what went wrong."""
        try:
            response = self._client.post(self._settings.url, json=dict(body))
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {mask_uri(str(exc))}"
        if 200 <= response.status_code < 300:
            return ""
        return f"HTTP {response.status_code}"
