"""A month of history for the dashboard to show, written through tether's own store APIs.

:func:`write_history` takes a freshly opened project (the tiny feature project of
``tests/conftest.py``, as ``conftest.py``'s ``dashboard_project`` writes it) on a replay clock
at :data:`START`, trains it three times (versions 1, 2, 3) and deploys version 1 as champion
through the real registry, then writes a month of history straight into the project's stores,
on that clock (so nothing depends on wall time):

- 30 monitor runs (``MonitorResults.record_run``), one a day, each over the last 7 days (from
  the deploy at the earliest), window ends 2026-03-02 to 2026-03-31 at 00:00, with the points
  a real run stores (``monitoring/_monitor_report.py``, ``points``): realized precision and
  recall with intervals, the estimated precision, label completeness, the PSI of each feature
  and of the score, the drifted share, and quality findings; the alerts it raises;
- the registry's transitions (``project.aliases``, as the loop's ports make them): version 2
  as shadow, retired as shadow and deployed as challenger at 20%, promoted, rolled back;
- the loop's steps (``LoopStore.save`` and ``record``, as the controller writes them).

The story, by the day a run's window ends (``day k`` is 2026-03-01 + k days):

====== ===================================================================================
day    what happens
====== ===================================================================================
0      version 1 trained and deployed as champion
1-5    healthy; the loop waits
6      null flood in ``amount``: quality and diagnosis alerts, the loop holds
7      still broken: the loop keeps holding
8      the data is fixed: the loop resumes
9-13   ``mean_7d`` and ``ratio`` drift (flagged), precision declines
10     diagnosis retrain: the loop trains version 2, gates it, deploys it as a shadow
11-12  the shadow is compared (``shadowing``)
13     the shadow agrees: version 2 becomes the challenger at a 20% share
14-20  the experiment runs (``experimenting``); the report holds the experiment's evidence
21     the experiment decides promote: version 2 is champion, 1 is previous-champion
24     version 2's precision steps down: performance and diagnosis alerts, the loop rolls back
28     version 3 is trained by hand, registered, never deployed
====== ===================================================================================

The monitor stores no ``experiment`` series points (no code writes that kind): a challenger
run stores its own group's points under role ``challenger`` and the decision in its report's
``experiment``, as here.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from tether import Project, ReplayClock
from tether._storage import JSONValue
from tether.cli import main
from tether.loop import LoopState, LoopStore
from tether.monitoring import NewAlert, SeriesPoint, raise_alert

START = datetime(2026, 3, 1, tzinfo=UTC)
"""The replay clock's start: version 1 is trained and deployed then."""
DAYS = 30
"""Monitor runs, one a day; run ``k`` (1 to DAYS) has its window end at START + k days."""
WINDOW = timedelta(days=7)
LOOP_HOLDER = "dashboard-fixture:1"
LOOP_ACTOR = "tether-loop"
"""The registry's actor for the loop's transitions (``tether.loop``'s ports use this name)."""
CHALLENGER_SHARE = 0.2
ROUTINE_STEPS = frozenset({"wait"})
"""Loop steps left out of :attr:`DashboardProject.markers`: a tick that decided nothing."""
PREDICTIONS_PER_DAY = 500
DRIFTING = ("mean_7d", "ratio")
"""The features that drift from day 9 to day 13 (for version 1, the champion then)."""
QUALITY_DAYS = (6, 7)
METRIC_FLOOR = 0.85
"""``[monitoring] metric_floor`` of the project: the line the stored performance rules and
alerts use."""


@dataclass(frozen=True)
class Marker:
    """One registry event or loop step the fixture wrote: what a timeline should show."""

    source: Literal["registry", "loop"]
    id: int
    """The registry event's id, or the loop event's ``event_id``."""
    kind: str
    """The registry event's action, or the loop step."""
    time: datetime
    version: str

    @property
    def key(self) -> str:
        """The dashboard's name of it: ``registry-N`` or ``loop-N``."""
        return f"{self.source}-{self.id}"


