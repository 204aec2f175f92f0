"""The SQL of the prediction log's aggregates, generated once for SQLite, PostgreSQL and Spark.

Every statement is text in the subset the three engines share (``CASE``, ``COALESCE``,
``SUM``/``MIN``/``MAX``/``COUNT``, correlated ``NOT EXISTS`` in ``WHERE``, ``%`` on
non-negative integers, ``:name`` parameters). Identifiers are constants of this package or
built from numbers (a model's feature table and columns, see :mod:`._predlog_typed`); every
value (window bounds, model names, bin edges, categories, business names) is a parameter.

A window is ``[start, end)`` on the prediction's event time, or its serving time when it has
none (``COALESCE(event_time_us, time_us)``; the typed tables store it as ``window_us``).
A label counts once per model version: only the current revision of an instance (see
:mod:`._predlog_sql`) joins its feedback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from tether._storage import SQLValue
from tether.serving._predlog_typed import FEEDBACK_VALUES, SAMPLE_PRIME

PREDICTIONS: Final = "tether_predictions"
FEEDBACK: Final = "tether_feedback"
GROUPS: Final = ("model", "version", "role", "cohort", "experiment_id")
"""The columns an aggregate can be grouped by."""
DAY_US: Final = 86_400_000_000
WINDOW_TIME: Final = "COALESCE(p.event_time_us, p.time_us)"


@dataclass
class Query:
    """A statement being built: its clauses and its parameters."""

    params: dict[str, SQLValue] = field(default_factory=dict)
    window: tuple[str, str] = ("", "")
    """The parameters of the window's start and end (set by :func:`window_where`)."""
    _counter: int = 0

    def bind(self, value: SQLValue, prefix: str = "v") -> str:
        """A fresh parameter holding ``value``; returns its marker (``:v3``)."""
        self._counter += 1
        name = f"{prefix}{self._counter}"
        self.params[name] = value
        return f":{name}"


def combiner(part: str) -> str:
    """How partial results of the aggregate ``part`` combine: ``min``, ``max`` or ``add``
    (counts and sums)."""
    return "min" if part.startswith("MIN(") else "max" if part.startswith("MAX(") else "add"


def checked_groups(by: Sequence[str]) -> tuple[str, ...]:
    """``by`` if each is one of :data:`GROUPS` (they become identifiers).

    Raises:
        ValueError: naming the unknown column.
    """
    for name in by:
        if name not in GROUPS:
            raise ValueError(f"cannot group by {name!r}; expected some of {', '.join(GROUPS)}")
    return tuple(by)


def sample_order(query: Query, seed: int, alias: str) -> str:
    """An ``ORDER BY`` expression that is a seeded permutation of the rows' sample keys."""
    digest = hashlib.sha256(f"tether-sample-{seed}".encode()).digest()
    a = 1 + int.from_bytes(digest[:8], "big") % (SAMPLE_PRIME - 1)
    b = int.from_bytes(digest[8:16], "big") % SAMPLE_PRIME
    # key < 2**31 and a < 2**31: the product fits a BIGINT on every engine.
    return (
        f"({alias}.sample_key * {query.bind(a, 'sa')} + {query.bind(b, 'sb')}) % {SAMPLE_PRIME}, "
        f"{alias}.instance_id, {alias}.version, {alias}.input_digest"
    )


def window_where(
    query: Query, start_us: int, end_us: int, time: str, filters: Mapping[str, SQLValue]
) -> list[str]:
    """The conditions of a window and of equality ``filters`` (None: any) on alias ``p``."""
    start, end = query.bind(start_us, "start"), query.bind(end_us, "end")
    query.window = (start[1:], end[1:])
    where = [f"{time} >= {start}", f"{time} < {end}"]
    for name, value in filters.items():
        if name == "model":
            raise ValueError("a model's aggregates take the model as their own argument")
        if value is not None:
            checked_groups((name,))
            where.append(f"p.{name} = {query.bind(value, name)}")
    return where


def current_revision(table: str = PREDICTIONS, alias: str = "p") -> str:
    """True for a prediction no later revision of its instance by its version supersedes
    (in ``table``: the log, or a model's feature table, which has no model column)."""
    same_model = f"AND q.model = {alias}.model " if table == PREDICTIONS else ""
    return (
        f"NOT EXISTS (SELECT 1 FROM {table} q WHERE q.instance_id = {alias}.instance_id "
        f"{same_model}AND q.version = {alias}.version AND "
        f"(q.time_us > {alias}.time_us OR (q.time_us = {alias}.time_us AND "
        f"q.input_digest > {alias}.input_digest)))"
    )


