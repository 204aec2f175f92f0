"""The diagnosis: one verdict per model (rollback, fix the data, retrain, or wait) and why.

:func:`diagnose` reads a model's daily monitor results (:class:`DiagnosisInput`), finds the
shape of three daily series with :func:`detect_change` (the realized metric, weighted by
labelled rows; the estimated metric; the score's PSI), finds one-day breaks (a day more than
``outlier_z`` robust s.d. from the series' median: the one-day cents incident is too short to
be a step), and applies these rules, **first match wins**:

1. **fix_data** — a *breaking* data-quality finding (``breaking_checks``: a unit shift, a null
   flood, a schema or type change, a feature gone constant, a flood of unseen categories; not
   values outside the reference range, which a drifting world produces) on a day that no
   deploy precedes by ``deploy_window_days`` or less. Retraining on corrupted data would
   learn the corruption, and rolling back would not fix the pipeline, so it comes first.
   The reasons say which change it coincides with (a step or one-day break within
   ``quality_window_days``), or that no metric moved yet.
2. **rollback** — a sudden change (a step down in the realized or estimated metric, a step up
   in the score's PSI) dated from the day before a deploy (a mid-day deploy splits its day,
   and steps are located to within a day) to ``deploy_window_days`` after it; or a breaking
   quality finding that a deploy preceded (the new version asks for broken inputs).
3. **retrain** — a gradual decline (a *trend* down in the realized metric, or in the
   estimated one when labels are thin), broad drift (over the last ``recent_days``, more than
   ``drift_share`` of the monitored features drifted on average: the mission's 10% rule), and
   at least ``min_new_labelled_rows`` matured labelled rows to learn from.
4. **wait** — everything else, with ``cause`` saying which: ``"thin_evidence"`` (fewer than
   ``min_predictions`` predictions, or labels too few or incomplete to see the metric and no
   estimate), ``"not_enough_labels"`` (a decline to retrain on, but too few new labels),
   ``"narrow_drift"`` (a decline, but drift not broad: look at the labels' meaning),
   ``"unexplained_change"`` (a step no deploy or data break explains: a person looks), or
   ``"nothing_wrong"``.

When the realized metric sits more than ``concept_gap`` below the estimate over the latest
labelled days, the retrain and narrow-drift reasons say so: CBPE reads only the inputs, so the
gap is the relation between inputs and outcome changing, which no input drift shows.

Realized-metric days count only when their label completeness is at least
``min_label_completeness`` (a window with a few labels shows the fast ones: fraud first), and
the series only when those days hold ``min_labelled_rows`` labelled rows. Rollback and
retrain also need ``min_predictions`` predictions over the days: on fewer, a step or a trend
is noise, and the verdict is wait (thin evidence). A data break needs no volume: the quality
checks decide what is one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np

from tether.monitoring._changepoint import ChangeFinding, ChangePolicy, DailySeries, detect_change
from tether.monitoring._evidence import DayEvidence, DiagnosisInput, QualityEvidence
from tether.monitoring._report import DATASET_SHARE

DiagnosisAction = Literal["rollback", "fix_data", "retrain", "wait"]

DEPLOY_WINDOW_DAYS = 3
"""A change up to this many days after a deploy is the deploy's: the scenario's bad deploy
shows in the score the same day, and a step needs a few days after it to be told."""
QUALITY_WINDOW_DAYS = 1
"""A data break and a change coincide when their days are at most this far apart."""
DRIFT_SHARE = DATASET_SHARE
"""The mission's dataset rule, the drift report's: drift when more than 10% of the features do."""
RECENT_DAYS = 7
"""The days the drift rule averages over: a week, the monitor's default window."""
MIN_NEW_LABELLED_ROWS = 2_000
"""Labelled rows a retrain needs: at the scenario's ~1% fraud, about 20 frauds to learn from."""
MIN_LABEL_COMPLETENESS = 0.9
"""As ``[monitoring] min_label_completeness``: one key decides when a day's labels are enough,
for the performance alerts and for the diagnosis alike."""
MIN_LABELLED_ROWS = 500
"""Labelled rows on complete days before the realized series is judged: a precision over a
few hundred rows has a s.e. of a point or two, small beside the declines that matter."""
MIN_PREDICTIONS = 1_000
"""Predictions over the days before a step or a trend means anything (PSI on fewer is noise)."""
CONCEPT_GAP = 0.05
"""Realized this far below the estimate is its own signal (the issue's concept-drift gap)."""
OUTLIER_Z = 6.0
"""Robust s.d. from the median for a one-day break: rare in noise (a normal's 1e-9 tail)."""
BREAKING_CHECKS = frozenset({"schema", "null_rate", "constant", "unit_shift", "unseen"})
"""The data-quality checks that say "pipeline broken" (the quality checks' names); not
``out_of_range``, which a drifting world trips as well."""