@dataclass(frozen=True)
class AlertMarker:
    """One alert the fixture stored (a monitor run's, or the loop's with run id 0)."""

    id: int
    run_id: int
    kind: str
    name: str
    time: datetime

    @property
    def key(self) -> str:
        """The dashboard's name of it: ``alert-N``."""
        return f"alert-{self.id}"


@dataclass(frozen=True)
class DashboardProject:
    """A trained project whose stores hold a month of history (see the module docstring)."""

    directory: Path
    model: str
    versions: tuple[str, ...]
    """Every registered version, oldest first: ("1", "2", "3")."""
    champion: str
    """The champion at the end (version 1, after the rollback)."""
    aliases: Mapping[str, str]
    """The aliases at the end, from the event log."""
    features: tuple[str, ...]
    """The monitored features (version 1's reference profile), in profile order."""
    metric: str
    """``[monitoring] metric``: "precision"."""
    threshold: float
    """``[monitoring] metric_floor`` (0.85): the timeline's threshold line, below which the
    stored runs fire their performance rule and alert."""
    decision_threshold: float | None
    """The champion's decision threshold, as recorded with its run (0.4, the fixed rule)."""
    markers: tuple[Marker, ...]
    """The registry events and loop steps written, in the order written (so in time order;
    one loop tick's steps share its time), loop ``wait`` ticks left out."""
    alerts: tuple[AlertMarker, ...]
    """Every alert stored, in the order stored; the loop's (kind "loop") included, which the
    dashboard's timeline leaves out (the loop's own step is its marker)."""
    runs: tuple[int, ...]
    """The monitor runs' ids, oldest first."""
    window_ends: tuple[datetime, ...]
    """Each run's window end, oldest first (START + 1 day to START + DAYS days)."""
    audit: Mapping[str, Any]
    """``tether audit MODEL/CHAMPION --format json``, parsed."""
    clock_end: datetime
    """The replay clock's time after the last write."""
    trained_at: Mapping[str, datetime] = field(default_factory=dict)
    """Each version's training time on the replay clock."""


def write_history(project: Project, clock: ReplayClock) -> DashboardProject:
    """Play the month into ``project`` (opened on ``clock``, at :data:`START`); return what
    was written (``audit`` left empty: the fixture fills it from ``tether audit`` after closing
    the project)."""
    story = _Story(project, clock)
    story.play()
    return story.result(project.settings.project_dir)


