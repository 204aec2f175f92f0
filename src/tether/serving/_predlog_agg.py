"""Monitoring's read interface to the prediction log: window aggregates computed in the engine.

:class:`LogAggregates` opens the log's database (the URL the server writes to) and answers,
each with one or two generated statements (:mod:`._predlog_aggsql`) that the database runs,
so that a window of millions of predictions never crosses into Python row by row:

- :meth:`~LogAggregates.counts`: predictions, labelled and matured, per version, role,
  cohort and experiment (and day);
- :meth:`~LogAggregates.feature_summary`: per feature the count, nulls, minimum, maximum,
  mean, spread and rows per bin of the reference's edges (numeric), or rows per reference
  category, "other" and never-seen (categorical), the score's, and a seeded sample;
- :meth:`~LogAggregates.confusion`: per group the TP/FP/FN/TN counts and, per cell, the sum
  and sum of squares of named business values; :meth:`~LogAggregates.labelled_sample`;
- :meth:`~LogAggregates.scores` and :meth:`~LogAggregates.score_pairs` (shadow against
  champion on the same instances).

**Windows** are ``[start, end)`` on the prediction's event time (its serving time when it has
none). **Maturity**: with ``known_by``, a label counts only if it was known (feedback
``time``) and received by tether by then; with ``outcome_window`` too, a prediction whose
event is older than ``known_by - outcome_window`` is *matured* even without a label (its
outcome can no longer change). NaN and infinite feature values were stored as NULL, so they
count as missing (``nulls``). The same class runs on Spark over a Parquet copy of the log
(:func:`~tether.serving.export_parquet`, :class:`~tether.serving.SparkLogAggregates`).
"""

from __future__ import annotations

import itertools
import os
from abc import abstractmethod
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Final, Literal

import pandas as pd

from tether._closing import Closing
from tether._schema import upgrade
from tether._storage import Row, SQLValue, open_database, to_micros
from tether.errors import ServingError
from tether.serving import _predlog_aggsql as q
from tether.serving import _predlog_sql as sql
from tether.serving import _predlog_typed as typed
from tether.serving._predlog_aggperf import PerformanceAggregates
from tether.serving._predlog_aggtypes import (
    CategoricalAggregate,
    NumericAggregate,
    WindowAggregate,
)
from tether.serving._predlog_aggtypes import categorical as _categorical
from tether.serving._predlog_aggtypes import numeric as _numeric
from tether.serving._predlog_aggtypes import shift as _shift

DEFAULT_BY: Final = ("version", "role", "cohort", "experiment_id")
"""The groups of an aggregate unless told otherwise."""
DEFAULT_SAMPLE: Final = 20_000
"""Rows of a seeded sample unless told otherwise (as a reference profile's)."""
SCORE: Final = "score"
"""The sample's column holding the model's score."""
Bucket = Literal["day"] | None
NARROW_SHARE: Final = 0.25
"""The share of a table's time span up to which SQLite reads a window through its index:
a week of a six-month log (4%) reads 25 times fewer rows; a window that is most of the
table reads faster by a scan (the index's random reads cost 4 times a scan's per row)."""


