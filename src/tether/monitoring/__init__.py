"""Monitoring (placeholder exports of the integration branch; the drift branch owns this file)."""

from tether.monitoring._alerts import AlertSender, WebhookSettings
from tether.monitoring._results import (
    AlertRecord,
    MonitorResults,
    NewAlert,
    RunRecord,
    SeriesPoint,
    StoredPoint,
)

__all__ = [
    "AlertRecord",
    "AlertSender",
    "MonitorResults",
    "NewAlert",
    "RunRecord",
    "SeriesPoint",
    "StoredPoint",
    "WebhookSettings",
]