class _Story:
    """Writes the month, day by day, keeping what a test checks against."""

    def __init__(self, project: Project, clock: ReplayClock) -> None:
        self.project = project
        self.clock = clock
        self.model = project.settings.model_name
        self.loop: LoopStore = project.loop_store
        self.state = LoopState(self.model, "idle", START)
        self.markers: list[Marker] = []
        self.alerts: list[AlertMarker] = []
        self.runs: list[int] = []
        self.ends: list[datetime] = []
        self.trained: dict[str, datetime] = {}
        self.features: tuple[str, ...] = ()
        self.seen_events = 0
        self.seen_loop = 0

    # -- the month ----------------------------------------------------------------------

    def play(self) -> None:
        self._train({})
        self.features = tuple(self.project.model_reference(self.model, "1").profile.features)
        self._at(START + timedelta(minutes=5))
        self.project.aliases.deploy("1", "champion", actor="ana", reason="first model")
        self._collect()
        for day in range(1, DAYS + 1):
            self._at(START + timedelta(days=day))
            self._monitor(day)
            self._at(START + timedelta(days=day, minutes=5))
            self._tick(day)
            if day == 28:
                self._at(START + timedelta(days=day, hours=9))
                self._train({"C": "3.0"})
            self._collect()

    def _tick(self, day: int) -> None:
        """What the loop did after day ``day``'s run (as ``tether.loop.Controller`` would)."""
        if day == 6:
            incident = [_iso(START + timedelta(days=5)), _iso(START + timedelta(days=6))]
            evidence: dict[str, JSONValue] = {"cause": "data_break", "incident": incident}
            self._loop_alert("hold", f"{self.model}: data incident, loop holding", evidence)
            span = (START + timedelta(days=5), START + timedelta(days=6))
            self._save(replace(self.state, phase="holding", since=self.clock.now(),
                               incidents=(span,)), "hold", evidence)  # fmt: skip
        elif day == 7:
            self._save(self.state, "holding", {"cause": "data_break"})
        elif day == 8:
            self._save(replace(self.state, phase="idle", since=self.clock.now()), "resume", {})
        elif day == 10:
            self._retrain()
        elif day in (11, 12):
            self._note("shadowing", {"pairs": 400 * (day - 10), "agreement": 0.96, "needed": 1000})
        elif day == 13:
            self._to_challenger()
        elif 14 <= day <= 20:
            self._note("experimenting", {"experiment": _experiment(day, "continue")})
        elif day == 21:
            self._promote()
        elif day == 24:
            self._rollback()
        else:
            self._note("wait", {"cause": "nothing_wrong", "diagnosis": {}}, version="")

    def _retrain(self) -> None:
        now = self.clock.now()
        window = {"start": _iso(now - timedelta(days=60)), "end": _iso(now)}
        detail: dict[str, JSONValue] = {"cause": "gradual_decline", "window": window,
                                        "tag": f"{self.model}:{_iso(now)}"}  # fmt: skip
        self._begin(replace(self.state, phase="training", since=now), "train", detail)
        trained = self._train({"C": "0.5"})
        self.state = replace(self.state, phase="gating", since=now, candidate=trained[0],
                             run_id=trained[1], last_retrain=now)  # fmt: skip
        self._done("train", {**detail, "run_id": trained[1], "version": trained[0]})
        gate: dict[str, JSONValue] = {"passed": True, "champion": "1", "metrics": {},
                                      "reason": "precision 0.91 against 0.84 on the held-out "
                                      "frame (at least the champion's)"}  # fmt: skip
        self._begin(self.state, "deploy_shadow", gate)
        self.project.aliases.deploy("2", "shadow", actor=LOOP_ACTOR, reason="loop: gate passed")
        self.state = replace(self.state, phase="shadow", since=now)
        self._done("deploy_shadow", gate)

    def _to_challenger(self) -> None:
        evidence: dict[str, JSONValue] = {"pairs": 1200, "agreement": 0.95, "needed": 1000,
                                          "share": CHALLENGER_SHARE}  # fmt: skip
        self._begin(self.state, "deploy_challenger", evidence)
        aliases = self.project.aliases
        aliases.retire("2", actor=LOOP_ACTOR, reason="loop: shadow passed")
        aliases.deploy("2", "challenger", actor=LOOP_ACTOR, reason="loop: shadow passed",
                       traffic=CHALLENGER_SHARE)  # fmt: skip
        self.state = replace(self.state, phase="challenger", since=self.clock.now())
        self._done("deploy_challenger", evidence)

    def _promote(self) -> None:
        evidence = _experiment(21, "promote")
        detail: dict[str, JSONValue] = {"experiment": evidence}
        self._begin(self.state, "promote", detail)
        reason = "loop: the sequential test decided promote"
        self.project.aliases.promote(actor=LOOP_ACTOR, reason=reason, evidence=evidence)
        self._loop_alert("promote", f"{self.model}: version 2 promoted to champion", detail)
        self.state = replace(self.state, phase="idle", since=self.clock.now(), candidate="",
                             run_id="")  # fmt: skip
        self._done("promote", detail, version="2")

    def _rollback(self) -> None:
        detail: dict[str, JSONValue] = {"cause": "step_after_deploy", "champion": "2",
                                        "diagnosis": {"action": "rollback"}}  # fmt: skip
        self._begin(self.state, "rollback", detail, version="2")
        self.project.aliases.rollback(actor=LOOP_ACTOR, reason="loop: step_after_deploy")
        self._loop_alert("rollback", f"{self.model}: rolled back", detail)
        self.state = replace(self.state, phase="idle", since=self.clock.now())
        self._done("rollback", detail, version="2")

    # -- the monitor's runs ---------------------------------------------------------------

    def _monitor(self, day: int) -> None:
        end = self.clock.now()
        start = max(START, end - WINDOW)
        # Version 2 is promoted after day 21's run and rolled back after day 24's.
        groups = [("2" if 22 <= day <= 24 else "1", "champion")]
        if 11 <= day <= 13:
            groups.append(("2", "shadow"))
        if 14 <= day <= 21:
            groups.append(("2", "challenger"))
        points: list[SeriesPoint] = []
        reports: list[dict[str, JSONValue]] = []
        for version, role in groups:
            group_points, group_report = _group(day, version, role, self.features, (start, end))
            points += group_points
            reports.append(group_report)
        action, cause = _diagnosis(day)
        alerts = _alerts(day, groups, action, cause)
        experiment: JSONValue = None
        if 14 <= day <= 21:
            decision = "promote" if day == 21 else "continue"
            experiment = {"action": decision, "reason": f"experiment: {decision} on day {day}",
                          "evidence": _experiment(day, decision)}  # fmt: skip
        report: dict[str, JSONValue] = {
            "model": self.model, "run_id": 0, "window": [_iso(start), _iso(end)],
            "groups": reports, "days": [],
            "diagnosis": {"model": self.model, "action": action, "cause": cause,
                          "reasons": [f"day {day}: {cause}"], "evidence": {}},
            "experiment": experiment,
            # ShadowComparison.to_dict's shape (disagreements left out: the pages do not show them).
            "shadows": {"2": {"pairs": 400 * (day - 10), "unpaired": 0,
                              "agreement": {"rate": 0.96, "interval": [0.94, 0.975],
                                            "both_flagged": 30, "champion_only": 2,
                                            "shadow_only": 3, "neither": 365}}}
            if 11 <= day <= 13 else {},
            "alerts": [{"kind": a.kind, "name": a.name, "message": a.message} for a in alerts],
        }  # fmt: skip
        run, stored = self.project.monitor_results.record_run(
            model=self.model, window=(start, end), time=end, wall_time=end, action=action,
            report=report, points=points, alerts=alerts, delivery="none",
        )  # fmt: skip
        self.runs.append(run.run_id)
        self.ends.append(end)
        self.alerts += [AlertMarker(a.alert_id, a.run_id, a.kind, a.name, a.time) for a in stored]

    # -- writing through the stores -------------------------------------------------------

    def _train(self, params: dict[str, str]) -> tuple[str, str]:
        result = self.project.train(params)
        self.trained[result.model_version] = self.clock.now()
        return result.model_version, result.run_id

    def _at(self, when: datetime) -> None:
        self.clock.set(when)

    def _begin(
        self, state: LoopState, intent: str, detail: Mapping[str, JSONValue], *, version: str = ""
    ) -> None:
        """The controller's ``_begin``: the intent saved before its side effect."""
        begun = replace(state, intent=intent, intent_detail=dict(detail))
        self._collect()
        self.state = self.loop.save(begun, step=intent, time=self.clock.now(),
                                    holder=LOOP_HOLDER, evidence={},
                                    version=version or state.candidate)  # fmt: skip
        self._collect()

    def _done(self, intent: str, detail: Mapping[str, JSONValue], *, version: str = "") -> None:
        """The controller's ``_finish``: the result saved, its intent cleared."""
        cleared = replace(self.state, intent="", intent_detail={})
        self._collect()
        self.state = self.loop.save(cleared, step=f"{intent}_done", time=self.clock.now(),
                                    holder=LOOP_HOLDER, evidence=detail,
                                    version=version or cleared.candidate)  # fmt: skip
        self._collect()

    def _save(self, state: LoopState, step: str, evidence: Mapping[str, JSONValue]) -> None:
        self._collect()
        self.state = self.loop.save(state, step=step, time=self.clock.now(), holder=LOOP_HOLDER,
                                    evidence=evidence)  # fmt: skip
        self._collect()

    def _note(self, step: str, evidence: Mapping[str, JSONValue], *, version: str = "") -> None:
        self._collect()
        self.loop.record(self.model, step=step, phase=self.state.phase, time=self.clock.now(),
                         holder=LOOP_HOLDER, evidence=evidence,
                         version=version or self.state.candidate)  # fmt: skip
        self._collect()

    def _loop_alert(self, step: str, message: str, evidence: Mapping[str, JSONValue]) -> None:
        alert = NewAlert("loop", step, message, dict(evidence))
        stored = raise_alert(self.project.monitor_results, None, self.model, alert,
                             time=self.clock.now())  # fmt: skip
        self.alerts.append(AlertMarker(stored.alert_id, stored.run_id, stored.kind, stored.name,
                                       stored.time))  # fmt: skip

    def _collect(self) -> None:
        """Turn what the event log and the loop store gained since the last call into markers
        (called before and after each loop write, so markers keep the order of the writes)."""
        for event in self.project.events.events(self.model, since_id=self.seen_events):
            version = str(event.details.get("version", ""))
            self.markers.append(Marker("registry", event.id, event.action, event.time, version))
            self.seen_events = event.id
        for step in reversed(self.loop.history(self.model, limit=1000)):
            if step.event_id <= self.seen_loop:
                continue
            self.seen_loop = step.event_id
            if step.step not in ROUTINE_STEPS:
                self.markers.append(Marker("loop", step.event_id, step.step, step.time,
                                           step.version))  # fmt: skip

    def result(self, root: Path) -> DashboardProject:
        self._collect()
        aliases = self.project.events.latest_state(self.model)
        reference = self.project.model_reference(self.model, aliases["champion"])
        return DashboardProject(
            directory=root, model=self.model, versions=tuple(sorted(self.trained, key=int)),
            champion=aliases["champion"], aliases=aliases, features=self.features,
            metric=self.project.settings.monitoring.metric,
            threshold=self.project.settings.monitoring.metric_floor,
            decision_threshold=reference.threshold,
            markers=tuple(self.markers),
            alerts=tuple(self.alerts), runs=tuple(self.runs), window_ends=tuple(self.ends),
            audit={}, clock_end=self.clock.now(), trained_at=dict(self.trained),
        )  # fmt: skip


