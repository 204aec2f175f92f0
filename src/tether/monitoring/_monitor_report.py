"""What a monitor run found, as values: per version and role, and per model; the series
points it stores and the alerts it raises (see :mod:`._monitor`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tether._storage import JSONValue
from tether.monitoring._diagnose import Diagnosis
from tether.monitoring._estimate import EstimatedPerformance, GapSignal
from tether.monitoring._evidence import DayEvidence
from tether.monitoring._experiment_decision import ExperimentDecision
from tether.monitoring._performance import MetricValue, RealizedPerformance
from tether.monitoring._performance_rules import LabelStatus, RuleOutcome
from tether.monitoring._quality import QualityFinding
from tether.monitoring._report import DriftReport
from tether.monitoring._results import NewAlert, SeriesPoint
from tether.monitoring._shadow import ShadowComparison
from tether.monitoring._window import Group


@dataclass(frozen=True)
class GroupReport:
    """One version in one role over the window: what drifted, what broke, how it performs."""

    group: Group
    predictions: int
    labels: LabelStatus
    matured_window: tuple[datetime, datetime]
    drift: DriftReport | None = None
    quality: tuple[QualityFinding, ...] = ()
    realized: RealizedPerformance | None = None
    business: Mapping[str, MetricValue | None] = field(default_factory=dict)
    rule: RuleOutcome | None = None
    estimated: EstimatedPerformance | None = None
    matured_estimate: EstimatedPerformance | None = None
    gaps: tuple[GapSignal, ...] = ()
    missing: str = ""
    """Why drift and estimates are absent (the version has no reference), if they are."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "version": self.group.version,
            "role": self.group.role,
            "predictions": self.predictions,
            "labels": {
                "predictions": self.labels.predictions,
                "labelled": self.labels.labelled,
                "label_completeness": _number(self.labels.label_completeness),
            },
            "matured_window": [moment.isoformat() for moment in self.matured_window],
            "drift": None if self.drift is None else self.drift.to_dict(),
            "quality": [finding.to_dict() for finding in self.quality],
            "realized": _metrics(self.realized),
            "business": {name: _metric(value) for name, value in self.business.items()},
            "rule": None if self.rule is None else {
                "state": self.rule.state, "message": self.rule.message},
            "estimated": _metrics(self.estimated),
            "matured_estimate": _metrics(self.matured_estimate),
            "gaps": [{"metric": gap.metric, "fired": gap.fired, "message": gap.message}
                     for gap in self.gaps],
            "missing": self.missing,
        }  # fmt: skip


