"""Rebuild a recorded run from its record alone, and verify the result is identical.

The code comes from the run's source archive (plus its patch), the data from the
snapshot store by digest, the params and seed from the record: nothing is read from the
project's working tree, so a run reproduces after its code, data and config have moved
on. The environment is compared first; then the entry point runs again and the new model
and the recorded one score the recorded evaluation data. Identical predictions mean
reproduced; whether the model files are byte-identical is reported too.

The recorded model is loaded like a served one (``lineage/_artifacts.py``): its files are
checked against the manifest whose digest the run's and version's tags hold (and, when the
caller passes the registry's copy, the event log's), and only the verified model file is
unpickled. ``record.json`` is an artifact, so its model digest alone is never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tether import _mlflow
from tether._progress import Progress, no_progress
from tether._versions import canonical_version
from tether.config import FeatureSettings, Stores
from tether.errors import IntegrityError, ProjectError, SnapshotError, TrackingError
from tether.lineage._artifacts import MANIFEST_SHA256_TAG, load_registered_model
from tether.lineage._code import PATCH_FILE, SOURCE_ARCHIVE, restore_source
from tether.lineage._context import (
    TrainContext,
    known_by,
    load_entry_point,
    parquet_bytes,
    project_imports,
    read_table,
    recorded_reader,
)
from tether.lineage._environment import (
    FROZEN_REQUIREMENTS,
    Environment,
    EnvironmentDifference,
    capture_environment,
    compare_environments,
    parse_frozen,
)
from tether.lineage._evaluate import features_of, held_out_scores, predict_scores, split_result
from tether.lineage._outputs import snapshot_frame
from tether.lineage._record import (
    CODE_ARTIFACT_DIR,
    ENVIRONMENT_ARTIFACT_DIR,
    RECORD_ARTIFACT,
    RECORD_SHA256_TAG,
    DatasetRecord,
    RunRecord,
    record_from_json,
)
from tether.lineage._reference import Profiler
from tether.lineage._snapshots import SnapshotStore, sha256_file
from tether.lineage._train import call_entry_point, training_sets
from tether.lineage._window import TrainWindow

RegisteredDigest = Callable[[str, str], str]
"""``(model, version) -> manifest digest`` from the event log ("" when it has none)."""


@dataclass(frozen=True)
class ReproduceReport:
    """The verdict of ``tether reproduce`` and its evidence."""

    run_id: str
    reproduced: bool
    reason: str
    environment_differences: tuple[EnvironmentDifference, ...]
    rows_compared: int
    max_abs_difference: float
    tolerance: float
    model_bytes_identical: bool
    recorded_model_sha256: str
    new_model_sha256: str
    evaluation_identical: bool
    reference_identical: bool | None = None
    """Whether the rerun's reference profile is the recorded one, byte for byte (None: not
    checked: no profiler given, or the run recorded no profile)."""


def resolve_run(tracking_uri: str, ref: str) -> str:
    """The run id behind ``RUN_ID``, ``MODEL@ALIAS`` or ``MODEL/VERSION``."""
    if "@" in ref:
        name, _, alias = ref.partition("@")
        return _mlflow.get_model_version_by_alias(tracking_uri, name, alias).run_id
    if "/" in ref:
        name, _, version = ref.rpartition("/")
        version = canonical_version(version, name)
        return _mlflow.get_model_version(tracking_uri, name, version).run_id
    if not _mlflow.is_run_id(ref):
        raise TrackingError(
            f"{ref!r} is not a run reference; expected a run id (32 hex characters), "
            "MODEL@ALIAS (e.g. fraud-detector@champion) or MODEL/VERSION (fraud-detector/1)."
        )
    return _mlflow.get_run(tracking_uri, ref).run_id


def load_record(tracking_uri: str, run_id: str, work: Path) -> RunRecord:
    """Download a run's ``record.json``, check it against the run's tag, and parse it.

    From format 2 on the record's sha256 is in the run's tag ``tether.record.sha256``: a
    record that does not match it, or a format-2 record whose run lacks the tag, is refused
    (what it says, such as the decision threshold and the reference's digests, is trusted
    only through that tag). A format-1 record predates the tag and is read as it is.

    Raises:
        IntegrityError: the record does not match its recorded sha256, or the tag is gone.
        TrackingError: the run has no record, or the tracking store failed.
    """
    try:
        path = _mlflow.download_run_artifact(tracking_uri, run_id, RECORD_ARTIFACT, work)
    except TrackingError as exc:
        raise TrackingError(
            f"Run {run_id} has no {RECORD_ARTIFACT}: it was not trained by `tether train`."
        ) from exc
    data = path.read_bytes()
    record = record_from_json(data.decode("utf-8"))
    recorded = _mlflow.get_run(tracking_uri, run_id).tags.get(RECORD_SHA256_TAG, "")
    found = hashlib.sha256(data).hexdigest()
    if recorded and recorded != found:
        raise IntegrityError(
            f"The {RECORD_ARTIFACT} of run {run_id} has sha256 {found}, but the run's tag "
            f"{RECORD_SHA256_TAG} holds {recorded}: the record was modified after training. "
            "Refusing to read it."
        )
    if not recorded and record.format_version >= 2:
        raise IntegrityError(
            f"The {RECORD_ARTIFACT} of run {run_id} is of format {record.format_version}, "
            f"but the run has no {RECORD_SHA256_TAG} tag to check it against (it was "
            "removed). Refusing to trust it."
        )
    return record


def recorded_environment(tracking_uri: str, record: RunRecord, work: Path) -> Environment:
    """The environment a run was trained in, from its frozen package list."""
    path = _mlflow.download_run_artifact(
        tracking_uri, record.run_id, f"{ENVIRONMENT_ARTIFACT_DIR}/{FROZEN_REQUIREMENTS}", work
    )
    return Environment(
        python=record.python,
        implementation="CPython",
        platform=record.platform,
        machine=record.machine,
        packages=parse_frozen(path.read_text(encoding="utf-8")),
    )


def reproduce(
    stores: Stores,
    ref: str,
    *,
    strict_env: bool = False,
    tolerance: float = 0.0,
    progress: Progress = no_progress,
    registered_digest: RegisteredDigest | None = None,
    profiler: Profiler | None = None,
) -> ReproduceReport:
    """Re-run a recorded run and compare it with the recorded result.

    ``registered_digest`` gives the event log's manifest digest of a version; the CLI passes
    the project's registry, and without it the tracking store's tags are the trusted copies.
    With ``profiler`` (the one the run was trained with), the new model's reference profile
    is compared with the recorded one too (``reference_identical``; None when unchecked).

    Example::

        report = reproduce(locate_stores("my-project"), "fraud-detector@champion")
        assert report.reproduced, report.reason
    """
    tracking = stores.tracking_uri
    store = SnapshotStore(stores.snapshot_uri)
    with tempfile.TemporaryDirectory(prefix="tether-reproduce-") as scratch:
        work = Path(scratch)
        run_id = resolve_run(tracking, ref)
        record = load_record(tracking, run_id, work / "record")
        progress("comparing the environment")
        current = capture_environment()
        recorded_env = recorded_environment(tracking, record, work / "env")
        differences = tuple(compare_environments(recorded_env, current))
        if strict_env and differences:
            reason = (
                f"the environment differs from the recorded one in {len(differences)} "
                f"place(s), and --strict-env was given; first: {differences[0]}"
            )
            return _verdict(record, False, reason, differences, tolerance)
        progress("verifying the recorded snapshots")
        _verify_snapshots(record, store)
        progress("verifying the recorded model")
        # Verified before the costly retrain, unpickled after the new model is serialized:
        # unpickling interns attribute names, which changes which equal strings a later
        # pickle shares (memo references) and so its bytes, though not its content.
        _recorded_model(tracking, record, work, registered_digest, unpickle=False)
        progress("restoring the recorded code")
        source = _restore_code(tracking, record, work)
        progress("re-running the entry point")
        new_model, new_frame = _retrain(record, source, store, work)
        new_sha = sha256_file(_mlflow.save_sklearn_model(new_model, work / "new-model"))
        recorded = _recorded_model(tracking, record, work, registered_digest)
        progress("comparing predictions")
        report = _compare(
            record, store, recorded, (new_model, new_sha), new_frame, differences, tolerance
        )
        same = _same_reference(record, new_model, new_frame, profiler)
        return dataclasses.replace(report, reference_identical=same)


def _same_reference(
    record: RunRecord, model: Any, frame: pd.DataFrame, profiler: Profiler | None
) -> bool | None:
    """Whether the rerun's reference profile has the recorded digest (None: not checked)."""
    reference = record.reference
    if profiler is None or reference is None or reference.profile is None:
        return None
    features = features_of(frame, record.label)
    scored = held_out_scores(model, features, frame[record.label])
    if scored is None:
        return False
    columns = [str(c) for c in features.columns]
    profiled = features.assign(**{reference.score: scored[0]})
    data = profiler(profiled, columns, reference.score, record.seed)
    return hashlib.sha256(data).hexdigest() == reference.profile.sha256


