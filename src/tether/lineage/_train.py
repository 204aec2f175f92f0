"""A training run: code, data and configuration versioned together and logged to MLflow.

``train_project`` refuses a dirty tree unless allowed, snapshots every dataset the entry
point reads, runs it seeded with fixed thread pools, scores the held-out frame, logs the
model (cloudpickle, with a signature), records the model file's sha256 and registers a
new version. Everything lands in one ``record.json`` artifact too, which is what
``reproduce`` and ``audit`` read.

The manifest of the model's artifact files (``lineage/_artifacts.py``) is what every loader
verifies; its digest is kept where artifact writers cannot reach: the run's and the version's
tags, and a ``register`` event in the project's event log (``[store] url``).
"""

from __future__ import annotations

import getpass
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tether import _mlflow
from tether._clock import Clock, WallClock
from tether._names import MODEL_SHA256_TAG
from tether._progress import Progress, no_progress
from tether.config import FeatureSettings, Settings, check_no_literal_credentials
from tether.errors import ProjectError
from tether.lineage._artifacts import MANIFEST_SHA256_TAG
from tether.lineage._code import (
    CodeVersion,
    dirty_files,
    inspect_code,
    is_git_repository,
    write_directory_archive,
    write_patch,
    write_source_archive,
)
from tether.lineage._context import (
    EntryPoint,
    TrainContext,
    known_by,
    load_entry_point,
    project_imports,
    relative_source,
    snapshot_reader,
    source_name,
)
from tether.lineage._environment import (
    FROZEN_REQUIREMENTS,
    Environment,
    capture_environment,
    deterministic,
)
from tether.lineage._evaluate import split_result
from tether.lineage._features import TrainingSets, load_views
from tether.lineage._outputs import Outputs, log_input, log_outputs, snapshot_frame
from tether.lineage._record import (
    CODE_ARTIFACT_DIR,
    ENVIRONMENT_ARTIFACT_DIR,
    RECORD_SHA256_TAG,
    CodeRecord,
    DatasetRecord,
    RunRecord,
)
from tether.lineage._reference import (
    Calibrator,
    Profiler,
)
from tether.lineage._snapshots import SnapshotStore, sha256_file
from tether.lineage._window import TrainWindow, check_matured, whole_data

MLFLOW_RUN_NAME_TAG = "mlflow.runName"
"""MLflow's tag for a run's name: setting it renames the run."""
RUN_NAME_DIGEST_CHARS = 8


@dataclass(frozen=True)
class TrainResult:
    """What ``tether train`` reports: the run, the registered version and the record."""

    run_id: str
    model_name: str
    model_version: str
    record: RunRecord


