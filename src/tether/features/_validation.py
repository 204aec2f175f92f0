"""Bad input, caught before heavy work: the spine and each source, checked against the views.

Everything here reads only the spine (in memory) and each source's schema plus one row, so a
typo in a column name costs milliseconds, not a full scan. Each error names the thing, the
value seen and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.errors import FeatureError
from tether.features._definitions import Aggregation, FeatureView, NaiveTimestamps
from tether.features._engine import ColumnKind, SourceSchema
from tether.features._expressions import Scalar
from tether.features._request import RequestView
from tether.features._timestamps import series_micros

__all__ = ["check_source", "check_spine", "spine_micros"]

_VALUE_KINDS: frozenset[ColumnKind] = frozenset({"string", "integer", "float", "boolean"})
_NUMBER_KINDS: frozenset[ColumnKind] = frozenset({"integer", "float"})
_TIME_KINDS: frozenset[ColumnKind] = frozenset({"timestamp", "naive_timestamp"})


def check_spine(
    spine: object,
    timestamp: str,
    views: Sequence[FeatureView],
    request_views: Sequence[RequestView] = (),
) -> pd.DataFrame:
    """Check that ``spine`` has the timestamp, key and request columns, and room for features.

    A request column that is itself a feature (:class:`RequestColumn`) is the spine's own.

    Raises:
        FeatureError: it is not a DataFrame, lacks a column, or already has a feature's column.
    """
    if not isinstance(spine, pd.DataFrame):
        raise FeatureError(f"spine is a {type(spine).__name__}: expected a pandas DataFrame")
    columns = set(spine.columns)
    if timestamp not in columns:
        raise FeatureError(
            f"spine has no timestamp column {timestamp!r}: expected one of {_shown(spine)}"
        )
    for view in views:
        for needed, role in [(k, "entity key") for k in view.entity.keys] + [
            (c, "request") for c in view.request_columns
        ]:
            if needed not in columns:
                raise FeatureError(
                    f"spine has no {role} column {needed!r} (needed by feature view "
                    f"{view.name!r}): expected it among {_shown(spine)}"
                )
        _check_room(columns, view.feature_names, f"feature view {view.name!r}")
    for request_view in request_views:
        for needed in request_view.request_columns:
            if needed not in columns:
                raise FeatureError(
                    f"spine has no request column {needed!r} (needed by request view "
                    f"{request_view.name!r}): expected it among {_shown(spine)}"
                )
        added = set(request_view.feature_names) - set(request_view.passthrough)
        _check_room(columns, added, f"request view {request_view.name!r}")
    return spine


def _check_room(columns: set[str], features: Iterable[str], what: str) -> None:
    clashes = sorted(columns & set(features))
    if clashes:
        raise FeatureError(
            f"spine already has column(s) {clashes}, which {what} would add: rename them or "
            "drop them from the spine"
        )


def _shown(spine: pd.DataFrame) -> str:
    return str([str(c) for c in spine.columns][:20])


def spine_micros(
    spine: pd.DataFrame, timestamp: str, naive: NaiveTimestamps
) -> npt.NDArray[np.int64]:
    """Return the spine's times as UTC microseconds; a null time is an error.

    Raises:
        FeatureError: the column is not made of times, is naive (unless ``naive="utc"``),
            mixes time zones, or has nulls.
    """
    micros, null = series_micros(spine[timestamp], what=f"spine column {timestamp!r}", naive=naive)
    if null.any():
        first = spine.index[int(np.flatnonzero(null)[0])]
        raise FeatureError(
            f"spine column {timestamp!r} has {int(null.sum())} null time(s), first at index "
            f"{first!r}: expected a time on every row"
        )
    return micros


def _roles(view: FeatureView) -> list[tuple[str, str, frozenset[ColumnKind]]]:
    """Each source column the view reads, what it is for, and the kinds it may have."""
    source = view.source
    roles = [(c, "entity_key", _VALUE_KINDS) for c in source.key_columns]
    roles.append((source.event_id, "event_id", _VALUE_KINDS))
    roles.append((source.event_time, "event_time", _TIME_KINDS))
    if source.created_time is not None:
        roles.append((source.created_time, "created_time", _TIME_KINDS))
    for agg in view.aggregations:
        if agg.column is not None:
            kinds = _NUMBER_KINDS if agg.function in ("sum", "mean") else _VALUE_KINDS
            roles.append((agg.column, f"column of feature {agg.name!r}", kinds))
        names = agg.source_columns[1:] if agg.column is not None else agg.source_columns
        # A filter may read a time column (hour(event_time) < 6), like the event time itself.
        filters = _VALUE_KINDS | _TIME_KINDS
        roles += [(c, f"filter of feature {agg.name!r}", filters) for c in names]
    return roles


def check_source(view: FeatureView, schema: SourceSchema, spine: pd.DataFrame) -> frozenset[str]:
    """Check the source of ``view`` against its definition and the spine's key columns.

    Returns the source's time columns that hold naive times (allowed only when the source
    says ``naive_timestamps="utc"``).

    Raises:
        FeatureError: the source is empty, lacks a column, or a column has the wrong type.
    """
    source = view.source
    label = f"{source.format} source {source.location!r} of feature view {view.name!r}"
    if schema.empty:
        raise FeatureError(f"{label} has no rows: expected events to compute features from")
    for column, role, kinds in _roles(view):
        if column not in schema.kinds:
            raise FeatureError(
                f"{label} has no column {column!r} (the {role}): expected one of "
                f"{sorted(schema.kinds)}"
            )
        if schema.kinds[column] not in kinds:
            raise FeatureError(
                f"column {column!r} (the {role}) of {label} holds {schema.describe(column)}: "
                f"expected {' or '.join(sorted(kinds))}"
            )
    read = dict.fromkeys(column for column, _, _ in _roles(view))
    naive = frozenset(c for c in read if schema.kinds[c] == "naive_timestamp")
    if naive and source.naive_timestamps != "utc":
        raise FeatureError(
            f"column(s) {sorted(naive)} of {label} hold naive timestamps (no time zone): pass "
            "naive_timestamps='utc' to the EventSource if they are UTC, or store them with a "
            "time zone"
        )
    _check_keys(view, schema, spine, label)
    for agg in view.aggregations:
        _check_constants(agg, schema, label)
    return naive


def _constant_kind(value: Scalar) -> ColumnKind:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "float"
    return "string"


def _check_constants(agg: Aggregation, schema: SourceSchema, label: str) -> None:
    """The empty value (of min, max, last) and the null fill must fit the column they stand in."""
    if agg.column is None:
        return
    kind = "float" if schema.kinds[agg.column] == "integer" else schema.kinds[agg.column]
    checked = {"null_fill": agg.null_fill}
    if agg.function in ("min", "max", "last"):
        checked["empty"] = agg.empty_value
    for field, value in checked.items():
        if value is not None and _constant_kind(value) != kind:
            raise FeatureError(
                f"{field} of feature {agg.name!r} is {value!r}, which does not fit column "
                f"{agg.column!r} of {label}, holding {schema.describe(agg.column)}"
            )


def _spine_kind(values: pd.Series) -> ColumnKind | None:
    """The kind of a spine key column, or None when it cannot be told (all null)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "integer"
    present = values.dropna()
    if present.empty:
        return None
    if all(isinstance(value, str) for value in present):
        return "string"
    if all(isinstance(value, int | np.integer) for value in present):
        return "integer"
    return "other"


def _check_keys(view: FeatureView, schema: SourceSchema, spine: pd.DataFrame, label: str) -> None:
    pairs = zip(view.entity.keys, view.source.key_columns, strict=True)
    for spine_column, source_column in pairs:
        spine_kind = _spine_kind(spine[spine_column])
        source_kind = schema.kinds[source_column]
        source_kind = "integer" if source_kind == "float" else source_kind
        if spine_kind is not None and spine_kind != source_kind:
            raise FeatureError(
                f"spine column {spine_column!r} holds {spine[spine_column].dtype} values but "
                f"key column {source_column!r} of {label} holds {schema.describe(source_column)}"
                ": expected the same kind of key on both sides"
            )
