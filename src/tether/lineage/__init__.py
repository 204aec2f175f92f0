"""Reproducible training: code, data and configuration versioned together.

``train_project`` runs a project's entry point and records everything in MLflow;
``reproduce`` rebuilds a recorded run and verifies the result; ``audit`` reports what
trained a model. ``SnapshotStore`` is the content-addressed store every dataset goes to.
The artifact manifest names (``manifest_of``, ``load_registered_model``...) are what the
registry verifies a version with before a single byte of it is unpickled. A run also
records its decision threshold (``choose_threshold``, ``DecisionRecord``) and a reference
for monitoring, which ``load_reference`` returns only after checking every byte's sha256.

Importing this package does not import MLflow: :mod:`tether._mlflow` imports it inside the
functions that reach the tracking store, so the names below are plain imports.
"""

from tether.lineage._artifacts import (
    MANIFEST_SHA256_TAG,
    MANIFEST_TAG,
    load_registered_model,
    manifest_of,
)
from tether.lineage._audit import (
    AuditReport,
    HistoryEntry,
    LoopEntry,
    MonitorEntry,
    Section,
    audit,
    render_html,
    render_json,
    render_markdown,
)
from tether.lineage._code import commit_new_repository, in_git_work_tree
from tether.lineage._context import WINDOW_DECLARATION, TrainContext, declares_window
from tether.lineage._environment import Environment, EnvironmentDifference, capture_environment
from tether.lineage._features import project_views
from tether.lineage._record import RECORD_SHA256_TAG, DatasetRecord, RunRecord
from tether.lineage._reference import (
    CALIBRATION_ARTIFACT,
    HELD_OUT_ARTIFACT,
    REFERENCE_ARTIFACT,
    ArtifactRecord,
    Calibrator,
    Profiler,
    ReferenceRecord,
    VerifiedReference,
    load_reference,
)
from tether.lineage._reproduce import ReproduceReport, load_record, reproduce, resolve_run
from tether.lineage._snapshots import Snapshot, SnapshotStore, sha256_file
from tether.lineage._threshold import DecisionRecord, choose_threshold
from tether.lineage._train import TrainResult, train_project
from tether.lineage._window import (
    ImmatureWindowError,
    TrainWindow,
    check_matured,
    choose_window,
    whole_data,
)

__all__ = [
    "CALIBRATION_ARTIFACT",
    "HELD_OUT_ARTIFACT",
    "MANIFEST_SHA256_TAG",
    "MANIFEST_TAG",
    "RECORD_SHA256_TAG",
    "REFERENCE_ARTIFACT",
    "WINDOW_DECLARATION",
    "ArtifactRecord",
    "AuditReport",
    "Calibrator",
    "DatasetRecord",
    "DecisionRecord",
    "Environment",
    "EnvironmentDifference",
    "HistoryEntry",
    "ImmatureWindowError",
    "LoopEntry",
    "MonitorEntry",
    "Profiler",
    "ReferenceRecord",
    "ReproduceReport",
    "RunRecord",
    "Section",
    "Snapshot",
    "SnapshotStore",
    "TrainContext",
    "TrainResult",
    "TrainWindow",
    "VerifiedReference",
    "audit",
    "capture_environment",
    "check_matured",
    "choose_threshold",
    "choose_window",
    "commit_new_repository",
    "declares_window",
    "in_git_work_tree",
    "load_record",
    "load_reference",
    "load_registered_model",
    "manifest_of",
    "project_views",
    "render_html",
    "render_json",
    "render_markdown",
    "reproduce",
    "resolve_run",
    "sha256_file",
    "train_project",
    "whole_data",
]