# -- the numbers of each day ---------------------------------------------------------------


def _precision(day: int, version: str, role: str) -> float:
    """Version 1 declines from day 9 with the drift, version 2 is better until it breaks on
    day 24 (as champion), and version 1 is back at 0.86 after the rollback; a daily wobble."""
    wobble = 0.01 * math.sin(day)
    if version == "2":
        return (0.72 if role == "champion" and day >= 24 else 0.91) + wobble
    if day < 9:
        return 0.90 + wobble
    if day > 24:
        return 0.86 + wobble
    return max(0.83, 0.90 - 0.012 * (day - 8)) + wobble


def _interval(value: float, n: int) -> tuple[float, float]:
    """A normal-approximation 95% interval of a proportion: enough for a chart's band."""
    half = 1.96 * math.sqrt(value * (1 - value) / n)
    return max(0.0, value - half), min(1.0, value + half)


def _metric(kind: str, name: str, value: float, n: int, version: str, role: str) -> SeriesPoint:
    low, high = _interval(value, n)
    return SeriesPoint(version, kind, name, value, n, role=role, lower=low, upper=high)


def _group(
    day: int,
    version: str,
    role: str,
    features: Sequence[str],
    window: tuple[datetime, datetime],
) -> tuple[list[SeriesPoint], dict[str, JSONValue]]:
    """One group's points and its report (the shape of ``GroupReport.to_dict``)."""
    days_open = (window[1] - window[0]).days
    share = CHALLENGER_SHARE if role == "challenger" else 1.0
    predictions = int(PREDICTIONS_PER_DAY * days_open * share)
    completeness = 0.55 + 0.3 * (days_open / 7)
    labelled = int(predictions * completeness)
    precision = _precision(day, version, role)
    recall = precision - 0.08
    estimate = precision + 0.01
    points = [
        SeriesPoint(version, "labels", "completeness", completeness, predictions, role=role),
        _metric("performance", "precision", precision, labelled, version, role),
        _metric("performance", "recall", recall, labelled, version, role),
        _metric("estimate", "precision", estimate, predictions, version, role),
    ]
    drifted: list[str] = []
    feature_reports: list[JSONValue] = []
    for index, name in enumerate(features):
        flagged = version == "1" and (
            (9 <= day <= 13 and name in DRIFTING) or (day in QUALITY_DAYS and name == "amount")
        )
        psi = 0.28 + 0.02 * (day - 9) if flagged else 0.02 + 0.005 * ((day + index) % 5)
        p_value = 1e-6 if flagged else 0.4 + 0.1 * ((day + index) % 5)
        detail: dict[str, JSONValue] = {"p_value": p_value, "effect": psi / 2, "test": "ks"}
        points.append(SeriesPoint(version, "drift", name, psi, predictions, role=role,
                                  flagged=flagged, detail=detail))  # fmt: skip
        drifted += [name] if flagged else []
        # The bins as FeatureDrift.to_dict writes them: the reference's quantile edges and a
        # missing-value bin; a drifted feature's current rows pile into the top bin.
        current = (0.1, 0.15, 0.15, 0.2, 0.4, 0.0) if flagged else (0.2, 0.2, 0.2, 0.2, 0.2, 0.0)
        feature_reports.append({"name": name, "kind": "numeric", "psi": psi, "test": "ks",
                                "p_value": p_value, "drifted": flagged,
                                "reason": "drifted" if flagged else "stable",
                                "bins": ["(-inf, 10)", "[10, 20)", "[20, 40)", "[40, 80)",
                                         "[80, inf)", "missing"],
                                "reference_shares": [0.2, 0.2, 0.2, 0.2, 0.2, 0.0],
                                "current_shares": list(current)})  # fmt: skip
    drifted_share = len(drifted) / len(features)
    points += [
        SeriesPoint(version, "drift", "score", 0.03, predictions, role=role),
        SeriesPoint(version, "drift_share", "features", drifted_share, predictions, role=role,
                    flagged=drifted_share > 0.1),
    ]  # fmt: skip
    quality: list[JSONValue] = []
    if version == "1" and day in QUALITY_DAYS:
        points.append(SeriesPoint(version, "quality", "null_rate:amount", 1.0, predictions,
                                  role=role, flagged=True))  # fmt: skip
        quality.append(
            {
                "check": "null_rate",
                "feature": "amount",
                "value": 0.42,
                "reference": 0.0,
                "message": "42% of amount missing (reference 0%)",
            }
        )
    fired = role == "champion" and precision < METRIC_FLOOR
    report: dict[str, JSONValue] = {
        "version": version, "role": role, "predictions": predictions,
        "labels": {"predictions": predictions, "labelled": labelled,
                   "label_completeness": completeness},
        "matured_window": [_iso(window[0]), _iso(window[1] - timedelta(days=2))],
        "drift": {"dataset_drift": drifted_share > 0.1, "drifted": drifted,
                  "drifted_share": drifted_share,
                  "reason": f"{len(drifted)} of {len(features)} features drifted",
                  "reference_rows": 120, "current_rows": predictions,
                  "features": feature_reports, "multivariate": None,
                  "score": {"name": "score", "kind": "numeric", "psi": 0.03, "test": "ks",
                            "p_value": 0.5, "drifted": False, "reason": "stable",
                            "bins": ["(-inf, 0.2)", "[0.2, 0.5)", "[0.5, inf)", "missing"],
                            "reference_shares": [0.6, 0.3, 0.1, 0.0],
                            "current_shares": [0.58, 0.31, 0.11, 0.0]}},
        "quality": quality,
        "realized": {"precision": _said(precision, labelled), "recall": _said(recall, labelled),
                     "f1": None, "roc_auc": None},
        "business": {},
        "rule": {"state": "fired" if fired else "ok",
                 "message": f"precision {precision:.3f} " + ("below" if fired else "at or above")
                 + f" {METRIC_FLOOR}"},
        "estimated": {"precision": _said(estimate, predictions), "recall": None, "f1": None,
                      "roc_auc": None},
        "matured_estimate": None, "gaps": [], "missing": "",
    }  # fmt: skip
    return points, report


