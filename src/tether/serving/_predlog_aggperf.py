"""The performance aggregates of the prediction log: confusion counts, business sums, samples
of labelled predictions, score summaries, and paired scores of two versions.

They read a model's feature table (:mod:`._predlog_typed`), whose ``score`` is finite or
NULL (a NaN would compare above every number on PostgreSQL), joined to the feedback known
by ``known_by`` (see :mod:`._predlog_agg`). Only current revisions are labelled.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final, Literal

import pandas as pd

from tether._storage import Row, SQLValue, to_micros
from tether.serving import _predlog_aggsql as q
from tether.serving import _predlog_typed as typed
from tether.serving._predlog_aggtypes import NumericAggregate, ScorePairs, numeric, shift

CELLS: Final = ("tp", "fp", "fn", "tn")
"""The confusion cells, in the order :meth:`PerformanceAggregates.confusion` lists them."""
MODEL_GROUPS: Final = ("version", "role", "cohort", "experiment_id")


class PerformanceAggregates(ABC):
    """Confusion, labelled samples and scores; mixed into :class:`Aggregates`."""

    @abstractmethod
    def _fetch(self, statement: str, params: Mapping[str, SQLValue]) -> list[Row]:
        """Run one query and return its rows."""

    @abstractmethod
    def _catalog(self, model: str) -> typed.ModelColumns | None:
        """The feature table of ``model``, None if it has none."""

    @abstractmethod
    def _window_time(self, table: str, start: datetime, end: datetime) -> str:
        """The window-time column of typed table ``table`` (alias ``p``), as the engine
        should scan it for the window ``[start, end)``."""

    def _labelled(
        self,
        query: q.Query,
        start: datetime,
        end: datetime,
        table: str,
        filters: Mapping[str, SQLValue] | None,
        known_by: datetime | None,
    ) -> tuple[str, list[str]]:
        """The source and conditions of the current labelled predictions of a window."""
        time = self._window_time(table, start, end)
        where = q.window_where(query, to_micros(start), to_micros(end), time,
                               dict(filters or {}))  # fmt: skip
        feedback = q.known_feedback(query, None if known_by is None else to_micros(known_by))
        source = f"{table} p JOIN {feedback} f ON f.instance_id = p.instance_id"
        where += ["f.label_value IS NOT NULL", q.current_revision(table)]
        return source, where

    def confusion(
        self,
        start: datetime,
        end: datetime,
        model: str,
        *,
        threshold: float | None = None,
        positive: float = 1.0,
        by: Sequence[str] = MODEL_GROUPS,
        business: Sequence[str] = (),
        filters: Mapping[str, SQLValue] | None = None,
        known_by: datetime | None = None,
        bucket: Literal["day"] | None = None,
    ) -> pd.DataFrame:
        """Per group of ``by`` (and ``day``, its first microsecond as a UTC time, when
        ``bucket="day"``) and confusion cell (``tp``, ``fp``, ``fn``, ``tn``) of the
        labelled predictions of ``model`` in the window: ``rows`` and, for each business
        name ``b``, ``b:sum``, ``b:sumsq`` and ``b:count`` (rows that have it). Predicted
        positive: ``score >= threshold``, or the logged decision when ``threshold`` is None
        (rows without one are left out); actual positive: the label equals ``positive``.
        A day's rows equal those of the same call over that day alone: one scan of a long
        window instead of one per day.

        Raises:
            ValueError: an unknown group.
        """
        by = tuple(name for name in q.checked_groups(by) if name != "model")
        groups = [*by, *(["day"] if bucket else [])]
        names = [*groups, "cell", "rows", *[f"{b}:{s}" for b in business for s in _SUMS]]
        catalog = self._catalog(model)
        if catalog is None:
            return pd.DataFrame(columns=names)
        query = q.Query()
        source, where = self._labelled(query, start, end, catalog.table, filters, known_by)
        predicted, cell = q.confusion_cell(query, threshold, positive)
        joins, values = q.business_joins(query, business)
        where.append(f"{predicted} IS NOT NULL")
        keys, _ = q.group_select(by, bucket == "day", self._window_time(catalog.table, start, end))
        select = [*keys, cell, "COUNT(*)"]
        for value in values:
            select += [f"SUM({value})", f"SUM({value} * {value})", f"COUNT({value})"]
        statement = q.grouped(select, " ".join([source, *joins]), where, [*keys, cell])
        rows = [
            (*row[: len(groups) + 2], *[_number(value) for value in row[len(groups) + 2 :]])
            for row in self._fetch(statement, query.params)
        ]
        frame = pd.DataFrame(rows, columns=names)
        frame["rows"] = frame["rows"].astype("int64")
        frame = frame.sort_values([*groups, "cell"], key=_key).reset_index(drop=True)
        if bucket:
            frame["day"] = pd.to_datetime(frame["day"].astype("int64"), unit="us", utc=True)
        return frame

    def labelled_sample(
        self,
        start: datetime,
        end: datetime,
        model: str,
        *,
        business: Sequence[str] = (),
        filters: Mapping[str, SQLValue] | None = None,
        known_by: datetime | None = None,
        size: int = 20_000,
        seed: int = 0,
    ) -> pd.DataFrame:
        """A seeded sample of at most ``size`` labelled predictions of the window (for AUC
        and calibration): ``instance_id, version, role, cohort, experiment_id, score, label,
        decision`` and one column per business name (NaN where absent)."""
        names = ["instance_id", *MODEL_GROUPS, "score", "label", "decision", *business]
        catalog = self._catalog(model)
        if catalog is None:
            return pd.DataFrame(columns=names)
        query = q.Query()
        source, where = self._labelled(query, start, end, catalog.table, filters, known_by)
        joins, values = q.business_joins(query, business)
        select = ["p.instance_id", *[f"p.{g}" for g in MODEL_GROUPS], "p.score", "f.label_value",
                  "p.decision", *values]  # fmt: skip
        statement = q.grouped(select, " ".join([source, *joins]), where, [])
        order = q.sample_order(query, seed, "p")
        rows = self._fetch(f"{statement} ORDER BY {order} LIMIT {int(size)}", query.params)
        frame = pd.DataFrame(rows, columns=names)
        for name in ["score", "label", *business]:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        frame["decision"] = frame["decision"].astype("Int64")
        return frame

    def scores(
        self,
        start: datetime,
        end: datetime,
        model: str,
        *,
        edges: Sequence[float] = (),
        by: Sequence[str] = MODEL_GROUPS,
        filters: Mapping[str, SQLValue] | None = None,
    ) -> dict[tuple[SQLValue, ...], NumericAggregate]:
        """The score of every prediction of ``model`` in the window, summarised per group
        of ``by`` (key: the group's values in ``by``'s order) on ``edges``."""
        by = tuple(name for name in q.checked_groups(by) if name != "model")
        catalog = self._catalog(model)
        if catalog is None:
            return {}
        query = q.Query()
        time = self._window_time(catalog.table, start, end)
        where = q.window_where(query, to_micros(start), to_micros(end), time,
                               dict(filters or {}))  # fmt: skip
        keys = [f"p.{name}" for name in by]
        parts = q.numeric_columns(query, "p.score", edges, shift(edges))
        statement = q.grouped([*keys, "COUNT(*)", *parts], f"{catalog.table} p", where, keys)
        found = {}
        for row in self._fetch(statement, query.params):
            found[row[: len(by)]] = numeric(int(row[len(by)] or 0), edges, row[len(by) + 1 :])
        return found

    def score_pairs(
        self,
        start: datetime,
        end: datetime,
        model: str,
        versions: tuple[str, str],
        *,
        sample_size: int = 1_000,
        seed: int = 0,
    ) -> ScorePairs:
        """The scores of versions ``a`` and ``b`` of ``model`` on the same instances (the
        same request fields) in the window: their means, spreads and correlation, how often
        their logged decisions agree, and a seeded sample of pairs (the most disagreeing
        are ``sample`` sorted by ``abs(score_a - score_b)``)."""
        catalog = self._catalog(model)
        names = ["instance_id", "score_a", "score_b", "decision_a", "decision_b"]
        if catalog is None:
            nan = math.nan
            return ScorePairs(0, (nan, nan), (nan, nan), nan, 0, 0, pd.DataFrame(columns=names))
        query = q.Query()
        time = self._window_time(catalog.table, start, end)
        where = q.window_where(query, to_micros(start), to_micros(end), time, {})
        where += [f"p.version = {query.bind(versions[0], 'va')}",
                  f"o.version = {query.bind(versions[1], 'vb')}",
                  "p.score IS NOT NULL", "o.score IS NOT NULL"]  # fmt: skip
        source = (
            f"{catalog.table} p JOIN {catalog.table} o ON o.instance_id = p.instance_id "
            "AND o.input_digest = p.input_digest"
        )
        both = "p.decision IS NOT NULL AND o.decision IS NOT NULL"
        same = f"{both} AND p.decision = o.decision"
        select = ["COUNT(*)", "SUM(p.score)", "SUM(o.score)", "SUM(p.score * p.score)",
                  "SUM(o.score * o.score)", "SUM(p.score * o.score)",
                  f"SUM(CASE WHEN {both} THEN 1 ELSE 0 END)",
                  f"SUM(CASE WHEN {same} THEN 1 ELSE 0 END)"]  # fmt: skip
        (row,) = self._fetch(q.grouped(select, source, where, []), query.params)
        n = int(row[0] or 0)
        sums = [_number(value) for value in row[1:6]]
        sample_statement = q.grouped(
            ["p.instance_id", "p.score", "o.score", "p.decision", "o.decision"], source, where, []
        )
        order = q.sample_order(query, seed, "p")
        sample = pd.DataFrame(
            self._fetch(f"{sample_statement} ORDER BY {order} LIMIT {int(sample_size)}",
                        query.params),
            columns=names,
        )  # fmt: skip
        return _pairs(n, sums, int(row[6] or 0), int(row[7] or 0), sample)


_SUMS: Final = ("sum", "sumsq", "count")


def _pairs(
    n: int, sums: list[float], decided: int, agreed: int, sample: pd.DataFrame
) -> ScorePairs:
    if n == 0:
        nan = math.nan
        return ScorePairs(0, (nan, nan), (nan, nan), nan, decided, agreed, sample)
    mean_a, mean_b = sums[0] / n, sums[1] / n
    var_a = max(sums[2] / n - mean_a**2, 0.0)
    var_b = max(sums[3] / n - mean_b**2, 0.0)
    covariance = sums[4] / n - mean_a * mean_b
    spread = math.sqrt(var_a * var_b)
    correlation = covariance / spread if spread > 0 else math.nan
    sample["distance"] = (sample["score_a"] - sample["score_b"]).abs()
    ordered = sample.sort_values("distance", ascending=False, kind="stable").reset_index(drop=True)
    return ScorePairs(
        n,
        (mean_a, mean_b),
        (math.sqrt(var_a), math.sqrt(var_b)),
        correlation,
        decided,
        agreed,
        ordered,
    )


def _number(value: SQLValue) -> float:
    return math.nan if value is None else float(value)


def _key(column: pd.Series) -> pd.Series:
    return column.map(lambda value: (value is not None, str(value)))