class Aggregates(PerformanceAggregates):
    """The aggregates, on any engine that runs :mod:`._predlog_aggsql`'s statements."""

    @abstractmethod
    def _fetch(self, statement: str, params: Mapping[str, SQLValue]) -> list[Row]:
        """Run one query and return its rows."""

    def counts(
        self,
        start: datetime,
        end: datetime,
        *,
        model: str | None = None,
        by: Sequence[str] = DEFAULT_BY,
        bucket: Bucket = None,
        known_by: datetime | None = None,
        outcome_window: timedelta | None = None,
    ) -> pd.DataFrame:
        """Per group (``by``, and ``day``: its first microsecond as a UTC time, when
        ``bucket="day"``): ``predictions`` (every row served), ``labelled`` (current
        revisions with a label known by ``known_by``; any label when None) and ``matured``
        (labelled, or with their outcome window closed; see the module docstring).

        Raises:
            ValueError: an unknown group, a naive time, or ``outcome_window`` without
                ``known_by``.
        """
        by = q.checked_groups(by)
        if outcome_window is not None and known_by is None:
            raise ValueError("outcome_window needs known_by: the time the window closes by")
        keys = [*by, *(["day"] if bucket else [])]
        models = [model] if model is not None else self._models()
        found: dict[tuple[SQLValue, ...], list[int]] = {}
        for name in models:
            catalog = self._catalog(name)
            if catalog is None:
                continue
            for key, values in self._table_counts(
                catalog.table, by, bucket == "day", (start, end), known_by, outcome_window
            ).items():
                full = tuple(name if group == "model" else key[by.index(group)] for group in by)
                found[full + key[len(by) :]] = values
        frame = pd.DataFrame(
            [(*key, *values) for key, values in sorted(found.items(), key=_sortable)],
            columns=[*keys, "predictions", "labelled", "matured"],
        )
        if bucket:
            frame["day"] = pd.to_datetime(frame["day"].astype("int64"), unit="us", utc=True)
        return frame

    def _models(self) -> list[str]:
        rows = self._fetch(f"SELECT model FROM {typed.FEATURE_TABLES} ORDER BY model", {})
        return [str(model) for (model,) in rows]

    def _table_counts(
        self,
        table: str,
        by: Sequence[str],
        bucket: bool,
        window: tuple[datetime, datetime],
        known_by: datetime | None,
        outcome_window: timedelta | None,
    ) -> dict[tuple[SQLValue, ...], list[int]]:
        """Predictions, labelled and matured per group of one model's typed table (narrow
        rows: no JSON is read); the key holds None for the ``model`` group."""
        time = self._window_time(table, *window)
        columns = [name for name in by if name != "model"]
        select, group = q.group_select(columns, bucket, time)
        bounds = (to_micros(window[0]), to_micros(window[1]))
        total = q.Query()
        where = q.window_where(total, *bounds, time, {})
        first = q.grouped([*select, "COUNT(*)"], f"{table} p", where, group)
        labelled = q.Query()
        where = q.window_where(labelled, *bounds, time, {})
        matured = "f.instance_id IS NOT NULL"
        if outcome_window is not None and known_by is not None:
            closed = labelled.bind(to_micros(known_by - outcome_window), "closed")
            matured = f"({matured} OR {time} < {closed})"
        where += [matured, q.current_revision(table)]
        source = (
            f"{table} p LEFT JOIN "
            f"{q.known_feedback(labelled, _micros(known_by))} f ON f.instance_id = p.instance_id"
        )
        second = q.grouped(
            [*select, "SUM(CASE WHEN f.instance_id IS NOT NULL THEN 1 ELSE 0 END)", "COUNT(*)"],
            source, where, group,
        )  # fmt: skip
        width = len(select)

        def key(row: Row) -> tuple[SQLValue, ...]:
            values = iter(row[:width])
            grouped = tuple(None if name == "model" else next(values) for name in by)
            return grouped + tuple(values)

        found: dict[tuple[SQLValue, ...], list[int]] = {}
        # Parts of a cut window add up: every column here is a count.
        for row in self._fetch_parts(first, total):
            found.setdefault(key(row), [0, 0, 0])[0] += int(row[-1] or 0)
        for row in self._fetch_parts(second, labelled):
            entry = found.setdefault(key(row), [0, 0, 0])
            entry[1] += int(row[-2] or 0)
            entry[2] += int(row[-1] or 0)
        return found

    def _window_time(self, table: str, start: datetime, end: datetime) -> str:
        """The window-time column of typed table ``table``, as the engine should scan it for
        the window ``[start, end)`` (here: as it is; an engine's planner chooses)."""
        del table, start, end
        return "p.window_us"

    def _fetch_parts(self, statement: str, query: q.Query) -> list[Row]:
        """The rows of ``statement`` over its window, or over parts of it (for an engine that
        cuts the window: the caller combines rows of equal keys)."""
        return self._fetch(statement, query.params)

    def _fetch_total(self, statement: str, query: q.Query, combiners: Sequence[str]) -> Row:
        """The one row of an ungrouped aggregate ``statement`` (``combiners`` say how the
        parts of its columns combine, for an engine that splits the window)."""
        del combiners
        (row,) = self._fetch(statement, query.params)
        return row

    def feature_summary(
        self,
        start: datetime,
        end: datetime,
        model: str,
        *,
        numeric: Mapping[str, Sequence[float]] | None = None,
        categorical: Mapping[str, Sequence[str]] | None = None,
        seen: Mapping[str, Collection[str]] | None = None,
        score_edges: Sequence[float] | None = None,
        filters: Mapping[str, SQLValue] | None = None,
        sample_size: int = DEFAULT_SAMPLE,
        seed: int = 0,
    ) -> WindowAggregate:
        """``model``'s predictions in the window (every row served), filtered by
        ``filters`` (``version``, ``role``, ``cohort``, ``experiment_id``), summarised on the
        reference's bins: ``numeric`` maps a feature to its inner edges, ``categorical`` to
        its reference categories (``seen``: every category the reference saw, default those),
        ``score_edges`` the score's edges (None: no score summary). The sample holds at most
        ``sample_size`` whole rows (the features and :data:`SCORE`), ordered by a seeded
        permutation of the instances' sample keys: the same seed gives the same rows.
        """
        numeric, categorical = dict(numeric or {}), dict(categorical or {})
        catalog = self._catalog(model)
        if catalog is None:
            return _empty_window(numeric, categorical, score_edges)
        query = q.Query()
        time = self._window_time(catalog.table, start, end)
        where = q.window_where(query, to_micros(start), to_micros(end), time,
                               dict(filters or {}))  # fmt: skip
        select = ["COUNT(*)"]
        plan: list[tuple[str, str, int]] = []  # (feature, kind, number of columns)
        for name, edges in numeric.items():
            column = catalog.columns.get((name, "numeric"))
            parts = q.numeric_columns(query, f"p.{column}" if column else "NULL", edges,
                                      _shift(edges))  # fmt: skip
            select += [*parts, _other_count(catalog, name, "text")]
            plan.append((name, "numeric", len(parts) + 1))
        for name, categories in categorical.items():
            column = catalog.columns.get((name, "text"))
            known = sorted(set(seen[name]) if seen and name in seen else set(categories))
            parts = q.categorical_columns(query, f"p.{column}" if column else "NULL",
                                          categories, known)  # fmt: skip
            select += [*parts, _other_count(catalog, name, "numeric")]
            plan.append((name, "categorical", len(parts) + 1))
        if score_edges is not None:
            select += q.numeric_columns(query, "p.score", score_edges, _shift(score_edges))
        statement = q.grouped(select, f"{catalog.table} p", where, [])
        row = self._fetch_total(statement, query, [q.combiner(part) for part in select])
        rows, position = int(row[0] or 0), 1
        features: dict[str, NumericAggregate | CategoricalAggregate] = {}
        other: dict[str, int] = {}
        for name, kind, width in plan:
            values = row[position : position + width]
            position += width
            other[name] = int(values[-1] or 0)
            if kind == "numeric":
                features[name] = _numeric(rows, numeric[name], values[:-1])
            else:
                features[name] = _categorical(rows, categorical[name], values[:-1])
        score = None
        if score_edges is not None:
            score = _numeric(rows, score_edges, row[position:])
        sample = self._feature_sample(catalog, numeric, categorical, where, query, sample_size,
                                      seed)  # fmt: skip
        return WindowAggregate(rows, features, sample, score, other)

    def _feature_sample(
        self,
        catalog: typed.ModelColumns,
        numeric: Mapping[str, Sequence[float]],
        categorical: Mapping[str, Sequence[str]],
        where: list[str],
        query: q.Query,
        size: int,
        seed: int,
    ) -> pd.DataFrame:
        names = [*numeric, *categorical]
        columns = [catalog.columns.get((name, "numeric" if name in numeric else "text"))
                   for name in names]  # fmt: skip
        select = [f"p.{column}" if column else "NULL" for column in columns] + ["p.score"]
        order = q.sample_order(query, seed, "p")
        statement = q.grouped(select, f"{catalog.table} p", where, [])
        rows = self._fetch(f"{statement} ORDER BY {order} LIMIT {int(size)}", query.params)
        return _sample_frame(rows, [*names, SCORE], set(categorical))

    def _catalog(self, model: str) -> typed.ModelColumns | None:
        found = self._fetch(
            f"SELECT number FROM {typed.FEATURE_TABLES} WHERE model = :model", {"model": model}
        )
        if not found:
            return None
        catalog = typed.ModelColumns(typed.table_name(int(found[0][0] or 0)))
        for feature, kind, position in self._fetch(
            f"SELECT feature, kind, position FROM {typed.FEATURE_COLUMNS} WHERE model = :model",
            {"model": model},
        ):
            sort: typed.Kind = "numeric" if kind == "numeric" else "text"
            catalog.columns[(str(feature), sort)] = typed.column_name(sort, int(position or 0))
        return catalog