def _said(value: float, n: int) -> dict[str, JSONValue]:
    low, high = _interval(value, n)
    return {"value": value, "low": low, "high": high, "n": n}


def _diagnosis(day: int) -> tuple[str, str]:
    """The run's diagnosis (action, cause): what made the loop act on that day."""
    return {6: ("fix_data", "data_break"), 7: ("fix_data", "data_break"),
            10: ("retrain", "gradual_decline"),
            24: ("rollback", "step_after_deploy")}.get(day, ("wait", "nothing_wrong"))  # fmt: skip


def _alerts(day: int, groups: Sequence[tuple[str, str]], action: str, cause: str) -> list[NewAlert]:
    """The run's alerts, as ``monitoring/_monitor_report.py``'s ``alerts`` words them."""
    found: list[NewAlert] = []
    for version, role in groups:
        where = f"version {version} ({role})"
        if version == "1" and day in QUALITY_DAYS:
            found.append(
                NewAlert(
                    "quality",
                    "amount",
                    f"{where}: 42% of amount missing",
                    {"check": "null_rate", "feature": "amount", "value": 0.42},
                )
            )
        if version == "1" and 9 <= day <= 13:
            found.append(NewAlert("drift", "dataset", f"{where}: 2 of 4 features drifted",
                                  {"drifted": list(DRIFTING)}))  # fmt: skip
        precision = _precision(day, version, role)
        if role == "champion" and precision < METRIC_FLOOR:
            message = f"{where}: precision {precision:.3f} below {METRIC_FLOOR}"
            found.append(NewAlert("performance", "precision", message))
    if day == 21:
        found.append(NewAlert("experiment", "promote", "experiment: promote (challenger won)"))
    if action != "wait":
        found.append(NewAlert("diagnosis", action, f"diagnosis: {action} ({cause})",
                              {"reasons": [f"day {day}: {cause}"]}))  # fmt: skip
    return found


