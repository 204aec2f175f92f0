"""One error tree for tether.

Every message names the thing, the value seen and what was expected, and where it can,
what to do next. The mapping from these errors to HTTP status codes and CLI exit codes
lives in the fronts (``server/``, ``cli/``), never here.

    TetherError
    ├── ConfigError            tether.toml, --param, TETHER_* variables
    ├── ProjectError           the project folder: git state, entry point, data files
    ├── SnapshotError          the content-addressed data store
    │   └── IntegrityError     bytes that no longer match their recorded digest
    ├── TrackingError          MLflow: unreachable server, unknown run, model or alias
    │   └── TrackingNotFoundError  a run, model, version or alias the store does not have
    ├── ReproducibilityError   a reproduce that could not run to a verdict
    ├── FeatureError           feature definitions, training sets, online stores
    │   ├── StoreUnavailableError  an online store that cannot be reached
    │   └── RequestColumnError     a request lacks a column a feature is computed from
    ├── RegistryError          versions, aliases, transitions
    ├── ServingError           the prediction router and log
    │   ├── UnknownInstanceError   feedback for an instance never predicted (HTTP 404)
    │   └── FeedbackConflictError  feedback that contradicts what was recorded (HTTP 409)
    └── MonitoringError        drift, quality, performance, experiments

    TetherWarning              tether's own warnings (errors in tests)
"""

from __future__ import annotations


class TetherError(Exception):
    """The base of every error tether raises on purpose."""


class ConfigError(TetherError):
    """A configuration value is missing, unknown or invalid."""


class ProjectError(TetherError):
    """The project folder is not in the state an operation needs."""


class SnapshotError(TetherError):
    """A data snapshot cannot be written or read."""


class IntegrityError(SnapshotError):
    """Stored bytes do not match the digest recorded for them."""


class TrackingError(TetherError):
    """The tracking server or model registry refused or cannot be reached."""


class TrackingNotFoundError(TrackingError):
    """The tracking store answered, and has no such run, model, version or alias.

    Kept apart from an unreachable store, so that "no such version" is never said of a
    store that could not be asked.
    """


class ReproducibilityError(TetherError):
    """A recorded run cannot be rebuilt from its record."""


class FeatureError(TetherError):
    """A feature definition, training set or online lookup is invalid."""


class StoreUnavailableError(FeatureError):
    """An online feature store cannot be reached."""


class RequestColumnError(FeatureError):
    """A request row lacks a column that a request feature or transformation reads.

    ``row`` is the position of the request row, ``column`` the missing column, so that a
    front can name the field (the server: ``instances[row].features.column``).
    """

    def __init__(self, message: str, *, row: int, column: str) -> None:
        super().__init__(message)
        self.row = row
        self.column = column


class RegistryError(TetherError):
    """A registry operation (version, alias, transition) is invalid."""


class ServingError(TetherError):
    """A prediction cannot be routed, computed or logged."""


class UnknownInstanceError(ServingError):
    """Feedback names an instance id that no logged prediction has (HTTP 404)."""


class FeedbackConflictError(ServingError):
    """Feedback differs from the feedback already recorded for its instance (HTTP 409)."""


class MonitoringError(TetherError):
    """A monitoring computation got input it cannot judge."""


class TetherWarning(UserWarning):
    """A warning raised by tether itself; tests turn it into an error."""
