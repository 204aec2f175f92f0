"""The prediction server of a project: its registry, logs and stores, from its :class:`Project`.

Its lifespan logs (logger ``tether.serve``) one line once started, naming the versions loaded
and every store with credentials masked, and one line once stopped, saying how many
predictions the prediction log wrote and dropped: the operator's record of each process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tether._names import Role
from tether._uris import mask_uri
from tether.config import project_from_environment
from tether.dashboard import Dashboard
from tether.project import Project
from tether.registry import DEFAULT_TRAFFIC, AppliedEvent, ModelAliases
from tether.server._app import create_app
from tether.server._state import ServerState
from tether.serving import OnlineLookup, describe_deployment

_LOGGER = logging.getLogger("tether.serve")


class RegistryAdmin:
    """The server's admin operations, on the project's registry (the ``Admin`` protocol)."""

    def __init__(self, aliases: ModelAliases) -> None:
        self._aliases = aliases

    def deploy(
        self, version: str, role: Role, *, traffic: float | None, actor: str, reason: str
    ) -> Mapping[str, object]:
        """Deploy ``version`` in ``role``."""
        share = DEFAULT_TRAFFIC if traffic is None else traffic
        event = self._aliases.deploy(version, role, traffic=share, actor=actor, reason=reason)
        return _event(event)

    def promote(self, *, actor: str, reason: str) -> Mapping[str, object]:
        """Make the challenger the champion."""
        return _event(self._aliases.promote(actor=actor, reason=reason))

    def rollback(self, *, actor: str, reason: str) -> Mapping[str, object]:
        """Put the previous champion back."""
        return _event(self._aliases.rollback(actor=actor, reason=reason))

    def retire(self, version: str, *, actor: str, reason: str) -> Mapping[str, object]:
        """Remove ``version``'s challenger or shadow alias."""
        return _event(self._aliases.retire(version, actor=actor, reason=reason))

    def status(self) -> Mapping[str, object]:
        """The model's aliases, challenger share and experiment id."""
        status = self._aliases.status()
        return {
            "model": status.model,
            "aliases": dict(status.aliases),
            "challenger_share": status.challenger_share,
            "experiment_id": status.experiment_id,
            "latest_event_id": status.latest_event_id,
        }


def _event(event: AppliedEvent) -> Mapping[str, object]:
    return {
        "event": event.id,
        "time": event.time.isoformat(),
        "model": event.model,
        "action": event.action,
        "actor": event.actor,
        "reason": event.reason,
        "before": dict(event.before),
        "after": dict(event.after),
        "aliases_stale": event.aliases_stale,
        "aliases_error": event.aliases_error or None,
    }


def create_project_app(project: Project) -> FastAPI:
    """The prediction server for ``project``'s registered model; it closes the project on stop.

    Example::

        app = create_project_app(Project.open("my-project"))
    """
    settings = project.settings
    lookup = OnlineLookup(project.online_store) if settings.features.definitions else None
    app = create_app(settings.serving, source=project.deployment_source,
                     predictions=project.predictions, features=lookup,
                     admin=RegistryAdmin(project.aliases),
                     monitoring=project.monitor_results, dashboard=Dashboard(project),
                     clock=project.clock.now)  # fmt: skip
    _announce_lifespan(app, project)
    return app


def _announce_lifespan(app: FastAPI, project: Project) -> None:
    """Wrap the app's lifespan with the started and stopped lines (see the module doc)."""
    inner = app.router.lifespan_context
    state: ServerState = app.state.tether
    settings = project.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            deployment = state.router.deployment
            if deployment is None:
                _LOGGER.warning(
                    "no deployment of %s loaded (the reason is logged above); /readyz answers "
                    "503 until `tether models deploy VERSION --as champion` or the store "
                    "recovers; stores: %s",
                    settings.model_name,
                    describe_stores(project),
                )
            else:
                _LOGGER.info("serving %s; stores: %s", describe_deployment(deployment),
                             describe_stores(project))  # fmt: skip
            try:
                yield
            finally:
                _LOGGER.info("shutting down: flushing the prediction log")
        # The inner lifespan closed the prediction log: what it wrote is final now.
        _LOGGER.info(
            "stopped: the prediction log at %s wrote %d predictions, dropped %d",
            mask_uri(project.store_url),
            state.predictions.written,
            state.predictions.dropped,
        )
        project.close()

    app.router.lifespan_context = lifespan


def describe_stores(project: Project) -> str:
    """Every store the server uses, credentials masked."""
    settings = project.settings
    stores = {
        "tracking": project.tracking_uri,
        "store (event log, prediction log)": project.store_url,
    }
    if settings.features.definitions:
        stores["online features"] = settings.features.online
    return ", ".join(f"{name} {mask_uri(uri)}" for name, uri in stores.items())


def app_from_environment() -> FastAPI:
    """The uvicorn factory of each server worker: the project named by ``TETHER_PROJECT``."""
    return create_project_app(Project.open(project_from_environment()))
