"""Reproducible training: code, data and configuration versioned together.

``train_project`` runs a project's entry point and records everything in MLflow;
``reproduce`` rebuilds a recorded run and verifies the result; ``audit`` reports what
trained a model. ``SnapshotStore`` is the content-addressed store every dataset goes to.
"""

from tether.lineage._audit import (
    AuditReport,
    HistoryEntry,
    audit,
    render_html,
    render_json,
    render_markdown,
)
from tether.lineage._context import TrainContext
from tether.lineage._environment import Environment, EnvironmentDifference, capture_environment
from tether.lineage._features import feature_store, online_backend, project_views
from tether.lineage._record import DatasetRecord, RunRecord
from tether.lineage._reproduce import ReproduceReport, reproduce, resolve_run
from tether.lineage._snapshots import Snapshot, SnapshotStore, sha256_file
from tether.lineage._train import TrainResult, train_project

__all__ = [
    "AuditReport",
    "DatasetRecord",
    "Environment",
    "EnvironmentDifference",
    "HistoryEntry",
    "ReproduceReport",
    "RunRecord",
    "Snapshot",
    "SnapshotStore",
    "TrainContext",
    "TrainResult",
    "audit",
    "capture_environment",
    "feature_store",
    "online_backend",
    "project_views",
    "render_html",
    "render_json",
    "render_markdown",
    "reproduce",
    "resolve_run",
    "sha256_file",
    "train_project",
]