@dataclass(frozen=True)
class DiagnosisPolicy:
    """The thresholds of :func:`diagnose` (``[monitoring]``); each default is a named
    constant of this module, with its reason there."""

    deploy_window_days: int = DEPLOY_WINDOW_DAYS
    quality_window_days: int = QUALITY_WINDOW_DAYS
    drift_share: float = DRIFT_SHARE
    recent_days: int = RECENT_DAYS
    min_new_labelled_rows: int = MIN_NEW_LABELLED_ROWS
    min_label_completeness: float = MIN_LABEL_COMPLETENESS
    min_labelled_rows: int = MIN_LABELLED_ROWS
    min_predictions: int = MIN_PREDICTIONS
    outlier_z: float = OUTLIER_Z
    concept_gap: float = CONCEPT_GAP
    breaking_checks: frozenset[str] = BREAKING_CHECKS
    change: ChangePolicy = field(default_factory=ChangePolicy)


@dataclass(frozen=True)
class Diagnosis:
    """A model's verdict: ``action``, a short ``cause``, ``reasons`` in words, and the
    ``evidence`` behind them (JSON-ready)."""

    model: str
    action: DiagnosisAction
    cause: str
    reasons: list[str]
    evidence: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "model": self.model,
            "action": self.action,
            "cause": self.cause,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class _Seen:
    """What the series show, shared by the rules."""

    realized: ChangeFinding | None  # None: labels too thin to see the realized metric
    estimated: ChangeFinding | None
    score: ChangeFinding | None
    breaks: dict[str, list[date]]  # series name -> its one-day breaks
    recent_drift: float
    predictions: int
    labelled: int
    gap: float  # realized minus estimated, over the latest labelled days that have both

    def concept_drift(self, policy: DiagnosisPolicy) -> str | None:
        """Words for a realized metric well below the estimate: CBPE sees the inputs only, so
        a gap is the relation between inputs and outcome changing (concept drift)."""
        if not (math.isfinite(self.gap) and self.gap < -policy.concept_gap):
            return None
        return (
            f"realized below estimate by {-self.gap:.3f} over the latest labelled days: the "
            "relation between inputs and outcome changed (concept drift)"
        )

    def sudden(self) -> list[ChangeFinding]:
        """Steps in the bad direction: a metric down, the score's PSI up."""
        found = [f for f in (self.realized, self.estimated) if f and f.kind == "step"]
        steps = [f for f in found if f.after < f.before]
        if self.score and self.score.kind == "step" and self.score.after > self.score.before:
            steps.append(self.score)
        return steps

    def decline(self) -> ChangeFinding | None:
        """The gradual decline of the metric: realized, or estimated when labels are thin."""
        for finding in (self.realized, self.estimated if self.realized is None else None):
            if finding and finding.kind == "trend" and finding.slope_per_day < 0:
                return finding
        return None

    def to_dict(self) -> dict[str, object]:
        return {
            "series": {
                name: None if f is None else f.to_dict()
                for name, f in (("realized", self.realized), ("estimated", self.estimated))
            }
            | {"score_psi": None if self.score is None else self.score.to_dict()},
            "one_day_breaks": {k: [d.isoformat() for d in v] for k, v in self.breaks.items()},
            "recent_drifted_share": _finite(self.recent_drift),
            "predictions": self.predictions,
            "labelled": self.labelled,
            "realized_minus_estimated": _finite(self.gap),
        }


