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
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tether._clock import Clock, WallClock
from tether._closing import Closing
from tether._progress import Progress, no_progress
from tether._store import migrate_legacy_files
from tether._uris import mask_uri
from tether.config import Settings, load_settings
from tether.errors import ProjectError

if TYPE_CHECKING:
    from tether.features import Definition, FeatureStore, OfflineEngine, OnlineFeatureStore
    from tether.features import OnlineStore as OnlineBackend
    from tether.lineage import (
        AuditReport,
        LoopEntry,
        MonitorEntry,
        ReproduceReport,
        TrainResult,
        TrainWindow,
    )  # fmt: skip
    from tether.loop import Controller, GateResult, GateSettings, LoopStore
    from tether.monitoring import AlertSender, ModelReference, Monitor, MonitorResults
    from tether.registry import EventLog, ModelAliases
    from tether.serving import LogAggregates, PredictionLog, RegistryDeploymentSource

_LOGGER = logging.getLogger(__name__)
AUDITED_MONITOR_RUNS = 20
"""Monitor runs ``tether audit`` lists (the newest)."""
_T = TypeVar("_T")


class Project(Closing):
    """A project's settings and the objects built from them, lazily, once each.

    Example::

        with Project.open("my-project") as project:
            result = project.train()
            project.aliases.deploy(result.model_version, "champion", actor="ana", reason="v1")
            print(project.aliases.status().aliases)
    """

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or WallClock()
        """The time decisions are made at: the wall's, or a replay's; every component the
        project builds reads it (wall time stays the machine's: see :mod:`tether._clock`)."""
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
    def open(cls, source: Path | str | Settings = ".", *, clock: Clock | None = None) -> Project:
        """Open the project in folder ``source`` (reading its ``tether.toml``), or of ``source``,
        on ``clock`` (the wall's by default; a replay passes a :class:`tether.ReplayClock`).

        Raises:
            ConfigError: no ``tether.toml``, an invalid one, or legacy store files that cannot
                be moved (the message says what to do).
        """
        settings = source if isinstance(source, Settings) else load_settings(source)
        return cls(settings, clock=clock)

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

        return self._once(
            "event log", lambda: EventLog(self.store_url, clock=self.clock), close="close"
        )

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
            # On the project's clock: a replay's served times and retention's cut-off then
            # agree (retention on the wall clock would delete a replayed January at once).
            return PredictionLog(self.store_url, redaction=redaction, clock=self.clock.now)

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

    @property
    def monitor_results(self) -> MonitorResults:
        """The monitoring tables (runs, series, alerts), in the one store."""
        from tether.monitoring import MonitorResults

        return self._once("monitoring results", lambda: MonitorResults(self.store_url), "close")

    @property
    def log_aggregates(self) -> LogAggregates:
        """The prediction log's window aggregates, computed in its database."""
        from tether.serving import LogAggregates

        return self._once("log aggregates", lambda: LogAggregates(self.store_url), "close")

    @property
    def alert_sender(self) -> AlertSender | None:
        """The webhook sender of ``[monitoring] webhook_url``; None when none is set."""
        from tether.monitoring import AlertSender, WebhookSettings

        monitoring = self.settings.monitoring
        if not monitoring.webhook_url:
            return None
        webhook = WebhookSettings(
            monitoring.webhook_url, monitoring.webhook_timeout_s, monitoring.webhook_retries
        )

        def build() -> AlertSender:
            results = self.monitor_results
            return AlertSender(
                webhook,
                lambda alert_id, delivery, attempts, error: results.mark_delivery(
                    alert_id, delivery, attempts=attempts, error=error
                ),
            )

        return self._once("alert sender", build, "close")

    def model_reference(self, model: str, version: str) -> ModelReference:
        """What ``model/version`` was trained against: its profile, calibration and decision
        threshold, every byte verified against the run's record before it is parsed.

        Raises:
            TrackingError: the version is unknown, or its run recorded no reference.
            IntegrityError: an artifact no longer matches its recorded digest.
        """
        import json

        from tether import _mlflow
        from tether.lineage import load_reference
        from tether.monitoring import Calibration, ModelReference, Profile

        run_id = _mlflow.get_model_version(self.tracking_uri, model, version).run_id
        reference = load_reference(self.tracking_uri, run_id)
        label = f"the reference of {model}/{version}"
        calibration = None
        if reference.calibration is not None:
            calibration = Calibration.from_dict(json.loads(reference.calibration))
        return ModelReference(
            version,
            Profile.from_json_bytes(reference.profile, what=label),
            calibration,
            reference.threshold,
        )

    def monitor(self) -> Monitor:
        """The monitor of the project's deployed models, on the project's clock."""
        from tether.monitoring import Monitor, MonitorPolicy

        return self._once(
            "monitor",
            lambda: Monitor(
                log=self.log_aggregates,
                results=self.monitor_results,
                events=self.events,
                references=self.model_reference,
                clock=self.clock,
                policy=MonitorPolicy.from_settings(self.settings.monitoring),
                sender=self.alert_sender,
            ),
        )

    @property
    def loop_store(self) -> LoopStore:
        """The loop's state, events and lease, in tether's database."""
        from tether.loop import LoopStore

        return self._once("loop store", lambda: LoopStore(self.store_url), close="close")

    def loop(self, *, dry_run: bool | None = None) -> Controller:
        """The loop's controller for this project, on the project's clock (``dry_run``
        overrides ``[loop] dry_run``)."""
        from tether.loop import Controller, ProjectPorts

        settings = self.settings.loop
        if dry_run is not None:
            settings = dataclasses.replace(settings, dry_run=dry_run)
        return Controller(ProjectPorts(self), self.loop_store, settings, self.clock)

    def train(
        self,
        params: dict[str, str] | None = None,
        *,
        allow_dirty: bool = False,
        progress: Progress | None = None,
        window: TrainWindow | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> TrainResult:
        """Train the project (``params`` override ``[train.params]``) and register the model.

        ``window`` is ``ctx.window`` (a matured :func:`~tether.lineage.choose_window`);
        without one the run gets the whole data as known at the project clock's now.

        The run stores a reference profile of its held-out frame (features and score), made
        by monitoring's :func:`~tether.monitoring.profile_frame`: lineage comes before
        monitoring in the order of packages, so the project composes the two here.
        """
        from tether.lineage import train_project, whole_data
        from tether.monitoring import reference_calibration, reference_profiler

        settings = self.settings.with_params(params or {})
        return train_project(
            settings, allow_dirty=allow_dirty, progress=progress or no_progress,
            profiler=reference_profiler, calibrator=reference_calibration,
            window=window or whole_data(self.clock.now()), tags=tags, clock=self.clock,
        )  # fmt: skip

    def window_supported(self) -> bool:
        """Whether the entry point's module declares ``TETHER_WINDOW = True`` (it trains on
        ``ctx.window``): the loop retrains only such a project."""
        from tether.lineage import declares_window

        train = self.settings.train
        return declares_window(self.settings.project_dir, train.entry_point)

    def gate(
        self, candidate: str, champion: str, settings: GateSettings | None = None
    ) -> GateResult:
        """The offline gate of version ``candidate`` against ``champion`` of the project's
        model (:func:`tether.loop.gate`): both scored on the candidate's held-out frame."""
        from tether.loop import gate

        return gate(self, candidate, champion, settings)

    def feature_reach(self) -> timedelta:
        """The longest window of the project's feature definitions (0 without any): how far
        past a data incident its events still reach into features."""
        from tether.features import Aggregation, FeatureView

        windows = [
            timedelta(microseconds=feature.window_us)
            for view in self.views
            if isinstance(view, FeatureView)
            for feature in view.features
            if isinstance(feature, Aggregation)
        ]
        return max(windows, default=timedelta(0))

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
        from tether.monitoring import reference_profiler
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
        loop, loop_ran = self._loop_entries(model, versions)
        return dataclasses.replace(
            first,
            history=tuple(version_history(self.events, model, versions)),
            monitoring=self._monitor_entries(model, versions),
            aliases=self.events.latest_state(model),
            loop=loop,
            loop_ran=loop_ran,
        )

    def _loop_entries(self, model: str, versions: set[str]) -> tuple[tuple[LoopEntry, ...], bool]:
        """The loop's steps about ``versions`` of ``model``, oldest first, and whether the loop
        ever ran: read without creating the loop's tables where it never did."""
        from tether.lineage import LoopEntry
        from tether.loop import read_decisions

        found = read_decisions(self.store_url, model, versions)
        entries = tuple(
            LoopEntry(
                event_id=event.event_id, time=event.time.isoformat(), step=event.step,
                version=event.version, phase=event.phase, summary=event.summary(),
                evidence=dict(event.evidence),
            )
            for event in found or ()
        )  # fmt: skip
        return entries, found is not None

    def _monitor_entries(self, model: str, versions: set[str]) -> tuple[MonitorEntry, ...]:
        """What the latest monitor runs found for ``versions`` of ``model``, newest first."""
        from tether.lineage import MonitorEntry

        entries: list[MonitorEntry] = []
        for run in self.monitor_results.runs(model, limit=AUDITED_MONITOR_RUNS):
            report = run.report
            diagnosis = report.get("diagnosis") or {}
            groups = report.get("groups") or []
            start, end = (moment.strftime("%Y-%m-%d") for moment in (run.window_start,
                                                                      run.window_end))  # fmt: skip
            for group in groups if isinstance(groups, list) else []:
                if not isinstance(group, dict) or group.get("version") not in versions:
                    continue
                entries.append(MonitorEntry(
                    run_id=run.run_id, time=run.time.isoformat(), window=f"{start} to {end}",
                    version=str(group["version"]), role=str(group.get("role")),
                    drift=_said(group.get("drift"), "reason"),
                    performance=_said(group.get("rule"), "message"),
                    action=run.action, cause=str(_said(diagnosis, "cause")),
                    alerts=len(report.get("alerts") or []),  # type: ignore[arg-type]
                ))  # fmt: skip
        return tuple(entries)


def _said(found: object, key: str) -> str:
    """``found[key]`` as text when ``found`` is a mapping that has it, else ``-``."""
    if isinstance(found, dict) and found.get(key) is not None:
        return str(found[key])
    return "-"
