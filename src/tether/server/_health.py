"""``GET /healthz`` (the process is alive) and ``GET /readyz`` (it can serve predictions).

Ready means: a deployment is loaded, the prediction log's database answers, and the online
feature store (when there is one) answers. A load balancer should send traffic only to ready
replicas; an orchestrator should restart only replicas that are not alive.
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


class Readiness(BaseModel):
    """Whether the server can serve predictions, and each check."""

    status: Literal["ready", "not_ready"]
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
        """Ready: a deployment is loaded and the stores answer."""
        checks = {
            "deployment": _deployment_check(state),
            "prediction_log": _log_check(state),
        }
        if state.features is not None:
            checks["online_store"] = _store_check(state)
        ready = all(check.ok for check in checks.values())
        body = Readiness(status="ready" if ready else "not_ready", checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    return router


def _deployment_check(state: ServerState) -> Check:
    deployment = state.router.deployment
    if deployment is None:
        return Check(ok=False, detail="no deployment loaded yet (see the server log)")
    return Check(
        ok=True,
        detail=f"{deployment.model_name} champion {deployment.champion.version} "
        f"(event {deployment.event_id})",
    )


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
