"""What each dashboard page shows, read from tether's stores: nothing here computes a statistic.

Every number comes from where monitoring, the registry and the loop stored it: the monitor's
series and runs (:class:`~tether.monitoring.MonitorResults`), the registry's event log, the
loop's events and state, MLflow's record of a run (through :meth:`Project.audit`). A view is a
frozen dataclass a template renders as text and :mod:`._plots` turns into a figure.

A marker on the timeline is a stored change of state: a registry transition, a step of the
loop other than ``wait`` (the ticks that decided nothing), or a monitoring alert other than
the loop's own (kind ``loop``: they repeat a loop step, which is already a marker).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from tether._storage import JSONValue
from tether.config import MONITORED_METRICS
from tether.errors import DashboardError, TetherError, TrackingNotFoundError
from tether.lineage import Section
from tether.loop import LOOP_ALERT_KIND, LoopState
from tether.monitoring import StoredPoint
from tether.project import Project
from tether.registry import (
    CHALLENGER,
    CHAMPION,
    SHADOW_PREFIX,
    ModelAliases,
    VersionSummary,
    list_versions,
)

STORE_PROBLEM = "the tracking store could not be read; the server's log says why"
"""What a page says of a store that failed (its location is the operator's business)."""
SCORE_SERIES = "score"
"""The name of the score's drift among the drift series (``monitoring/_monitor_report.py``)."""
_LOGGER = logging.getLogger("tether.dashboard")
WAIT_STEP = "wait"
"""The loop's step that changes nothing: not a marker."""
MARKER_LIMIT = 5_000
"""Markers read per source: a year of daily ticks raises some 3,000 alerts."""


@dataclass(frozen=True)
class ModelCard:
    """A model on the models page: its versions, who serves, since when, and the loop."""

    model: str
    aliases: Mapping[str, str]
    since: Mapping[str, datetime]
    """Alias -> when it was given its current version."""
    challenger_share: float
    versions: tuple[VersionSummary, ...]
    loop: LoopState | None
    problem: str = ""
    """Why the versions could not be listed (the tracking store failed), if they could not."""

    @property
    def shadows(self) -> list[str]:
        """The versions deployed as shadows."""
        return sorted(v for a, v in self.aliases.items() if a.startswith(SHADOW_PREFIX))


@dataclass(frozen=True)
class MetricPoint:
    """A metric of one window of one serving role, with its interval."""

    start: datetime
    end: datetime
    version: str
    role: str
    value: float | None
    lower: float | None
    upper: float | None
    n: int


@dataclass(frozen=True)
class Marker:
    """A stored change of state, placed on the timeline."""

    key: str
    """``SOURCE-ID``: ``registry-12``, ``loop-40``, ``alert-7``; the event page's address."""
    time: datetime
    source: str
    kind: str
    title: str
    summary: str
    evidence: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Timeline:
    """One model's chosen metric per window, realized and estimated, and its markers."""

    model: str
    metric: str
    threshold: float | None
    share: bool
    """Whether the metric is a share in [0, 1] (a model metric), not money (a business one)."""
    realized: tuple[MetricPoint, ...]
    estimated: tuple[MetricPoint, ...]
    completeness: tuple[MetricPoint, ...]
    markers: tuple[Marker, ...]


@dataclass(frozen=True)
class DriftCell:
    """One feature in one window: its PSI, its test's p-value, and whether it drifted."""

    psi: float | None
    p_value: float | None
    test: str
    flagged: bool
    rows: int
    version: str = ""


@dataclass(frozen=True)
class DriftGrid:
    """The champion's features x windows: PSI with the test on hover, drifted cells marked."""

    model: str
    windows: tuple[datetime, ...]
    features: tuple[str, ...]
    cells: Mapping[tuple[str, datetime], DriftCell]

    def latest(self, feature: str) -> DriftCell | None:
        """``feature``'s cell in the latest window, if it was measured there."""
        return self.cells.get((feature, self.windows[-1])) if self.windows else None

    def drifted_windows(self, feature: str) -> int:
        """In how many windows ``feature`` was judged drifted."""
        return sum(1 for w in self.windows if (c := self.cells.get((feature, w))) and c.flagged)


@dataclass(frozen=True)
class FeatureBins:
    """One feature's reference and current shares per bin, from the latest monitor run."""

    model: str
    feature: str
    version: str
    window: tuple[datetime, datetime]
    bins: tuple[str, ...]
    reference: tuple[float | None, ...]
    current: tuple[float | None, ...]
    reason: str


@dataclass(frozen=True)
class ExperimentLook:
    """One monitor run's look at a champion-challenger experiment."""

    time: datetime
    action: str
    reason: str
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class ShadowLook:
    """One monitor run's comparison of a shadow with the champion."""

    time: datetime
    version: str
    pairs: int
    agreement: float | None
    interval: tuple[float | None, float | None]


@dataclass(frozen=True)
class Experiments:
    """Every look the monitor took at experiments and shadows, oldest first."""

    model: str
    looks: tuple[ExperimentLook, ...]
    shadows: tuple[ShadowLook, ...]


@dataclass(frozen=True)
class Lineage:
    """A version's audit, as titled tables, with its run in the MLflow UI when there is one."""

    model: str
    version: str
    run_id: str
    sections: tuple[Section, ...]
    mlflow_url: str
    audit: Mapping[str, Any]


def model_names(project: Project) -> list[str]:
    """Every model the event log knows, and the project's own (even before its first event)."""
    return sorted({project.settings.model_name, *(e.model for e in project.events.events())})


def require_model(project: Project, model: str) -> None:
    """Raise ``DashboardError`` unless ``model`` is one :func:`model_names` lists."""
    names = model_names(project)
    if model not in names:
        raise DashboardError(
            f"There is no model {model!r} in this project: expected one of {', '.join(names)}."
        )


def models(project: Project) -> list[ModelCard]:
    """Each model's card (see :func:`model_names`)."""
    return [model_card(project, name) for name in model_names(project)]


def model_card(project: Project, model: str) -> ModelCard:
    """One model's card."""
    status = ModelAliases(project.events, project.tracking_uri, model).status()
    since: dict[str, datetime] = {}
    for event in project.events.events(model):
        for alias, version in event.after.items():
            if event.before.get(alias) != version:
                since[alias] = event.time
    versions: tuple[VersionSummary, ...] = ()
    problem = ""
    if model == project.settings.model_name:
        try:
            versions = tuple(list_versions(project.settings, project.events))
        except TetherError as exc:  # the tracking store is down: the rest still shows
            # Its message names where the store is: the log has it, the page only says so.
            _LOGGER.warning("the models page could not list the versions: %s", exc)
            problem = STORE_PROBLEM
    loop = {s.model: s for s in project.loop_store.states()}.get(model)
    return ModelCard(model, dict(status.aliases), since, status.challenger_share, versions,
                     loop, problem)  # fmt: skip


def timeline(project: Project, model: str, metric: str | None = None) -> Timeline:
    """``model``'s metric (``[monitoring] metric`` by default) and every marker."""
    settings = project.settings.monitoring
    chosen = metric or settings.metric
    known = sorted({*MONITORED_METRICS, *settings.business, settings.metric})
    if chosen not in known:
        raise DashboardError(
            f"metric {chosen!r}: expected one of {', '.join(known)} (the monitor's metrics and "
            "the project's [monitoring.business] ones)."
        )
    results = project.monitor_results
    return Timeline(
        model=model,
        metric=chosen,
        # The floor is the configured metric's: another metric has no line to cross.
        threshold=settings.metric_floor if chosen == settings.metric else None,
        share=chosen in MONITORED_METRICS,
        realized=_metric_points(results.series(model, "performance", chosen)),
        estimated=_metric_points(results.series(model, "estimate", chosen)),
        completeness=_metric_points(results.series(model, "labels", "completeness")),
        markers=tuple(sorted(markers(project, model), key=lambda m: (m.time, m.key))),
    )


def markers(project: Project, model: str) -> list[Marker]:
    """Every stored change of state of ``model`` (see the module docstring)."""
    found = [
        Marker(f"registry-{e.id}", e.time, "registry", e.action,
               f"{e.action} by {e.actor}", e.reason,
               {"before": dict(e.before), "after": dict(e.after), **dict(e.details)})
        for e in project.events.events(model)
    ]  # fmt: skip
    found += [
        Marker(f"loop-{e.event_id}", e.time, "loop", e.step,
               f"loop: {e.step}" + (f" (version {e.version})" if e.version else ""),
               e.summary(), {"phase": e.phase, **dict(e.evidence)})
        for e in project.loop_store.history(model, limit=MARKER_LIMIT)
        if e.step != WAIT_STEP
    ]  # fmt: skip
    found += [
        Marker(f"alert-{a.alert_id}", a.time, "alert", a.kind, f"alert: {a.kind} {a.name}",
               a.message, dict(a.evidence))
        for a in project.monitor_results.alerts(model, limit=MARKER_LIMIT)
        if a.kind != LOOP_ALERT_KIND
    ]  # fmt: skip
    return found


def marker(project: Project, model: str, key: str) -> Marker:
    """The marker ``key`` of ``model``.

    Raises:
        DashboardError: there is no such marker.
    """
    for found in markers(project, model):
        if found.key == key:
            return found
    raise DashboardError(
        f"There is no event {key!r} of model {model!r}: expected registry-N, loop-N or "
        "alert-N, as the timeline links them."
    )


def drift(project: Project, model: str) -> DriftGrid:
    """The champion's per-feature PSI in every stored window."""
    cells: dict[tuple[str, datetime], DriftCell] = {}
    for stored in project.monitor_results.series(model, "drift"):
        point = stored.point
        if point.role != CHAMPION or point.cohort:
            continue
        key = (point.name, stored.window_end)
        found = cells.get(key)
        # A window with a promotion has two champions; the one that served more rows stands.
        if found is not None and found.rows >= point.n:
            continue
        detail = point.detail
        cells[key] = DriftCell(_finite(point.value), _finite(detail.get("p_value")),
                               str(detail.get("test") or ""), point.flagged, point.n,
                               point.version)  # fmt: skip
    windows = tuple(sorted({end for _, end in cells}))
    features = tuple(sorted({name for name, _ in cells}))
    return DriftGrid(model, windows, features, cells)


def feature_bins(project: Project, model: str, feature: str) -> FeatureBins:
    """``feature``'s distributions in the latest monitor run of ``model``'s champion.

    Raises:
        DashboardError: no stored run has the feature's drift.
    """
    for run in project.monitor_results.runs(model, limit=1):
        champions = [g for g in _list(run.report.get("groups"))
                     if isinstance(g, dict) and g.get("role") == CHAMPION]  # fmt: skip
        # The heatmap's rule: in a window with a promotion, the champion with more rows.
        champions.sort(key=lambda g: -int(g.get("predictions") or 0))
        for group in champions:
            found = _feature_drift(group.get("drift"), feature)
            if found is not None:
                return FeatureBins(
                    model, feature, str(group.get("version")),
                    (run.window_start, run.window_end),
                    tuple(str(b) for b in _list(found.get("bins"))),
                    _floats(found.get("reference_shares")),
                    _floats(found.get("current_shares")),
                    str(found.get("reason", "")),
                )  # fmt: skip
    raise DashboardError(
        f"The latest monitor run of {model!r} has no drift of feature {feature!r}: expected a "
        "feature of the drift page's heatmap."
    )


def _feature_drift(report: object, feature: str) -> dict[str, Any] | None:
    """``feature``'s entry in a stored drift report; the score's drift is stored beside the
    features', and its series is named "score" whatever the score's column is called."""
    if not isinstance(report, dict):
        return None
    for found in _list(report.get("features")):
        if isinstance(found, dict) and found.get("name") == feature:
            return found
    score = report.get("score")
    return score if feature == SCORE_SERIES and isinstance(score, dict) else None


def experiments(project: Project, model: str, *, limit: int = 1_000) -> Experiments:
    """The experiment decisions and shadow comparisons of ``model``'s monitor runs."""
    looks: list[ExperimentLook] = []
    shadows: list[ShadowLook] = []
    for run in reversed(project.monitor_results.runs(model, limit=limit)):
        found = run.report.get("experiment")
        if isinstance(found, dict):
            evidence = _without_nan(found.get("evidence"))
            evidence = evidence if isinstance(evidence, dict) else {}
            looks.append(ExperimentLook(run.time, str(found.get("action", "")),
                                        str(found.get("reason", "")), evidence))  # fmt: skip
        compared = run.report.get("shadows")
        for version, shadow in compared.items() if isinstance(compared, dict) else ():
            if not isinstance(shadow, dict):
                continue
            agreement = shadow.get("agreement")
            rate = agreement.get("rate") if isinstance(agreement, dict) else None
            low, high = _pair(agreement.get("interval") if isinstance(agreement, dict) else None)
            shadows.append(ShadowLook(run.time, str(version), int(shadow.get("pairs") or 0),
                                      _finite(rate), (low, high)))  # fmt: skip
    return Experiments(model, tuple(looks), tuple(shadows))


def lineage(project: Project, model: str, version: str) -> Lineage:
    """The audit of ``model``'s ``version``.

    Raises:
        DashboardError: the version is not registered.
        TetherError: its record cannot be read.
    """
    if not version.isdigit():
        raise DashboardError(
            f"version {version!r}: expected a version number, as the models page lists them."
        )
    try:
        report = project.audit(f"{model}/{version}")
    except TrackingNotFoundError as exc:
        raise DashboardError(
            f"There is no registered version {version!r} of model {model!r}: expected one of "
            "the versions the models page lists."
        ) from exc
    run = report.run
    url = mlflow_run_url(project.tracking_uri, run.experiment_id, run.run_id)
    return Lineage(model, version, run.run_id, tuple(report.sections()), url, report.to_dict())


def mlflow_run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI of a tracking server; empty for a local store (no UI
    runs there). A user and password in the URI are left out: the page shows the link."""
    parts = urlsplit(tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.netloc.rpartition("@")[2]  # brackets of an IPv6 host kept
    base = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return f"{base}/#/experiments/{quote(experiment_id)}/runs/{quote(run_id)}"


def _metric_points(stored: Sequence[StoredPoint]) -> tuple[MetricPoint, ...]:
    return tuple(
        MetricPoint(s.window_start, s.window_end, s.point.version, s.point.role,
                    _finite(s.point.value), _finite(s.point.lower), _finite(s.point.upper),
                    s.point.n)
        for s in stored
        if not s.point.cohort and s.point.role in (CHAMPION, CHALLENGER)
    )  # fmt: skip


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _without_nan(value: object) -> object:
    """``value`` with every non-finite number as None: stored evidence may hold NaN (a
    p-value before any row), which JSON for a page cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nan(item) for item in value]
    return value


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _floats(value: object) -> tuple[float | None, ...]:
    return tuple(_finite(v) for v in _list(value))


def _pair(value: object) -> tuple[float | None, float | None]:
    found = _list(value)
    return (_finite(found[0]), _finite(found[1])) if len(found) == 2 else (None, None)
