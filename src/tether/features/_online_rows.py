"""Event versions as the online stores keep them, and their computation at request time.

A :class:`RowCodec` turns source rows into :class:`StoredVersion` values. A stored row is
``event_us <TAB> created_us <TAB> event id <TAB> [values, filter bits]`` (the last two as
canonical JSON, which never holds a raw tab), so a request can drop rows by time before it
parses any JSON. ``values`` are the view's non-time source columns (keys, event id,
aggregation inputs) and the filter
bits are each aggregation's filter, evaluated once at write time by the reference
:class:`~tether.features._aggregate.EventBatch` (a view's stored data is namespaced by its
version, so a changed filter never meets old bits). :func:`stored_events` turns stored rows
back into an ``EventBatch`` without pandas, so that the reference
:func:`~tether.features._aggregate.aggregate_point` computes the online value itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlglot import exp

from tether.errors import FeatureError
from tether.features._aggregate import AggregateValue, EventBatch, aggregate_point
from tether.features._definitions import FeatureView
from tether.features._engine import SourceSchema
from tether.features._timestamps import series_micros, timestamp_micros

__all__ = [
    "ROW_FORMAT",
    "RowCodec",
    "StoredEvents",
    "StoredVersion",
    "encode_key",
    "materialize_query",
    "normalize_key_value",
    "stored_events",
]

ROW_FORMAT = 1
"""The layout of a stored row; part of every namespace, so a new layout starts empty."""

Row = list[Any]
"""A decoded stored row: ``[event_us, created_us, values, filter bits]``."""


@dataclass(frozen=True)
class StoredVersion:
    """One version (source row) of an event, as an online store keeps it.

    ``event_id`` and ``entity`` are canonical JSON texts (of the event id; of the list of
    entity key values); ``row`` is the whole encoded row, which is also the version's
    identity: two rows equal in every column the view reads are one version.
    """

    event_id: str
    entity: str
    event_us: int
    row: str


def normalize_key_value(value: object) -> object:
    """One spelling per key value: numpy scalars become Python, whole floats become ints."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def _json(value: object, *, what: str) -> str:
    try:
        return _ENCODE(value)
    except (TypeError, ValueError) as exc:
        raise FeatureError(
            f"{what} holds {value!r}: expected numbers, strings or booleans"
        ) from exc


def encode_key(key: Sequence[object]) -> str:
    """The text an entity is stored under: canonical JSON of its normalized key values."""
    return _json([normalize_key_value(value) for value in key], what="entity key")


class RowCodec:
    """Encodes a view's source rows for the online store, and knows how to read them back."""

    def __init__(self, view: FeatureView) -> None:
        source = view.source
        self.view = view
        self.value_columns = tuple(c for c in view.source_columns if c not in source.time_columns)
        self.key_positions = tuple(self.value_columns.index(c) for c in source.key_columns)
        self.id_position = self.value_columns.index(source.event_id)
        self.horizon_us = max(agg.window_us for agg in view.aggregations)
        self.created = source.created_time is not None
        self.tie_break = view.tie_break_columns

    def encode(self, events: pd.DataFrame) -> list[StoredVersion]:
        """Encode every usable row of ``events`` (rows with a null key, id or time never count).

        Raises:
            FeatureError: a column is missing, or a time or value column holds the wrong kind.
        """
        batch = _Batch(self.view, events)
        rows = np.flatnonzero(batch.usable)
        columns = [_column(batch, column, rows) for column in self.value_columns]
        filters = [batch.filters[agg.name][rows].astype(np.int8) for agg in self.view.aggregations]
        bits = np.column_stack(filters).tolist() if filters else [[] for _ in rows]
        times = zip(batch.event_us[rows].tolist(), batch.created_us[rows].tolist(), strict=True)
        where = f"a row of the events for feature view {self.view.name!r}"
        versions = []
        for (event_us, created_us), values, row_bits in zip(
            times, zip(*columns, strict=True), bits, strict=True
        ):
            event_id = _json(normalize_key_value(values[self.id_position]), what=where)
            rest = _json([values, row_bits], what=where)
            versions.append(
                StoredVersion(
                    event_id=event_id,
                    entity=encode_key([values[i] for i in self.key_positions]),
                    event_us=event_us,
                    row=f"{event_us}\t{created_us}\t{event_id}\t{rest}",
                )
            )
        return versions

    def newest_created_us(self, events: pd.DataFrame) -> int | None:
        """The latest created time among ``events`` (None without created times or rows)."""
        created = self.view.source.created_time
        if created is None or events.empty:
            return None
        micros, null = series_micros(
            events[created], what=f"source column {created!r}", naive="utc"
        )
        return None if null.all() else int(micros[~null].max())


def _python(value: Any) -> Any:
    if isinstance(value, datetime):
        # A time column that a filter reads (not the event or created time, stored apart):
        # as microseconds, which order like the times themselves for the tie-break.
        return timestamp_micros(value, what="a time value", naive="utc")
    return value.item() if isinstance(value, np.generic) else value