def _experiment(day: int, action: str) -> dict[str, JSONValue]:
    """The experiment's evidence on ``day`` (a subset of ``ExperimentDecision.evidence``)."""
    look = day - 13
    n_challenger = int(PREDICTIONS_PER_DAY * CHALLENGER_SHARE * look)
    p_value = max(0.01, 0.9 - 0.12 * look)
    return {
        "metric": "precision", "higher_is_better": True, "day": look, "look": look,
        "looks": look, "n_champion": n_challenger * 4, "n_challenger": n_challenger,
        "champion": _precision(day, "1", "champion"),
        "challenger": _precision(day, "2", "challenger"),
        "lift": _precision(day, "2", "challenger") - _precision(day, "1", "champion"),
        "always_valid_p": p_value, "rule": action, "alpha": 0.05,
        "confidence_sequence": [0.08 - 0.3 / look, 0.08 + 0.3 / look],
        # The other metrics, business and model, as ExperimentDecision gives them.
        "metrics": {
            "net_value": {"champion": 1.5, "challenger": 2.25, "difference": 0.75,
                          "interval": [0.25, 1.25], "n_champion": n_challenger * 4,
                          "n_challenger": n_challenger},
            "recall": {"champion": 0.7, "challenger": 0.72, "difference": 0.02,
                       "interval": [-0.01, 0.05], "n_champion": n_challenger * 4,
                       "n_challenger": n_challenger},
        },
    }  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """Run ``tether ARGS...`` in-process (tests/cli's ``run_cli``, without ``capsys``, which a
    module's fixture cannot use); return its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as exited,
    ):
        main(args)
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out.getvalue(), err.getvalue()