def _combine(how: str, values: Sequence[SQLValue]) -> SQLValue:
    present = [value for value in values if value is not None]
    if not present:
        return None
    if how == "min":
        return min(present)
    if how == "max":
        return max(present)
    return sum(present)  # type: ignore[arg-type]


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _sortable(item: tuple[tuple[SQLValue, ...], list[int]]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is not None, str(value)) for value in item[0])


def _other_count(catalog: typed.ModelColumns, name: str, kind: typed.Kind) -> str:
    column = catalog.columns.get((name, kind))
    return f"COUNT(p.{column})" if column else "0"


def _sample_frame(rows: Sequence[Row], names: list[str], text: Collection[str]) -> pd.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pd.DataFrame({
        name: pd.Series(list(values), dtype=object if name in text else "float64")
        for name, values in zip(names, columns, strict=True)
    })  # fmt: skip


def _empty_window(
    numeric: Mapping[str, Sequence[float]],
    categorical: Mapping[str, Sequence[str]],
    score_edges: Sequence[float] | None,
) -> WindowAggregate:
    """The summary of a model nothing was logged for: no rows."""
    features: dict[str, NumericAggregate | CategoricalAggregate] = {
        name: _numeric(0, edges, (0, None, None, None, None, *[0] * len(edges)))
        for name, edges in numeric.items()
    }
    for name, categories in categorical.items():
        features[name] = _categorical(0, categories, (0, *[0] * len(categories), 0))
    score = None
    if score_edges is not None:
        score = _numeric(0, score_edges, (0, None, None, None, None, *[0] * len(score_edges)))
    sample = _sample_frame([], [*numeric, *categorical, SCORE], set(categorical))
    return WindowAggregate(0, features, sample, score, dict.fromkeys(features, 0))