def _verify_snapshots(record: RunRecord, store: SnapshotStore) -> None:
    for dataset in (*record.datasets, record.evaluation):
        try:
            store.verify(dataset.digest)
        except IntegrityError as exc:
            raise IntegrityError(
                f"Dataset {dataset.name!r} (sha256:{dataset.digest}) of run {record.run_id} "
                f"failed verification: {exc}"
            ) from exc
        except SnapshotError as exc:
            raise SnapshotError(
                f"Dataset {dataset.name!r} (sha256:{dataset.digest}) of run {record.run_id} "
                f"is missing from the snapshot store: {exc}"
            ) from exc


def _download_verified(
    tracking: str, record: RunRecord, name: str, digest: str, work: Path
) -> Path:
    path = _mlflow.download_run_artifact(
        tracking, record.run_id, f"{CODE_ARTIFACT_DIR}/{name}", work / "code"
    )
    found = sha256_file(path)
    if found != digest:
        raise IntegrityError(
            f"The code artifact {name} of run {record.run_id} has sha256 {found}, but the "
            f"run recorded {digest}: it was modified after training."
        )
    return path


def _restore_code(tracking: str, record: RunRecord, work: Path) -> Path:
    code = record.code
    archive = _download_verified(tracking, record, SOURCE_ARCHIVE, code.archive_sha256, work)
    patch = None
    if code.patch_sha256:
        patch = _download_verified(tracking, record, PATCH_FILE, code.patch_sha256, work)
    return restore_source(archive, patch, work / "source")