@dataclass(frozen=True)
class ModelReport:
    """A monitor run of one model: its window, each group's report, the daily evidence, the
    diagnosis, and the alerts it raised."""

    model: str
    window: tuple[datetime, datetime]
    groups: tuple[GroupReport, ...]
    days: tuple[DayEvidence, ...]
    diagnosis: Diagnosis
    alerts: tuple[NewAlert, ...]
    experiment: ExperimentDecision | None = None
    shadows: Mapping[str, ShadowComparison] = field(default_factory=dict)
    run_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``tether monitor --json`` prints and the run stores."""
        return {
            "model": self.model,
            "run_id": self.run_id,
            "window": [moment.isoformat() for moment in self.window],
            "groups": [group.to_dict() for group in self.groups],
            "days": [_day(day) for day in self.days],
            "diagnosis": self.diagnosis.to_dict(),
            "experiment": None if self.experiment is None else {
                "action": self.experiment.action, "reason": self.experiment.reason,
                "evidence": self.experiment.evidence},
            "shadows": {version: found.to_dict() for version, found in self.shadows.items()},
            "alerts": [{"kind": a.kind, "name": a.name, "message": a.message}
                       for a in self.alerts],
        }  # fmt: skip


def type_change(feature: str, rows: int, total: int) -> QualityFinding:
    return QualityFinding(
        "schema",
        feature,
        float(rows),
        0.0,
        f"{rows} of {total} values of {feature!r} had another type than in the reference "
        "(counted as missing)",
    )


def points(report: GroupReport) -> list[SeriesPoint]:
    """The time-series values of one group's report."""
    version, role = report.group.version, report.group.role
    points = [SeriesPoint(version, "labels", "completeness", report.labels.label_completeness,
                          report.labels.predictions, role=role)]  # fmt: skip
    if report.drift is not None:
        for found in report.drift.features:
            points.append(SeriesPoint(version, "drift", found.name, found.psi, found.current_rows,
                                      role=role, flagged=found.drifted,
                                      detail={"p_value": _number(found.p_value),
                                              "effect": _number(found.effect),
                                              "test": found.test}))  # fmt: skip
        if report.drift.score is not None:
            score = report.drift.score
            points.append(SeriesPoint(version, "drift", "score", score.psi, score.current_rows,
                                      role=role, flagged=score.drifted))  # fmt: skip
        points.append(SeriesPoint(version, "drift_share", "features", report.drift.drifted_share,
                                  report.drift.current_rows, role=role,
                                  flagged=report.drift.dataset_drift))  # fmt: skip
    for finding in report.quality:
        points.append(SeriesPoint(version, "quality", f"{finding.check}:{finding.feature}", 1.0,
                                  report.predictions, role=role, flagged=True))  # fmt: skip
    for kind, metrics in (("performance", report.realized), ("estimate", report.estimated)):
        if metrics is None:
            continue
        for name in ("precision", "recall", "f1", "roc_auc"):
            value = metrics.metric(name)
            if value is not None:
                points.append(SeriesPoint(version, kind, name, value.value, value.n, role=role,
                                          lower=value.low, upper=value.high))  # fmt: skip
    for name, value in report.business.items():
        if value is not None:
            points.append(SeriesPoint(version, "performance", name, value.value, value.n,
                                      role=role, lower=value.low, upper=value.high))  # fmt: skip
    return points


def alerts(
    reports: Sequence[GroupReport], diagnosis: Diagnosis, decision: ExperimentDecision | None
) -> list[NewAlert]:
    alerts: list[NewAlert] = []
    for report in reports:
        where = f"version {report.group.version} ({report.group.role})"
        drift = report.drift
        if drift is not None and drift.dataset_drift:
            alerts.append(NewAlert("drift", "dataset", f"{where}: {drift.reason}",
                                   {"drifted": list(drift.drifted)}))  # fmt: skip
        if drift is not None and drift.score is not None and drift.score.drifted:
            alerts.append(NewAlert("drift", "score", f"{where}: score {drift.score.reason}"))
        for finding in report.quality:
            evidence = {key: _plain(value) for key, value in finding.to_dict().items()}
            alerts.append(NewAlert("quality", finding.feature, f"{where}: {finding.message}",
                                   evidence))  # fmt: skip
        if report.rule is not None and report.rule.state == "fired":
            alerts.append(NewAlert("performance", report.rule.rule.metric,
                                   f"{where}: {report.rule.message}"))  # fmt: skip
        for gap in report.gaps:
            if gap.fired:
                alerts.append(NewAlert("estimate", gap.metric, f"{where}: {gap.message}"))
    if decision is not None and decision.action != "continue":
        alerts.append(NewAlert("experiment", decision.action,
                               f"experiment: {decision.action} ({decision.reason})"))  # fmt: skip
    if diagnosis.action != "wait":
        alerts.append(NewAlert("diagnosis", diagnosis.action,
                               f"diagnosis: {diagnosis.action} ({diagnosis.cause})",
                               {"reasons": list(diagnosis.reasons)}))  # fmt: skip
    return alerts


def _plain(value: object) -> JSONValue:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _metric(value: MetricValue | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"value": _number(value.value), "low": _number(value.low),
            "high": _number(value.high), "n": value.n}  # fmt: skip


def _metrics(found: RealizedPerformance | EstimatedPerformance | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {name: _metric(found.metric(name)) for name in ("precision", "recall", "f1", "roc_auc")}


def _day(day: DayEvidence) -> dict[str, Any]:
    return {
        "day": day.day.isoformat(),
        "predictions": day.predictions,
        "labelled": day.labelled,
        "realized": _number(day.realized),
        "estimated": _number(day.estimated),
        "score_psi": _number(day.score_psi),
        "drifted_share": _number(day.drifted_share),
    }