class LogAggregates(Aggregates, Closing):
    """The aggregates of the prediction log at ``url`` (SQLite or PostgreSQL).

    >>> with LogAggregates("sqlite:///.tether/tether.db") as log:  # doctest: +SKIP
    ...     log.counts(start, end, model="fraud", bucket="day")

    Raises:
        ConfigError: the URL is not a SQLite or PostgreSQL URL.
        ServingError: the database failed, or holds a schema from a newer tether.
    """

    def __init__(self, url: str, *, parallel: int | None = None) -> None:
        self.parallel = parallel or os.cpu_count() or 1
        """Connections a SQLite summary scans its window with (default: one per core)."""
        self._database = open_database(url, error=ServingError, purpose="prediction log")
        try:
            upgrade(self._database, sql.PREDICTIONS_SCHEMA)
        except ServingError:
            self._database.dispose()
            raise

    def _window_time(self, table: str, start: datetime, end: datetime) -> str:
        # SQLite has no statistics of a range's size, and picks the window index even when
        # the window is most of the table: 4 times slower than a scan on a 30-day window
        # (measured). So it is told: the index for a window that spans at most NARROW_SHARE
        # of the table's time span, else a scan (a unary plus hides the index). A monitor
        # tick's windows are a week of a six-month log. PostgreSQL's planner knows itself.
        if self._database.dialect != "sqlite":
            return "p.window_us"
        (first, last), *_ = self._fetch(
            f"SELECT (SELECT MIN(window_us) FROM {table}), (SELECT MAX(window_us) FROM {table})",
            {},
        )
        if not isinstance(first, int) or not isinstance(last, int):
            return "+p.window_us"
        span = last - first + 1
        covered = min(to_micros(end), last + 1) - max(to_micros(start), first)
        return "p.window_us" if covered <= NARROW_SHARE * span else "+p.window_us"

    def _fetch(self, statement: str, params: Mapping[str, SQLValue]) -> list[Row]:
        with self._database.read() as transaction:
            return transaction.fetch_all(statement, params)

    def _fetch_total(self, statement: str, query: q.Query, combiners: Sequence[str]) -> Row:
        rows = self._fetch_parts(statement, query)
        return tuple(_combine(how, [row[i] for row in rows]) for i, how in enumerate(combiners))

    def _fetch_parts(self, statement: str, query: q.Query) -> list[Row]:
        # SQLite runs a query on one core: the window is cut into one part per core, each
        # scanned by its own connection (sqlite3 releases the GIL while it steps); callers
        # combine the parts' counts, sums, minima and maxima. PostgreSQL parallelises itself.
        parts = self.parallel if self._database.dialect == "sqlite" else 1
        start_key, end_key = query.window
        start, end = query.params.get(start_key), query.params.get(end_key)
        if parts <= 1 or not isinstance(start, int) or not isinstance(end, int):
            return self._fetch(statement, query.params)
        cuts = [start + (end - start) * i // parts for i in range(parts)] + [end]
        windows = [{**query.params, start_key: low, end_key: high}
                   for low, high in itertools.pairwise(cuts)]  # fmt: skip
        with ThreadPoolExecutor(max_workers=parts) as pool:
            found = pool.map(lambda params: self._fetch(statement, params), windows)
            return [row for rows in found for row in rows]

    def close(self) -> None:
        """Close the connections; closing twice does nothing."""
        self._database.dispose()
