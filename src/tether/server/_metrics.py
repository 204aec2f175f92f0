"""Prometheus metrics: ``GET /metrics``, the router's observer, and HTTP request metrics.

Model metrics are labelled by model ``version`` and ``role`` (``champion``, ``challenger``,
``shadow``: the role the model played, as in the prediction log; a fallback is counted once
under the champion's role and once in ``tether_challenger_fallbacks_total``):

=======================================  ===================================================
``tether_model_predictions_total``       instances each model answered
``tether_model_latency_seconds``         duration of each model call (histogram)
``tether_model_errors_total``            model calls that raised (or timed out)
``tether_challenger_fallbacks_total``    instances the champion answered for a challenger
``tether_feature_status_total``          instances served with each feature in each status
``tether_shadow_queue_depth``            shadow jobs waiting (summed over workers)
``tether_shadow_dropped_total``          shadow jobs dropped because the queue was full
``tether_prediction_log_dropped_total``  predictions the log's full queue refused
``tether_prediction_log_rows_total``     predictions the log stored (rows inserted)
``tether_prediction_log_retries_total``  predictions not stored: the same one was already
``tether_prediction_log_rejected_total`` predictions not stored: a value JSON cannot hold
``tether_deployment_reloads_total``      deployment reloads by outcome
``tether_deployment_event_id``           the registry event each worker serves
``tether_http_requests_total``           HTTP requests by method, route and status
``tether_http_request_duration_seconds`` HTTP request duration by method and route
``tether_monitor_psi``                   PSI of each feature (and ``score``) vs the reference
``tether_monitor_metric``                realized and estimated performance (``source``)
``tether_monitor_label_completeness``    share of a window's predictions that have labels
``tether_monitor_results_up``            1 if this scrape could read the monitoring tables
=======================================  ===================================================

The ``tether_monitor_*`` gauges are read from the monitoring tables at each scrape: the
values of each model's latest ``tether monitor`` run, labelled by ``model``, ``version``,
``role`` and ``cohort`` (and ``feature``, or ``metric``); the server computes none of them.

``tether_feature_status_total`` is labelled by ``model`` (the registered model's name),
``feature`` and ``status`` (``value``, ``empty``, ``stale``, ``unknown_entity`` from the
online store, ``request`` for a value the client sent): once per instance, for the features
the served models take, so its series are bounded by those features times five statuses.
A rising ``stale`` or ``unknown_entity`` rate says the online store is behind, or that the
traffic is new, before any drift statistic would.

This module is the one seam to prometheus-client (whose multiprocess helpers are untyped).

With several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before the
server starts (prometheus-client reads it when first imported): every worker then writes its
values there and ``/metrics`` (answered by any one worker) reads them all through a
``MultiProcessCollector``. Without it, each app exposes its own registry.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.errors import TetherError
from tether.monitoring import MonitorResults
from tether.serving import FallbackReason, ModelRole

_LOGGER = logging.getLogger("tether.server")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_MODEL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, or None when each process exposes its own metrics."""
    return os.environ.get(MULTIPROC_ENV) or None


