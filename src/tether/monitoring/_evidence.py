"""What a diagnosis looks at: a model's daily monitor results, data-quality findings by day,
and the registry changes that might explain them (the inputs of :func:`diagnose`).

The monitor fills these once per model from what it already computed: one
:class:`DayEvidence` per daily window (its counts, the realized and estimated metric, the
score's PSI, the share of drifted features), one :class:`QualityEvidence` per data-quality
finding of a day's window (:meth:`QualityEvidence.of` takes the quality checks' findings as
they are), and one :class:`RegistryChange` per registry event (:meth:`RegistryChange.of_event`)
or feature-definition change. Days are UTC calendar days on the project's clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Literal, Protocol

from tether._names import CHALLENGER, CHAMPION
from tether.errors import MonitoringError

if TYPE_CHECKING:
    from tether.registry import Event

RegistryChangeKind = Literal["deploy", "features"]
"""A registry change: ``"deploy"`` changed which version answers requests (a deploy,
promotion, rollback or retirement that moved the champion or challenger alias);
``"features"`` changed the feature definitions."""


@dataclass(frozen=True)
class DayEvidence:
    """One model's monitor results for one day's window (NaN: not computed, or no data).

    Attributes:
        day: the window's day.
        predictions: predictions served that day.
        labelled: of those, how many have a matured label (the maturity rule's).
        label_completeness: ``labelled / predictions`` unless the monitor says otherwise
            (NaN: computed from the two).
        realized: the realized metric (e.g. precision at the version's threshold) over the
            labelled predictions.
        estimated: the metric estimated from the scores (CBPE).
        score_psi: the PSI of the score against the reference *of the version that scored
            it* (a mix of versions against one reference would step at every deploy).
        drifted_share: the share of monitored features whose drift verdict is "drifted".
        metric_rows: the rows the realized metric is a proportion of, when not ``labelled``
            (for precision: the labelled predictions at or above the threshold); the weight of
            the day in the realized series (0: the metric is undefined that day).
    """

    day: date
    predictions: int
    labelled: int = 0
    label_completeness: float = math.nan
    realized: float = math.nan
    estimated: float = math.nan
    score_psi: float = math.nan
    drifted_share: float = math.nan
    metric_rows: int | None = None

    def __post_init__(self) -> None:
        if self.predictions < 0 or not 0 <= self.labelled <= max(self.predictions, 0):
            raise MonitoringError(
                f"The evidence of {self.day.isoformat()} has {self.labelled} labelled of "
                f"{self.predictions} predictions; expected 0 <= labelled <= predictions."
            )

    @property
    def weight(self) -> float:
        """The day's weight in the realized series: the rows its metric is computed over."""
        return float(self.labelled if self.metric_rows is None else self.metric_rows)

    @property
    def completeness(self) -> float:
        """The share of the day's predictions with a matured label."""
        if not math.isnan(self.label_completeness):
            return self.label_completeness
        return self.labelled / self.predictions if self.predictions else 0.0


class Finding(Protocol):
    """A data-quality finding as the quality checks report it."""

    @property
    def check(self) -> str: ...
    @property
    def feature(self) -> str: ...
    @property
    def value(self) -> float | str: ...
    @property
    def reference(self) -> float | str: ...
    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class QualityEvidence:
    """A data-quality finding on one day's window: check, feature, value seen, reference value."""

    day: date
    check: str
    feature: str
    value: float | str
    reference: float | str
    message: str = ""

    @classmethod
    def of(cls, day: date, finding: Finding) -> QualityEvidence:
        """The evidence of a quality check's ``finding`` on ``day``'s window."""
        return cls(
            day, finding.check, finding.feature, finding.value, finding.reference, finding.message
        )

    def describe(self) -> str:
        """The finding in words."""
        return self.message or (
            f"{self.check} on {self.feature!r}: {_show(self.value)} against "
            f"{_show(self.reference)} in the reference"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (a NaN is null)."""
        return {
            "day": self.day.isoformat(),
            "check": self.check,
            "feature": self.feature,
            "value": _plain(self.value),
            "reference": _plain(self.reference),
            "message": self.describe(),
        }


@dataclass(frozen=True)
class RegistryChange:
    """Something the registry changed at a time on the project's clock (an event's ``time``)."""

    time: datetime
    kind: RegistryChangeKind
    description: str
    event_id: int | None = None

    @property
    def day(self) -> date:
        """The UTC day it happened on."""
        return self.time.astimezone(UTC).date()

    @classmethod
    def of_event(cls, event: Event) -> RegistryChange | None:
        """The change an event log's event made to what answers requests, or ``None`` if it
        moved no champion or challenger alias (a registration, a trust record, a shadow or the
        previous-champion bookmark: nothing answered differently)."""
        before, after = dict(event.before), dict(event.after)
        moved = [
            alias for alias in sorted({*before, *after}) if before.get(alias) != after.get(alias)
        ]
        if not any(alias in (CHAMPION, CHALLENGER) for alias in moved):
            return None
        words = ", ".join(f"{a} {before.get(a, '-')} -> {after.get(a, '-')}" for a in moved)
        return cls(event.time, "deploy", f"{event.action} ({words}) by {event.actor}", event.id)

    @classmethod
    def of_events(cls, events: Iterable[Event], model: str) -> tuple[RegistryChange, ...]:
        """The changes ``model``'s events made, in the events' order (see :meth:`of_event`)."""
        changes = (cls.of_event(event) for event in events if event.model == model)
        return tuple(change for change in changes if change is not None)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "time": self.time.isoformat(),
            "kind": self.kind,
            "description": self.description,
            "event_id": self.event_id,
        }


@dataclass(frozen=True)
class DiagnosisInput:
    """Everything :func:`diagnose` weighs for one model.

    Attributes:
        model: the model's name.
        days: its daily evidence, one per day, in day order (gaps allowed).
        quality: the data-quality findings of those days.
        changes: the registry changes around them (events of other models left out).
        new_labelled_rows: matured labelled rows newer than the serving version's training
            data: what a retrain could learn from.
        metric: the realized / estimated metric's name, for the reasons (``"precision"``).
        below_floor: the performance rule's words when it fired on the serving version's
            matured window (its metric below the floor, with labels enough), else empty.
    """

    model: str
    days: tuple[DayEvidence, ...]
    quality: tuple[QualityEvidence, ...] = ()
    changes: tuple[RegistryChange, ...] = ()
    new_labelled_rows: int = 0
    metric: str = "precision"
    below_floor: str = ""

    def __post_init__(self) -> None:
        days = [evidence.day for evidence in self.days]
        if any(b <= a for a, b in pairwise(days)):
            raise MonitoringError(
                f"The daily evidence of {self.model!r} must be one per day in day order; got "
                f"{[d.isoformat() for d in days]}."
            )


def _plain(value: float | str) -> float | str | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _show(value: float | str) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
