"""The loop's ports over a real :class:`~tether.project.Project`: its monitor, its training, its
gate and its registry. Nothing here decides; it translates between the controller's small
types and the packages that do the work.

**Training exactly once.** A training's run carries the intent's tag (``tether.loop.intent``)
from its first moment, so a tick resumed after a crash finds the run an earlier tick finished
(:meth:`ProjectPorts.find_trained`) instead of training again; a run that died before it
registered a version is not found, and the training is done once more (an unfinished run
registered nothing, so nothing is doubled).

**A data incident.** ``diagnose`` says ``fix_data`` for as long as a breaking quality finding is
in its 28 days of evidence: rightly, for a person, since the broken days are still in the data.
The loop excludes those days (and their reach into windowed features) from every training
window, so it reads the diagnosis's second opinion (``without_data_break``: the verdict of the
other rules) once the newest day passes the quality checks again: that is when the loop resumes.

**Alerts.** A rollback, a hold, a promotion or a discard is an alert row of kind ``loop`` in
monitoring's alert table, logged and POSTed to ``[monitoring] webhook_url`` by monitoring's own
sender (:func:`tether.monitoring.raise_alert`), its delivery written back to the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from tether import _mlflow
from tether._storage import JSONValue
from tether.loop._gate import GateSettings
from tether.loop._ports import ExperimentAction, GateVerdict, Observation, ShadowSeen, Trained
from tether.registry import CHAMPION

if TYPE_CHECKING:
    from tether.monitoring import DiagnosisAction, ModelReport

INTENT_TAG = "tether.loop.intent"
"""The run tag that ties a training to the loop intent that started it."""
RUNS_SEARCHED = 200
"""How many of the newest runs a resumed tick looks through for its interrupted training."""


class ProjectLike(Protocol):
    """What the loop's ports use of a :class:`tether.project.Project` (which is to the right
    of ``loop`` in the order of packages, so it is named by its shape, not imported)."""

    @property
    def settings(self) -> Any: ...
    @property
    def tracking_uri(self) -> str: ...
    @property
    def events(self) -> Any: ...
    @property
    def clock(self) -> Any: ...
    @property
    def monitor_results(self) -> Any: ...
    @property
    def alert_sender(self) -> Any: ...
    @property
    def aliases(self) -> Any: ...
    def monitor(self) -> Any: ...
    def window_supported(self) -> bool: ...
    def feature_reach(self) -> timedelta: ...
    def train(self, *, window: Any, tags: Mapping[str, str]) -> Any: ...
    def gate(self, candidate: str, champion: str, settings: GateSettings) -> Any: ...


class ProjectPorts:
    """:class:`~tether.loop.LoopPorts` over one project."""

    def __init__(self, project: ProjectLike) -> None:
        self.project = project

    def models(self) -> Sequence[str]:
        model = self.project.settings.model_name
        return [model] if CHAMPION in self.project.events.latest_state(model) else []

    def monitor(self, model: str) -> Observation:
        return observation(self.project.monitor().run(model))

    def window_supported(self) -> bool:
        return self.project.window_supported()

    def choose_window(
        self, now: datetime, *, days: int, incidents: Sequence[tuple[datetime, datetime]]
    ) -> Mapping[str, str]:
        from tether.lineage import choose_window

        window = choose_window(
            now, days=days,
            outcome_window_days=self.project.settings.monitoring.outcome_window_days,
            incidents=incidents, reach=self.project.feature_reach(),
        )  # fmt: skip
        return window.to_dict()

    def train(self, model: str, window: Mapping[str, str], *, tag: str) -> Trained:
        from tether.lineage import TrainWindow

        result = self.project.train(
            window=TrainWindow.from_dict(dict(window)), tags={INTENT_TAG: tag}
        )
        return Trained(result.run_id, result.model_version)

    def find_trained(self, model: str, tag: str) -> Trained | None:
        tracking = self.project.tracking_uri
        for run in _mlflow.search_runs(tracking, self.project.settings.name, RUNS_SEARCHED):
            if run.tags.get(INTENT_TAG) != tag:
                continue
            versions = [v for v in _mlflow.versions_of_run(tracking, run.run_id) if v.name == model]
            if versions:
                return Trained(run.run_id, versions[0].version)
        return None

    def gate(self, model: str, candidate: str, champion: str) -> GateVerdict:
        loop = self.project.settings.loop
        settings = GateSettings(loop.gate_average_precision_margin, loop.gate_min_precision)
        result = self.project.gate(candidate, champion, settings)
        return GateVerdict(result.passed, result.reason, result.metrics)

    def aliases(self, model: str) -> Mapping[str, str]:
        state: Mapping[str, str] = self.project.events.latest_state(model)
        return state

    def deploy(self, model: str, version: str, role: str, *, reason: str, share: float) -> None:
        self.project.aliases.deploy(version, role, actor=ACTOR, reason=reason, traffic=share)

    def promote(self, model: str, *, reason: str, evidence: Mapping[str, JSONValue]) -> None:
        self.project.aliases.promote(actor=ACTOR, reason=reason, evidence=evidence)

    def rollback(self, model: str, *, reason: str) -> None:
        self.project.aliases.rollback(actor=ACTOR, reason=reason)

    def retire(self, model: str, version: str, *, reason: str) -> None:
        self.project.aliases.retire(version, actor=ACTOR, reason=reason)

    def alert(self, model: str, step: str, message: str, evidence: Mapping[str, JSONValue]) -> None:
        # The loop's own record (its event, with this evidence) is written by the controller;
        # the alert goes where the monitor's go: a row of kind "loop", the log, the webhook.
        from tether.monitoring import NewAlert, raise_alert

        raise_alert(
            self.project.monitor_results, self.project.alert_sender, model,
            NewAlert(LOOP_ALERT_KIND, step, message, evidence), time=self.project.clock.now(),
        )  # fmt: skip


ACTOR = "tether-loop"
"""The actor of the loop's registry events."""
LOOP_ALERT_KIND = "loop"
"""The ``kind`` of the loop's alert rows; their ``name`` is the step (``rollback``, ``hold``,
``promote``, ``discard``)."""