def diagnose(evidence: DiagnosisInput, policy: DiagnosisPolicy | None = None) -> Diagnosis:
    """One verdict for ``evidence.model``, by the rules of this module's docstring.

    >>> diagnosis = diagnose(DiagnosisInput("fraud", days=tuple(daily)))  # doctest: +SKIP
    >>> diagnosis.action, diagnosis.reasons[0]  # doctest: +SKIP
    ('rollback', 'score_psi: a step from 0.02 to 0.31 on 2025-03-13 ... 1 day after deploy ...')
    """
    policy = policy or DiagnosisPolicy()
    seen = _look(evidence, policy)
    base: dict[str, object] = {
        **seen.to_dict(),
        "deploys": [c.to_dict() for c in evidence.changes],
        "quality": [q.to_dict() for q in evidence.quality if q.check in policy.breaking_checks],
        "new_labelled_rows": evidence.new_labelled_rows,
    }
    rules: Sequence[Callable[[DiagnosisInput, DiagnosisPolicy, _Seen], _Verdict | None]] = (
        _fix_data,
        _rollback,
        _retrain,
    )
    action, cause, reasons = _first(rules, evidence, policy, seen)
    if action == "fix_data":
        # What the other rules say with the data break set aside: a loop that keeps the broken
        # days out of every training window acts on it once the data is whole again.
        other, other_cause, other_reasons = _first(rules[1:], evidence, policy, seen)
        base["without_data_break"] = {
            "action": other, "cause": other_cause, "reasons": other_reasons,
        }  # fmt: skip
    return Diagnosis(evidence.model, action, cause, reasons, base)


def _first(
    rules: Sequence[Callable[[DiagnosisInput, DiagnosisPolicy, _Seen], _Verdict | None]],
    evidence: DiagnosisInput,
    policy: DiagnosisPolicy,
    seen: _Seen,
) -> _Verdict:
    """The verdict of the first rule that has one, else :func:`_wait`'s."""
    for rule in rules:
        verdict = rule(evidence, policy, seen)
        if verdict is not None:
            return verdict
    return _wait(evidence, policy, seen)


_Verdict = tuple[DiagnosisAction, str, list[str]]


def _look(evidence: DiagnosisInput, policy: DiagnosisPolicy) -> _Seen:
    days = [d.day for d in evidence.days]
    complete = policy.min_label_completeness
    counted = [d for d in evidence.days if d.labelled > 0 and d.completeness >= complete]
    labelled = sum(d.labelled for d in counted)
    realized = None
    if labelled >= policy.min_labelled_rows:
        series = DailySeries(
            f"realized {evidence.metric}",
            tuple(d.day for d in counted),
            tuple(d.realized for d in counted),
            tuple(d.weight for d in counted),
        )
        realized = detect_change(series, policy.change)
    estimated = _finding(f"estimated {evidence.metric}", evidence.days, "estimated", policy)
    score = _finding("score_psi", evidence.days, "score_psi", policy)
    breaks = {
        name: _one_day_breaks(days, [getattr(d, attribute) for d in evidence.days], policy)
        for name, attribute in (
            ("score_psi", "score_psi"),
            (f"estimated {evidence.metric}", "estimated"),
            ("drifted_share", "drifted_share"),
        )
    }
    recent = [d.drifted_share for d in evidence.days[-policy.recent_days :]]
    recent_drift = float(np.nanmean(recent)) if any(math.isfinite(v) for v in recent) else math.nan
    predictions = sum(d.predictions for d in evidence.days)
    both = [d.realized - d.estimated for d in counted if math.isfinite(d.realized - d.estimated)]
    gap = float(np.mean(both[-policy.recent_days :])) if both and realized else math.nan
    return _Seen(realized, estimated, score, breaks, recent_drift, predictions, labelled, gap)


def _finding(
    name: str, days: Sequence[DayEvidence], attribute: str, policy: DiagnosisPolicy
) -> ChangeFinding | None:
    values = tuple(float(getattr(d, attribute)) for d in days)
    if not any(math.isfinite(v) for v in values):
        return None
    series = DailySeries(name, tuple(d.day for d in days), values)
    return detect_change(series, policy.change)


