"""What the endpoints share: the router, the prediction log, the registry admin, the metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tether._names import Role
from tether.config import ServingSettings
from tether.serving import FeatureLookup, PredictionLog, Router


class Admin(Protocol):
    """The registry operations behind ``/v1/admin`` (the registry, in production).

    Every method returns a JSON-ready mapping (strings, numbers, booleans, None, lists,
    mappings, datetimes) that the endpoint returns as it is, e.g. the event appended, with
    ``aliases_stale`` true when the event committed but MLflow's aliases could not follow. A
    client's mistake raises :class:`~tether.errors.RegistryError`: HTTP 409 for a
    ``TransitionError`` (not allowed in the current state), 404 for an
    ``UnknownVersionError``, 400 for any other (see ``DEFAULT_STATUSES``).
    """

    def deploy(
        self, version: str, role: Role, *, traffic: float | None, actor: str, reason: str
    ) -> Mapping[str, object]:
        """Deploy ``version`` in ``role``; ``traffic`` is the challenger's share (None:
        the registry's default)."""
        ...

    def promote(self, *, actor: str, reason: str) -> Mapping[str, object]:
        """Make the challenger the champion."""
        ...

    def rollback(self, *, actor: str, reason: str) -> Mapping[str, object]:
        """Put the previous champion back."""
        ...

    def retire(self, version: str, *, actor: str, reason: str) -> Mapping[str, object]:
        """Remove ``version`` from its challenger or shadow role."""
        ...

    def status(self) -> Mapping[str, object]:
        """The model's aliases, challenger share and experiment, as the registry has them."""
        ...


@dataclass(frozen=True)
class ServerState:
    """The objects one app serves with; the app starts and closes them."""

    settings: ServingSettings
    router: Router
    predictions: PredictionLog
    features: FeatureLookup | None
    admin: Admin | None
