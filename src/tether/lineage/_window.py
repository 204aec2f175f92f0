"""The training window: which rows a run trains on, and what was known when.

A :class:`TrainWindow` is part of the contract of ``train(ctx)`` (``ctx.window``): training
rows have event time in ``[start, end)``, minus the ``excluded`` spans a data incident
reached, and only data known by ``cutoff`` (the loop's "now") is read. A plain
``tether train`` gets the whole data (:func:`whole_data`).

The maturity rule: a payment's label counts once it has arrived or its outcome window
(``[monitoring] outcome_window_days``) has closed, when a payment without a label is
honest. A window is mature when ``end <= cutoff - outcome window``: every row in it has
either its label or the certainty that none is coming. The naive window (the last 30 days
with the labels known now) is refused by :func:`check_matured`, because its recent labels
are nearly all fraud: chargebacks arrive in days, honest outcomes only when the window closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tether.errors import ConfigError, ImmatureWindowError

__all__ = ["ImmatureWindowError", "TrainWindow", "check_matured", "choose_window", "whole_data"]

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class TrainWindow:
    """Rows with event time in ``[start, end)`` outside ``excluded``, data known by ``cutoff``.

    All times are tz-aware UTC.

    >>> w = TrainWindow(datetime(2026, 1, 1, tzinfo=UTC),
    ...                 datetime(2026, 3, 1, tzinfo=UTC),
    ...                 datetime(2026, 5, 1, tzinfo=UTC))
    >>> TrainWindow.from_dict(w.to_dict()) == w
    True
    """

    start: datetime
    end: datetime
    cutoff: datetime
    excluded: tuple[Span, ...] = ()

    def __post_init__(self) -> None:
        for name, moment in (("start", self.start), ("end", self.end), ("cutoff", self.cutoff)):
            _check_aware(moment, f"TrainWindow.{name}")
        if self.end <= self.start:
            raise ConfigError(
                f"TrainWindow end {self.end.isoformat()} is not after start "
                f"{self.start.isoformat()}: expected start < end."
            )
        for low, high in self.excluded:
            _check_aware(low, "TrainWindow.excluded start")
            _check_aware(high, "TrainWindow.excluded end")
            if high <= low:
                raise ConfigError(
                    f"TrainWindow excluded span {low.isoformat()} to {high.isoformat()} is "
                    "empty or reversed: expected start < end."
                )

    def to_dict(self) -> dict[str, str]:
        """The window as ISO strings; ``excluded`` as ``start/end`` pairs joined by ``,``."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "cutoff": self.cutoff.isoformat(),
            "excluded": ",".join(f"{a.isoformat()}/{b.isoformat()}" for a, b in self.excluded),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainWindow:
        """The window :meth:`to_dict` wrote."""
        try:
            spans = [
                tuple(_parse(part) for part in pair.split("/"))
                for pair in str(raw.get("excluded", "")).split(",")
                if pair
            ]
            return cls(
                _parse(raw["start"]),
                _parse(raw["end"]),
                _parse(raw["cutoff"]),
                tuple((span[0], span[1]) for span in spans),
            )
        except (KeyError, ValueError, IndexError) as exc:
            raise ConfigError(
                f"A recorded training window {raw!r} could not be read ({exc}): expected ISO "
                "times under start, end, cutoff and excluded."
            ) from exc

    @property
    def whole(self) -> bool:
        """Whether this is :func:`whole_data`'s window (a plain ``tether train``): the entry
        point's own params then choose its period."""
        return self.start == WHOLE_START and self.end == WHOLE_END and not self.excluded

    def describe(self) -> str:
        """One line for the audit: ``2026-01-01 to 2026-03-01 (known by ..., excluding ...)``;
        a plain ``tether train``'s is ``the whole data (known by ...)``."""
        if self.whole:  # its bounds are pandas' limits, not dates anyone chose
            return f"the whole data (data known by {self.cutoff:%Y-%m-%d})"
        text = (
            f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d} (data known by {self.cutoff:%Y-%m-%d})"
        )
        if self.excluded:
            spans = ", ".join(f"{a:%Y-%m-%d %H:%M} to {b:%Y-%m-%d %H:%M}" for a, b in self.excluded)
            text += f", excluding {spans}"
        return text


def whole_data(cutoff: datetime) -> TrainWindow:
    """The window of a plain ``tether train``: every row, data as of ``cutoff``.

    The bounds are the widest a pandas timestamp holds, so no row falls outside; the entry
    point's own params (the fraud example's ``train_start``) then decide.
    """
    return TrainWindow(WHOLE_START, WHOLE_END, cutoff)


WHOLE_START = datetime(1678, 1, 1, tzinfo=UTC)
WHOLE_END = datetime(2262, 1, 1, tzinfo=UTC)
"""pandas' nanosecond timestamps span 1677-09-21 to 2262-04-11: the whole data fits inside."""


def choose_window(
    now: datetime,
    *,
    days: int,
    outcome_window_days: int,
    incidents: Sequence[Span] = (),
    reach: timedelta = timedelta(0),
) -> TrainWindow:
    """The most recent ``days`` days whose labels have all matured, as of ``now``.

    ``end`` is ``now`` minus the outcome window, ``start`` ``days`` earlier; each incident
    span that overlaps ``[start - reach, end)`` is excluded from its start to its end plus
    ``reach`` (the longest feature window: a payment up to ``reach`` after an incident has
    features computed from the incident's events). Excluded rows are not replaced by older
    days: the window stays the one the config names.

    >>> now = datetime(2026, 6, 1, tzinfo=UTC)
    >>> w = choose_window(now, days=60, outcome_window_days=60)
    >>> (w.start.date().isoformat(), w.end.date().isoformat())
    ('2026-02-01', '2026-04-02')
    """
    _check_aware(now, "choose_window's now")
    if days <= 0 or outcome_window_days < 0 or reach < timedelta(0):
        raise ConfigError(
            f"choose_window got days={days}, outcome_window_days={outcome_window_days}, "
            f"reach={reach}: expected days > 0, outcome_window_days >= 0 and reach >= 0."
        )
    end = now - timedelta(days=outcome_window_days)
    start = end - timedelta(days=days)
    excluded = sorted(
        (low, min(high + reach, end))
        for low, high in incidents
        if high + reach > start and low < end
    )
    return TrainWindow(start, end, now, tuple(_merge(excluded)))


def check_matured(window: TrainWindow, outcome_window_days: int) -> None:
    """Refuse ``window`` unless every label in it has matured by its cut-off.

    Raises :class:`~tether.errors.ImmatureWindowError` when ``end`` is later than
    ``cutoff`` minus ``outcome_window_days`` days.
    """
    latest = window.cutoff - timedelta(days=outcome_window_days)
    if window.end > latest:
        raise ImmatureWindowError(
            f"The training window {window.describe()} ends {window.end.isoformat()}, later "
            f"than its cut-off minus the outcome window ({outcome_window_days} days: "
            f"{latest.isoformat()}). Its labels have not all arrived, and the ones that have "
            "are mostly fraud; expected end <= cutoff - outcome window (the maturity rule, "
            "[monitoring] outcome_window_days). Use choose_window for a matured window."
        )


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for low, high in spans:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    _check_aware(moment, f"the recorded time {text!r}")
    return moment


def _check_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigError(f"{name} is {moment.isoformat()}, naive: expected a tz-aware UTC time.")