def _one_day_breaks(days: list[date], values: list[float], policy: DiagnosisPolicy) -> list[date]:
    finite = np.array([v for v in values if math.isfinite(v)], dtype=np.float64)
    if len(finite) < policy.change.min_days:
        return []
    median = float(np.median(finite))
    spread = 1.4826 * float(np.median(np.abs(finite - median)))
    breaks = []
    for day, value in zip(days, values, strict=True):
        if not math.isfinite(value):
            continue
        scale = spread
        if not scale > 0:
            # Most days equal (no feature drifted on most days): the MAD is zero, so the
            # other days' s.d. measures how far off this one is (infinitely, if all equal).
            others = finite[np.arange(len(finite)) != int(np.flatnonzero(finite == value)[0])]
            scale = float(np.std(others))
        off = abs(value - median)
        if off > 0 and (not scale > 0 or off / scale > policy.outlier_z):
            breaks.append(day)
    return breaks


def _deploy_before(
    evidence: DiagnosisInput, day: date, policy: DiagnosisPolicy, slack: int = 0
) -> str | None:
    """The latest deploy from ``deploy_window_days`` before ``day`` to ``slack`` days after."""
    window = timedelta(days=policy.deploy_window_days)
    deploys = [
        c
        for c in evidence.changes
        if c.kind == "deploy" and day - window <= c.day <= day + timedelta(days=slack)
    ]
    if not deploys:
        return None
    latest = max(deploys, key=lambda c: c.time)
    lag = (day - latest.day).days
    when = "the same day" if lag == 0 else f"{abs(lag)} day(s) {'after' if lag > 0 else 'before'}"
    return f"{when} {latest.description} on {latest.day.isoformat()}"


def _fix_data(evidence: DiagnosisInput, policy: DiagnosisPolicy, seen: _Seen) -> _Verdict | None:
    breaking = [q for q in evidence.quality if q.check in policy.breaking_checks]
    unexplained = [q for q in breaking if _deploy_before(evidence, q.day, policy) is None]
    if not unexplained:
        return None
    reasons = _data_breaks(unexplained, evidence.days[-1].day if evidence.days else None)
    near = timedelta(days=policy.quality_window_days)
    moved = [(f"a step in {f.series}", f.day) for f in seen.sudden() if f.day is not None] + [
        (f"a one-day break in {name}", day) for name, days in seen.breaks.items() for day in days
    ]
    coincide = [
        f"it coincides with {what} on {day.isoformat()}"
        for what, day in moved
        if any(abs(q.day - day) <= near for q in unexplained)
    ]
    reasons += coincide or ["no metric or score has moved with it yet"]
    first = min(q.day for q in unexplained)
    window = timedelta(days=policy.deploy_window_days)
    reasons += [
        f"it follows the feature-definition change {c.description} on {c.day.isoformat()}"
        for c in evidence.changes
        if c.kind == "features" and first - window <= c.day <= first
    ]
    reasons.append(
        f"no deploy in the {policy.deploy_window_days} day(s) before it explains it: fix the "
        "data; retraining on it would learn the corruption"
    )
    return "fix_data", "data_break", reasons


def _data_breaks(findings: list[QualityEvidence], last_day: date | None) -> list[str]:
    """One reason per (check, feature): its days, the first finding's words, and whether it
    is still going on (a one-day incident last week is still in the training data)."""
    grouped: dict[tuple[str, str], list[QualityEvidence]] = {}
    for finding in sorted(findings, key=lambda q: q.day):
        grouped.setdefault((finding.check, finding.feature), []).append(finding)
    reasons = []
    for same in grouped.values():
        days = sorted({q.day for q in same})
        span = days[0].isoformat() if len(days) == 1 else (
            f"{len(days)} days from {days[0].isoformat()} to {days[-1].isoformat()}"
        )  # fmt: skip
        reason = f"data break on {span}: {same[0].describe()}"
        if last_day is not None and days[-1] < last_day:
            since = (last_day - days[-1]).days
            reason += f" (not seen in the {since} day(s) since, to {last_day.isoformat()})"
        reasons.append(reason)
    return reasons


