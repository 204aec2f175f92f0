"""What a project has trained and registered: its runs and its versions, one row each.

:func:`list_runs` reads the project's MLflow experiment (newest runs first) and joins each
run to the versions it registered; :func:`list_versions` reads the registered versions and
joins each to the aliases it holds now, as the event log (the authority) says, and to the
integrity state the log records for it. Both only read: nothing is downloaded or verified
(``tether models verify`` checks a version's files).

Integrity states: ``registered`` (the manifest digest was recorded when ``tether train``
registered it), ``trusted`` (a person recorded it with ``tether models verify --trust``),
``legacy`` (registered before manifests existed: it loads only once trusted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tether import _mlflow
from tether.config import Settings
from tether.registry._events import EventLog
from tether.registry._integrity import MANIFEST_ACTIONS, REGISTER, TRUST

GIT_COMMIT_TAG = "tether.git.commit"
GIT_DIRTY_TAG = "tether.git.dirty"


@dataclass(frozen=True)
class RunSummary:
    """One training run of the project, as ``tether runs list`` shows it."""

    run_id: str
    name: str
    status: str
    start_time: datetime
    versions: tuple[str, ...]
    """The versions of the project's model registered from this run (usually one)."""
    metrics: Mapping[str, float]
    params: Mapping[str, str]
    commit: str
    dirty: bool
    datasets: Mapping[str, str]
    """Each dataset the run read -> its digest (``sha256:...``)."""


@dataclass(frozen=True)
class VersionSummary:
    """One registered version of the project's model, as ``tether models versions`` shows it."""

    model: str
    version: str
    run_id: str
    created: datetime
    """When it was registered: its ``register`` event's time, on the project's clock (a
    replay's in a replay, as monitoring and the timeline place it); MLflow's creation time,
    the machine's, for a version registered outside tether."""
    aliases: tuple[str, ...]
    """The aliases it holds now, by the event log."""
    integrity: str
    """``registered``, ``trusted`` or ``legacy`` (see the module docstring)."""
    metrics: Mapping[str, float]


def list_runs(settings: Settings, limit: int) -> list[RunSummary]:
    """The newest ``limit`` runs of the project's experiment, newest first.

    Raises:
        TrackingError: the tracking store failed.
    """
    tracking = settings.stores.tracking_uri
    runs = _mlflow.search_runs(tracking, settings.name, limit)
    registered: dict[str, list[str]] = {}
    for info in _mlflow.model_versions(tracking, settings.model_name) if runs else ():
        registered.setdefault(info.run_id, []).append(info.version)
    return [
        RunSummary(
            run_id=run.run_id,
            name=run.name,
            status=run.status,
            start_time=run.start_time,
            versions=tuple(registered.get(run.run_id, ())),
            metrics=dict(run.metrics),
            params=dict(run.params),
            commit=run.tags.get(GIT_COMMIT_TAG, ""),
            dirty=run.tags.get(GIT_DIRTY_TAG, "false") == "true",
            datasets=dict(run.datasets),
        )
        for run in runs
    ]


def list_versions(settings: Settings, log: EventLog) -> list[VersionSummary]:
    """Every registered version of the project's model, oldest first.

    Raises:
        TrackingError: the tracking store failed.
    """
    tracking, model = settings.stores.tracking_uri, settings.model_name
    state = log.latest_state(model)
    integrity, registered = _from_events(log, model)
    summaries = []
    for info in _mlflow.model_versions(tracking, model):
        run = _mlflow.get_run(tracking, info.run_id)
        held = tuple(sorted(alias for alias, version in state.items() if version == info.version))
        summaries.append(
            VersionSummary(
                model=model,
                version=info.version,
                run_id=info.run_id,
                created=registered.get(info.version, info.created),
                aliases=held,
                integrity=integrity.get(info.version, "legacy"),
                metrics=dict(run.metrics),
            )
        )
    return summaries


def _from_events(log: EventLog, model: str) -> tuple[dict[str, str], dict[str, datetime]]:
    """Version -> ``registered`` or ``trusted``, by its latest manifest event; and version ->
    the time of its first ``register`` event."""
    states: dict[str, str] = {}
    registered: dict[str, datetime] = {}
    for event in log.events(model):
        version = str(event.details.get("version", ""))
        if event.action in MANIFEST_ACTIONS and event.details.get("manifest_sha256"):
            states[version] = "trusted" if event.action == TRUST else "registered"
        if event.action == REGISTER:
            registered.setdefault(version, event.time)
    return states, registered
