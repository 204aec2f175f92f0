"""The online half of the feature store: current feature vectors for one request, fast.

:class:`OnlineFeatureStore` takes the same views as the offline
:class:`~tether.features.FeatureStore` and an :class:`OnlineStore` (SQLite by default, Redis at
scale). :meth:`~OnlineFeatureStore.materialize` copies a view's source into the store (in full,
or incrementally from the watermark the store keeps); :meth:`~OnlineFeatureStore.push` adds
events as they happen; :meth:`~OnlineFeatureStore.get_online_features` returns, for each
entity key, every feature's value at the request time with a :class:`FeatureStatus`.

Design (decided): **request-time computation over the raw event versions, by the reference
code.** The store keeps, per view and entity, every version (row) of every event that entity
was ever the key of; a request reads those of events whose latest event time is within the
longest window before t (one indexed join in SQLite, one ``ZRANGE ... BYSCORE`` in Redis),
drops versions created at or after t and events with no visible version in
``[t - longest window, t)``, rebuilds an :class:`~tether.features.EventBatch` from them without
pandas, and runs the very function the tests use as the oracle,
:func:`~tether.features.aggregate_point`, then the transformations through the one evaluator.
Online therefore equals offline by construction, at any request time: deduplication by created
time, corrections that move an event to another entity, late events, TTLs, every null policy,
and windows that are exact at request time rather than at the last materialization. Tiles
(partial aggregates per time bucket plus the raw tail, as in Chronon and Tecton) were rejected
for now: a corrected or re-keyed event cannot be retracted from a ``min``, ``max``, ``last`` or
``count_distinct`` tile without keeping its raw rows anyway, and tiles are a second
implementation of every aggregation that would have to be kept equal to the first. What tiles
save grows with the events per entity per window, which is tens here (the fraud scenario has
about 12 payments per customer in 30 days); ``benchmarks/online_features.py`` measures the cost
(on a shared 2-core machine, a single-key vector took a median 0.7-1.2 ms of CPU with 12 live
events of 100 stored per entity, and 3.7 ms with all 100 live). Revisit, with tiles for the
long windows only, when entities have hundreds of events per window.

Writes only ever add versions (a version is its whole row, so writing it twice is a no-op) and
which version wins is decided at read time by the reference order (created time, event time,
tie-break columns), so an older write can never overwrite a newer value and a late event lands
in its place. :meth:`OnlineFeatureStore.compact` drops events too old to feed any window.
Stored data is namespaced by the view's version: a changed definition starts empty and needs a
materialization.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from tether._progress import Progress, no_progress
from tether.errors import FeatureError, RequestColumnError
from tether.features._definitions import FeatureView, Transformation
from tether.features._engine import OfflineEngine
from tether.features._evaluate import (
    Vector,
    evaluate_scalar,
    first_value,
    scalar_vector,
    time_vector,
)
from tether.features._expressions import Scalar
from tether.features._offline import Definition, FeatureStore
from tether.features._online_rows import (
    ROW_FORMAT,
    RowCodec,
    encode_key,
    materialize_query,
    normalize_key_value,
    stored_events,
)
from tether.features._online_store import OnlineStore
from tether.features._request import RequestView, request_scalars, request_vectors
from tether.features._timestamps import timestamp_micros

__all__ = [
    "FeatureStatus",
    "FeatureVector",
    "OnlineFeatureStore",
    "ViewWrite",
    "WriteReport",
]

_SOURCE_TABLE = "__tether_source"
_MATERIALIZE_CHUNK = 50_000


class FeatureStatus(enum.StrEnum):
    """What a feature value of an online vector is.

    ``VALUE``: computed from at least one event. ``EMPTY``: no event contributed, so the
    aggregation's ``empty`` value applies. ``STALE``: the newest contributing event is older
    than the view's TTL at the request time, so the ``empty`` value applies. ``UNKNOWN_ENTITY``:
    the store holds no event of this entity at all (values are the ``empty`` values too). A
    transformation takes the worst status of the features it reads (request columns count as
    ``VALUE``), in the order ``UNKNOWN_ENTITY``, ``STALE``, ``EMPTY``, ``VALUE``. The
    features of a request view are ``VALUE``: they are computed from the request itself.
    """

    VALUE = "value"
    EMPTY = "empty"
    STALE = "stale"
    UNKNOWN_ENTITY = "unknown_entity"


_SEVERITY = {status: rank for rank, status in enumerate(FeatureStatus)}


@dataclass(frozen=True)
class FeatureVector:
    """The features of one entity at one request time, each with its status.

    >>> vector["amount_mean_30d"], vector.statuses["amount_mean_30d"]  # doctest: +SKIP
    (42.5, <FeatureStatus.VALUE: 'value'>)
    """

    entity: Mapping[str, object]
    """The entity key columns as given in the request."""
    at_us: int
    """The request time, in microseconds since the epoch (UTC)."""
    values: Mapping[str, Scalar]
    """Every feature of every view, in the store's column order."""
    statuses: Mapping[str, FeatureStatus]
    """The status of each value, by feature name."""

    def __getitem__(self, name: str) -> Scalar:
        return self.values[name]