def _rollback(evidence: DiagnosisInput, policy: DiagnosisPolicy, seen: _Seen) -> _Verdict | None:
    if seen.predictions < policy.min_predictions:
        return None  # a step on a handful of rows a day is noise: wait says so
    reasons = []
    for finding in seen.sudden():
        assert finding.day is not None  # a step always has its day
        # The step may be dated the day before a mid-day deploy: slack of one day.
        deploy = _deploy_before(evidence, finding.day, policy, slack=1)
        if deploy is not None:
            reasons.append(f"{finding.reason}: {deploy}")
    for quality in evidence.quality:
        deploy = _deploy_before(evidence, quality.day, policy)
        if quality.check in policy.breaking_checks and deploy is not None:
            reasons.append(f"data break on {quality.day.isoformat()}: {quality.describe()}, "
                           f"{deploy}: the new version asks for broken inputs")  # fmt: skip
    if not reasons:
        return None
    reasons.append("a sudden change right after a deploy, not a trend: roll the deploy back")
    return "rollback", "step_after_deploy", reasons


def _retrain(evidence: DiagnosisInput, policy: DiagnosisPolicy, seen: _Seen) -> _Verdict | None:
    decline = seen.decline()
    # A decline is a change the daily series show, or the matured window below the rule's
    # floor: a slow slide (a few points a month) hides in a noisy daily series, but not from
    # the rule that fired on a whole matured window.
    why = decline.reason if decline is not None else evidence.below_floor
    drift_broad = math.isfinite(seen.recent_drift) and seen.recent_drift > policy.drift_share
    if not why or not drift_broad or seen.predictions < policy.min_predictions:
        return None
    if evidence.new_labelled_rows < policy.min_new_labelled_rows:
        return None
    return (
        "retrain",
        "gradual_decline",
        [
            why,
            f"drift is broad: {seen.recent_drift:.0%} of the monitored features drifted over "
            f"the last {policy.recent_days} days (more than {policy.drift_share:.0%})",
            f"{evidence.new_labelled_rows:,} new labelled rows to learn from (at least "
            f"{policy.min_new_labelled_rows:,} needed)",
            *filter(None, [seen.concept_drift(policy)]),
        ],
    )


def _wait(evidence: DiagnosisInput, policy: DiagnosisPolicy, seen: _Seen) -> _Verdict:
    if seen.predictions < policy.min_predictions:
        return "wait", "thin_evidence", [
            f"too few rows: {seen.predictions:,} predictions in {len(evidence.days)} day(s), "
            f"fewer than the {policy.min_predictions:,} needed"
        ]  # fmt: skip
    decline = seen.decline()
    if decline is not None:
        drift = "unknown" if math.isnan(seen.recent_drift) else f"{seen.recent_drift:.0%}"
        if not (math.isfinite(seen.recent_drift) and seen.recent_drift > policy.drift_share):
            return "wait", "narrow_drift", [
                decline.reason,
                f"but drift is not broad ({drift} of the features over the last "
                f"{policy.recent_days} days, the rule is more than {policy.drift_share:.0%}): "
                "the inputs look as before, so check what the labels mean before retraining",
                *filter(None, [seen.concept_drift(policy)]),
            ]  # fmt: skip
        return "wait", "not_enough_labels", [
            decline.reason,
            f"drift is broad ({drift}), but only {evidence.new_labelled_rows:,} new labelled "
            f"rows exist; a retrain needs {policy.min_new_labelled_rows:,}",
        ]  # fmt: skip
    sudden = seen.sudden()
    if sudden:
        return "wait", "unexplained_change", [
            *(f.reason for f in sudden),
            "no deploy and no data break explains it: a person should look",
        ]  # fmt: skip
    if seen.realized is None and seen.estimated is None:
        return "wait", "thin_evidence", [
            f"labels incomplete: {seen.labelled:,} labelled rows on days at least "
            f"{policy.min_label_completeness:.0%} complete (need {policy.min_labelled_rows:,}) "
            f"and no estimated {evidence.metric}"
        ]  # fmt: skip
    seen_series = [f for f in (seen.realized, seen.estimated, seen.score) if f is not None]
    unchecked = [] if seen.realized is not None else [
        f"realized {evidence.metric} not judged: {seen.labelled:,} labelled rows on days at "
        f"least {policy.min_label_completeness:.0%} complete, fewer than "
        f"{policy.min_labelled_rows:,}"
    ]  # fmt: skip
    return (
        "wait",
        "nothing_wrong",
        [f.reason for f in seen_series]
        + unchecked
        + ["no step, trend, data break or deploy-related change: nothing to do"],
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
