"""The model registry: versions, aliases and transitions with reason and actor.

MLflow holds the versions and their files; tether's event log holds every transition
(deploy, promote, rollback, retire) and is the authority the MLflow aliases follow.
"""

from tether._names import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, SHADOW_PREFIX
from tether.errors import TransitionError, UnknownVersionError
from tether.registry._aliases import (
    DEFAULT_TRAFFIC,
    AppliedEvent,
    ModelAliases,
    ModelStatus,
    version_history,
)
from tether.registry._catalog import RunSummary, VersionSummary, list_runs, list_versions
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
    "RunSummary",
    "Transition",
    "TransitionError",
    "UnknownVersionError",
    "VerifyReport",
    "VersionSummary",
    "list_runs",
    "list_versions",
    "record_registration",
    "registered_digest",
    "verify_version",
    "version_history",
]