def _column(batch: EventBatch, column: str, rows: npt.NDArray[np.intp]) -> list[Any]:
    """The values of ``column`` at ``rows`` as plain Python values, None for nulls."""
    raw, null = batch.raw[column][rows].tolist(), batch.null[column][rows].tolist()
    return [None if missing else _python(value) for value, missing in zip(raw, null, strict=True)]


class _Batch(EventBatch):
    """The reference :class:`EventBatch`, with the view's tie-break columns looked up once.

    ``FeatureView.tie_break_columns`` is a property computed on each access, and
    ``EventBatch._version_order`` reads it once per row: a tenth of a millisecond per row,
    which would dominate the online path. This is the same order (a test checks it).
    """

    def __init__(self, view: FeatureView, events: pd.DataFrame) -> None:
        self._tie_break = view.tie_break_columns
        super().__init__(view, events)

    def _version_order(self, row: int) -> tuple[Any, ...]:
        # Nulls sort first: (0,) < (1, value) whatever the value.
        values = tuple(
            (0,) if self.null[c][row] else (1, self.raw[c][row]) for c in self._tie_break
        )
        return (int(self.created_us[row]), int(self.event_us[row]), *values)


class StoredEvents(_Batch):
    """An :class:`EventBatch` rebuilt from stored rows, without pandas (fast for tens of rows).

    It sets exactly the attributes ``EventBatch.__init__`` sets, from the stored values, so the
    inherited reference methods run unchanged.
    """

    def __init__(self, codec: RowCodec, rows: Sequence[Row]) -> None:
        # Deliberately not EventBatch.__init__: the rows were normalised when they were written.
        view = codec.view
        self._tie_break = codec.tie_break
        self.view = view
        self.size = len(rows)
        self.event_us = np.array([row[0] for row in rows], dtype=np.int64)
        self.created_us = np.array([row[1] for row in rows], dtype=np.int64)
        self.usable = np.ones(self.size, dtype=np.bool_)
        self.raw, self.null = {}, {}
        for position, column in enumerate(codec.value_columns):
            values = np.empty(self.size, dtype=object)
            values[:] = [row[2][position] for row in rows]
            self.raw[column] = values
            self.null[column] = np.array([v is None for v in values], dtype=np.bool_)
        self.filters = {
            agg.name: np.array([row[3][i] for row in rows], dtype=np.bool_)
            for i, agg in enumerate(view.aggregations)
        }
        self.order = [self._version_order(row) for row in range(self.size)]

    def aggregate(self, key: Sequence[object], at_us: int) -> dict[str, AggregateValue]:
        """Every aggregation of the view for ``key`` at ``at_us``, by the reference code."""
        return aggregate_point(self, key, at_us)


def stored_events(codec: RowCodec, texts: Sequence[str], at_us: int) -> StoredEvents:
    """Decode stored rows, keeping only those that can matter at ``at_us``.

    Dropped: versions created at or after ``at_us`` (invisible then), and events none of whose
    visible versions lies in ``[at_us - longest window, at_us)`` (whichever version wins, it
    feeds no window). Both are rows the reference would ignore anyway; dropping them first
    keeps the work proportional to the events in the window, not to all the stored ones.
    """
    start = at_us - codec.horizon_us
    visible: list[tuple[int, int, str, str]] = []
    for text in texts:
        event, created, event_id, rest = text.split("\t", 3)
        created_us = int(created)
        if created_us < at_us or not codec.created:
            visible.append((int(event), created_us, event_id, rest))
    live = {event_id for event_us, _, event_id, _ in visible if start <= event_us < at_us}
    rows = [
        [event_us, created_us, *json.loads(rest)]
        for event_us, created_us, event_id, rest in visible
        if event_id in live
    ]
    return StoredEvents(codec, rows)


def materialize_query(
    view: FeatureView, table: str, schema: SourceSchema, since_us: int | None
) -> exp.Select:
    """Select the view's source columns, only rows created at or after ``since_us`` if given.

    Raises:
        FeatureError: the source lacks a column the view reads.
    """
    missing = [c for c in view.source_columns if c not in schema.kinds]
    if missing:
        raise FeatureError(
            f"{view.source.format} source {view.source.location!r} of feature view "
            f"{view.name!r} has no column(s) {missing}: expected {list(view.source_columns)}"
        )
    columns = [exp.column(exp.to_identifier(c, quoted=True)) for c in view.source_columns]
    query = exp.select(*columns).from_(exp.to_table(table))
    created = view.source.created_time
    if since_us is None or created is None:
        return query
    column: exp.Expr = exp.column(exp.to_identifier(created, quoted=True))
    if schema.kinds[created] == "naive_timestamp":
        column = exp.Cast(this=column, to=exp.DataType.build("TIMESTAMP"))
    since = exp.Cast(this=exp.Literal.number(since_us), to=exp.DataType.build("BIGINT"))
    return query.where(exp.GTE(this=exp.UnixMicros(this=column), expression=since))
