"""Feature definitions: plain, frozen objects, validated when they are made.

An :class:`Entity` names the key columns of a spine; an :class:`EventSource` says where the
raw events are and which columns hold their key, id, event time and (optionally) created time;
a :class:`FeatureView` ties an entity and a source to a list of features, each either an
:class:`Aggregation` over the source's events or a :class:`Transformation` of other features
and request data. Every error names the field and what was expected.

Each definition has a ``version``: the sha256 of its normalized form (canonical JSON of
:meth:`to_dict`). Normalized means that what cannot change a value does not change the
version: ``"24h"`` and ``"1d"`` are one window, ``a+b`` and ``(a + b)`` one expression, the
order of request columns is irrelevant. The order of features does change it, because it is
the order of the training set's columns.

>>> customer = Entity("customer", keys=["customer_id"])
>>> customer.keys
('customer_id',)
"""

from __future__ import annotations

import enum
import hashlib
import json
import keyword
import os
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeAlias, get_args

from tether.errors import FeatureError
from tether.features._durations import duration_micros, format_duration, parse_duration
from tether.features._expressions import (
    Expression,
    Scalar,
    canonical_text,
    parse_expression,
    referenced_names,
)

__all__ = [
    "AGGREGATION_FUNCTIONS",
    "DEFINITIONS_FORMAT",
    "Aggregation",
    "AggregationFunction",
    "Entity",
    "EventSource",
    "Feature",
    "FeatureView",
    "NaiveTimestamps",
    "Transformation",
    "check_name",
    "definition_digest",
]

DEFINITIONS_FORMAT = "tether.features/1"
"""Written into every normalized definition; bumped when the meaning of a definition changes."""

AggregationFunction: TypeAlias = Literal[
    "count", "sum", "mean", "min", "max", "count_distinct", "last", "since_last"
]
AGGREGATION_FUNCTIONS: tuple[AggregationFunction, ...] = get_args(AggregationFunction)
NaiveTimestamps: TypeAlias = Literal["reject", "utc"]
SourceFormat: TypeAlias = Literal["parquet", "csv", "table"]
_COUNTS = ("count", "count_distinct")
_NUMERIC = ("sum", "mean", "since_last")


class _Default(enum.Enum):
    """The type of :data:`DEFAULT`, the empty value an aggregation gets unless told otherwise."""

    DEFAULT = "default"


DEFAULT = _Default.DEFAULT


def definition_digest(document: dict[str, Any]) -> str:
    """Return the sha256 hex digest of ``document`` as canonical JSON."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a name (a Python identifier, not starting with ``__``)."""
    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
        raise FeatureError(
            f"{what} is {value!r}: expected a Python identifier such as 'tx_count_7d'"
        )
    if value.startswith("__"):
        raise FeatureError(f"{what} is {value!r}: names starting with '__' are reserved")
    return value


