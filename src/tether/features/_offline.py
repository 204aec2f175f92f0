"""The offline half of the feature store: point-in-time correct training sets.

:meth:`FeatureStore.build_training_set` takes a spine (entity keys, a time, labels and any
other columns) and returns it with one column per feature, row for row: same rows, same
order, same index, never a row dropped or merged. For each row, a feature value uses only
events with event time strictly before the row's time t, in the half-open window
``[t - window, t)``, and, where the source has a created time, only rows created before t.
(Feast's point-in-time join includes an event at exactly t; tether's does not, so the
transaction being scored never feeds its own features. Expect that difference when comparing.)

How: validate everything that is cheap to validate (the spine, each source's schema and first
row); reduce the spine to its distinct (key, t) points per view; run one generated query per
view (:mod:`tether.features._compile`) on the engine; map the results back to spine rows; then
run the transformations with the one evaluator (:mod:`tether.features._evaluate`) that the
online path uses too. Filters run inside the SQL, transformations in Python: a filter decides
which events feed an aggregate, so it must run where the events are, while a transformation
combines finished values of one row, which both paths have in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from tether._progress import Progress, no_progress
from tether.errors import FeatureError
from tether.features._compile import POINT_ID, POINT_TIME, compile_view, point_key
from tether.features._definitions import (
    DEFINITIONS_FORMAT,
    Aggregation,
    FeatureView,
    NaiveTimestamps,
    definition_digest,
)
from tether.features._duckdb import DuckDBEngine
from tether.features._engine import ColumnKind, OfflineEngine, SourceSchema
from tether.features._evaluate import (
    evaluate,
    time_vector,
    vector_from_values,
    vector_to_series,
)
from tether.features._request import RequestView, request_vectors
from tether.features._validation import check_source, check_spine, spine_micros

__all__ = ["FeatureStore"]

_SOURCE_TABLE = "__tether_source"
_POINTS_TABLE = "__tether_points"
_VALUE_DTYPES: dict[ColumnKind, str] = {
    "integer": "Int64",
    "float": "float64",
    "string": "str",
    "boolean": "boolean",
}


Definition: TypeAlias = FeatureView | RequestView
"""What a definitions list holds: feature views and request views."""


class FeatureStore:
    """Feature views, request views, and the engine that computes them.

    Views are kept sorted by name (feature views, then request views), so the order they are
    given in changes neither the :attr:`version` nor the training set's columns.

    >>> store = FeatureStore([view])  # doctest: +SKIP
    >>> training = store.build_training_set(spine, timestamp="event_time")  # doctest: +SKIP
    >>> store.version  # doctest: +SKIP
    '208b6921...'
    """

    def __init__(
        self, views: Sequence[Definition], engine: OfflineEngine | Literal["duckdb"] = "duckdb"
    ) -> None:
        if not views or not all(isinstance(view, FeatureView | RequestView) for view in views):
            raise FeatureError(
                f"views is {views!r}: expected a non-empty list of FeatureView and RequestView"
            )
        by_name = sorted(views, key=lambda view: view.name)
        self.views: tuple[FeatureView, ...] = tuple(
            view for view in by_name if isinstance(view, FeatureView)
        )
        self.request_views: tuple[RequestView, ...] = tuple(
            view for view in by_name if isinstance(view, RequestView)
        )
        _check_unique([*self.views, *self.request_views])
        if engine == "duckdb":
            engine = DuckDBEngine()
        if not isinstance(engine, OfflineEngine):
            raise FeatureError(f"engine is {engine!r}: expected 'duckdb' or an OfflineEngine")
        self.engine: OfflineEngine = engine

    @property
    def version(self) -> str:
        """The sha256 of every view's normalized definition; training runs record it."""
        document: dict[str, object] = {
            "format": DEFINITIONS_FORMAT,
            "views": [view.to_dict() for view in self.views],
        }
        if self.request_views:
            # Only when there are any: definitions without request views keep their version.
            document["request_views"] = [view.to_dict() for view in self.request_views]
        return definition_digest(document)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The columns a training set gets (request columns that are features included), in
        order."""
        views: list[Definition] = [*self.views, *self.request_views]
        return tuple(name for view in views for name in view.feature_names)

    @property
    def request_columns(self) -> tuple[str, ...]:
        """The request columns every view needs, each once (a request's raw data)."""
        views: list[Definition] = [*self.views, *self.request_views]
        return tuple(dict.fromkeys(c for view in views for c in view.request_columns))

    def view(self, name: str) -> FeatureView:
        """Return the view called ``name``."""
        for view in self.views:
            if view.name == name:
                return view
        raise FeatureError(
            f"no feature view {name!r}: expected one of {[v.name for v in self.views]}"
        )

    def sql(self, view: str, *, pretty: bool = True) -> str:
        """The query computing ``view``, in the engine's dialect (for reading and debugging)."""
        tables = {"source_table": _SOURCE_TABLE, "points_table": _POINTS_TABLE}
        query = compile_view(self.view(view), naive_columns=frozenset(), **tables)
        return self.engine.render(query, pretty=pretty)

    def build_training_set(
        self,
        spine: pd.DataFrame,
        timestamp: str,
        *,
        naive_timestamps: NaiveTimestamps = "reject",
        progress: Progress = no_progress,
    ) -> pd.DataFrame:
        """Return ``spine`` with every feature as of each row's ``timestamp``, row for row.

        A row at time t sees events strictly before t (``[t - window, t)``) and, where the
        source has a created time, rows created strictly before t. Unlike Feast, an event at
        exactly t is not included. Other columns (labels, request data) pass through; the
        result keeps the spine's index and order. ``naive_timestamps="utc"`` reads naive
        spine times as UTC; otherwise they are refused. ``progress`` hears each view as its
        features are computed for the spine's rows.

        >>> training = store.build_training_set(spine, timestamp="event_time")  # doctest: +SKIP

        Raises:
            FeatureError: bad input (found before any heavy work) or an engine failure.
        """
        check_spine(spine, timestamp, self.views, self.request_views)
        times = spine_micros(spine, timestamp, naive_timestamps)
        checked = {view.name: self._check_source(view, spine) for view in self.views}
        training = spine.copy()
        for view in self.views:
            progress(f"computing view {view.name}", len(spine))
            values = self._aggregate(view, spine, times, checked[view.name])
            values.index = training.index
            training = pd.concat([training, values], axis=1)
            _transform(view, training)
        for request_view in self.request_views:
            _request_features(request_view, training, times)
        return training

    def _check_source(self, view: FeatureView, spine: pd.DataFrame) -> _CheckedSource:
        schema = self.engine.describe(view.source)
        return _CheckedSource(schema, check_source(view, schema, spine))

    def _aggregate(
        self,
        view: FeatureView,
        spine: pd.DataFrame,
        times: npt.NDArray[np.int64],
        checked: _CheckedSource,
    ) -> pd.DataFrame:
        """One row of aggregation values per spine row (positional index)."""
        points, point_of_row = _points(view, spine, times)
        query = compile_view(
            view,
            source_table=_SOURCE_TABLE,
            points_table=_POINTS_TABLE,
            naive_columns=checked.naive_columns,
        )
        result = self.engine.run(
            query,
            sources={_SOURCE_TABLE: view.source},
            tables={_POINTS_TABLE: pa.Table.from_pandas(points, preserve_index=False)},
            what=f"computing feature view {view.name!r}",
        )
        by_point = _result_frame(result, view, checked.schema).reindex(np.arange(len(points)))
        return by_point.iloc[point_of_row].reset_index(drop=True)


@dataclass(frozen=True)
class _CheckedSource:
    """A source that passed :func:`check_source`: its schema and its naive time columns."""

    schema: SourceSchema
    naive_columns: frozenset[str]


def _check_unique(views: Sequence[Definition]) -> None:
    seen_views: set[str] = set()
    seen_features: dict[str, str] = {}
    for view in views:
        if view.name in seen_views:
            kind = "feature view" if isinstance(view, FeatureView) else "request view"
            raise FeatureError(f"{kind} name {view.name!r} is used twice")
        seen_views.add(view.name)
        for name in view.feature_names:
            if name in seen_features:
                raise FeatureError(
                    f"feature name {name!r} is in feature views {seen_features[name]!r} and "
                    f"{view.name!r}: expected each feature name once per store"
                )
            seen_features[name] = view.name


def _points(
    view: FeatureView, spine: pd.DataFrame, times: npt.NDArray[np.int64]
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """The distinct (key, t) pairs of the spine, and the pair of each spine row."""
    columns = {point_key(i): spine[key].to_numpy() for i, key in enumerate(view.entity.keys)}
    frame = pd.DataFrame({**columns, POINT_TIME: times})
    point_of_row = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup()
    codes = np.asarray(point_of_row, dtype=np.int64)
    _, first_rows = np.unique(codes, return_index=True)
    points = frame.iloc[first_rows].reset_index(drop=True)
    points.insert(0, POINT_ID, np.arange(len(points), dtype=np.int64))
    return points, codes


def _dtype(agg: Aggregation, schema: SourceSchema) -> str:
    """The pandas dtype of a feature column, the same whichever engine computed it."""
    if agg.function in ("count", "count_distinct"):
        return "Int64" if agg.empty_value is None else "int64"
    if agg.function in ("sum", "mean", "since_last"):
        return "float64"
    assert agg.column is not None
    return _VALUE_DTYPES.get(schema.kinds[agg.column], "object")


def _result_frame(result: pa.Table, view: FeatureView, schema: SourceSchema) -> pd.DataFrame:
    """Arrow result to pandas, indexed by point id, with one dtype per feature."""
    mapping = {
        pa.int64(): pd.Int64Dtype(),
        pa.int32(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    frame = result.to_pandas(types_mapper=mapping.get).set_index(POINT_ID)
    columns = {agg.name: frame[agg.name].astype(_dtype(agg, schema)) for agg in view.aggregations}
    return pd.DataFrame(columns, index=frame.index)


def _transform(view: FeatureView, training: pd.DataFrame) -> None:
    """Add each transformation of ``view`` to ``training``, in definition order."""
    for transformation in view.transformations:
        columns = {
            name: vector_from_values(training[name], what=f"column {name!r}")
            for name in transformation.inputs
        }
        result = evaluate(transformation.parsed, columns, length=len(training))
        training[transformation.name] = vector_to_series(result).array


def _request_features(
    view: RequestView, training: pd.DataFrame, times: npt.NDArray[np.int64]
) -> None:
    """Add the features of request view ``view``, computed from the spine's own columns."""
    columns = {
        name: vector_from_values(training[name], what=f"spine column {name!r}")
        for name in view.request_columns
    }
    computed = request_vectors(view, columns, time_vector(times), length=len(training))
    for name, vector in computed.items():
        if name not in view.passthrough:  # a request column as it is: already the spine's
            training[name] = vector_to_series(vector).array