def observation(report: ModelReport) -> Observation:
    """What the controller needs of a monitor run."""
    diagnosis = report.diagnosis
    evidence = cast(dict[str, JSONValue], diagnosis.evidence)
    action, cause = diagnosis.action, diagnosis.cause
    incident = _incident(evidence)
    last_day = report.days[-1].day if report.days else None
    # The newest day passes the checks again: the incident is over; its span is kept and
    # excluded from training, and the other rules' verdict is the loop's to act on.
    over = incident is not None and last_day is not None and incident[1] <= _midnight(last_day)
    second = evidence.get("without_data_break")
    if action == "fix_data" and over and isinstance(second, dict):
        action = cast("DiagnosisAction", second.get("action", "wait"))
        cause = str(second.get("cause", cause))
    experiment: ExperimentAction | None = None
    experiment_evidence: dict[str, JSONValue] = {}
    if report.experiment is not None:
        experiment = report.experiment.action
        experiment_evidence = {"reason": report.experiment.reason, **report.experiment.evidence}
    shadows = {
        version: ShadowSeen(found.pairs, None if found.agreement is None else found.agreement.rate)
        for version, found in report.shadows.items()
    }
    return Observation(
        action=action, cause=cause, evidence=evidence, incident=incident,
        experiment=experiment, experiment_evidence=experiment_evidence, shadows=shadows,
    )  # fmt: skip


def _incident(evidence: Mapping[str, JSONValue]) -> tuple[datetime, datetime] | None:
    """The days of the diagnosis's breaking quality findings, as a span of whole days."""
    found = evidence.get("quality")
    days = sorted(
        date.fromisoformat(str(item["day"]))
        for item in (found if isinstance(found, list) else [])
        if isinstance(item, dict) and item.get("day")
    )
    if not days:
        return None
    return _midnight(days[0]), _midnight(days[-1]) + timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