def _column(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FeatureError(f"{what} is {value!r}: expected a non-empty column name")
    return value


def _columns(value: object, what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise FeatureError(f"{what} is {value!r}: expected a column name or a list of them")
    columns = tuple(_column(item, what) for item in items)
    if len(set(columns)) != len(columns):
        raise FeatureError(f"{what} is {value!r}: expected each column once")
    return columns


def _choice(value: object, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise FeatureError(f"{what} is {value!r}: expected one of {', '.join(choices)}")


@dataclass(frozen=True)
class Entity:
    """What features are about (a customer, a merchant), identified by one or more key columns.

    A spine passed to ``build_training_set`` must have columns named like ``keys``.
    """

    name: str
    keys: Sequence[str]

    def __post_init__(self) -> None:
        check_name(self.name, "entity name")
        object.__setattr__(self, "keys", _columns(self.keys, f"keys of entity {self.name!r}"))

    def to_dict(self) -> dict[str, Any]:
        """Return the normalized form."""
        return {"name": self.name, "keys": list(self.keys)}


@dataclass(frozen=True)
class EventSource:
    """Raw events: a Parquet or CSV file or folder, or a table of the engine's database.

    Build one with :meth:`parquet`, :meth:`csv` or :meth:`table`. ``entity_key`` names the
    column(s) holding the entity key, matched by position to :attr:`Entity.keys`. ``event_id``
    identifies an event across corrections: rows sharing it are versions of one event.
    ``created_time`` (when set) is when a row became known; a row is invisible before it.
    Naive times are rejected unless ``naive_timestamps="utc"`` says they are UTC.
    """

    format: SourceFormat
    location: str
    entity_key: str | Sequence[str]
    event_id: str
    event_time: str
    created_time: str | None = None
    naive_timestamps: NaiveTimestamps = "reject"
    key_columns: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _choice(self.format, ("parquet", "csv", "table"), "source format")
        _column(self.location, f"location of the {self.format} source")
        object.__setattr__(self, "key_columns", _columns(self.entity_key, "source entity_key"))
        _column(self.event_id, "source event_id")
        _column(self.event_time, "source event_time")
        if self.created_time is not None:
            _column(self.created_time, "source created_time")
        _choice(self.naive_timestamps, ("reject", "utc"), "source naive_timestamps")

    @classmethod
    def parquet(cls, path: str | os.PathLike[str], **columns: Any) -> EventSource:
        """A Parquet file or a folder of them (read recursively); ``columns`` as the class."""
        return cls("parquet", os.fspath(path), **columns)

    @classmethod
    def csv(cls, path: str | os.PathLike[str], **columns: Any) -> EventSource:
        """A CSV file with a header, or a folder of them; time columns need an offset."""
        return cls("csv", os.fspath(path), **columns)

    @classmethod
    def table(cls, name: str, **columns: Any) -> EventSource:
        """A table (or view) of the engine's database or catalog, e.g. ``"main.events"``."""
        return cls("table", name, **columns)

    @property
    def time_columns(self) -> tuple[str, ...]:
        """The event-time column, then the created-time column when there is one."""
        if self.created_time is None:
            return (self.event_time,)
        return (self.event_time, self.created_time)

    def to_dict(self) -> dict[str, Any]:
        """Return the normalized form, without the location.

        Where the events are read from is not what the features mean: moving the data, or a
        training run reading a snapshot of it, keeps the definitions' version.
        """
        return {
            "format": self.format,
            "entity_key": list(self.key_columns),
            "event_id": self.event_id,
            "event_time": self.event_time,
            "created_time": self.created_time,
            "naive_timestamps": self.naive_timestamps,
        }


@dataclass(frozen=True)
class Aggregation:
    """A windowed aggregation of the source's events before time t: ``[t - window, t)``.

    ``function`` is one of ``count`` (events; with a ``column``, its non-null values), ``sum``,
    ``mean``, ``min``, ``max``, ``count_distinct``, ``last`` (the value of the latest event;
    ties at one event time go to the greatest event id) and ``since_last`` (the time from the
    latest event to t, in ``unit``s, a float: ``(t - newest event time) / unit``; an event at
    exactly t is not before t, so it does not count). ``filter`` is an expression over
    source columns (see :mod:`tether.features._expressions`); a null filter excludes the row.

    Null policy: with ``null_fill=None`` (the default) null inputs are skipped, as if the event
    had no value; otherwise they count as ``null_fill``. ``empty`` is the value when nothing
    contributes (no event, or only skipped nulls): by default 0 for ``count`` and
    ``count_distinct``, null otherwise.
    """

    name: str
    function: AggregationFunction
    column: str | None = None
    _: KW_ONLY
    window: str | timedelta
    filter: str | None = None
    empty: Scalar | _Default = DEFAULT
    null_fill: Scalar = None
    unit: str | timedelta | None = None
    window_us: int = field(init=False, repr=False, compare=False)
    unit_us: int | None = field(init=False, repr=False, compare=False)
    filter_expression: Expression | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        what = f"feature {check_name(self.name, 'feature name')!r}"
        _choice(self.function, AGGREGATION_FUNCTIONS, f"function of {what}")
        if self.column is None and self.function not in ("count", "since_last"):
            raise FeatureError(f"column of {what} is None: {self.function} needs a column")
        if self.column is not None:
            _column(self.column, f"column of {what}")
        self._check_unit(what)
        window = parse_duration(self.window, what=f"window of {what}")
        object.__setattr__(self, "window_us", duration_micros(window))
        parsed = None
        if self.filter is not None:
            parsed = parse_expression(self.filter, what=f"filter of {what}")
        object.__setattr__(self, "filter_expression", parsed)
        if self.empty is DEFAULT:
            object.__setattr__(self, "empty", 0 if self.function in _COUNTS else None)
        self._check_policy(what)

    def _check_unit(self, what: str) -> None:
        unit_us = None
        if self.function == "since_last":
            if self.column is not None:
                raise FeatureError(
                    f"column of {what} is {self.column!r}: since_last reads event times only"
                )
            if self.unit is None:
                raise FeatureError(
                    f"unit of {what} is None: since_last needs a unit, e.g. unit='1h'"
                )
            unit_us = duration_micros(parse_duration(self.unit, what=f"unit of {what}"))
        elif self.unit is not None:
            raise FeatureError(f"unit of {what} is {self.unit!r}: only since_last takes a unit")
        object.__setattr__(self, "unit_us", unit_us)

    def _check_policy(self, what: str) -> None:
        numbers = self.function in _COUNTS + _NUMERIC
        if numbers and not (self.empty is None or _is_number(self.empty)):
            raise FeatureError(f"empty of {what} is {self.empty!r}: expected a number or None")
        if self.function in _COUNTS and isinstance(self.empty, float):
            raise FeatureError(f"empty of {what} is {self.empty!r}: expected an integer or None")
        if not numbers and not (
            self.empty is None or isinstance(self.empty, bool | int | float | str)
        ):
            raise FeatureError(f"empty of {what} is {self.empty!r}: expected a constant or None")
        if self.null_fill is not None and self.column is None:
            raise FeatureError(f"null_fill of {what} is {self.null_fill!r}: it needs a column")
        if self.function in _NUMERIC and not (self.null_fill is None or _is_number(self.null_fill)):
            raise FeatureError(f"null_fill of {what} is {self.null_fill!r}: expected a number")

    @property
    def empty_value(self) -> Scalar:
        """The value when nothing contributes (``empty`` with its default resolved)."""
        assert not isinstance(self.empty, _Default)
        return self.empty

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The source columns this aggregation reads (its column, then its filter's names)."""
        names = () if self.filter_expression is None else referenced_names(self.filter_expression)
        column = () if self.column is None else (self.column,)
        return tuple(dict.fromkeys(column + names))

    def to_dict(self) -> dict[str, Any]:
        """Return the normalized form."""
        parsed = self.filter_expression
        filter_text = None if parsed is None else canonical_text(parsed)
        document: dict[str, Any] = {
            "kind": "aggregation",
            "name": self.name,
            "function": self.function,
            "column": self.column,
            "window": format_duration(timedelta(microseconds=self.window_us)),
            "filter": filter_text,
            "empty": self.empty_value,
            "null_fill": self.null_fill,
        }
        if self.unit_us is not None:
            # Only since_last has a unit: the other kinds keep the documents (and versions)
            # they had before since_last existed.
            document["unit"] = format_duration(timedelta(microseconds=self.unit_us))
        return document


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Transformation:
    """A row-level expression over earlier features of its view and request columns.

    ``request`` lists the columns that come with the request (offline: spine columns), e.g.
    the amount of the transaction being scored. The one evaluator in
    :mod:`tether.features._evaluate` runs it offline (vectorised) and online (on scalars).

    >>> Transformation("amount_ratio_30d", "amount / amount_mean_30d", request=["amount"]).inputs
    ('amount', 'amount_mean_30d')
    """

    name: str
    expression: str
    request: Sequence[str] = ()
    parsed: Expression = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        what = f"feature {check_name(self.name, 'feature name')!r}"
        object.__setattr__(
            self, "parsed", parse_expression(self.expression, what=f"expression of {what}")
        )
        request = (self.request,) if isinstance(self.request, str) else tuple(self.request)
        for column in request:
            check_name(column, f"request column of {what}")
        object.__setattr__(self, "request", request)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names the expression reads, in order of first use."""
        return referenced_names(self.parsed)

    def to_dict(self) -> dict[str, Any]:
        """Return the normalized form."""
        return {
            "kind": "transformation",
            "name": self.name,
            "expression": canonical_text(self.parsed),
            "request": sorted(self.request),
        }


Feature: TypeAlias = Aggregation | Transformation
"""A feature of a view."""


@dataclass(frozen=True)
class FeatureView:
    """An entity, a source of its events, an optional TTL and a list of features.

    ``ttl``: an aggregation value whose newest contributing event is older than ``ttl`` at time
    t (``t - event_time > ttl``) gets its empty value, offline and online; online also reports
    it as stale. It only matters for features whose window is longer than the TTL.
    """

    name: str
    entity: Entity
    source: EventSource
    features: Sequence[Feature]
    ttl: str | timedelta | None = None
    ttl_us: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        what = f"feature view {check_name(self.name, 'feature view name')!r}"
        if not isinstance(self.entity, Entity):
            raise FeatureError(f"entity of {what} is {self.entity!r}: expected an Entity")
        if not isinstance(self.source, EventSource):
            raise FeatureError(f"source of {what} is {self.source!r}: expected an EventSource")
        if len(self.source.key_columns) != len(self.entity.keys):
            raise FeatureError(
                f"source entity_key of {what} is {list(self.source.key_columns)}: expected "
                f"{len(self.entity.keys)} column(s), one per key of entity {self.entity.name!r}"
            )
        ttl = None if self.ttl is None else parse_duration(self.ttl, what=f"ttl of {what}")
        object.__setattr__(self, "ttl_us", None if ttl is None else duration_micros(ttl))
        object.__setattr__(self, "features", tuple(self.features))
        self._check_features(what)

    def _check_features(self, what: str) -> None:
        if not self.features:
            raise FeatureError(f"features of {what} is empty: expected at least one feature")
        known: set[str] = set()
        for feature in self.features:
            if not isinstance(feature, Aggregation | Transformation):
                raise FeatureError(
                    f"features of {what} holds {feature!r}: expected Aggregation or Transformation"
                )
            if feature.name in known or feature.name in self.entity.keys:
                raise FeatureError(f"feature name {feature.name!r} is used twice in {what}")
            if isinstance(feature, Transformation):
                _check_inputs(feature, known, what)
            known.add(feature.name)

    @property
    def aggregations(self) -> tuple[Aggregation, ...]:
        """The aggregations, in definition order."""
        return tuple(f for f in self.features if isinstance(f, Aggregation))

    @property
    def transformations(self) -> tuple[Transformation, ...]:
        """The transformations, in definition order (each may read the ones before it)."""
        return tuple(f for f in self.features if isinstance(f, Transformation))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The output columns, in definition order."""
        return tuple(feature.name for feature in self.features)

    @property
    def request_columns(self) -> tuple[str, ...]:
        """The request columns all transformations need, each once."""
        names = (column for t in self.transformations for column in t.request)
        return tuple(dict.fromkeys(names))

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Every source column the view reads: keys, id, times, then feature inputs."""
        source = self.source
        fixed = (*source.key_columns, source.event_id, *source.time_columns)
        inputs = (column for agg in self.aggregations for column in agg.source_columns)
        return tuple(dict.fromkeys((*fixed, *inputs)))

    @property
    def tie_break_columns(self) -> tuple[str, ...]:
        """The columns that order two versions of one event with equal created and event times.

        Versions of an event (rows sharing an event id) are ordered by created time, then event
        time, then these columns (the source key columns, then the aggregations' input columns
        by name), nulls first; the last visible version wins. Rows equal on all of them are
        interchangeable for every feature of the view.
        """
        keys = self.source.key_columns
        ordered = {*keys, self.source.event_id, *self.source.time_columns}
        inputs = sorted({c for agg in self.aggregations for c in agg.source_columns} - ordered)
        return (*keys, *inputs)

    def to_dict(self) -> dict[str, Any]:
        """Return the normalized form."""
        ttl = None if self.ttl_us is None else format_duration(timedelta(microseconds=self.ttl_us))
        return {
            "format": DEFINITIONS_FORMAT,
            "name": self.name,
            "entity": self.entity.to_dict(),
            "source": self.source.to_dict(),
            "ttl": ttl,
            "features": [feature.to_dict() for feature in self.features],
        }

    @property
    def version(self) -> str:
        """The sha256 of the normalized definition; training runs record it."""
        return definition_digest(self.to_dict())


def _check_inputs(transformation: Transformation, known: set[str], what: str) -> None:
    request = set(transformation.request)
    for name in transformation.inputs:
        if name in request and name in known:
            raise FeatureError(
                f"{name!r} in feature {transformation.name!r} of {what} is both a request column "
                "and a feature: rename one"
            )
        if name not in request and name not in known:
            raise FeatureError(
                f"{name!r} in feature {transformation.name!r} of {what} is unknown: expected a "
                "feature defined before it in the view or a column listed in request="
            )
