"""The monitor: every statistic of this package over a model's served traffic, stored and alerted.

:meth:`Monitor.run` takes one model at the clock's *now* and, for each version and role
that served in the window ``[now - window, now)`` (read from the log, so exactly what was
served is what is judged), against that version's own reference:

1. **drift**: the window summarised on the reference's bins in the database
   (:func:`window_profile`), compared feature by feature, the score too, and by the domain
   classifier on the two samples (:func:`compare`);
2. **data quality**: :func:`check_quality` on the same two profiles, plus a type change
   wherever the log saw a value of the other kind;
3. **labels**: how many of the window's predictions have labels known by now;
4. **realized performance**, over the *matured* window: the window as long as ``window``
   that ends ``outcome_window_days`` before now, whose every outcome is known by the maturity
   rule (a recent window's early labels are mostly fraud, so its precision would look better
   than it is); with the business metrics of ``[monitoring] business`` and the alert rule;
5. **estimated performance** (CBPE) of the current window from its scores, and on the
   matured window beside the realized metrics: a realized value below the estimate is its own
   signal (the relation between inputs and outcome changed);
6. **daily evidence** of the champion over the last ``history_days`` days (drifted share,
   score PSI, realized and estimated metric, label completeness), with the registry's events,
   for :func:`diagnose`: one verdict with its reasons. A closed day's drift, estimate and
   quality are read from what an earlier run stored, while the day holds the same
   predictions; the days' realized metric is read in one query (:mod:`._monitor_days`):
   a daily tick computes one new day, not 28.

Everything goes to the monitoring tables in one transaction (:class:`MonitorResults`);
alerts go to the log and, when configured, to the webhook (:class:`AlertSender`), never
blocking the run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tether._clock import Clock
from tether._progress import Progress, no_progress
from tether.errors import TetherError
from tether.monitoring._alerts import AlertSender, dispatch
from tether.monitoring._diagnose import Diagnosis, diagnose
from tether.monitoring._drift import compare
from tether.monitoring._estimate import EstimatedPerformance, GapSignal, compare_with_realized
from tether.monitoring._estimate import estimate as estimate_scores
from tether.monitoring._evidence import DayEvidence, DiagnosisInput, QualityEvidence, RegistryChange
from tether.monitoring._experiment_decision import ExperimentDecision
from tether.monitoring._experiment_window import SettledLooks, experiment, linear_values, shadow
from tether.monitoring._monitor_days import (
    DayDrift,
    DayPolicy,
    basis,
    closed,
    day_drift,
    shifts_from_days_before,
)
from tether.monitoring._monitor_days import realized as day_realized
from tether.monitoring._monitor_policy import MonitorPolicy
from tether.monitoring._monitor_report import (
    GroupReport,
    ModelReport,
    alerts,
    points,
    type_change,
)
from tether.monitoring._performance import MetricValue, RealizedPerformance, realized_from_counts
from tether.monitoring._performance_rules import (
    LabelStatus,
    RuleOutcome,
)
from tether.monitoring._quality import check_quality
from tether.monitoring._results import DayRecord, Delivery, MonitorResults
from tether.monitoring._window import (
    Group,
    LogReader,
    ModelReference,
    confusion,
    daily_confusion,
    labelled_scores,
    sample_scores,
    window_profile,
    window_scores,
)
from tether.registry import EventLog

_LOGGER = logging.getLogger("tether.monitoring")
ReferenceLoader = Callable[[str, str], ModelReference]
"""``(model, version) -> ModelReference``, verified; raises a TetherError when there is none."""


class Monitor:
    """Monitors models over the prediction log and stores what it finds.

    The clock says what *now* is (wall time in production; a replay drives it), so that a
    replayed month is judged as it would have been on its own days. ``reuse_days=False``
    recomputes every day of the daily evidence instead of reading closed days an earlier run
    stored (the same report, slower: what the test of the cache compares against).
    """

    def __init__(
        self,
        *,
        log: LogReader,
        results: MonitorResults,
        events: EventLog,
        references: ReferenceLoader,
        clock: Clock,
        policy: MonitorPolicy | None = None,
        sender: AlertSender | None = None,
        reuse_days: bool = True,
    ) -> None:
        self._log = log
        self._results = results
        self._events = events
        self._references = references
        self._clock = clock
        self._policy = policy or MonitorPolicy()
        self._sender = sender
        self._cache: dict[tuple[str, str], ModelReference | str] = {}
        self._settled_looks: SettledLooks = {}
        self._reuse_days = reuse_days
        self._bases: dict[str, str] = {}
        policy = self._policy
        self._day_policy = DayPolicy(policy.drift, policy.quality, policy.rule.metric,
                                     policy.sample_size, policy.seed)  # fmt: skip

    def run(
        self, model: str, *, window: timedelta | None = None, progress: Progress = no_progress
    ) -> ModelReport:
        """Monitor ``model`` over the window ending now; store and alert; return the report.

        ``progress`` hears of each version judged and each day of the daily evidence."""
        now = self._clock.now()
        span = window or self._policy.window
        bounds = (now - span, now)
        closed = self._policy.maturity.closed_before(now)
        matured = (closed - span, closed)
        # One count of each window per run: every group, its labels and its experiment are
        # read from these (a count is a scan of the window, the dearest query at scale).
        counts = self._log.counts(
            bounds[0], bounds[1], model=model, by=("version", "role", "experiment_id"),
            known_by=now,
        )  # fmt: skip
        matured_counts = self._log.counts(matured[0], matured[1], model=model,
                                          by=("version", "role"), known_by=now)  # fmt: skip
        groups = _groups(counts)
        reports: list[GroupReport] = []
        for done, group in enumerate(groups):
            progress(f"version {group.version} ({group.role})", done, len(groups))
            labels, served = _of(counts, group), _of(matured_counts, group)
            reports.append(self._group(model, group, (bounds, matured), (labels, served), now))
        champion = next((g for g in groups if g.role == "champion"), None)
        days, daily, computed = (
            ((), (), []) if champion is None else self._days(model, champion, now, progress)
        )
        diagnosis = self._diagnose(model, bounds, reports, days, daily)
        decision = self._experiment(model, groups, counts, now)
        shadows = {} if champion is None else {
            group.version: found for group in groups if group.role == "shadow"
            if (found := shadow(self._log, model, champion, group, bounds,
                                seed=self._policy.seed)) is not None
        }  # fmt: skip
        raised = tuple(alerts(reports, diagnosis, decision))
        report = ModelReport(
            model, bounds, tuple(reports), days, diagnosis, raised, decision, shadows
        )
        delivery: Delivery = "none" if self._sender is None else "pending"
        run, stored = self._results.record_run(
            model=model,
            window=bounds,
            time=now,
            wall_time=datetime.now(UTC),
            action=diagnosis.action,
            report=report.to_dict(),
            points=[point for group in reports for point in points(group)],
            alerts=raised,
            delivery=delivery,
            days=computed,
        )
        for alert in stored:
            dispatch(alert, self._sender)
        return replace(report, run_id=run.run_id)

    def _experiment(
        self,
        model: str,
        groups: Sequence[Group],
        counts: pd.DataFrame,
        now: datetime,
    ) -> ExperimentDecision | None:
        """The decision on the challenger now serving, if one is."""
        champion = next((g for g in groups if g.role == "champion"), None)
        challenger = next((g for g in groups if g.role == "challenger"), None)
        if champion is None or challenger is None:
            return None
        mine = counts[(counts["role"] == "challenger") & counts["experiment_id"].notna()]
        if mine.empty:
            return None
        experiment_id = int(mine["experiment_id"].max())  # the latest deployment's
        started = self._events.event(experiment_id).time
        policy = self._policy
        return experiment(self._log, model, (champion, challenger), experiment_id, started, now,
                          policy=policy.experiment, business=policy.business_fields,
                          values=linear_values(policy.business),
                          settled=self._settled_looks)  # fmt: skip

    def _reference(self, model: str, version: str) -> ModelReference | str:
        key = (model, version)
        if key not in self._cache:
            try:
                self._cache[key] = self._references(model, version)
            except TetherError as exc:  # judged without drift, and said so
                _LOGGER.warning("version %s of %s has no usable reference: %s", version, model, exc)
                self._cache[key] = str(exc)
        return self._cache[key]

    def _group(
        self,
        model: str,
        group: Group,
        windows: tuple[tuple[datetime, datetime], tuple[datetime, datetime]],
        labels: tuple[LabelStatus, LabelStatus],
        now: datetime,
    ) -> GroupReport:
        """One group over the window, and over the matured window for realized metrics;
        ``labels`` are the group's counts in each."""
        policy = self._policy
        bounds, matured = windows
        labels_now, matured_labels = labels
        realized, business, rule = self._realized(model, group, matured, matured_labels, now)
        reference = self._reference(model, group.version)
        if isinstance(reference, str):
            return GroupReport(group, labels_now.predictions, labels_now, matured,
                               realized=realized, business=business, rule=rule,
                               missing=reference)  # fmt: skip
        current, other_kind = window_profile(
            self._log, model, group, reference.profile, bounds,
            sample_size=policy.sample_size, seed=policy.seed,
        )  # fmt: skip
        drift = compare(reference.profile, current, policy.drift, seed=policy.seed,
                        multivariate=current.rows > 0)  # fmt: skip
        quality = check_quality(reference.profile, current, policy.quality)
        quality += [type_change(name, rows, current.rows) for name, rows in other_kind.items()
                    if rows]  # fmt: skip
        estimated = self._estimate(reference, current)
        matured_estimate: EstimatedPerformance | None = None
        gaps: tuple[GapSignal, ...] = ()
        if realized is not None:
            # Only the sample's scores are estimated from: they alone are read, the same rows.
            scores = window_scores(self._log, model, group, reference, matured,
                                   sample_size=policy.sample_size, seed=policy.seed)  # fmt: skip
            matured_estimate = self._estimate_from(reference, scores)
            if matured_estimate is not None:
                gaps = compare_with_realized(matured_estimate, realized)
        return GroupReport(group, labels_now.predictions, labels_now, matured, drift,
                           tuple(quality), realized, business, rule, estimated, matured_estimate,
                           gaps)  # fmt: skip

    def _realized(
        self,
        model: str,
        group: Group,
        matured: tuple[datetime, datetime],
        served: LabelStatus,
        now: datetime,
    ) -> tuple[RealizedPerformance | None, dict[str, MetricValue | None], RuleOutcome | None]:
        policy = self._policy
        cells = confusion(self._log, model, group, matured, known_by=now,
                          business=policy.business_fields)  # fmt: skip
        if cells.labelled == 0:
            return None, {}, None
        scores = labelled_scores(self._log, model, group, matured, known_by=now,
                                 sample_size=policy.sample_size, seed=policy.seed)  # fmt: skip
        # The score table is the log's seeded sample of at most sample_size labelled rows:
        # on a busier window it holds fewer rows than the cells, as sampled=True allows.
        performance = realized_from_counts(cells, scores, seed=policy.seed, sampled=True)
        business = {metric.name: metric.evaluate(cells) for metric in policy.business}
        completeness = served.label_completeness
        rule = policy.rule.check(performance, completeness, business)
        return performance, business, rule

    def _estimate(self, reference: ModelReference, current: Any) -> EstimatedPerformance | None:
        return self._estimate_from(reference, sample_scores(current))

    def _estimate_from(
        self, reference: ModelReference, scores: np.ndarray
    ) -> EstimatedPerformance | None:
        if reference.calibration is None or reference.threshold is None or scores.size == 0:
            return None
        return estimate_scores(scores, reference.calibration, reference.threshold)

    def _days(
        self, model: str, champion: Group, now: datetime, progress: Progress
    ) -> tuple[tuple[DayEvidence, ...], tuple[QualityEvidence, ...], list[DayRecord]]:
        """The champion's evidence day by day over the history, each day against the
        reference of the version that served it, with each day's data-quality findings (a
        one-day break, such as the cents incident, moves a week's median too little to see;
        each day also against the days before), and the closed days computed afresh."""
        policy = self._policy
        today = datetime(now.year, now.month, now.day, tzinfo=UTC)
        history = (today - timedelta(days=policy.history_days), now)
        counts = self._log.counts(*history, model=model, by=("version", "role"), bucket="day",
                                  known_by=now)  # fmt: skip
        counts = _one_version_a_day(counts[counts["role"] == "champion"])
        cells = daily_confusion(self._log, model, "champion", history, known_by=now)
        stored = {(d.version, d.day, d.basis): d for d in self._results.days(model, *history)}
        days: list[DayEvidence] = []
        quality: list[QualityEvidence] = []
        computed: list[DayRecord] = []
        drifts: list[tuple[date, DayDrift]] = []
        for version, start, predictions, labelled in zip(
            counts["version"], counts["day"], counts["predictions"], counts["labelled"],
            strict=True,
        ):  # fmt: skip
            first = pd.Timestamp(start).to_pydatetime()
            day = (first, min(first + timedelta(days=1), now))
            group = Group(str(version), "champion")
            progress("daily evidence", len(days), len(counts))
            realized, rows = day_realized(cells.get((group.version, first)), policy.rule.metric)
            drift = self._day_drift(model, group, day, int(predictions), stored, computed)
            days.append(DayEvidence(first.date(), int(predictions), int(labelled),
                                    realized=realized, estimated=drift.estimated,
                                    score_psi=drift.score_psi, metric_rows=rows,
                                    drifted_share=drift.drifted_share))  # fmt: skip
            quality += [QualityEvidence.of(first.date(), finding) for finding in drift.quality]
            drifts.append((first.date(), drift))
        quality += shifts_from_days_before(drifts, policy.quality)
        return tuple(days), tuple(quality), computed

    def _day_drift(
        self,
        model: str,
        group: Group,
        day: tuple[datetime, datetime],
        predictions: int,
        stored: Mapping[tuple[str, datetime, str], DayRecord],
        computed: list[DayRecord],
    ) -> DayDrift:
        """A day's drift: stored by an earlier run when the day is closed and still holds
        the same predictions, else computed (and, when closed, added to ``computed``)."""
        reference = self._reference(model, group.version)
        if isinstance(reference, str):
            return DayDrift(math.nan, math.nan, math.nan, (), {})
        policy = self._day_policy
        key = (group.version, day[0], self._basis(group.version, reference))
        found = stored.get(key) if self._reuse_days else None
        if closed(day) and found is not None and found.predictions == predictions:
            return DayDrift.from_dict(found.evidence)
        drift = day_drift(self._log, model, group, reference, day, policy)
        if closed(day):
            computed.append(DayRecord(key[0], key[1], key[2], predictions, drift.to_dict()))
        return drift

    def _basis(self, version: str, reference: ModelReference) -> str:
        if version not in self._bases:  # a digest of the whole reference: once per version
            self._bases[version] = basis(reference, self._day_policy)
        return self._bases[version]

    def _diagnose(
        self,
        model: str,
        window: tuple[datetime, datetime],
        reports: Sequence[GroupReport],
        days: Sequence[DayEvidence],
        daily: Sequence[QualityEvidence] = (),
    ) -> Diagnosis:
        champion = next((r for r in reports if r.group.role == "champion"), None)
        window_quality = [] if champion is None else [
            QualityEvidence.of(_last_day(window), finding) for finding in champion.quality
        ]  # fmt: skip
        # The window's findings and each day's, once per (day, check, feature).
        unique = {(q.day, q.check, q.feature): q for q in [*daily, *window_quality]}
        quality = tuple(sorted(unique.values(), key=lambda q: (q.day, q.check, q.feature)))
        changes = RegistryChange.of_events(self._events.events(model=model), model)
        labelled = (
            0 if champion is None or champion.realized is None else champion.realized.labelled
        )
        rule = champion.rule if champion is not None else None
        below = rule.message if rule is not None and rule.state == "fired" else ""
        evidence = DiagnosisInput(model, tuple(days), quality, changes, labelled,
                                  self._policy.rule.metric, below)  # fmt: skip
        return diagnose(evidence, self._policy.diagnosis)


