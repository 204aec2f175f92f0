"""``create_app``: the prediction server, assembled from its parts.

The app is thin: the routing logic is :class:`~tether.serving.Router`'s, the storage the
prediction log's, the registry operations the :class:`Admin`'s. Here they are only wired to
HTTP: one router module per resource (predict, feedback, admin, health, metrics, dashboard),
the body limits, the bearer tokens, the HTTP metrics, the error mapping and the published
schema.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tether.config import (
    ADMIN_TOKEN_ENV,
    FEEDBACK_TOKEN_ENV,
    METRICS_TOKEN_ENV,
    PREDICT_TOKEN_ENV,
    ServingSettings,
)
from tether.dashboard import Dashboard
from tether.monitoring import MonitorResults
from tether.server._admin import admin_router
from tether.server._auth import UNAUTHORIZED, bearer_guard
from tether.server._body import check_json_content_type
from tether.server._dashboard import dashboard_router
from tether.server._errors import DEFAULT_STATUSES, ErrorBody, install_error_handlers
from tether.server._feedback import Feedback, FeedbackBatch, feedback_router
from tether.server._health import health_router
from tether.server._limits import BodyLimit
from tether.server._metrics import HttpMetrics, ServerMetrics, metrics_router
from tether.server._openapi import BODY_RESPONSES, publish_schemas
from tether.server._predict import predict_router, request_type
from tether.server._state import Admin, ServerState
from tether.serving import (
    DeploymentSource,
    FeatureLookup,
    PredictionLog,
    RetentionWorker,
    Router,
)

_VERSION = "0.1.0"


def create_app(
    settings: ServingSettings,
    *,
    source: DeploymentSource,
    predictions: PredictionLog,
    features: FeatureLookup | None = None,
    admin: Admin | None = None,
    monitoring: MonitorResults | None = None,
    dashboard: Dashboard | None = None,
    error_statuses: Mapping[type[Exception], int] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The prediction server for the deployments of ``source``.

    The app owns what it is given: when it starts (the ASGI lifespan) it loads the first
    deployment and starts the shadow worker, the reload poller and the retention worker
    (predictions older than ``settings.retention_days`` go, at start and every hour); when it
    stops it stops them and closes ``predictions``. With ``monitoring``, ``/metrics`` also
    exports the latest monitoring results (read from its tables at each scrape). With
    ``dashboard``, its pages are served at ``/dashboard`` (behind ``settings.dashboard_token``).
    ``error_statuses`` adds (or overrides) HTTP statuses of exception classes in
    :data:`DEFAULT_STATUSES`. ``clock`` stamps each prediction's served time (default: the
    wall clock; a replay passes its :class:`~tether.ReplayClock`'s ``now``).

    Example::

        app = create_app(settings.serving, source=RegistryDeploymentSource(...),
                         predictions=PredictionLog(settings.store.url))
        uvicorn.run(app, host=settings.serving.host, port=settings.serving.port)
    """
    metrics = ServerMetrics()
    router = Router(
        source,
        predictions,
        features=features,
        observer=metrics,
        challenger_timeout_s=settings.challenger_timeout_ms / 1000.0,
        max_instances=settings.max_instances,
        shadow_queue_size=settings.shadow_queue_size,
        reload_interval_s=settings.reload_interval_s,
        clock=clock,
    )
    predictions.observe(metrics)  # the log's rows, retries and rejections on /metrics
    if monitoring is not None:
        metrics.watch_monitoring(monitoring)
    state = ServerState(settings, router, predictions, features, admin)
    retention = RetentionWorker(predictions, timedelta(days=settings.retention_days))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(router.start)  # loading models blocks: keep the loop free
        # What is loaded by now (libraries, models) lives as long as the process: collect the
        # garbage, then freeze the rest out of the collector's sight. Without this, each full
        # collection walked those ~400,000 objects: 50 to 250 ms pauses about once a second
        # under load, every request in flight waiting them out (p99 222 ms at 32 in flight).
        gc.collect()
        gc.freeze()
        retention.start()
        try:
            yield
        finally:
            retention.stop()
            await run_in_threadpool(_shut_down, state, metrics)

    guarded = _any_token(settings)
    app = FastAPI(
        title="tether prediction server",
        version=_VERSION,
        description="Predictions (champion, sticky challenger, shadows), feedback, admin.",
        lifespan=lifespan,
        # With a token set, the schema and its page are served by _schema_routes, guarded.
        openapi_url=None if guarded else "/openapi.json",
        docs_url=None if guarded else "/docs",
        redoc_url=None,
    )
    app.state.tether = state
    json_body = Depends(_json_body)
    app.include_router(
        predict_router(state),
        dependencies=_dependencies("predict", settings.predict_token, PREDICT_TOKEN_ENV),
        responses={**BODY_RESPONSES, **_unauthorized(settings.predict_token)},
    )
    app.include_router(
        feedback_router(state),
        dependencies=[json_body, *_dependencies("feedback", settings.feedback_token,
                                                FEEDBACK_TOKEN_ENV)],
        responses={**BODY_RESPONSES, **_unauthorized(settings.feedback_token)},
    )  # fmt: skip
    app.include_router(admin_router(state), dependencies=[json_body], responses=BODY_RESPONSES)
    app.include_router(health_router(state))
    app.include_router(
        metrics_router(metrics),
        dependencies=_dependencies("metrics", settings.metrics_token, METRICS_TOKEN_ENV),
    )
    if dashboard is not None:
        app.include_router(dashboard_router(dashboard, settings.dashboard_token))
    if guarded:
        _schema_routes(app, settings)
    install_error_handlers(app, {**DEFAULT_STATUSES, **(error_statuses or {})})
    published: list[type[BaseModel]] = [
        request_type(settings.max_instances),
        Feedback,
        FeedbackBatch,
        ErrorBody,
    ]
    publish_schemas(app, published, lambda: router.deployment)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(HttpMetrics, metrics=metrics)  # outermost: sees every status, 413 too
    return app


def _json_body(request: Request) -> None:
    """415 for a body declared as anything but JSON (before FastAPI reads it as a dict)."""
    if request.method in {"POST", "PUT", "PATCH"}:
        check_json_content_type(request.headers.get("content-type"))


def _dependencies(scope: str, token: str, variable: str) -> list[Any]:
    return [Depends(bearer_guard(scope, [token], variable))] if token else []


def _unauthorized(token: str) -> dict[int | str, dict[str, object]]:
    return UNAUTHORIZED if token else {}


def _any_token(settings: ServingSettings) -> list[str]:
    tokens = (settings.predict_token, settings.feedback_token, settings.metrics_token,
              settings.admin_token)  # fmt: skip
    return [token for token in tokens if token]


def _schema_routes(app: FastAPI, settings: ServingSettings) -> None:
    """``/openapi.json`` and ``/docs`` for the holder of any of the server's tokens."""
    variables = " or ".join((PREDICT_TOKEN_ENV, FEEDBACK_TOKEN_ENV, METRICS_TOKEN_ENV,
                             ADMIN_TOKEN_ENV))  # fmt: skip
    guard = [Depends(bearer_guard("schema", _any_token(settings), variables))]

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    def docs() -> HTMLResponse:
        # The page's own fetch of /openapi.json carries no token: it shows the schema only
        # behind a proxy that adds the header; `curl -H "Authorization: Bearer ..."` works.
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")


def _shut_down(state: ServerState, metrics: ServerMetrics) -> None:
    state.router.close()
    try:
        state.predictions.close()
    finally:
        metrics.process_exited()
