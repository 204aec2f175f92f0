"""Serving: what answers a prediction request, without any HTTP.

A :class:`Router` holds one :class:`Deployment` (champion, sticky challenger, shadows)
and swaps it whole when the registry changes; sticky cohorts come from
:func:`assign_cohort`; shadows run off the request path on a bounded queue; every
prediction goes to the :class:`PredictionLog`, where feedback joins it later; a
:class:`PredictionReader` reads it back (the latest predictions with their feedback, and the
served vectors the skew audit recomputes), and :class:`LogAggregates` gives monitoring its
window aggregates (counts, feature summaries, confusion counts, scores), computed in the
database by generated SQL; :class:`SparkLogAggregates` runs the same SQL on Spark over a
Parquet copy of the log written by :func:`export_parquet`.
"""

from tether._names import Cohort
from tether.errors import (
    BatchTooLargeError,
    FeatureVersionMismatchError,
    FeedbackConflictError,
    InvalidFeedbackError,
    InvalidInstanceError,
    NotReadyError,
    PredictionLogFullError,
    UnknownInstanceError,
)
from tether.serving._assignment import assign_cohort, assignment_bucket
from tether.serving._deployment import (
    Deployment,
    DeploymentSource,
    ServedModel,
    describe_deployment,
)
from tether.serving._features import (
    REQUEST_STATUS,
    SERVED_STATUSES,
    FeatureLookup,
    FeatureRow,
    FeatureSpec,
    FeatureValue,
    InstanceRequest,
)
from tether.serving._labels import LabelSpace
from tether.serving._loading import load_version
from tether.serving._observer import FallbackReason, ModelRole, NullObserver, ServingObserver
from tether.serving._online import OnlineLookup
from tether.serving._prediction import Prediction, RetentionResult
from tether.serving._predlog import PredictionLog
from tether.serving._predlog_agg import LogAggregates
from tether.serving._predlog_aggtypes import (
    CategoricalAggregate,
    NumericAggregate,
    ScorePairs,
    WindowAggregate,
)
from tether.serving._predlog_feedback import FeedbackItem, FeedbackOutcome, FeedbackRecord
from tether.serving._predlog_parquet import SparkLogAggregates, export_parquet
from tether.serving._predlog_read import SKIP_REASONS, PredictionReader, ServedVectors
from tether.serving._redaction import Redaction
from tether.serving._retention import RetentionWorker
from tether.serving._router import Router
from tether.serving._routing_results import InstanceResult, PredictResult, ReloadResult, RouterStats
from tether.serving._shadow import PredictionRecorder
from tether.serving._source import RegistryDeploymentSource

__all__ = [
    "REQUEST_STATUS",
    "SERVED_STATUSES",
    "SKIP_REASONS",
    "BatchTooLargeError",
    "CategoricalAggregate",
    "Cohort",
    "Deployment",
    "DeploymentSource",
    "FallbackReason",
    "FeatureLookup",
    "FeatureRow",
    "FeatureSpec",
    "FeatureValue",
    "FeatureVersionMismatchError",
    "FeedbackConflictError",
    "FeedbackItem",
    "FeedbackOutcome",
    "FeedbackRecord",
    "InstanceRequest",
    "InstanceResult",
    "InvalidFeedbackError",
    "InvalidInstanceError",
    "LabelSpace",
    "LogAggregates",
    "ModelRole",
    "NotReadyError",
    "NullObserver",
    "NumericAggregate",
    "OnlineLookup",
    "PredictResult",
    "Prediction",
    "PredictionLog",
    "PredictionLogFullError",
    "PredictionReader",
    "PredictionRecorder",
    "Redaction",
    "RegistryDeploymentSource",
    "ReloadResult",
    "RetentionResult",
    "RetentionWorker",
    "Router",
    "RouterStats",
    "ScorePairs",
    "ServedModel",
    "ServedVectors",
    "ServingObserver",
    "SparkLogAggregates",
    "UnknownInstanceError",
    "WindowAggregate",
    "assign_cohort",
    "assignment_bucket",
    "describe_deployment",
    "export_parquet",
    "load_version",
]
