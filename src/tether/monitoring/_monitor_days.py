"""The champion's daily evidence, with each closed day's drift computed once and kept.

The loop (issue 11) runs the monitor once per simulated day, and each run weighs the last
``history_days`` (28) days of daily evidence: per day the share of drifted features, the
score's PSI, the estimated metric, the data-quality findings, and the realized metric.
Recomputing all 28 days was 80% of a run (measured: 3.9 of 4.9 s at day 30 of the 400k
replay, half in the drift tests' Python, half in 28 feature summaries that each scan the
log), though 27 of them had been computed by the run the day before.

The parts split by what they depend on:

- **drift, estimate and quality** of a day depend on that day's predictions only (their
  features and scores, against the version's reference, under the monitor's thresholds,
  sample size and seed): once a day is *closed* (its whole 24 hours are before now) they
  cannot change unless rows are added to or removed from it. They are stored per
  ``(model, version, day, basis)`` in the monitoring results (:class:`DayRecord`), with the
  day's prediction count; a later run reuses them when its own count for the day is the same
  (a late row or a retention delete changes the count, and the day is recomputed). ``basis``
  is a digest of the reference and of every setting the computation reads, so a new
  reference or a new threshold never reuses the old numbers.
- **unit shifts from the days before** (the cents incident at the demo's scale: in May the
  amounts' median is 1.6 times January's, so the day's x100 reads as x143 against the
  reference, beyond a unit's tolerance, and only x95 against the week before it) compare
  each day's stored :class:`~tether.monitoring._quality.Scale` per feature with the typical
  scale of the :data:`PRECEDING_DAYS` before it (:func:`shifts_from_days_before`): nothing
  more is read from the log.
- **realized metric** of a day counts the labels known by now, which keep arriving for the
  outcome window (60 days, longer than the history): it is recomputed every run, but for
  all days at once, from one confusion query bucketed by day (:func:`daily_confusion`).

A run that reuses a day gives the report it would have computed (a test compares a cached
run's report with an uncached one's field by field): the stored numbers are the computed
ones, written as JSON floats (exact).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

import pandas as pd

from tether._storage import JSONValue, dump_json
from tether.monitoring._drift import compare
from tether.monitoring._estimate import estimate
from tether.monitoring._evidence import QualityEvidence
from tether.monitoring._performance import ConfusionCells, realized_from_counts
from tether.monitoring._profile import NumericSummary, Profile
from tether.monitoring._quality import (
    QualityCheck,
    QualityFinding,
    QualityThresholds,
    Scale,
    check_quality,
    unit_shift,
)
from tether.monitoring._report import DriftThresholds
from tether.monitoring._window import (
    Group,
    LogReader,
    ModelReference,
    sample_scores,
    window_profile,
)

DAY_SAMPLE = 5_000
"""Rows of a day's sample at most (a day of the 400k world holds about 2,000)."""
DAY = timedelta(days=1)
EVIDENCE_FORMAT = 2
"""Part of the basis: days stored before their scales were (format 1) are computed again."""
PRECEDING_DAYS = 7
"""A day's scale is compared with the typical scale of the week before it."""
MIN_PRECEDING_DAYS = 3
"""The fewest earlier days with a scale before a day is compared with them."""
DAY_SHAPE_TOLERANCE = 0.5
"""The shape may differ from the days before by this much (the reference check's 0.25 is
for its thousands of rows): on days of 300 payments (the quick demo) the quantile ratios of
the amount differ from the week before by up to 0.44 (q99 0.38, measured), while a median
moving by a unit factor in one day is itself a break no drifting world makes."""


@dataclass(frozen=True)
class DayPolicy:
    """Every setting a day's drift, estimate and quality read (part of the stored basis)."""

    drift: DriftThresholds
    quality: QualityThresholds
    metric: str
    sample_size: int
    seed: int


