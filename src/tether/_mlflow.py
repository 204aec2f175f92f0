"""The one module that imports MLflow: typed functions for runs, inputs, artifacts, registry.

Everything else in tether calls these functions and never sees an MLflow object or
exception: MLflow errors are translated into :class:`~tether.errors.TrackingError` here.

MLflow is reached through an explicit client per tracking store (:func:`client`) and
runs by their ids (:class:`TrackedRun`), never through MLflow's process-global state (the
active run, the global tracking URI): the loop trains, registers and serves inside one
long-lived process, and two projects in one process never write into each other's runs.
Each new experiment gets an explicit artifact location, so that a project's runs land
under its own ``.tether/`` folder and never in the current working directory.

MLflow (and pandas, SQLAlchemy) is imported inside the functions that use it:
``import mlflow`` alone takes about 2.3 s, which ``import tether``, ``tether models status``
and a server that has not loaded a model yet must not pay.

Every wait on the tracking store is bounded: before its first call to a store, a process
checks that the store answers (:mod:`tether._tracking_reach`, which needs no MLflow). Every
message names the store with its credentials masked (:func:`tether._uris.mask_uri`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether._tracking_reach import CHECK_HINT, check_tracking_store
from tether._uris import mask_uri
from tether.errors import TrackingError, TrackingNotFoundError

if TYPE_CHECKING:
    import mlflow
    import pandas as pd

MODEL_ARTIFACT = "model"
"""The name under which every tether run logs its model."""
MODEL_FILE = "model.pkl"
"""The serialized model inside the MLflow model folder, the file whose sha256 is recorded."""

_NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"  # MLflow's error code for an unknown entity
_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_MLFLOW_DIGEST_LIMIT = 36  # MLflow's dataset digest column holds at most 36 characters.
_clients: dict[str, mlflow.MlflowClient] = {}  # one client per tracking store, see client()
_clients_lock = threading.Lock()
_global_uri_lock = threading.Lock()  # see register_model: MLflow's one global-URI read


@dataclass(frozen=True)
class RunInfo:
    """What tether reads back about a tracked run."""

    run_id: str
    experiment_id: str
    status: str
    start_time: datetime
    user: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    artifact_uri: str
    name: str = ""
    datasets: Mapping[str, str] = field(default_factory=dict)
    """Each input dataset's name -> its digest (tether's full ``sha256:...`` when tagged)."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version."""

    name: str
    version: str
    run_id: str
    source: str
    created: datetime
    user: str
    aliases: tuple[str, ...]
    tags: Mapping[str, str]


@dataclass(frozen=True)
class LoggedModel:
    """A model logged in a run: its URI and where its files were written."""

    model_uri: str
    model_id: str


def client(tracking_uri: str) -> mlflow.MlflowClient:
    """The MLflow client of the tracking store at ``tracking_uri`` (tracking and registry).

    Built once per store and process, on first use (``import mlflow`` takes seconds, which
    ``import tether`` and a server that has not loaded a model yet must not pay), and shared
    by every thread: the client holds no run or experiment of its own, every call names it.
    """
    with _clients_lock:
        found = _clients.get(tracking_uri)
        if found is None:
            import mlflow

            found = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            _clients[tracking_uri] = found
        return found