def known_feedback(query: Query, known_by_us: int | None) -> str:
    """The feedback known by ``known_by_us``: both known (``time_us``) and received by then."""
    if known_by_us is None:
        return f"(SELECT instance_id, label_value FROM {FEEDBACK})"
    known = query.bind(known_by_us, "known")
    return (
        f"(SELECT instance_id, label_value FROM {FEEDBACK} WHERE time_us <= {known} "
        f"AND COALESCE(received_us, time_us) <= {known})"
    )


def group_select(by: Sequence[str], bucket: bool, time: str) -> tuple[list[str], list[str]]:
    """The selected and grouped expressions of ``by`` (and the day, when ``bucket``)."""
    expressions = [f"p.{name}" for name in by]
    if bucket:
        expressions.append(f"({time} - {time} % {DAY_US})")
    return expressions, list(expressions)


def grouped(select: list[str], source: str, where: list[str], group: list[str]) -> str:
    """``SELECT ... FROM ... WHERE ... [GROUP BY ...]``."""
    sql = f"SELECT {', '.join(select)} FROM {source} WHERE {' AND '.join(where)}"
    return sql + (f" GROUP BY {', '.join(group)}" if group else "")


def numeric_columns(query: Query, column: str, edges: Sequence[float], shift: float) -> list[str]:
    """Aggregates of one numeric ``column``: count, min, max, shifted sum and sum of squares
    (exact variance without cancellation for values near ``shift``), then per inner edge
    the rows at or above it (one comparison per edge and row: the bins are differences)."""
    center = query.bind(float(shift), "shift")
    parts = [
        f"COUNT({column})",
        f"MIN({column})",
        f"MAX({column})",
        f"SUM({column} - {center})",
        f"SUM(({column} - {center}) * ({column} - {center}))",
    ]
    for edge in edges:
        marker = query.bind(float(edge), "e")
        parts.append(f"SUM(CASE WHEN {column} >= {marker} THEN 1 ELSE 0 END)")
    return parts


def categorical_columns(
    query: Query, column: str, categories: Sequence[str], seen: Sequence[str]
) -> list[str]:
    """Aggregates of one text ``column``: count, rows per category, rows of no category in
    ``seen`` (never seen by the reference)."""
    parts = [f"COUNT({column})"]
    for category in categories:
        parts.append(f"SUM(CASE WHEN {column} = {query.bind(category, 'c')} THEN 1 ELSE 0 END)")
    if seen:
        listed = ", ".join(query.bind(value, "s") for value in seen)
        parts.append(
            f"SUM(CASE WHEN {column} IS NOT NULL AND {column} NOT IN ({listed}) THEN 1 ELSE 0 END)"
        )
    else:
        parts.append(f"COUNT({column})")
    return parts


def business_joins(query: Query, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """One ``LEFT JOIN`` of :data:`FEEDBACK_VALUES` per business name, and its value column."""
    joins, values = [], []
    for position, name in enumerate(names):
        alias = f"b{position}"
        joins.append(
            f"LEFT JOIN {FEEDBACK_VALUES} {alias} ON {alias}.instance_id = p.instance_id "
            f"AND {alias}.name = {query.bind(name, 'bn')}"
        )
        values.append(f"{alias}.value")
    return joins, values


def confusion_cell(query: Query, threshold: float | None, positive: float) -> tuple[str, str]:
    """The predicted class (1/0) and the confusion cell (``tp``, ``fp``, ``fn``, ``tn``) of a
    labelled prediction: at ``threshold`` on the score (``score >= threshold``), or its
    logged decision when None."""
    if threshold is None:
        predicted = "p.decision"
    else:
        cut = query.bind(float(threshold), "thr")
        predicted = f"(CASE WHEN p.score >= {cut} THEN 1 ELSE 0 END)"
    label = f"f.label_value = {query.bind(float(positive), 'pos')}"
    cell = (
        f"CASE WHEN {predicted} = 1 AND {label} THEN 'tp' WHEN {predicted} = 1 THEN 'fp' "
        f"WHEN {label} THEN 'fn' ELSE 'tn' END"
    )
    return predicted, cell