@dataclass(frozen=True)
class DayDrift:
    """A day's drifted share, score PSI, estimated metric (NaN: none) and quality findings."""

    drifted_share: float
    score_psi: float
    estimated: float
    quality: tuple[QualityFinding, ...]
    scales: Mapping[str, Scale]

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form, NaN kept (the store writes and reads it back exactly)."""
        return {
            "drifted_share": self.drifted_share,
            "score_psi": self.score_psi,
            "estimated": self.estimated,
            "quality": [
                {"check": f.check, "feature": f.feature, "value": f.value,
                 "reference": f.reference, "message": f.message}
                for f in self.quality
            ],
            "scales": {name: [scale.median, *scale.shape] for name, scale in self.scales.items()},
        }  # fmt: skip

    @classmethod
    def from_dict(cls, raw: Mapping[str, JSONValue]) -> DayDrift:
        """The evidence :meth:`to_dict` wrote."""
        findings = cast(list[dict[str, JSONValue]], raw["quality"])
        scales = cast(dict[str, list[float]], raw["scales"])
        return cls(
            _float(raw["drifted_share"]),
            _float(raw["score_psi"]),
            _float(raw["estimated"]),
            tuple(
                QualityFinding(cast(QualityCheck, f["check"]), str(f["feature"]),
                               _value(f["value"]), _value(f["reference"]), str(f["message"]))
                for f in findings
            ),
            {name: Scale(v[0], tuple(v[1:])) for name, v in scales.items()},
        )  # fmt: skip


def basis(reference: ModelReference, policy: DayPolicy) -> str:
    """A digest of everything a day's drift is computed from besides the day's rows."""
    calibration = None if reference.calibration is None else reference.calibration.to_dict()
    text = dump_json(
        {"profile": reference.profile.to_dict(), "calibration": calibration,
         "threshold": reference.threshold, "policy": repr(policy),
         "format": EVIDENCE_FORMAT},
        canonical=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def closed(day: tuple[datetime, datetime]) -> bool:
    """A day whose whole 24 hours are in the past (its window was not cut at now)."""
    return day[1] - day[0] >= DAY


def day_drift(
    log: LogReader,
    model: str,
    group: Group,
    reference: ModelReference,
    day: tuple[datetime, datetime],
    policy: DayPolicy,
) -> DayDrift:
    """The group's drift, estimated metric and quality findings over ``day``."""
    current, _ = window_profile(log, model, group, reference.profile, day,
                                sample_size=min(policy.sample_size, DAY_SAMPLE),
                                seed=policy.seed)  # fmt: skip
    drift = compare(reference.profile, current, policy.drift, seed=policy.seed)
    psi = math.nan if drift.score is None else drift.score.psi
    estimated = math.nan
    scores = sample_scores(current)
    if reference.calibration is not None and reference.threshold is not None and scores.size:
        value = estimate(scores, reference.calibration, reference.threshold).metric(policy.metric)
        estimated = math.nan if value is None else value.value
    quality = tuple(check_quality(reference.profile, current, policy.quality))
    return DayDrift(drift.drifted_share, psi, estimated, quality, _scales(current, policy))


def _scales(current: Profile, policy: DayPolicy) -> dict[str, Scale]:
    """The scale of each numeric feature with enough sampled values to have one."""
    found = {}
    for name, summary in current.features.items():
        if not isinstance(summary, NumericSummary) or name not in current.sample.columns:
            continue
        values = pd.to_numeric(current.sample[name], errors="coerce").dropna().to_numpy(float)
        scale = Scale.of(values) if len(values) >= policy.quality.min_rows else None
        if scale is not None:
            found[name] = scale
    return found


def shifts_from_days_before(
    days: list[tuple[date, DayDrift]], limits: QualityThresholds
) -> list[QualityEvidence]:
    """Each day's unit shifts against the typical scale of the :data:`PRECEDING_DAYS` before
    it (days in order; a feature is compared on the days that have its scale)."""
    found = []
    for index, (day, drift) in enumerate(days):
        earlier = days[max(0, index - PRECEDING_DAYS) : index]
        for name, now in drift.scales.items():
            before = [seen.scales[name] for _, seen in earlier if name in seen.scales]
            if len(before) < MIN_PRECEDING_DAYS:
                continue
            shift = unit_shift(name, Scale.typical(before), now, limits,
                               against=f"over the {len(before)} days before",
                               shape_tolerance=DAY_SHAPE_TOLERANCE)  # fmt: skip
            if shift is not None:
                found.append(QualityEvidence.of(day, shift))
    return found


def realized(cells: ConfusionCells | None, metric: str) -> tuple[float, int]:
    """A day's realized ``metric`` (NaN: no labels, or undefined) and the rows it is a
    proportion of (precision: the labelled flagged predictions; else the labelled)."""
    if cells is None:
        return math.nan, 0
    value = math.nan
    if cells.labelled and metric != "roc_auc":
        found = realized_from_counts(cells, None).metric(metric)
        value = math.nan if found is None else found.value
    rows = cells.tp.count + cells.fp.count if metric == "precision" else cells.labelled
    return value, rows


def _float(value: JSONValue) -> float:
    return math.nan if value is None else float(cast(float, value))


def _value(value: JSONValue) -> float | str:
    return value if isinstance(value, str) else _float(value)
