"""Reproducible training: code, data and configuration versioned together.

``train_project`` runs a project's entry point and records everything in MLflow;
``reproduce`` rebuilds a recorded run and verifies the result; ``audit`` reports what
trained a model. ``SnapshotStore`` is the content-addressed store every dataset goes to.
"""

import importlib
import typing

if typing.TYPE_CHECKING:
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

_MODULES = {
    "AuditReport": "tether.lineage._audit",
    "DatasetRecord": "tether.lineage._record",
    "Environment": "tether.lineage._environment",
    "EnvironmentDifference": "tether.lineage._environment",
    "HistoryEntry": "tether.lineage._audit",
    "ReproduceReport": "tether.lineage._reproduce",
    "RunRecord": "tether.lineage._record",
    "Snapshot": "tether.lineage._snapshots",
    "SnapshotStore": "tether.lineage._snapshots",
    "TrainContext": "tether.lineage._context",
    "TrainResult": "tether.lineage._train",
    "audit": "tether.lineage._audit",
    "capture_environment": "tether.lineage._environment",
    "feature_store": "tether.lineage._features",
    "online_backend": "tether.lineage._features",
    "project_views": "tether.lineage._features",
    "render_html": "tether.lineage._audit",
    "render_json": "tether.lineage._audit",
    "render_markdown": "tether.lineage._audit",
    "reproduce": "tether.lineage._reproduce",
    "resolve_run": "tether.lineage._reproduce",
    "sha256_file": "tether.lineage._snapshots",
    "train_project": "tether.lineage._train",
}
"""Where each name lives. Loaded on first use: ``_audit``, ``_reproduce`` and ``_train``
import MLflow (seconds), which ``tether features ...`` and the feature helpers do not need."""


def __getattr__(name: str) -> typing.Any:
    if name in _MODULES:
        value = getattr(importlib.import_module(_MODULES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tether.lineage' has no attribute {name!r}")


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
