"""The model registry: versions, aliases and transitions with reason and actor.

MLflow holds the versions and their files; tether's event log holds every transition
(deploy, promote, rollback, retire) and is the authority the MLflow aliases follow.
"""

from tether._names import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, SHADOW_PREFIX
from tether.errors import FeatureVersionMismatchError, TransitionError, UnknownVersionError
from tether.registry._aliases import (
    DEFAULT_TRAFFIC,
    AppliedEvent,
    ModelAliases,
    ModelStatus,
    project_aliases,
    version_history,
)
from tether.registry._catalog import RunSummary, VersionSummary, list_runs, list_versions
from tether.registry._events import AliasState, Event, EventLog, Transition
from tether.registry._integrity import (
    VerifyReport,
    record_registration,
    registered_digest,
    verify_version,
)
from tether.registry._loading import load_version
from tether.registry._source import RegistryDeploymentSource

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_TRAFFIC",
    "PREVIOUS_CHAMPION",
    "SHADOW_PREFIX",
    "AliasState",
    "AppliedEvent",
    "Event",
    "EventLog",
    "FeatureVersionMismatchError",
    "ModelAliases",
    "ModelStatus",
    "RegistryDeploymentSource",
    "RunSummary",
    "Transition",
    "TransitionError",
    "UnknownVersionError",
    "VerifyReport",
    "VersionSummary",
    "list_runs",
    "list_versions",
    "load_version",
    "project_aliases",
    "record_registration",
    "registered_digest",
    "verify_version",
    "version_history",
]
