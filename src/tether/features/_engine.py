"""The seam between the feature store and a SQL engine: a small base class, one per engine.

An engine does three things: say what columns a source has (:meth:`OfflineEngine.describe`),
register sources and in-memory tables under given names and run one SQLGlot query over them
(:meth:`OfflineEngine.run`), returning Arrow. Everything else (validation, SQL generation,
result types, transformations) is shared, so DuckDB and Spark differ only in these methods
and in the SQL dialect SQLGlot renders. Implementations: ``DuckDBEngine``
(:mod:`tether.features._duckdb`) and ``SparkEngine`` (:mod:`tether.features._spark`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeAlias

import pyarrow as pa
from sqlglot import exp

from tether.features._definitions import EventSource

__all__ = ["ColumnKind", "OfflineEngine", "SourceSchema"]

ColumnKind: TypeAlias = Literal[
    "string", "integer", "float", "boolean", "timestamp", "naive_timestamp", "other"
]
"""What tether needs to know of a column's type, whatever the engine calls it."""


@dataclass(frozen=True)
class SourceSchema:
    """The columns of a source: their kind and the engine's own type name, and whether it is
    empty (has no row at all)."""

    kinds: Mapping[str, ColumnKind]
    types: Mapping[str, str]
    empty: bool

    def describe(self, column: str) -> str:
        """Say what ``column`` holds, for error messages (e.g. ``"VARCHAR (string)"``)."""
        return f"{self.types[column]} ({self.kinds[column]})"


class OfflineEngine(ABC):
    """Runs generated feature SQL. Subclasses must be usable for many queries in a row."""

    name: ClassVar[str]
    """A short name for messages, e.g. ``"DuckDB"``."""
    dialect: ClassVar[str]
    """The SQLGlot dialect the engine's SQL is rendered in, e.g. ``"duckdb"``."""

    @abstractmethod
    def describe(self, source: EventSource) -> SourceSchema:
        """Return the schema of ``source`` and whether it is empty, without reading it all.

        Raises:
            FeatureError: the source cannot be found or opened.
        """

    @abstractmethod
    def run(
        self,
        query: exp.Select,
        *,
        sources: Mapping[str, EventSource],
        tables: Mapping[str, pa.Table],
        what: str,
    ) -> pa.Table:
        """Register ``sources`` and ``tables`` under their names, run ``query``, return Arrow.

        The registrations must not outlive the call. ``what`` names the computation in errors.

        Raises:
            FeatureError: the engine refused or failed the query (its error chained).
        """

    def render(self, query: exp.Select, *, pretty: bool = False) -> str:
        """Render ``query`` in this engine's SQL dialect."""
        return query.sql(dialect=self.dialect, pretty=pretty)
