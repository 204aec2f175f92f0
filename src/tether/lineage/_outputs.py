"""What a training run logs once its entry point has returned.

The model (with its signature and pinned requirements), the evaluation frame as a snapshot,
the held-out scores with their profile and calibration, and ``record.json``, which holds
everything ``reproduce`` and ``audit`` read. The digests of the model's manifest and of
the record are returned for the registration that follows (``lineage/_train.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tether import _mlflow
from tether._names import MODEL_SHA256_TAG
from tether.config import Settings
from tether.lineage._artifacts import MANIFEST_SHA256_TAG, MANIFEST_TAG, manifest_of
from tether.lineage._context import TrainContext, describe_dataset, parquet_bytes
from tether.lineage._environment import MODEL_REQUIREMENTS, Environment
from tether.lineage._evaluate import evaluate, features_of, held_out_scores
from tether.lineage._record import (
    RECORD_ARTIFACT,
    RECORD_SHA256_TAG,
    CodeRecord,
    DatasetRecord,
    ModelRecord,
    RunRecord,
)
from tether.lineage._reference import (
    CALIBRATION_ARTIFACT,
    HELD_OUT_ARTIFACT,
    REFERENCE_ARTIFACT,
    ArtifactRecord,
    Calibrator,
    Profiler,
    ReferenceRecord,
    artifact_record,
    held_out_bytes,
    profile_format,
    score_column,
)
from tether.lineage._snapshots import SnapshotStore, sha256_file

EVALUATION_DATASET = "evaluation"


def snapshot_frame(
    frame: pd.DataFrame, name: str, context: str, store: SnapshotStore
) -> DatasetRecord:
    """Store a frame as Parquet in the snapshot store and describe it."""
    snapshot = store.put_bytes(parquet_bytes(frame))
    return describe_dataset(
        frame,
        name,
        context,
        snapshot.digest,
        snapshot.size,
        "parquet",
        "(produced by the run)",
        snapshot.uri,
    )


@dataclass(frozen=True)
class Outputs:
    """What the entry point returned, and the profiler of its held-out frame."""

    model: Any
    frame: pd.DataFrame
    profiler: Profiler | None
    calibrator: Calibrator | None = None


def log_outputs(
    settings: Settings,
    run: _mlflow.TrackedRun,
    code: CodeRecord,
    context: TrainContext,
    outputs: Outputs,
    store: SnapshotStore,
    environment: Environment,
    work: Path,
) -> tuple[RunRecord, str, str]:
    """Log the model, the reference and ``record.json``; their manifest and record digests."""
    model, frame, label = outputs.model, outputs.frame, settings.train.label
    evaluation = snapshot_frame(frame, EVALUATION_DATASET, "evaluation", store)
    features = features_of(frame, label)
    metrics, decision = evaluate(model, frame, label, settings.train.threshold)
    logged = run.log_sklearn_model(
        model, features, model.predict(features), environment.pins(MODEL_REQUIREMENTS)
    )
    model_dir = _mlflow.download_model(settings.stores.tracking_uri, logged.model_uri, work / "m")
    manifest = manifest_of(model_dir, _mlflow.MODEL_FILE)
    model_record = ModelRecord(
        sha256=manifest.files[_mlflow.MODEL_FILE],
        uri=logged.model_uri,
        file=_mlflow.MODEL_FILE,
        flavor="sklearn",
        serialization="cloudpickle",
    )
    reference = _log_reference(run, outputs, settings, work)
    train = settings.train
    record = RunRecord(
        run_id=run.run_id,
        project=settings.name,
        model_name=settings.model_name,
        entry_point=train.entry_point,
        label=label,
        seed=train.seed,
        threads=train.threads,
        params=dict(train.params),
        code=code,
        datasets=context.datasets_read,
        evaluation=evaluation,
        python=environment.python,
        platform=environment.platform,
        machine=environment.machine,
        model=model_record,
        metrics=metrics,
        feature_version=context.feature_version,
        features={
            "definitions": settings.features.definitions,
            "naive_timestamps": settings.features.naive_timestamps,
        }
        if settings.features.definitions
        else {},
        decision=decision,
        reference=reference,
        window=context.window.to_dict(),
        known_time=dict(train.known_time),
    )
    log_input(run, evaluation, frame)
    path = work / "record.json"
    path.write_text(record.to_json(), encoding="utf-8")
    record_sha256 = sha256_file(path)
    run.log_artifact(path, RECORD_ARTIFACT.rpartition("/")[0])
    run.log_metrics(metrics)
    run.set_tags(
        {
            MODEL_SHA256_TAG: model_record.sha256,
            "tether.run_key": record.run_key,
            MANIFEST_TAG: manifest.to_json(),
            MANIFEST_SHA256_TAG: manifest.sha256,
            RECORD_SHA256_TAG: record_sha256,
        }
    )
    return record, manifest.sha256, record_sha256


def _log_reference(
    run: _mlflow.TrackedRun, outputs: Outputs, settings: Settings, work: Path
) -> ReferenceRecord | None:
    """Score the held-out frame, log its scores and labels and its profile; their record.

    None for a model whose output is not one number per row (a multi-class classifier).
    """
    label = settings.train.label
    features = features_of(outputs.frame, label)
    scored = held_out_scores(outputs.model, features, outputs.frame[label])
    if scored is None:
        return None
    scores, truth = scored
    held_out = held_out_bytes(scores, truth)
    columns = [str(c) for c in features.columns]
    score = score_column(columns)
    profile = None
    profile_version = 0
    if outputs.profiler is not None:
        frame = features.assign(**{score: scores})
        data = outputs.profiler(frame, columns, score, settings.train.seed)
        profile = _log_bytes(run, REFERENCE_ARTIFACT, data, work)
        profile_version = profile_format(data)
    calibration = None
    if outputs.calibrator is not None and truth.dtype == np.bool_:
        fitted = outputs.calibrator(scores, truth.astype(np.bool_))
        if fitted is not None:
            calibration = _log_bytes(run, CALIBRATION_ARTIFACT, fitted, work)
    return ReferenceRecord(
        profile=profile,
        held_out=_log_bytes(run, HELD_OUT_ARTIFACT, held_out, work),
        rows=len(features),
        features=tuple(columns),
        score=score,
        profile_format=profile_version,
        calibration=calibration,
    )


def _log_bytes(run: _mlflow.TrackedRun, artifact: str, data: bytes, work: Path) -> ArtifactRecord:
    folder, _, name = artifact.rpartition("/")
    path = work / "reference" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    run.log_artifact(path, folder)
    return artifact_record(artifact, data)


def log_input(run: _mlflow.TrackedRun, record: DatasetRecord, frame: pd.DataFrame) -> None:
    run.log_dataset_input(
        frame,
        name=record.name,
        source_uri=f"{record.uri}#sha256={record.digest}",
        digest=record.digest,
        context=record.context,
        tags={
            "tether.digest": f"sha256:{record.digest}",
            "tether.rows": str(record.rows),
            "tether.source": record.source,
        },
    )