@contextlib.contextmanager
def _translated(action: str, tracking_uri: str) -> Iterator[None]:
    """Turn MLflow and connection failures into a TrackingError naming the action.

    The store is checked first (once per process), so that a dead one fails within the
    configured bounds; every message is masked, MLflow's own text included, since it
    quotes the URI it was given.
    """
    import sqlalchemy as sa
    from mlflow.exceptions import MlflowException

    store = mask_uri(tracking_uri)
    check_tracking_store(tracking_uri, action)
    try:
        yield
    except MlflowException as exc:
        error = TrackingNotFoundError if exc.error_code == _NOT_FOUND else TrackingError
        raise error(mask_uri(f"MLflow refused to {action} at {store}: {exc.message}")) from exc
    except (ConnectionError, OSError, sa.exc.OperationalError) as exc:
        raise TrackingError(
            mask_uri(
                f"Could not {action}: the tracking store at {store} is unreachable ({exc}). "
                + CHECK_HINT
            )
        ) from exc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence MLflow's chatter that tether has already acted on.

    The cloudpickle warning is a choice tether made deliberately (see ARCHITECTURE.md)
    and guards against by verifying the model digest before every load; the dataset
    source warning is about a file:// URI that is, by design, a local snapshot; the
    integer-schema hint is moot because tether records the schema of the data it saw;
    pandas 3.1 deprecates a call MLflow's schema inference makes on UTC timestamps.
    """
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The specified dataset source")
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def ensure_experiment(tracking_uri: str, name: str, artifact_uri: str) -> str:
    """Return the id of experiment ``name``, creating it with its artifact location."""
    with _translated(f"open experiment {name!r}", tracking_uri), _quiet():
        tracking = client(tracking_uri)
        experiment = tracking.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = artifact_uri if "://" in artifact_uri else Path(artifact_uri).as_uri()
        return str(tracking.create_experiment(name, artifact_location=location))


@contextlib.contextmanager
def start_run(tracking_uri: str, experiment_id: str, run_name: str) -> Iterator[TrackedRun]:
    """Open an MLflow run and yield it; the run ends FAILED if the body raises.

    The run is created through the project's client and addressed by its id from then on:
    no active run, no global tracking URI, so two projects (or a loop that trains while it
    serves) never write into each other's runs.
    """
    from mlflow.tracking.context.registry import resolve_tags

    with _translated("start a run", tracking_uri), _quiet():
        # The same tags MLflow's fluent start_run records (user, source, git commit).
        run = client(tracking_uri).create_run(
            experiment_id, run_name=run_name, tags=resolve_tags({})
        )
    tracked = TrackedRun(tracking_uri, str(run.info.run_id))
    try:
        yield tracked
    except BaseException:
        with _translated("end a failed run", tracking_uri), _quiet():
            client(tracking_uri).set_terminated(tracked.run_id, status="FAILED")
        raise
    with _translated("end a run", tracking_uri), _quiet():
        client(tracking_uri).set_terminated(tracked.run_id, status="FINISHED")


@dataclass(frozen=True)
class TrackedRun:
    """One open run, written to by its id through the project's client."""

    tracking_uri: str
    run_id: str

    def log_params(self, params: Mapping[str, object]) -> None:
        """Log params of this run."""
        from mlflow.entities import Param

        batch = [Param(key, str(value)) for key, value in params.items()]
        with _translated(f"log params of run {self.run_id}", self.tracking_uri), _quiet():
            client(self.tracking_uri).log_batch(self.run_id, params=batch)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Log metrics of this run, at step 0 and the current time."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
        with _translated(f"log metrics of run {self.run_id}", self.tracking_uri), _quiet():
            client(self.tracking_uri).log_batch(self.run_id, metrics=batch)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set tags on this run."""
        from mlflow.entities import RunTag

        batch = [RunTag(key, str(value)) for key, value in tags.items()]
        with _translated(f"tag run {self.run_id}", self.tracking_uri), _quiet():
            client(self.tracking_uri).log_batch(self.run_id, tags=batch)

    def log_artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        """Upload one local file into this run's artifacts."""
        with _translated(f"upload {path.name} to run {self.run_id}", self.tracking_uri), _quiet():
            client(self.tracking_uri).log_artifact(self.run_id, str(path), artifact_dir)

    def log_dataset_input(
        self,
        frame: pd.DataFrame,
        *,
        name: str,
        source_uri: str,
        digest: str,
        context: str,
        tags: Mapping[str, str],
    ) -> None:
        """Record a dataset this run read, as an MLflow input.

        MLflow's own digest is a hash of at most 10,000 rows, cut to 8 characters; tether
        passes a prefix of its full sha256 instead (MLflow stores at most 36 characters) and
        keeps the full digest in the source URI and a tag.
        """
        from mlflow.data.pandas_dataset import from_pandas
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        with _translated(f"log dataset {name!r} of run {self.run_id}", self.tracking_uri), _quiet():
            dataset = from_pandas(
                frame, source=source_uri, name=name, digest=digest[:_MLFLOW_DIGEST_LIMIT]
            )
            input_tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
            input_tags += [InputTag(key, value) for key, value in tags.items()]
            entry = DatasetInput(dataset._to_mlflow_entity(), tags=input_tags)
            client(self.tracking_uri).log_inputs(self.run_id, datasets=[entry])

    def log_sklearn_model(
        self, model: Any, example: pd.DataFrame, predictions: Any, requirements: Sequence[str]
    ) -> LoggedModel:
        """Log a scikit-learn model of this run, with a signature, serialized with cloudpickle.

        What ``mlflow.sklearn.log_model`` does, step by step on the explicit client (the
        fluent call resolves the global tracking URI and the active run): create the logged
        model in the run's experiment, link it to the run as an output, save it locally,
        upload the folder, and mark it READY (FAILED if any step raised). ``requirements``
        are pinned by the caller from the frozen environment, which also spares MLflow its
        slow import-tracing of the model's dependencies.
        """
        import mlflow.sklearn
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model, infer_signature

        tracking = client(self.tracking_uri)
        with _translated(f"log the model of run {self.run_id}", self.tracking_uri), _quiet():
            signature = infer_signature(example, predictions)
            run = tracking.get_run(self.run_id)
            logged = tracking.create_logged_model(
                run.info.experiment_id, name=MODEL_ARTIFACT, source_run_id=self.run_id,
                params=dict(run.data.params),
            )  # fmt: skip
            try:
                tracking.log_outputs(self.run_id, [LoggedModelOutput(logged.model_id, step=0)])
                with tempfile.TemporaryDirectory(prefix="tether-model-") as scratch:
                    local = Path(scratch) / MODEL_ARTIFACT
                    description = Model(
                        artifact_path=logged.artifact_location, model_uuid=logged.model_id,
                        run_id=self.run_id, model_id=logged.model_id,
                    )  # fmt: skip
                    mlflow.sklearn.save_model(
                        model, str(local), mlflow_model=description, signature=signature,
                        serialization_format="cloudpickle", pip_requirements=list(requirements),
                    )  # fmt: skip
                    tracking.log_model_artifacts(logged.model_id, str(local))
            except BaseException:
                tracking.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
                raise
            tracking.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        return LoggedModel(model_uri=f"models:/{logged.model_id}", model_id=str(logged.model_id))


