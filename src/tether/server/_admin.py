"""``/v1/admin``: deploy, promote, roll back and retire versions; the serving status.

Every admin endpoint needs ``Authorization: Bearer <token>`` where the token equals
``TETHER_ADMIN_TOKEN`` (compared in constant time). With no token configured the endpoints
are disabled (403, saying how to enable them), so a server never runs with an open admin
door by default. After a transition the server reloads its deployment at once, instead of
waiting for the next poll, and reports what the reload did.

A transition answers 200 once its event is committed: the event log is the authority. If
MLflow's aliases could not follow (the tracking store was down), the body says
``"aliases_stale": true`` with the error and the command that repairs them
(``tether models sync``); it is not a 503, because the change took effect.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from tether._names import Role
from tether.config import ADMIN_TOKEN_ENV
from tether.server._errors import ApiError, ErrorBody
from tether.server._state import Admin, ServerState
from tether.server._types import Identifier, Text
from tether.serving import Router

_BEARER = HTTPBearer(auto_error=False, description=f"The token in {ADMIN_TOKEN_ENV}.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class Transition(BaseModel):
    """Who asks for a transition, and why (both recorded in the registry's event log)."""

    model_config = ConfigDict(extra="forbid")

    actor: Identifier = Field(description="Who asks, e.g. a person or 'loop'.")
    reason: Text = Field(description="Why, for the audit trail.")


class Deploy(Transition):
    """Deploy a version as a shadow, a challenger or the first champion."""

    version: Identifier
    role: Role
    traffic: float | None = Field(
        None, gt=0.0, le=1.0, description="The challenger's share of units (default: the "
        "registry's)."
    )  # fmt: skip


class Retire(Transition):
    """Remove a version from its challenger or shadow role."""

    version: Identifier


_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "The registry refused the request."),
        (401, "No bearer token, or the wrong one."),
        (403, f"Admin endpoints are disabled: {ADMIN_TOKEN_ENV} is not set."),
        (404, "An unknown version."),
        (409, "The transition is not allowed in the model's current state."),
        (503, "No registry is connected to this server."),
    ]
}


def admin_router(state: ServerState) -> APIRouter:
    """The admin endpoints, guarded by the admin token of ``state.settings``."""
    authorized = Depends(_authorizer(state.settings.admin_token))
    router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[authorized])

    @router.post("/deploy", responses=_ERRORS)
    def deploy(body: Deploy) -> dict[str, Any]:
        """Deploy ``version`` as a shadow, a challenger (with its traffic share) or the first
        champion."""
        result = _admin(state).deploy(
            body.version, body.role, traffic=body.traffic, actor=body.actor, reason=body.reason
        )
        return _after_transition(state.router, result)

    @router.post("/promote", responses=_ERRORS)
    def promote(body: Transition) -> dict[str, Any]:
        """Make the challenger the champion."""
        result = _admin(state).promote(actor=body.actor, reason=body.reason)
        return _after_transition(state.router, result)

    @router.post("/rollback", responses=_ERRORS)
    def rollback(body: Transition) -> dict[str, Any]:
        """Put the previous champion back, in one step."""
        result = _admin(state).rollback(actor=body.actor, reason=body.reason)
        return _after_transition(state.router, result)

    @router.post("/retire", responses=_ERRORS)
    def retire(body: Retire) -> dict[str, Any]:
        """Remove ``version`` from its challenger or shadow role."""
        result = _admin(state).retire(body.version, actor=body.actor, reason=body.reason)
        return _after_transition(state.router, result)

    @router.get("/status", responses=_ERRORS)
    def status() -> dict[str, Any]:
        """What the registry says, and what this server serves."""
        registry = _plain(state.admin.status()) if state.admin is not None else None
        return {"registry": registry, "serving": serving_status(state.router)}

    return router


def serving_status(router: Router) -> dict[str, Any]:
    """The deployment this server serves and its counters, as JSON."""
    deployment = router.deployment
    stats = router.stats
    counters = {
        "fallbacks": stats.fallbacks,
        "reloads": stats.reloads,
        "reload_failures": stats.reload_failures,
        "predictions_dropped": stats.predictions_dropped,
        "shadow_queue_depth": router.shadows.depth,
        "shadow_dropped": router.shadows.dropped,
        "shadow_failed": router.shadows.failed,
    }
    if deployment is None:
        return {"loaded": False, "counters": counters}
    challenger = deployment.challenger
    return {
        "loaded": True,
        "model": deployment.model_name,
        "event_id": deployment.event_id,
        "champion": deployment.champion.version,
        "challenger": challenger.version if challenger is not None else None,
        "challenger_share": deployment.challenger_share if challenger is not None else 0.0,
        "experiment_id": deployment.experiment_id,
        "shadows": [shadow.version for shadow in deployment.shadows],
        "dropped": list(deployment.dropped),
        "counters": counters,
    }


def _authorizer(expected: str) -> Any:
    def authorize(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        if not expected:
            raise ApiError(
                403,
                "admin_disabled",
                f"Admin endpoints are disabled because no admin token is configured. Set "
                f"{ADMIN_TOKEN_ENV} in the server's environment (e.g. `export "
                f"{ADMIN_TOKEN_ENV}=$(openssl rand -hex 32)`) and restart the server.",
            )
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "unauthorized",
                "Admin endpoints need the header `Authorization: Bearer <token>`, with the "
                f"token in {ADMIN_TOKEN_ENV}.",
                _CHALLENGE,
            )
        given = credentials.credentials.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected.encode("utf-8")):
            raise ApiError(
                401, "unauthorized", f"The bearer token is not {ADMIN_TOKEN_ENV}.", _CHALLENGE
            )

    return authorize


def _admin(state: ServerState) -> Admin:
    if state.admin is None:
        raise ApiError(
            503,
            "no_registry",
            "This server has no registry connected, so it cannot change deployments; use "
            "`tether models` against the registry instead.",
        )
    return state.admin


def _after_transition(router: Router, result: Mapping[str, object]) -> dict[str, Any]:
    reload = router.refresh()
    stale = bool(result.get("aliases_stale", False))
    return {
        "result": _plain(result),
        "reload": {"outcome": reload.outcome, "event_id": reload.event_id, "error": reload.error},
        "aliases_stale": stale,
        "repair": "tether models sync" if stale else None,
    }


def _plain(value: object) -> Any:
    """``value`` with every mapping a dict and every sequence a list, JSON-encodable."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return jsonable_encoder(value)
