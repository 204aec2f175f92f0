"""One project's objects, assembled in one place: the composition root every front uses.

A :class:`Project` is opened from a folder holding ``tether.toml`` (or from settings already
read) and builds, on first use and once each, everything a front needs: the tracking store's
URI (MLflow is reached through one explicit client per store, :func:`tether._mlflow.client`),
the registry (event log, aliases, the deployment source the server loads from), the feature
store on its engine (DuckDB, or Spark, whose session only ``features/_spark.py`` builds), the
online store, and the prediction log. The CLI, the server and the demo take a ``Project``;
nothing else assembles these objects.

It is safe in a long-lived process (the server, the loop): each object is built under one
lock, so two threads asking at once get the same object, and :meth:`Project.close` (or leaving
a ``with`` block) closes what was built, in reverse order. Nothing is built by
:meth:`Project.open` itself except the move of a project's two legacy SQLite files into the
one store (:mod:`tether._store`), so opening a project is cheap: ``tether models status``
opens one and reads only the event log, the authority on aliases, never MLflow.

Heavy imports (pandas, DuckDB, MLflow through the registry) happen inside the builders, so
``import tether`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tether._closing import Closing
from tether._progress import Progress, no_progress
from tether._store import migrate_legacy_files
from tether._uris import mask_uri
from tether.config import Settings, load_settings
from tether.errors import ProjectError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from tether.features import Definition, FeatureStore, OfflineEngine, OnlineFeatureStore
    from tether.features import OnlineStore as OnlineBackend
    from tether.lineage import AuditReport, ReproduceReport, TrainResult
    from tether.registry import EventLog, ModelAliases
    from tether.serving import PredictionLog, RegistryDeploymentSource

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")


def reference_profiler(frame: pd.DataFrame, columns: Sequence[str], score: str, seed: int) -> bytes:
    """A run's reference profile: one DuckDB pass over the scored held-out frame, the same
    bytes on every run for the same frame and seed.

    The :data:`tether.lineage.Profiler` that :meth:`Project.train` hands to training; its
    bytes (``Profile.to_json_bytes``, versioned) are what ``tether.lineage.load_reference``
    returns, verified, for ``Profile.from_json_bytes``.
    """
    from tether.features import DuckDBEngine
    from tether.monitoring import profile_frame

    # One DuckDB thread, as for a training set (lineage/_features.py): parallel sums add in
    # an order that changes from run to run, and the last bits of a mean or a spread would,
    # so a rerun's reference would not be the same bytes (4 digests in 4 runs at 1M rows).
    engine = DuckDBEngine(threads=1)
    return profile_frame(frame, columns, score=score, seed=seed, engine=engine).to_json_bytes()


def reference_calibration(
    scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]
) -> bytes | None:
    """The score's calibration on the held-out rows (monitoring's isotonic ``Calibration``).

    None when the rows cannot calibrate a score (fewer than ``MIN_CALIBRATION_ROWS``, or one
    class): the run still records its held-out scores, and the audit says none was fitted.
    """
    import json

    from tether.errors import MonitoringError
    from tether.monitoring import Calibration

    try:
        fitted = Calibration.fit(scores, positive.astype("int8"))
    except MonitoringError as exc:
        _LOGGER.info("no score calibration for the reference: %s", exc)
        return None
    return json.dumps(fitted.to_dict(), sort_keys=True).encode("utf-8")


class Project(Closing):
    """A project's settings and the objects built from them, lazily, once each.

    Example::

        with Project.open("my-project") as project:
            result = project.train()
            project.aliases.deploy(result.model_version, "champion", actor="ana", reason="v1")
            print(project.aliases.status().aliases)
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._built: dict[str, object] = {}
        self._closers: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.RLock()  # re-entrant: one builder asks for another
        self._closed = False
        moved = migrate_legacy_files(settings.state_dir, settings.store.url)
        if moved:
            _LOGGER.warning(
                "moved %s into the one store %s (the old files are kept as *.migrated)",
                " and ".join(moved),
                mask_uri(settings.store.url),
            )

    @classmethod
    def open(cls, source: Path | str | Settings = ".") -> Project:
        """Open the project in folder ``source`` (reading its ``tether.toml``), or of ``source``.

        Raises:
            ConfigError: no ``tether.toml``, an invalid one, or legacy store files that cannot
                be moved (the message says what to do).
        """
        settings = source if isinstance(source, Settings) else load_settings(source)
        return cls(settings)

    def close(self) -> None:
        """Close every object built (the newest first); closing twice does nothing more."""
        with self._lock:
            closers, self._closers = self._closers, []
            self._closed = True
        for name, close in reversed(closers):
            try:
                close()
            except Exception:
                _LOGGER.exception("closing the %s of project %s failed", name, self.name)

    @property
    def name(self) -> str:
        """The project's name (``[project] name``)."""
        return self.settings.name

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking (and registry) store's URI."""
        return self.settings.stores.tracking_uri

    @property
    def store_url(self) -> str:
        """The one database of tether's own tables (``[store] url``)."""
        return self.settings.store.url

    def _once(self, name: str, build: Callable[[], _T], close: str = "") -> _T:
        """The object ``name``, built by ``build`` on first use; ``close`` names its closer."""
        with self._lock:
            if name not in self._built:
                if self._closed:
                    raise ProjectError(
                        f"The project {self.name} is closed, so its {name} cannot be built; "
                        "open it again with Project.open."
                    )
                value = build()
                self._built[name] = value
                if close:
                    self._closers.append((name, getattr(value, close)))
            return typing.cast(_T, self._built[name])

    @property
    def events(self) -> EventLog:
        """The registry's event log, the authority on aliases, in the one store."""
        from tether.registry import EventLog

        return self._once("event log", lambda: EventLog(self.store_url), close="close")

    @property
    def aliases(self) -> ModelAliases:
        """Deploy, promote, roll back and retire versions of the project's model."""
        from tether.registry import ModelAliases

        return self._once(
            "aliases",
            lambda: ModelAliases(self.events, self.tracking_uri, self.settings.model_name),
        )

    @property
    def views(self) -> Sequence[Definition]:
        """The project's feature definitions (``[features] definitions``): its feature views
        and request views, file sources resolved against the project."""
        from tether.lineage import project_views

        return self._once("feature views", lambda: tuple(project_views(self.settings)))

    @property
    def engine(self) -> OfflineEngine:
        """The offline engine of ``[features] engine``: DuckDB, or Spark on a local session."""
        from tether.features import DuckDBEngine, SparkEngine

        def build() -> OfflineEngine:
            if self.settings.features.engine == "spark":
                return SparkEngine.local(self.name)
            return DuckDBEngine()

        return self._once("offline engine", build)

    @property
    def feature_store(self) -> FeatureStore:
        """The offline feature store: the views on the configured engine."""
        from tether.features import FeatureStore

        return self._once("feature store", lambda: FeatureStore(self.views, engine=self.engine))

    @property
    def online_backend(self) -> OnlineBackend:
        """The online store: a SQLite file under ``.tether/``, or Redis (``[features] online``)."""
        from tether.features import RedisOnlineStore, SQLiteOnlineStore

        def build() -> OnlineBackend:
            online = self.settings.features.online
            if online == "sqlite":
                return SQLiteOnlineStore.in_project(self.settings.project_dir)
            return RedisOnlineStore(online, prefix=self.name)

        return self._once("online store", build, close="close")

    @property
    def online_store(self) -> OnlineFeatureStore:
        """The views served from the online store (materialize, push, point lookups)."""
        from tether.features import OnlineFeatureStore

        return self._once(
            "online features", lambda: OnlineFeatureStore(self.views, self.online_backend)
        )

    @property
    def predictions(self) -> PredictionLog:
        """The prediction log and its feedback, in the one store, redacted as configured."""
        from tether.serving import PredictionLog, Redaction

        serving = self.settings.serving

        def build() -> PredictionLog:
            redaction = Redaction(
                hash=serving.hash_columns, drop=serving.drop_columns, salt=serving.redaction_salt
            )
            return PredictionLog(self.store_url, redaction=redaction)

        return self._once("prediction log", build, close="close")

    @property
    def deployment_source(self) -> RegistryDeploymentSource:
        """Where the server loads its deployment from: the event log, verified models."""
        from tether.features import FeatureStore
        from tether.serving import RegistryDeploymentSource

        def build() -> RegistryDeploymentSource:
            served = FeatureStore(self.views).version if self.settings.features.definitions else ""
            return RegistryDeploymentSource(
                self.aliases,
                served_feature_version=served,
                feature_mismatch=self.settings.serving.feature_mismatch,
            )

        return self._once("deployment source", build)

    def train(
        self,
        params: dict[str, str] | None = None,
        *,
        allow_dirty: bool = False,
        progress: Progress | None = None,
    ) -> TrainResult:
        """Train the project (``params`` override ``[train.params]``) and register the model.

        The run stores a reference profile of its held-out frame (features and score), made
        by monitoring's :func:`~tether.monitoring.profile_frame`: lineage comes before
        monitoring in the order of packages, so the project composes the two here.
        """
        from tether.lineage import train_project

        settings = self.settings.with_params(params or {})
        return train_project(
            settings, allow_dirty=allow_dirty, progress=progress or no_progress,
            profiler=reference_profiler, calibrator=reference_calibration,
        )  # fmt: skip

    def reproduce(
        self,
        ref: str,
        *,
        strict_env: bool = False,
        tolerance: float = 0.0,
        progress: Progress | None = None,
    ) -> ReproduceReport:
        """Rebuild a recorded run (``RUN_ID``, ``MODEL@ALIAS``, ``MODEL/VERSION``) and verify it."""
        from tether.lineage import reproduce
        from tether.registry import registered_digest

        return reproduce(
            self.settings.stores, ref, strict_env=strict_env, tolerance=tolerance,
            progress=progress or no_progress,
            registered_digest=lambda model, version: registered_digest(self.events, model, version),
            profiler=reference_profiler,
        )  # fmt: skip

    def audit(self, ref: str) -> AuditReport:
        """What trained a model, with the registry's history of the versions it registered."""
        from tether.lineage import audit
        from tether.registry import version_history

        first = audit(self.settings.stores, ref)
        model = self.settings.model_name
        versions = {v.version for v in first.versions if v.name == model}
        return dataclasses.replace(
            first,
            history=tuple(version_history(self.events, model, versions)),
            aliases=self.events.latest_state(model),
        )
