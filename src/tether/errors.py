"""One error tree for tether.

Every message names the thing, the value seen and what was expected, and where it can,
what to do next. The mapping from these errors to HTTP status codes and CLI exit codes
lives in the fronts (``server/_errors.py``, ``cli/_app.py``), never here. Every exception
class tether defines is defined in this module (a test walks the sources to keep it so);
the packages re-export the ones their callers catch (``tether.serving.InvalidInstanceError``
is this module's class).

    TetherError
    ├── ConfigError                  tether.toml, --param, TETHER_* variables
    ├── ProjectError                 the project folder: git state, entry point, data files
    │   └── ImmatureWindowError      a training window whose labels have not all matured
    ├── SnapshotError                the content-addressed data store
    │   └── IntegrityError           bytes that no longer match their recorded digest
    ├── TrackingError                MLflow: unreachable server, unknown run, model or alias
    │   └── TrackingNotFoundError    a run, model, version or alias the store does not have
    ├── ReproducibilityError         a reproduce that could not run to a verdict
    ├── FeatureError                 feature definitions, training sets, online stores
    │   ├── StoreUnavailableError    an online store that cannot be reached
    │   └── RequestColumnError       a request lacks a column a feature is computed from
    ├── RegistryError                versions, aliases, transitions
    │   ├── TransitionError          a transition the model's current state does not allow
    │   ├── UnknownVersionError      a version the registry does not have
    │   └── FeatureVersionMismatchError  a model trained on other feature definitions
    ├── ServingError                 the prediction router and log
    │   ├── NotReadyError            no deployment loaded yet
    │   ├── InvalidInputError        a client's input, naming the field at fault
    │   │   ├── InvalidInstanceError an instance of a prediction request is invalid
    │   │   └── InvalidFeedbackError a label no model of the instance could have meant
    │   ├── BatchTooLargeError       more instances than serving.max_instances
    │   ├── PredictionLogFullError   the log's queue is full: the prediction is refused
    │   ├── PredictionLogDatabaseError  the log's database failed (names the database)
    │   ├── UnknownInstanceError     feedback for an instance never predicted
    │   └── FeedbackConflictError    feedback that contradicts what was recorded
    ├── RequestBodyError             a request body the server cannot read
    │   ├── UnsupportedMediaTypeError  a body not declared as JSON
    │   └── TooManyItemsError        a bounded array of a body with too many elements
    ├── MonitoringError              drift, quality, performance, experiments
    ├── LoopError                    the closed loop's state, lease or policy
    └── DashboardError               a page asked for what the stores do not hold

    TetherWarning                    tether's own warnings (errors in tests)
"""

from __future__ import annotations


class TetherError(Exception):
    """The base of every error tether raises on purpose."""


class ConfigError(TetherError):
    """A configuration value is missing, unknown or invalid."""


class ProjectError(TetherError):
    """The project folder is not in the state an operation needs."""


class ImmatureWindowError(ProjectError):
    """A training window ends later than its cut-off minus the outcome window."""


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


class TransitionError(RegistryError):
    """A transition that the model's current state does not allow."""


class UnknownVersionError(RegistryError):
    """A model version that the registry does not have."""


class FeatureVersionMismatchError(RegistryError):
    """A model trained on feature definitions other than those the store serves now."""


class ServingError(TetherError):
    """A prediction cannot be routed, computed or logged."""


class NotReadyError(ServingError):
    """No deployment is loaded yet, so nothing can be served."""


class InvalidInputError(ServingError):
    """A client's input that cannot be accepted, naming the field at fault.

    ``field`` locates the problem (``instances[3].features.amount``, ``label``);
    ``expected`` says what would have been accepted.
    """

    def __init__(self, message: str, *, field: str, expected: str) -> None:
        super().__init__(message)
        self.field = field
        self.expected = expected


class InvalidInstanceError(InvalidInputError):
    """An instance of a prediction request is invalid."""


class BatchTooLargeError(ServingError):
    """A prediction request holds more instances than ``serving.max_instances``."""


class PredictionLogFullError(ServingError):
    """The prediction log's queue is full, so a prediction could not be logged.

    A served prediction that is not in the log is never answered as a success: monitoring
    and feedback would miss it. The client may retry the same request: a retry with the
    same fields is one row in the log, so the rows of the instances that were logged are
    not doubled.
    """


class PredictionLogDatabaseError(ServingError):
    """A failure of the prediction log's database.

    Its message names the database, so the log reports it to the server log and raises a
    plain :class:`ServingError` to callers instead.
    """


class InvalidFeedbackError(InvalidInputError):
    """Feedback that no model of the instance could have meant (``field``: ``label``...)."""


class UnknownInstanceError(ServingError):
    """Feedback names an instance id that no logged prediction has."""


class FeedbackConflictError(ServingError):
    """Feedback differs from the feedback already recorded for its instance."""


class RequestBodyError(TetherError):
    """A request body that the server cannot read as its endpoint needs."""


class UnsupportedMediaTypeError(RequestBodyError):
    """A request body is not declared as JSON."""


class TooManyItemsError(RequestBodyError):
    """A bounded array of a request body has more elements than allowed."""

    def __init__(self, key: str, max_items: int) -> None:
        super().__init__(
            f"The request has more than {max_items} {key}; this server scores at most "
            f"{max_items} per request (serving.max_instances). Split the batch."
        )
        self.key = key
        self.max_items = max_items


class MonitoringError(TetherError):
    """A monitoring computation got input it cannot judge."""


class LoopError(TetherError):
    """The closed loop's state store failed, or a step it cannot take was asked of it."""


class DashboardError(TetherError):
    """A dashboard page was asked for an event, feature or view the stores do not hold."""


class TetherWarning(UserWarning):
    """A warning raised by tether itself; tests turn it into an error."""