def save_sklearn_model(model: Any, directory: Path) -> Path:
    """Serialize a model exactly as :meth:`TrackedRun.log_sklearn_model` does, into ``directory``.

    Returns the path of the serialized model file, for a byte comparison.
    """
    import mlflow.sklearn

    with _quiet():
        mlflow.sklearn.save_model(model, str(directory), serialization_format="cloudpickle")
    return directory / MODEL_FILE


def register_model(
    tracking_uri: str, model_uri: str, name: str, tags: Mapping[str, str], run_id: str = ""
) -> ModelVersionInfo:
    """Register a logged model (``models:/m-...``) as a new version of ``name``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    registry = client(tracking_uri)
    with _translated(f"register model {name!r}", tracking_uri), _quiet():
        try:
            registry.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != _ALREADY_EXISTS:
                raise
        # MLflow's SQL registry resolves a models:/ source with a client built on the global
        # tracking URI (a TODO in its sqlalchemy_store.create_model_version), whatever the
        # client's own URI: the one call that needs it, scoped to this store under a lock
        # (no other tether code reads the global URI) and restored afterwards.
        with _global_uri_lock, _use_tracking_uri(tracking_uri):
            version = registry.create_model_version(
                name, model_uri, run_id=run_id or None, tags=dict(tags),
                model_id=model_uri.removeprefix("models:/"),
            )  # fmt: skip
    return get_model_version(tracking_uri, name, str(version.version))


def get_model_version(tracking_uri: str, name: str, version: str) -> ModelVersionInfo:
    """Read one registered model version."""
    with _translated(f"read model version {name}/{version}", tracking_uri), _quiet():
        found = client(tracking_uri).get_model_version(name, version)
    return _version_info(found)


def get_model_version_by_alias(tracking_uri: str, name: str, alias: str) -> ModelVersionInfo:
    """Read the model version that ``name@alias`` points at."""
    with _translated(f"resolve {name}@{alias}", tracking_uri), _quiet():
        found = client(tracking_uri).get_model_version_by_alias(name, alias)
    return _version_info(found)


def versions_of_run(tracking_uri: str, run_id: str) -> list[ModelVersionInfo]:
    """Every registered model version created from ``run_id``."""
    with _translated(f"search model versions of run {run_id}", tracking_uri), _quiet():
        found = client(tracking_uri).search_model_versions(f"run_id = '{run_id}'")
    return sorted((_version_info(v) for v in found), key=lambda v: (v.name, int(v.version)))


def model_versions(tracking_uri: str, name: str) -> list[ModelVersionInfo]:
    """Every registered version of model ``name``, oldest first."""
    with _translated(f"search the versions of model {name!r}", tracking_uri), _quiet():
        found = client(tracking_uri).search_model_versions(f"name = '{name}'")
    return sorted((_version_info(v) for v in found), key=lambda v: int(v.version))


def _version_info(version: Any) -> ModelVersionInfo:
    return ModelVersionInfo(
        name=str(version.name),
        version=str(version.version),
        run_id=str(version.run_id),
        source=str(version.source),
        created=datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
        user=str(version.user_id or ""),
        aliases=tuple(version.aliases or ()),
        tags=dict(version.tags or {}),
    )


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the form of an MLflow run id."""
    return bool(_RUN_ID.match(text))


