"""The prediction server of a project: its registry, logs and stores, from ``tether.toml``."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from tether.config import Settings, load_settings, project_from_environment
from tether.features import FeatureStore, OnlineFeatureStore
from tether.lineage import online_backend, project_views
from tether.registry import (
    DEFAULT_TRAFFIC,
    AppliedEvent,
    ModelAliases,
    RegistryDeploymentSource,
    project_aliases,
)
from tether.server._app import create_app
from tether.server._state import Role
from tether.serving import OnlineLookup, PredictionLog, Redaction


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


def create_project_app(settings: Settings) -> FastAPI:
    """The prediction server for ``settings``' registered model.

    Example::

        app = create_project_app(load_settings("my-project"))
    """
    serving = settings.serving
    aliases = project_aliases(settings)
    source = RegistryDeploymentSource(aliases, feature_mismatch=serving.feature_mismatch)
    redaction = Redaction(
        hash=serving.hash_columns, drop=serving.drop_columns, salt=serving.redaction_salt
    )
    predictions = PredictionLog(serving.predictions_uri, redaction=redaction)
    lookup = None
    if settings.features.definitions:
        views = project_views(settings)
        lookup = OnlineLookup(OnlineFeatureStore(views, online_backend(settings)))
        source = RegistryDeploymentSource(
            aliases,
            served_feature_version=FeatureStore(views).version,
            feature_mismatch=serving.feature_mismatch,
        )
    return create_app(serving, source=source, predictions=predictions, features=lookup,
                      admin=RegistryAdmin(aliases))  # fmt: skip


def app_from_environment() -> FastAPI:
    """The uvicorn factory of each server worker: the project named by ``TETHER_PROJECT``."""
    return create_project_app(load_settings(project_from_environment()))
