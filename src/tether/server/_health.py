"""``GET /healthz`` (the process is alive) and ``GET /readyz`` (it can serve predictions).

Ready means: a deployment is loaded, the prediction log's database answers, and the online
feature store (when there is one) answers. A load balancer should send traffic only to ready
replicas; an orchestrator should restart only replicas that are not alive.

*Degraded* (HTTP 200, ``"status": "degraded"``) means ready, but a challenger or shadow
the registry names is not served (deleted, refused by the integrity check, failed to
download): the champion answers every request, and the ``deployment`` check's detail says
what was dropped and why. A 503 is reserved for a server whose champion cannot serve.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tether.errors import TetherError
from tether.server._state import ServerState


class Alive(BaseModel):
    """The process answers."""

    status: Literal["alive"]


class Check(BaseModel):
    """One readiness check."""

    ok: bool
    detail: str


ReadyStatus = Literal["ready", "degraded", "not_ready"]


class Readiness(BaseModel):
    """Whether the server can serve predictions, and each check."""

    status: ReadyStatus
    checks: dict[str, Check]


def health_router(state: ServerState) -> APIRouter:
    """The liveness and readiness endpoints."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Alive)
    def healthz() -> dict[str, str]:
        """Alive: the process answers HTTP."""
        return {"status": "alive"}

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A check failed."}},
    )
    def readyz() -> JSONResponse:
        """Ready: a deployment is loaded and the stores answer (degraded: a challenger or
        shadow is not served)."""
        checks = {
            "deployment": _deployment_check(state),
            "prediction_log": _log_check(state),
        }
        if state.features is not None:
            checks["online_store"] = _store_check(state)
        ready = all(check.ok for check in checks.values())
        deployment = state.router.deployment
        degraded = ready and deployment is not None and bool(deployment.dropped)
        status: ReadyStatus = "degraded" if degraded else "ready" if ready else "not_ready"
        body = Readiness(status=status, checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    return router


def _deployment_check(state: ServerState) -> Check:
    deployment = state.router.deployment
    if deployment is None:
        return Check(ok=False, detail="no deployment loaded yet (see the server log)")
    detail = (
        f"{deployment.model_name} champion {deployment.champion.version} "
        f"(event {deployment.event_id})"
    )
    if deployment.dropped:
        detail += "; degraded: " + "; ".join(deployment.dropped)
    return Check(ok=True, detail=detail)


def _log_check(state: ServerState) -> Check:
    try:
        state.predictions.ping()
    except TetherError as exc:
        return Check(ok=False, detail=str(exc))
    return Check(ok=True, detail="reachable")


def _store_check(state: ServerState) -> Check:
    assert state.features is not None
    try:
        state.features.ping()
    except TetherError as exc:
        return Check(ok=False, detail=str(exc))
    return Check(ok=True, detail="reachable")