class ServerMetrics:
    """The server's metrics in one registry; also the router's :class:`ServingObserver`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        model = ("version", "role")
        self.predictions = self._counter("model_predictions", "Instances answered", model)
        self.latency = Histogram(
            "tether_model_latency_seconds", "Duration of one model call", model,
            buckets=_MODEL_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.errors = self._counter("model_errors", "Model calls that raised or timed out", model)
        self.fallbacks = self._counter(
            "challenger_fallbacks",
            "Instances the champion answered for a failed or slow challenger",
            ("version", "reason"),
        )
        self.feature_statuses = self._counter(
            "feature_status",
            "Instances served with each feature in each status",
            ("model", "feature", "status"),
        )
        self.shadow_depth = Gauge(
            "tether_shadow_queue_depth", "Shadow jobs waiting", registry=self.registry,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.shadow_drops = self._counter(
            "shadow_dropped", "Shadow jobs dropped (queue full)", ("version",)
        )
        self.log_dropped = self._counter(
            "prediction_log_dropped", "Predictions not logged (log queue full)", ()
        )
        self.log_rows = self._counter("prediction_log_rows", "Predictions stored in the log", ())
        self.log_retries = self._counter(
            "prediction_log_retries", "Predictions not stored: the same one already was", ()
        )
        self.log_rejected = self._counter(
            "prediction_log_rejected", "Predictions not stored: a value cannot be stored", ()
        )
        self.reloads = self._counter("deployment_reloads", "Deployment reloads", ("outcome",))
        self._monitoring: MonitoringGauges | None = None
        self.event_id = Gauge(
            "tether_deployment_event_id", "Registry event id of the deployment served",
            registry=self.registry, multiprocess_mode="liveall",
        )  # fmt: skip
        self.http_requests = self._counter(
            "http_requests", "HTTP requests", ("method", "route", "status")
        )
        self.http_latency = Histogram(
            "tether_http_request_duration_seconds", "HTTP request duration", ("method", "route"),
            buckets=_HTTP_BUCKETS, registry=self.registry,
        )  # fmt: skip

    def _counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        return Counter(f"tether_{name}", documentation, labels, registry=self.registry)

    def model_called(self, version: str, role: ModelRole, seconds: float, instances: int) -> None:
        """Count the instances and observe the call's duration."""
        self.predictions.labels(version, role).inc(instances)
        self.latency.labels(version, role).observe(seconds)

    def model_failed(self, version: str, role: ModelRole) -> None:
        """Count a failed model call."""
        self.errors.labels(version, role).inc()

    def fallback(self, version: str, reason: FallbackReason, instances: int) -> None:
        """Count instances the champion answered for challenger ``version``."""
        self.fallbacks.labels(version, reason).inc(instances)

    def features_served(self, model: str, counts: Mapping[tuple[str, str], int]) -> None:
        """Count the instances served with each feature in each status."""
        for (feature, status), instances in counts.items():
            self.feature_statuses.labels(model, feature, status).inc(instances)

    def shadow_queued(self, depth: int) -> None:
        """Record the shadow queue's depth."""
        self.shadow_depth.set(depth)

    def shadow_dropped(self, version: str) -> None:
        """Count a dropped shadow job."""
        self.shadow_drops.labels(version).inc()

    def prediction_dropped(self) -> None:
        """Count a prediction the log refused."""
        self.log_dropped.inc()

    def predictions_logged(self, inserted: int, retries: int, rejected: int) -> None:
        """Count what the prediction log's writer committed."""
        self.log_rows.inc(inserted)
        self.log_retries.inc(retries)
        self.log_rejected.inc(rejected)

    def reloaded(self, succeeded: bool, event_id: int) -> None:
        """Count a reload and record the event id served."""
        self.reloads.labels("success" if succeeded else "failure").inc()
        self.event_id.set(event_id)

    def watch_monitoring(self, results: MonitorResults) -> None:
        """Export the latest monitoring results of ``results`` at each scrape."""
        self._monitoring = MonitoringGauges(results)
        self.registry.register(self._monitoring)

    def exposition(self) -> bytes:
        """The text exposition format of every metric (of every worker, in multiprocess mode)."""
        folder = multiprocess_dir()
        if folder is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        if self._monitoring is not None:  # read from the database: the same in every worker
            registry.register(self._monitoring)
        return generate_latest(registry)

    def process_exited(self) -> None:
        """Drop this process's live gauges (multiprocess mode), at shutdown."""
        folder = multiprocess_dir()
        if folder is not None:
            multiprocess.mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]


class MonitoringGauges(Collector):
    """The ``tether_monitor_*`` gauges, read from the monitoring tables at each scrape."""

    def __init__(self, results: MonitorResults) -> None:
        self._results = results

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One family per gauge, from every model's latest run; only ``..._up`` 0 if the read
        fails."""
        up = GaugeMetricFamily("tether_monitor_results_up", "1 if the monitoring tables were read")
        try:
            points = self._results.latest_points(["drift", "performance", "estimate", "labels"])
        except TetherError:  # a scrape must answer: the failure is shown and logged
            _LOGGER.exception("could not read the monitoring results for /metrics")
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        families = {
            "drift": GaugeMetricFamily("tether_monitor_psi", "PSI against the reference",
                                       labels=[*_POINT_LABELS, "feature"]),
            "metric": GaugeMetricFamily("tether_monitor_metric", "Performance of a window",
                                        labels=[*_POINT_LABELS, "metric", "source"]),
            "labels": GaugeMetricFamily("tether_monitor_label_completeness",
                                        "Share of a window's predictions with labels",
                                        labels=list(_POINT_LABELS)),
        }  # fmt: skip
        for stored in points:
            point = stored.point
            if point.value is None:
                continue
            labels = [stored.model, point.version, point.role, point.cohort]
            if point.kind == "drift":
                families["drift"].add_metric([*labels, point.name], point.value)
            elif point.kind == "labels":
                families["labels"].add_metric(labels, point.value)
            else:
                source = "realized" if point.kind == "performance" else "estimated"
                families["metric"].add_metric([*labels, point.name, source], point.value)
        yield from families.values()


_POINT_LABELS = ("model", "version", "role", "cohort")


class HttpMetrics:
    """ASGI middleware counting requests and timing them by route template and status."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and count it with the status it was answered with."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_latency.labels(method, route).observe(time.perf_counter() - started)


def metrics_router(metrics: ServerMetrics) -> APIRouter:
    """``GET /metrics``."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def read_metrics() -> Response:
        """Every metric in the Prometheus text format."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