def get_run(tracking_uri: str, run_id: str) -> RunInfo:
    """Read a run's params, metrics and tags."""
    with _translated(f"read run {run_id}", tracking_uri), _quiet():
        run = client(tracking_uri).get_run(run_id)
    return _run_info(run)


def search_runs(tracking_uri: str, experiment_name: str, max_results: int) -> list[RunInfo]:
    """The newest ``max_results`` runs of an experiment, newest first (none if it is new)."""
    with _translated(f"search the runs of experiment {experiment_name!r}", tracking_uri), _quiet():
        mlflow_client = client(tracking_uri)
        experiment = mlflow_client.get_experiment_by_name(experiment_name)
        if experiment is None:
            return []
        runs = mlflow_client.search_runs(
            [experiment.experiment_id],
            order_by=["attributes.start_time DESC"],
            max_results=max_results,
        )
    return [_run_info(run) for run in runs]


def _run_info(run: Any) -> RunInfo:
    datasets = {}
    for used in run.inputs.dataset_inputs if run.inputs else ():
        tags = {tag.key: tag.value for tag in used.tags}
        datasets[str(used.dataset.name)] = tags.get("tether.digest", str(used.dataset.digest))
    return RunInfo(
        run_id=str(run.info.run_id),
        experiment_id=str(run.info.experiment_id),
        status=str(run.info.status),
        start_time=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
        user=str(run.info.user_id or ""),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        artifact_uri=str(run.info.artifact_uri),
        name=str(run.info.run_name or ""),
        datasets=datasets,
    )


def download_run_artifact(tracking_uri: str, run_id: str, path: str, dest: Path) -> Path:
    """Download one artifact (file or folder) of a run into ``dest``."""
    with _translated(f"download artifact {path!r} of run {run_id}", tracking_uri), _quiet():
        local = client(tracking_uri).download_artifacts(run_id, path, dst_path=str(dest))
    return Path(local)


def download_model(tracking_uri: str, model_uri: str, dest: Path) -> Path:
    """Download a logged model's folder (``models:/m-...``) into ``dest``."""
    model_id = model_uri.removeprefix("models:/")
    with _translated(f"download model {model_uri}", tracking_uri), _quiet():
        import mlflow.artifacts

        location = client(tracking_uri).get_logged_model(model_id).artifact_location
        # The location is the model's own artifact URI: no tracking store is consulted.
        local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dest))
    return Path(local)


def get_aliases(tracking_uri: str, name: str) -> dict[str, str]:
    """The aliases of registered model ``name``: alias -> version."""
    with _translated(f"read the aliases of {name!r}", tracking_uri), _quiet():
        model = client(tracking_uri).get_registered_model(name)
    return {str(alias): str(version) for alias, version in (model.aliases or {}).items()}


def set_alias(tracking_uri: str, name: str, alias: str, version: str) -> None:
    """Point ``name@alias`` at ``version``."""
    with _translated(f"set {name}@{alias}", tracking_uri), _quiet():
        client(tracking_uri).set_registered_model_alias(name, alias, version)


def delete_alias(tracking_uri: str, name: str, alias: str) -> None:
    """Remove ``name@alias``."""
    with _translated(f"delete {name}@{alias}", tracking_uri), _quiet():
        client(tracking_uri).delete_registered_model_alias(name, alias)


def set_version_tag(tracking_uri: str, name: str, version: str, key: str, value: str) -> None:
    """Set a tag on one registered model version."""
    with _translated(f"tag {name}/{version}", tracking_uri), _quiet():
        client(tracking_uri).set_model_version_tag(name, version, key, value)


def set_run_tag(tracking_uri: str, run_id: str, key: str, value: str) -> None:
    """Set a tag on a run (finished or not), through the tracking store."""
    with _translated(f"tag run {run_id}", tracking_uri), _quiet():
        client(tracking_uri).set_tag(run_id, key, value)