def train_project(
    settings: Settings,
    *,
    allow_dirty: bool = False,
    progress: Progress = no_progress,
    profiler: Profiler | None = None,
    calibrator: Calibrator | None = None,
    window: TrainWindow | None = None,
    tags: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> TrainResult:
    """Train the project in ``settings.project_dir`` and register the model.

    ``tags`` are set on the run before anything else is logged (the loop finds an
    interrupted tick's training by one).

    ``window`` is ``ctx.window``: without one, the whole data as known at ``clock``'s now.
    ``clock`` (the wall clock by default; a :class:`~tether.project.Project` passes its own,
    a replay's in a replay) also stamps the ``register`` event, so monitoring and the demo
    place the new version on the same timeline as its deploy. A window other than the whole
    data must have matured (:func:`~tether.lineage.check_matured` with ``[monitoring]
    outcome_window_days``), so no run trains on labels that have not all arrived.

    ``profiler`` summarises the scored held-out frame into the run's reference profile and
    ``calibrator`` fits the score's calibration on it (``lineage/_reference.py``);
    :meth:`tether.project.Project.train` passes monitoring's.

    Example::

        result = train_project(load_settings("my-project").with_params({"max_iter": "50"}))
        print(result.run_id, result.model_version, result.record.metrics["roc_auc"])
    """
    check_no_literal_credentials(settings.project_dir)  # before the config is archived
    clock = clock or WallClock()
    window = window or whole_data(clock.now())
    if not window.whole:
        check_matured(window, settings.monitoring.outcome_window_days)
    store = SnapshotStore(settings.stores.snapshot_uri)
    environment = capture_environment()
    with tempfile.TemporaryDirectory(prefix="tether-train-") as scratch:
        work = Path(scratch)
        progress("versioning code")
        code, code_files = _capture_code(settings, allow_dirty, work)
        tracking = settings.stores.tracking_uri
        experiment = _mlflow.ensure_experiment(
            tracking, settings.name, settings.stores.artifact_uri
        )
        with _mlflow.start_run(tracking, experiment, settings.model_name) as run:
            run_id = run.run_id
            if tags:
                run.set_tags(dict(tags))
            _log_configuration(settings, run, code, code_files, environment, work)
            _log_window(run, window, settings.train.known_time)
            progress("running the entry point")
            model, frame, context = _run_entry_point(settings, run, store, work, window)
            progress("evaluating and logging the model")
            outputs = Outputs(model, frame, profiler, calibrator)
            record, manifest_sha256, record_sha256 = log_outputs(
                settings, run, code, context, outputs, store, environment, work
            )
            progress("registering the model")
            version = _mlflow.register_model(
                tracking,
                record.model.uri,
                settings.model_name,
                tags={
                    "tether.run_id": run_id,
                    MODEL_SHA256_TAG: record.model.sha256,
                    MANIFEST_SHA256_TAG: manifest_sha256,
                    RECORD_SHA256_TAG: record_sha256,
                    "tether.registered_by": getpass.getuser(),
                },
                run_id=run_id,
            )
            _record_registration(settings, version.version, run_id, manifest_sha256, clock)
            name = run_name(settings.model_name, version.version, record.run_key)
            _mlflow.set_run_tag(tracking, run_id, MLFLOW_RUN_NAME_TAG, name)
    return TrainResult(run_id, settings.model_name, version.version, record)


def run_name(model: str, version: str, run_key: str) -> str:
    """The MLflow run's name: the model, the version it registered, its run key's start.

    Set once the version is known (after registration), replacing MLflow's random names so
    the UI's run list reads like ``tether runs list``: ``fraud-detector-v3-1a2b3c4d``.

    >>> run_name("fraud-detector", "3", "1a2b3c4d5e6f")
    'fraud-detector-v3-1a2b3c4d'
    """
    return f"{model}-v{version}-{run_key[:RUN_NAME_DIGEST_CHARS]}"


def _record_registration(
    settings: Settings, version: str, run_id: str, digest: str, clock: Clock
) -> None:
    """Append the ``register`` event that holds the manifest digest in the event log.

    The one import against the flow of packages (lineage -> registry): the event log is
    where tether keeps what an artifact writer cannot rewrite, and registering a version
    is part of training. Imported here so that ``tether.lineage`` never imports the
    registry at module level.
    """
    from tether.registry import record_registration

    record_registration(
        settings.store.url,
        settings.model_name,
        version,
        actor=getpass.getuser(),
        reason=f"registered by `tether train` from run {run_id}",
        details={"run_id": run_id, "manifest_sha256": digest, "model_file": _mlflow.MODEL_FILE},
        clock=clock,
    )


def _capture_code(
    settings: Settings, allow_dirty: bool, work: Path
) -> tuple[CodeRecord, list[Path]]:
    project = settings.project_dir
    if is_git_repository(project):
        version = inspect_code(project)
        if version.dirty and not allow_dirty:
            changed = dirty_files(project)
            shown = ", ".join(changed[:10]) + (" ..." if len(changed) > 10 else "")
            raise ProjectError(
                f"The project at {project} has uncommitted changes ({shown}). Commit them so "
                "the run records the exact code, or pass --allow-dirty to record the patch."
            )
        archive = write_source_archive(project, version, work)
        patch = write_patch(project, work) if version.dirty else None
    elif allow_dirty:
        version = CodeVersion("", True, str(project), "", "")
        archive = write_directory_archive(project, list(settings.datasets.values()), work)
        patch = None
    else:
        raise ProjectError(
            f"The project at {project} is not in a git repository with a commit, so its "
            "code cannot be versioned. Run `git init && git add -A && git commit`, or pass "
            "--allow-dirty to archive the project's files by digest instead."
        )
    record = CodeRecord(
        commit=version.commit,
        dirty=version.dirty,
        repository=version.repository,
        subdirectory=version.subdirectory,
        branch=version.branch,
        archive_sha256=sha256_file(archive),
        patch_sha256=sha256_file(patch) if patch is not None else "",
    )
    return record, [p for p in (archive, patch) if p is not None]


def _log_configuration(
    settings: Settings,
    run: _mlflow.TrackedRun,
    code: CodeRecord,
    code_files: list[Path],
    environment: Environment,
    work: Path,
) -> None:
    for path in code_files:
        run.log_artifact(path, CODE_ARTIFACT_DIR)
    frozen = work / FROZEN_REQUIREMENTS
    frozen.write_text(environment.frozen(), encoding="utf-8")
    run.log_artifact(frozen, ENVIRONMENT_ARTIFACT_DIR)
    train = settings.train
    run.log_params({**train.params, "tether.seed": train.seed, "tether.threads": train.threads})
    run.set_tags(
        {
            "mlflow.source.git.commit": code.commit,
            "mlflow.source.git.repoURL": code.repository,
            "mlflow.source.git.branch": code.branch,
            "tether.git.commit": code.commit or "(none: not a git repository)",
            "tether.git.dirty": str(code.dirty).lower(),
            "tether.seed": str(train.seed),
            "tether.entry_point": train.entry_point,
            "tether.env.python": environment.python,
            "tether.env.platform": environment.platform,
        }
    )


def _log_window(
    run: _mlflow.TrackedRun, window: TrainWindow, known_time: Mapping[str, str]
) -> None:
    """The window as MLflow params (start, end, cut-off) and tags (the excluded spans too)."""
    fields = window.to_dict()
    run.log_params({f"tether.window.{key}": fields[key] for key in ("start", "end", "cutoff")})
    run.set_tags(
        {
            **{f"tether.window.{key}": value for key, value in fields.items()},
            "tether.window.known_time": ",".join(f"{k}={v}" for k, v in sorted(known_time.items())),
        }
    )


def _run_entry_point(
    settings: Settings,
    run: _mlflow.TrackedRun,
    store: SnapshotStore,
    work: Path,
    window: TrainWindow,
) -> tuple[Any, pd.DataFrame, TrainContext]:
    train = settings.train
    snapshot = known_by(
        snapshot_reader(settings.datasets, store, settings.project_dir),
        train.known_time, window.cutoff, store,
    )  # fmt: skip

    def read_and_log(name: str) -> tuple[pd.DataFrame, DatasetRecord]:
        frame, record = snapshot(name)
        log_input(run, record, frame)
        return frame, record

    def record_output(frame: pd.DataFrame, name: str) -> DatasetRecord:
        record = snapshot_frame(frame, name, "training", store)
        log_input(run, record, frame)
        return record

    with project_imports(settings.project_dir):
        sources = {
            name: relative_source(path, settings.project_dir)
            for name, path in settings.datasets.items()
        }
        builder = training_sets(
            settings.features, settings.project_dir, sources, store, work, lambda: context
        )
        context = TrainContext(
            train.params, train.seed, read_and_log, training_sets=builder,
            record_output=record_output, window=window,
        )  # fmt: skip
        entry = load_entry_point(settings.project_dir, train.entry_point)
        result = call_entry_point(entry, context, train.entry_point, train.seed, train.threads)
    model, frame = split_result(result, train.entry_point, train.label)
    return model, frame, context


def training_sets(
    features: FeatureSettings,
    source_dir: Path,
    sources: dict[str, str],
    store: SnapshotStore,
    work: Path,
    context: Callable[[], TrainContext],
) -> TrainingSets | None:
    """The builder behind ``ctx.training_set``, when the project defines features."""
    if not features.definitions:
        return None
    views = load_views(source_dir, features)

    def dataset_file(location: str) -> DatasetRecord:
        return context().dataset_record(source_name(location, sources))

    scratch = work / "feature-sources"
    scratch.mkdir(exist_ok=True)
    return TrainingSets(views, features.naive_timestamps, dataset_file, store, scratch)


def call_entry_point(
    entry: EntryPoint, context: TrainContext, name: str, seed: int, threads: int
) -> Any:
    """Call the project's entry point seeded, translating what it raises."""
    try:
        with deterministic(seed, threads):
            return entry(context)
    except ProjectError:
        raise
    except Exception as exc:
        raise ProjectError(
            f"The entry point {name!r} raised {type(exc).__name__}: {exc}. Run with --debug "
            "for the traceback."
        ) from exc