def _retrain(
    record: RunRecord, source: Path, store: SnapshotStore, work: Path
) -> tuple[Any, pd.DataFrame]:
    records = {d.name: d for d in record.datasets}

    def record_output(frame: pd.DataFrame, name: str) -> DatasetRecord:
        return snapshot_frame(frame, name, "training", store)

    with project_imports(source):
        features = FeatureSettings(
            definitions=record.features.get("definitions", ""),
            naive_timestamps=record.features.get("naive_timestamps", "reject"),
        )
        sources = {d.name: d.source for d in record.datasets}
        builder = training_sets(features, source, sources, store, work, lambda: context)
        # The recorded cut is served again; the window's cut-off is the recorded one.
        window = TrainWindow.from_dict(dict(record.window)) if record.window else None
        reader = recorded_reader(records, store)
        if window is not None:
            reader = known_by(reader, record.known_time, window.cutoff, store)
        context = TrainContext(
            record.params, record.seed, reader,
            training_sets=builder, record_output=record_output, window=window,
        )  # fmt: skip
        entry = load_entry_point(source, record.entry_point)
        result = call_entry_point(entry, context, record.entry_point, record.seed, record.threads)
    return split_result(result, record.entry_point, record.label)


@dataclass(frozen=True)
class _RecordedModel:
    model: Any
    sha256: str