def _one_version_a_day(counts: pd.DataFrame) -> pd.DataFrame:
    """One champion version per day: a day a deploy split is the new version's (the one
    that serves the next day too; else the one that served most), the first day of its level,
    where a step is located; the diagnosis takes one evidence per day."""
    counts = counts.sort_values(["day", "version"]).reset_index(drop=True)
    versions = counts.groupby("day", sort=True)["version"].agg(set)
    following = dict(zip(versions.index[:-1], versions.to_numpy()[1:], strict=True))
    keep = []
    for _, rows in counts.groupby("day", sort=True):
        if len(rows) > 1:
            after = following.get(rows["day"].iloc[0], set())
            continuing = rows[rows["version"].isin(after)]
            rows = continuing if len(continuing) == 1 else rows.nlargest(1, "predictions")
        keep.append(int(rows.index[0]))
    return counts.loc[keep]


def _last_day(window: tuple[datetime, datetime]) -> date:
    # The current window's last day: its quality findings are dated by it.
    return (window[1] - timedelta(microseconds=1)).date()


def _groups(counts: pd.DataFrame) -> list[Group]:
    """The (version, role) groups that served in a window's counts: champion first."""
    found = {(str(v), str(r)) for v, r in zip(counts["version"], counts["role"], strict=True)}
    order = {"champion": 0, "challenger": 1, "shadow": 2}
    return [Group(v, r) for v, r in sorted(found, key=lambda g: (order.get(g[1], 3), g))]


def _of(counts: pd.DataFrame, group: Group) -> LabelStatus:
    """The group's predictions and labelled predictions in a window's counts."""
    rows = counts[(counts["version"].astype(str) == group.version) & (counts["role"] == group.role)]
    return LabelStatus(int(rows["predictions"].sum()), int(rows["labelled"].sum()), 0, 0)
