"""The reference computation of a view's features for one (entity, t), in plain Python.

This is the definition of what the SQL computes, written the obvious way: it is the oracle the
tests compare both engines with, and the online path's computation over the raw tail of
events. It never touches SQL.

For a view, an entity key and a time t (microseconds since the epoch, UTC):

1. usable rows have a non-null key, event id, event time and (when the source has one)
   created time;
2. a row is visible when, if the source has a created time, it was created strictly before
   t (late rows do not leak);
3. of the visible versions of each event id (whatever their key), the last in the order
   (created time, event time, :attr:`FeatureView.tie_break_columns`, nulls first) is the
   event; earlier ones are ignored, and so is the event if that version has another key;
4. an event contributes to an aggregation when ``t - window <= event time < t``, its filter is
   true, and its input is not null (unless ``null_fill`` replaces nulls); ``since_last`` is
   ``(t - the newest contributing event time) / unit``;
5. the aggregation of no contributing value is its ``empty`` value; so is the value of a view
   with a TTL whose newest contributing event is older than the TTL (``t - time > ttl``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.errors import FeatureError
from tether.features._definitions import Aggregation, FeatureView
from tether.features._evaluate import evaluate, evaluate_scalar, vector_from_values
from tether.features._expressions import Scalar, referenced_names
from tether.features._timestamps import series_micros, timestamp_micros

__all__ = ["AggregateValue", "EventBatch", "aggregate_point", "point_values"]


@dataclass(frozen=True)
class AggregateValue:
    """One aggregation's value at (entity, t), with what the online path needs to judge it.

    ``newest_event_us`` is the time of the newest contributing event (None when nothing
    contributes); ``stale`` is true when the view's TTL replaced the value by the empty value.
    """

    value: Scalar
    newest_event_us: int | None
    stale: bool


def _python(value: Any) -> Scalar:
    scalar: Scalar = value.item() if isinstance(value, np.generic) else value
    return scalar


class EventBatch:
    """The events of a view (one entity or many), normalised once for many point-in-time queries.

    ``events`` is a DataFrame with the source's columns (at least :attr:`FeatureView.
    source_columns`).

    Raises:
        FeatureError: a column is missing or a time column holds something other than times.
    """

    def __init__(self, view: FeatureView, events: pd.DataFrame) -> None:
        missing = [c for c in view.source_columns if c not in events.columns]
        if missing:
            raise FeatureError(
                f"events for feature view {view.name!r} lack column(s) {missing}: expected "
                f"the source columns {list(view.source_columns)}"
            )
        source = view.source
        self.view = view
        self.size = len(events)
        self.event_us, usable = self._times(events, source.event_time)
        self.created_us = np.zeros(self.size, dtype=np.int64)
        if source.created_time is not None:
            self.created_us, created_ok = self._times(events, source.created_time)
            usable &= created_ok
        self.raw = {c: events[c].to_numpy(dtype=object) for c in view.source_columns}
        self.null = {c: events[c].isna().to_numpy(dtype=np.bool_) for c in view.source_columns}
        for column in (*source.key_columns, source.event_id):
            usable &= ~self.null[column]
        self.usable = usable
        self.filters = {agg.name: self._filter(agg, events) for agg in view.aggregations}
        self.order = [self._version_order(row) for row in range(self.size)]

    def _times(self, events: pd.DataFrame, column: str) -> tuple[npt.NDArray[np.int64], Any]:
        what = f"source column {column!r} of feature view {self.view.name!r}"
        micros, null = series_micros(
            events[column], what=what, naive=self.view.source.naive_timestamps
        )
        return micros, ~null

    def _filter(self, aggregation: Aggregation, events: pd.DataFrame) -> npt.NDArray[np.bool_]:
        if aggregation.filter_expression is None:
            return np.ones(self.size, dtype=np.bool_)
        columns = {
            name: vector_from_values(
                events[name],
                what=f"source column {name!r}",
                naive=self.view.source.naive_timestamps,
            )
            for name in referenced_names(aggregation.filter_expression)
        }
        result = evaluate(aggregation.filter_expression, columns, length=self.size)
        if result.kind not in ("boolean", "null"):
            raise FeatureError(
                f"filter of feature {aggregation.name!r} gives {result.kind} values: "
                "expected a condition (true or false)"
            )
        return np.asarray(result.values & ~result.null, dtype=np.bool_)

    def _version_order(self, row: int) -> tuple[Any, ...]:
        # Nulls sort first: (0,) < (1, value) whatever the value.
        columns = self.view.tie_break_columns
        values = tuple((0,) if self.null[c][row] else (1, self.raw[c][row]) for c in columns)
        return (int(self.created_us[row]), int(self.event_us[row]), *values)

    def visible(self, key: Sequence[object], at_us: int) -> list[int]:
        """Return the rows that are the events of ``key`` as known at ``at_us``, before it.

        Versions are resolved across all keys first: a correction that moves an event to
        another entity takes it away from the first one.
        """
        source = self.view.source
        known = self.usable.copy()
        if source.created_time is not None:
            known &= self.created_us < at_us
        latest: dict[object, int] = {}
        for row in np.flatnonzero(known):
            event_id = self.raw[source.event_id][row]
            if event_id not in latest or self.order[row] >= self.order[latest[event_id]]:
                latest[event_id] = int(row)
        return sorted(
            row for row in latest.values() if self.event_us[row] < at_us and self._has_key(row, key)
        )

    def _has_key(self, row: int, key: Sequence[object]) -> bool:
        columns = self.view.source.key_columns
        return all(self.raw[c][row] == v for c, v in zip(columns, key, strict=True))


def aggregate_point(batch: EventBatch, key: Sequence[object], at: Any) -> dict[str, AggregateValue]:
    """Compute every aggregation of ``batch.view`` for entity ``key`` at time ``at``.

    ``at`` is a timestamp (UTC-aware, or naive when the source says naive times are UTC) or
    an integer of microseconds since the epoch.
    """
    view = batch.view
    at_us = timestamp_micros(at, what="time t", naive=view.source.naive_timestamps)
    rows = batch.visible(key, at_us)
    return {agg.name: _aggregate(batch, agg, rows, at_us) for agg in view.aggregations}


def _aggregate(batch: EventBatch, agg: Aggregation, rows: list[int], at_us: int) -> AggregateValue:
    start = at_us - agg.window_us
    picked = [r for r in rows if batch.event_us[r] >= start and batch.filters[agg.name][r]]
    values: list[Any] = [None] * len(picked)
    if agg.column is not None:
        nulls, raw = batch.null[agg.column], batch.raw[agg.column]
        if agg.null_fill is None:
            picked = [r for r in picked if not nulls[r]]
        values = [agg.null_fill if nulls[r] else _python(raw[r]) for r in picked]
    if not picked:
        return AggregateValue(agg.empty_value, None, stale=False)
    newest = max(int(batch.event_us[r]) for r in picked)
    ttl = batch.view.ttl_us
    if ttl is not None and newest < at_us - ttl:
        return AggregateValue(agg.empty_value, newest, stale=True)
    if agg.function == "since_last":
        assert agg.unit_us is not None
        # int / int is correctly rounded, as is the engines' DOUBLE division of the same
        # exact integers (both below 2**53): the same float on every path.
        return AggregateValue((at_us - newest) / agg.unit_us, newest, stale=False)
    return AggregateValue(_combine(batch, agg, picked, values), newest, stale=False)


def _combine(batch: EventBatch, agg: Aggregation, rows: list[int], values: list[Any]) -> Scalar:
    function = agg.function
    if function == "count":
        return len(rows)
    if function == "count_distinct":
        return len(set(values))
    if function == "sum":
        return math.fsum(float(v) for v in values)
    if function == "mean":
        return math.fsum(float(v) for v in values) / len(values)
    if function == "min":
        return _python(min(values))
    if function == "max":
        return _python(max(values))
    event_id = batch.raw[batch.view.source.event_id]
    latest = max(range(len(rows)), key=lambda i: (int(batch.event_us[rows[i]]), event_id[rows[i]]))
    return _python(values[latest])


def point_values(
    batch: EventBatch, key: Sequence[object], at: Any, request: Mapping[str, Scalar]
) -> dict[str, Scalar]:
    """Compute every feature of ``batch.view`` (aggregations, then transformations) at ``at``.

    ``request`` holds the request columns the transformations need.

    Raises:
        FeatureError: a request column is missing.
    """
    values: dict[str, Scalar] = {
        name: result.value for name, result in aggregate_point(batch, key, at).items()
    }
    for transformation in batch.view.transformations:
        missing = [c for c in transformation.request if c not in request]
        if missing:
            raise FeatureError(
                f"request for feature {transformation.name!r} lacks {missing}: expected "
                f"the request columns {list(transformation.request)}"
            )
        inputs = {**{c: request[c] for c in transformation.request}, **values}
        values[transformation.name] = evaluate_scalar(transformation.parsed, inputs)
    return values