def _recorded_model(
    tracking: str,
    record: RunRecord,
    work: Path,
    registered_digest: RegisteredDigest | None,
    *,
    unpickle: bool = True,
) -> _RecordedModel:
    """The run's model, verified against its manifest before it is unpickled (not at all
    unless ``unpickle``: the model is then None)."""
    run = _mlflow.get_run(tracking, record.run_id)
    versions = [v for v in _mlflow.versions_of_run(tracking, record.run_id)
                if v.name == record.model_name]  # fmt: skip
    if not versions:
        raise IntegrityError(
            f"Run {record.run_id} has no registered version of {record.model_name}, so its "
            "model has no trusted manifest digest; refusing to load it."
        )
    # Every version made from this run must agree; the first one is loaded.
    for version in versions[1:]:
        if version.tags.get(MANIFEST_SHA256_TAG, "") != versions[0].tags.get(
            MANIFEST_SHA256_TAG, ""
        ):
            raise IntegrityError(
                f"Versions {versions[0].version} and {version.version} of "
                f"{record.model_name} (both of run {record.run_id}) hold different manifest "
                "digests: one was rewritten. Refusing to load the model."
            )
    first = versions[0]
    label = f"{first.name}/{first.version} (run {record.run_id})"
    event = registered_digest(first.name, first.version) if registered_digest else None
    model, manifest = load_registered_model(
        tracking, first.source, label=label, version=first.version, run_tags=run.tags,
        version_tags=first.tags, event_digest=event,
        work=work / ("recorded-model" if unpickle else "recorded-model-verified"),
        unpickle=unpickle,
    )  # fmt: skip
    return _RecordedModel(model, manifest.files[manifest.model_file])


def _compare(
    record: RunRecord,
    store: SnapshotStore,
    recorded: _RecordedModel,
    new: tuple[Any, str],
    new_frame: pd.DataFrame,
    differences: tuple[EnvironmentDifference, ...],
    tolerance: float,
) -> ReproduceReport:
    """``new`` is the retrained model and the sha256 of its serialized file."""
    old_model = recorded.model
    new_model, new_sha = new
    evaluation = read_table(store.read_bytes(record.evaluation.digest), "parquet", "evaluation")
    features = features_of(evaluation, record.label)
    old_scores = predict_scores(old_model, features)
    new_scores = predict_scores(new_model, features)
    if old_scores.shape != new_scores.shape:
        raise ProjectError(
            f"The new model returns predictions of shape {new_scores.shape}, the recorded "
            f"one {old_scores.shape}: the code being reproduced differs from the recorded code."
        )
    largest = float(np.max(np.abs(old_scores - new_scores))) if old_scores.size else 0.0
    same_eval = _frame_digest(new_frame) == record.evaluation.digest
    if largest <= tolerance and not np.isnan(largest):
        reason = (
            f"predictions on the {len(evaluation)} recorded evaluation rows are identical"
            if largest == 0.0
            else f"predictions agree within tolerance {tolerance} (largest {largest:.3g})"
        )
        reproduced = True
    else:
        reason = (
            f"predictions differ on the recorded evaluation data: largest absolute difference "
            f"{largest:.6g} exceeds tolerance {tolerance}"
        )
        reproduced = False
    return ReproduceReport(
        run_id=record.run_id,
        reproduced=reproduced,
        reason=reason,
        environment_differences=differences,
        rows_compared=len(evaluation),
        max_abs_difference=largest,
        tolerance=tolerance,
        model_bytes_identical=new_sha == recorded.sha256,
        recorded_model_sha256=recorded.sha256,
        new_model_sha256=new_sha,
        evaluation_identical=same_eval,
    )


def _verdict(
    record: RunRecord,
    reproduced: bool,
    reason: str,
    differences: tuple[EnvironmentDifference, ...],
    tolerance: float,
) -> ReproduceReport:
    return ReproduceReport(
        run_id=record.run_id,
        reproduced=reproduced,
        reason=reason,
        environment_differences=differences,
        rows_compared=0,
        max_abs_difference=float("nan"),
        tolerance=tolerance,
        model_bytes_identical=False,
        recorded_model_sha256=record.model.sha256,
        new_model_sha256="",
        evaluation_identical=False,
    )


def _frame_digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(parquet_bytes(frame)).hexdigest()