@dataclass(frozen=True)
class ViewWrite:
    """What one materialization or push did to one feature view."""

    view: str
    """The view's name."""
    rows: int
    """Source rows read (materialize) or given (push)."""
    skipped: int
    """Rows left out for a null entity key, event id or event time (as offline)."""
    new: int
    """Event versions the store did not hold before; 0 when every row was already stored."""


@dataclass(frozen=True)
class WriteReport:
    """What :meth:`OnlineFeatureStore.materialize` or :meth:`~OnlineFeatureStore.push` did.

    >>> report = online.push(one_payment)  # doctest: +SKIP
    >>> report.rows, report.new, [v.view for v in report.views]  # doctest: +SKIP
    (1, 2, ['customer_tx', 'device_tx'])
    """

    rows: int
    """Rows given (push), or source rows read summed over the views (materialize)."""
    views: tuple[ViewWrite, ...]
    """One entry per view written, in the store's order."""

    @property
    def new(self) -> int:
        """Event versions stored that the store did not hold before, over every view."""
        return sum(view.new for view in self.views)


class OnlineFeatureStore:
    """The views of a :class:`~tether.features.FeatureStore`, served from an online store.

    >>> online = OnlineFeatureStore([view], SQLiteOnlineStore.in_project("."))  # doctest: +SKIP
    >>> online.materialize()  # doctest: +SKIP
    >>> online.push(new_events)  # doctest: +SKIP
    >>> [vector] = online.get_online_features([{"customer_id": "c1"}], [{"amount": 40.0}])
    ... # doctest: +SKIP
    >>> vector["amount_ratio_30d"], vector.statuses["amount_ratio_30d"]  # doctest: +SKIP
    (0.94, <FeatureStatus.VALUE: 'value'>)
    """

    def __init__(
        self,
        views: Sequence[Definition],
        store: OnlineStore,
        *,
        engine: OfflineEngine | Literal["duckdb"] = "duckdb",
    ) -> None:
        if not isinstance(store, OnlineStore):
            raise FeatureError(f"store is {store!r}: expected an OnlineStore")
        self.offline = FeatureStore(views, engine=engine)
        self.views = self.offline.views
        self.request_views = self.offline.request_views
        self.store = store
        self._codecs = {view.name: RowCodec(view) for view in self.views}
        self._namespaces = {
            view.name: f"{view.name}@{view.version[:16]}.{ROW_FORMAT}" for view in self.views
        }
        self._key_columns = {key for view in self.views for key in view.entity.keys}

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features of every vector, in order (the same as the training set's)."""
        return self.offline.feature_names

    def namespace(self, view: FeatureView) -> str:
        """Where ``view`` lives in the store: its name, (the start of) its version, the row
        format."""
        return self._namespaces[view.name]

    def materialize(
        self, *, incremental: bool = True, progress: Progress = no_progress
    ) -> WriteReport:
        """Copy every view's source into the store; report the rows read and the new ones.

        Incremental (the default) reads only rows created at or after the watermark of the
        last materialization; the first one, and any without a created time, read everything.
        Rows read twice are stored once: the rows at the watermark are read again, so an
        incremental run with nothing new reads a few rows and reports 0 new. ``progress``
        hears each view, and the rows stored of it as each chunk is written.

        Raises:
            FeatureError: the source cannot be read. StoreUnavailableError: see the store.
        """
        written = tuple(self._materialize(view, incremental, progress) for view in self.views)
        return WriteReport(sum(view.rows for view in written), written)

    def _materialize(self, view: FeatureView, incremental: bool, progress: Progress) -> ViewWrite:
        progress(f"reading view {view.name}")
        namespace = self.namespace(view)
        since = self.store.watermark(namespace) if incremental else None
        schema = self.offline.engine.describe(view.source)
        query = materialize_query(view, _SOURCE_TABLE, schema, since)
        table = self.offline.engine.run(
            query,
            sources={_SOURCE_TABLE: view.source},
            tables={},
            what=f"materializing feature view {view.name!r}",
        )
        events = table.to_pandas()
        encoded = new = 0
        for start in range(0, len(events), _MATERIALIZE_CHUNK):
            chunk = events.iloc[start : start + _MATERIALIZE_CHUNK]
            versions = self._codecs[view.name].encode(chunk)
            encoded += len(versions)
            new += self.store.write(namespace, versions)
            progress(f"storing view {view.name}", start + len(chunk), len(events))
        newest = self._codecs[view.name].newest_created_us(events)
        if newest is not None:
            self.store.set_watermark(namespace, newest)
        return ViewWrite(view.name, len(events), len(events) - encoded, new)

    def push(self, events: pd.DataFrame, *, views: Iterable[str] | None = None) -> WriteReport:
        """Add new events (a DataFrame with the source's columns) to ``views`` (default all).

        Returns the rows given and, per view, the rows skipped (a null key, id or time, as
        offline) and the versions that were new. Pushing a row again, or an older version of
        an event, changes nothing that a newer version decides.

        Raises:
            FeatureError: a column is missing or holds the wrong kind of value.
        """
        chosen = [self.offline.view(name) for name in views] if views is not None else self.views
        encoded = [(view, self._codecs[view.name].encode(events)) for view in chosen]
        written = tuple(
            ViewWrite(
                view.name,
                len(events),
                len(events) - len(versions),
                self.store.write(self.namespace(view), versions),
            )
            for view, versions in encoded
        )
        return WriteReport(len(events), written)

    def compact(self, before: Any) -> int:
        """Drop events that can no longer feed any feature at a request time >= ``before``.

        Requests at earlier times may then differ from offline. Returns the events dropped.
        """
        before_us = self._request_time(before, what="compact before")
        return sum(
            self.store.compact(self.namespace(view), before_us - self._codecs[view.name].horizon_us)
            for view in self.views
        )

    def get_online_features(
        self,
        entity_keys: Sequence[Mapping[str, object]],
        request_data: Sequence[Mapping[str, Scalar]] | None = None,
        *,
        at: Any = None,
    ) -> list[FeatureVector]:
        """Return one :class:`FeatureVector` per entity key row, as of ``at`` (default now).

        ``entity_keys`` holds one mapping per entity, with the key columns of every view;
        ``request_data`` one mapping per entity with the request columns the transformations
        and request views need (e.g. the amount, category and country being scored). ``at``
        is a UTC time (naive only when every view's source says naive times are UTC) or
        integer microseconds since the epoch, or a list (or tuple) of those with one time per
        entity key row: a replayed batch, whose instances each have their own event time.

        A batch costs one store read per view whatever its times: the read starts at the
        earliest row's horizon, and each row then keeps only the events that can feed its
        own windows (:func:`stored_events`), so the values equal one call per row.

        Raises:
            FeatureError: an unknown or missing key column, a missing request column, or a
                naive or invalid time. StoreUnavailableError: the store cannot be reached.
        """
        times = self._request_times(at, len(entity_keys))
        requests = self._check_request(entity_keys, request_data)
        values: list[dict[str, Scalar]] = [{} for _ in entity_keys]
        statuses: list[dict[str, FeatureStatus]] = [{} for _ in entity_keys]
        for view in self.views:
            self._view_vectors(view, entity_keys, requests, times, (values, statuses))
        for request_view in self.request_views:
            for position, computed in enumerate(_request_rows(request_view, requests, times)):
                values[position].update(computed)
                statuses[position].update(dict.fromkeys(computed, FeatureStatus.VALUE))
        return [
            FeatureVector(dict(keys), at_us, value, status)
            for keys, at_us, value, status in zip(entity_keys, times, values, statuses, strict=True)
        ]

    def _request_times(self, at: Any, rows: int) -> list[int]:
        """One request time in microseconds per entity key row."""
        if not isinstance(at, list | tuple):
            moment = datetime.now(UTC) if at is None else at
            return [self._request_time(moment, what="request time at")] * rows
        if len(at) != rows:
            raise FeatureError(
                f"at has {len(at)} times but entity_keys has {rows} rows: expected one time, "
                "or one per entity key row"
            )
        return [
            self._request_time(moment, what=f"request time at[{i}]") for i, moment in enumerate(at)
        ]

    def _request_time(self, at: Any, *, what: str) -> int:
        """``at`` in microseconds; naive only if every view's source takes naive times as UTC."""
        lenient = all(view.source.naive_timestamps == "utc" for view in self.views)
        return timestamp_micros(at, what=what, naive="utc" if lenient else "reject")

    def _check_request(
        self,
        entity_keys: Sequence[Mapping[str, object]],
        request_data: Sequence[Mapping[str, Scalar]] | None,
    ) -> Sequence[Mapping[str, Scalar]]:
        requests = request_data if request_data is not None else [{}] * len(entity_keys)
        if len(requests) != len(entity_keys):
            raise FeatureError(
                f"request_data has {len(requests)} rows but entity_keys has {len(entity_keys)}: "
                "expected one request row per entity key row"
            )
        needed = sorted(self._key_columns)
        for position, (keys, request) in enumerate(zip(entity_keys, requests, strict=True)):
            unknown = sorted(set(keys) - self._key_columns)
            missing = [column for column in needed if column not in keys]
            if unknown or missing:
                problem = f"unknown column(s) {unknown}" if unknown else f"no column(s) {missing}"
                raise FeatureError(
                    f"entity key row {position} has {problem}: expected the entity key "
                    f"columns {needed}"
                )
            _check_request_row([*self.views, *self.request_views], request, position)
        return requests

    def _view_vectors(
        self,
        view: FeatureView,
        entity_keys: Sequence[Mapping[str, object]],
        requests: Sequence[Mapping[str, Scalar]],
        times: Sequence[int],
        out: tuple[list[dict[str, Scalar]], list[dict[str, FeatureStatus]]],
    ) -> None:
        if not entity_keys:
            return
        keys = [[normalize_key_value(row[c]) for c in view.entity.keys] for row in entity_keys]
        codec, namespace = self._codecs[view.name], self.namespace(view)
        entities = [encode_key(key) for key in keys]
        # One read for the batch from its earliest horizon; stored_events then drops, per
        # row, what its own later horizon excludes (the extra rows are exactly those).
        rows = self.store.read(namespace, entities, min(times) - codec.horizon_us)
        for position, (key, stored) in enumerate(zip(keys, rows, strict=True)):
            known = stored is not None and all(value is not None for value in key)
            at_us = times[position]
            results = stored_events(codec, stored or [], at_us).aggregate(key, at_us)
            values, statuses = out[0][position], out[1][position]
            for name, result in results.items():
                values[name] = result.value
                statuses[name] = _status(result.newest_event_us, result.stale, known)
            for transformation in view.transformations:
                _transform(transformation, requests[position], values, statuses)


def _request_rows(
    view: RequestView, requests: Sequence[Mapping[str, Scalar]], times: Sequence[int]
) -> list[dict[str, Scalar]]:
    """The request view's features of each request, computed over the batch at once.

    One vectorized pass instead of one per request: the per-request pass spent most of a
    replayed batch's lookup (1.4 of 2.1 s for a thousand payments, mostly building a pandas
    Series per request for each encoding). Only when each request column holds values of one
    kind in every row (all strings, say); otherwise, one request at a time, as before, so that
    a column mixing kinds is computed exactly as a single request computes it.
    """
    columns: dict[str, Vector] = {}
    for name in view.request_columns:
        parts = [
            scalar_vector(request[name], what=f"request column {name!r}") for request in requests
        ]
        kinds = {part.kind for part in parts}
        if len(kinds) != 1:
            return [request_scalars(view, r, t) for r, t in zip(requests, times, strict=True)]
        columns[name] = Vector(
            parts[0].kind,
            np.concatenate([part.values for part in parts]),
            np.concatenate([part.null for part in parts]),
        )
    at = time_vector(np.asarray(times, dtype=np.int64))
    vectors = request_vectors(view, columns, at, length=len(requests))
    return [
        {name: _value_at(vector, position) for name, vector in vectors.items()}
        for position in range(len(requests))
    ]


def _value_at(vector: Vector, position: int) -> Scalar:
    """The value at ``position`` as a plain Python scalar, as :func:`first_value` gives it."""
    if vector.kind == "time":
        return first_value(vector)  # refuses times, with its message
    if vector.null[position]:
        return None
    item: Scalar = vector.values[position]
    return item if vector.kind == "string" else vector.values[position].item()


def _status(newest_event_us: int | None, stale: bool, known: bool) -> FeatureStatus:
    if not known:
        return FeatureStatus.UNKNOWN_ENTITY
    if stale:
        return FeatureStatus.STALE
    return FeatureStatus.EMPTY if newest_event_us is None else FeatureStatus.VALUE


def _check_request_row(
    views: Sequence[Definition], request: Mapping[str, Scalar], position: int
) -> None:
    for view in views:
        for feature, columns in _request_inputs(view):
            missing = [column for column in columns if column not in request]
            if missing:
                raise RequestColumnError(
                    f"request row {position} lacks {missing}, needed by feature {feature!r}: "
                    f"expected the request columns {list(view.request_columns)}",
                    row=position,
                    column=missing[0],
                )


def _request_inputs(view: Definition) -> list[tuple[str, tuple[str, ...]]]:
    """Each feature of ``view`` that reads request columns, with those columns."""
    if isinstance(view, FeatureView):
        return [(t.name, tuple(t.request)) for t in view.transformations]
    request = set(view.request_columns)
    return [(f.name, tuple(c for c in f.inputs if c in request)) for f in view.features]


def _transform(
    transformation: Transformation,
    request: Mapping[str, Scalar],
    values: dict[str, Scalar],
    statuses: dict[str, FeatureStatus],
) -> None:
    """Compute one transformation with the evaluator offline uses, and its status."""
    request_columns = set(transformation.request)
    inputs = {
        name: request[name] if name in request_columns else values[name]
        for name in transformation.inputs
    }
    values[transformation.name] = evaluate_scalar(transformation.parsed, inputs)
    read = [statuses[name] for name in transformation.inputs if name in statuses]
    statuses[transformation.name] = max(
        read, key=lambda status: _SEVERITY[status], default=FeatureStatus.VALUE
    )
