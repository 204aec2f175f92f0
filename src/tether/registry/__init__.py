"""The model registry: versions, aliases and transitions with reason and actor.

MLflow holds the versions and their files; tether's event log holds every transition
(deploy, promote, rollback, retire) and is the authority the MLflow aliases follow.
"""

from tether.registry._aliases import (
    CHALLENGER,
    CHAMPION,
    DEFAULT_TRAFFIC,
    PREVIOUS_CHAMPION,
    SHADOW_PREFIX,
    AppliedEvent,
    ModelAliases,
    ModelStatus,
    TransitionError,
    UnknownVersionError,
    version_history,
)
from tether.registry._events import AliasState, Event, EventLog, Transition
from tether.registry._integrity import (
    MANIFEST_ACTIONS,
    VerifyReport,
    record_registration,
    registered_digest,
    verify_version,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_TRAFFIC",
    "MANIFEST_ACTIONS",
    "PREVIOUS_CHAMPION",
    "SHADOW_PREFIX",
    "AliasState",
    "AppliedEvent",
    "Event",
    "EventLog",
    "ModelAliases",
    "ModelStatus",
    "Transition",
    "TransitionError",
    "UnknownVersionError",
    "VerifyReport",
    "record_registration",
    "registered_digest",
    "verify_version",
    "version_history",
]
