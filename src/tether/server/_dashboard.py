"""``/dashboard``: the dashboard's pages over HTTP, read-only (``GET`` only).

Each route hands its path's parts to :class:`~tether.dashboard.Dashboard` and answers its HTML.
The pages read databases and MLflow, which block: FastAPI runs these plain ``def`` routes in
its thread pool, off the event loop that serves predictions. What a page asked for that the
stores do not hold (an unknown event, feature or version) is a 404 page naming it; a store
that failed is a 503 page that names no location (the server's log has it, masked); both are
HTML, like the pages. ``/dashboard/static/plotly.min.js``
is plotly's bundled script from the installed package, cached by the browser for a day.

With ``TETHER_DASHBOARD_TOKEN`` set, every route needs ``Authorization: Bearer <token>``
(a browser reaches them through a proxy that adds it); without it they are open, as the
server's other scopes are without theirs.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable

from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import HTMLResponse

from tether.config import DASHBOARD_TOKEN_ENV
from tether.dashboard import DEFAULT_PREFIX, PLOTLY_PATH, Dashboard, DashboardError, plotly_js
from tether.errors import TetherError
from tether.server._auth import bearer_guard
from tether.server._errors import DEFAULT_STATUSES, install_error_handlers

_LOGGER = logging.getLogger("tether.dashboard")
_CACHE_SCRIPT = "public, max-age=86400"
_READ = ["GET", "HEAD"]  # HEAD too: a link checker or a proxy's probe asks without the body


def dashboard_router(dashboard: Dashboard, token: str = "") -> APIRouter:
    """The dashboard's routes under ``/dashboard``, behind ``token`` when one is set."""
    guard = [Depends(bearer_guard("dashboard", [token], DASHBOARD_TOKEN_ENV))] if token else []
    router = APIRouter(prefix=DEFAULT_PREFIX, dependencies=guard, include_in_schema=False)
    route = functools.partial(router.api_route, methods=_READ)

    @route("/")
    def models() -> HTMLResponse:
        return _page(dashboard.models_page)

    @route("/models/{model}/timeline")
    def timeline(model: str, metric: str | None = None) -> HTMLResponse:
        return _page(lambda: dashboard.timeline_page(model, metric))

    @route("/models/{model}/events/{key}")
    def event(model: str, key: str) -> HTMLResponse:
        return _page(lambda: dashboard.event_page(model, key))

    @route("/models/{model}/drift")
    def drift(model: str) -> HTMLResponse:
        return _page(lambda: dashboard.drift_page(model))

    @route("/models/{model}/drift/{feature:path}")  # a name may hold a slash
    def feature(model: str, feature: str) -> HTMLResponse:
        return _page(lambda: dashboard.feature_page(model, feature))

    @route("/models/{model}/experiments")
    def experiments(model: str) -> HTMLResponse:
        return _page(lambda: dashboard.experiments_page(model))

    @route("/models/{model}/versions/{version}")
    def lineage(model: str, version: str) -> HTMLResponse:
        return _page(lambda: dashboard.lineage_page(model, version))

    @route(PLOTLY_PATH)
    def script() -> Response:
        return Response(plotly_js(), media_type="text/javascript",
                        headers={"Cache-Control": _CACHE_SCRIPT})  # fmt: skip

    # Last: any other path under the prefix is a page that does not exist, said as a page (a
    # mistyped link would otherwise get the API's JSON 404).
    @route("/{path:path}")
    def unknown(path: str) -> HTMLResponse:
        return _problem(404, "Not found",
                        f"There is no dashboard page at {DEFAULT_PREFIX}/{path}: the pages are "
                        "the models (/dashboard/) and, per model, its timeline, drift, "
                        "experiments and versions, linked from there.")  # fmt: skip

    return router


def create_dashboard_app(dashboard: Dashboard, token: str = "") -> FastAPI:
    """The dashboard alone (``tether dashboard``): its routes, and ``/`` sending there."""
    app = FastAPI(title="tether dashboard", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(dashboard_router(dashboard, token))
    install_error_handlers(app, DEFAULT_STATUSES)  # a refused token: the server's 401 body

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return Response(status_code=307, headers={"Location": f"{DEFAULT_PREFIX}/"})

    return app


def _page(render: Callable[[], str]) -> HTMLResponse:
    try:
        return HTMLResponse(render())
    except DashboardError as exc:
        return _problem(404, "Not found", str(exc))
    except TetherError as exc:
        # A store that failed. Its message names where the store is: the operator's business,
        # so it goes to the server's log (masked), and the page only says what happened.
        _LOGGER.warning("a dashboard page failed: %s", exc)
        return _problem(503, "A store could not be read",
                        "The dashboard could not read what this page shows from tether's "
                        "stores; the server's log names the store and why.")  # fmt: skip


def _problem(status: int, title: str, message: str) -> HTMLResponse:
    body = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"</head><body><h1>{title}</h1><p>{html.escape(message)}</p>"
        f"<p><a href='{DEFAULT_PREFIX}/'>Models</a></p></body></html>"
    )
    return HTMLResponse(body, status_code=status)
