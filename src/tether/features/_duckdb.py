"""The DuckDB engine: the default, embedded offline engine, and tether's one DuckDB seam.

:func:`duckdb_connection` is the only place in tether that opens a DuckDB database, and
:func:`_translated` the only place that turns DuckDB's exceptions into
:class:`~tether.errors.FeatureError`. A :class:`DuckDBEngine` opens its in-memory database
once, on first use, and gives each :meth:`~DuckDBEngine.describe` and
:meth:`~DuckDBEngine.run` a fresh connection to it (a DuckDB cursor: its own temporary views
and registrations, closed afterwards, so nothing leaks from one query to the next). Opening
a database costs about 20 ms, a cursor microseconds: on the benchmark's 0.4 s training set
the second open was 5%. Large training sets rely on DuckDB's out-of-core execution: give
``memory_limit`` (e.g. ``"16GB"``) and a ``temp_directory`` to spill to; insertion order is
not preserved (tether restores the spine's order itself), which lets DuckDB stream.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
from sqlglot import exp

from tether.errors import FeatureError
from tether.features._definitions import EventSource
from tether.features._engine import ColumnKind, OfflineEngine, SourceSchema

__all__ = ["DuckDBEngine", "duckdb_connection"]

_KINDS: tuple[tuple[str, ColumnKind], ...] = (
    (r"TIMESTAMP WITH TIME ZONE|TIMESTAMPTZ", "timestamp"),
    (r"TIMESTAMP(_S|_MS|_NS)?|DATETIME", "naive_timestamp"),
    (r"VARCHAR|TEXT|STRING", "string"),
    (r"U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)", "integer"),
    (r"DOUBLE|FLOAT|REAL|DECIMAL\(.*\)", "float"),
    (r"BOOLEAN", "boolean"),
)


def _kind(type_name: str) -> ColumnKind:
    for pattern, kind in _KINDS:
        if re.fullmatch(pattern, type_name):
            return kind
    return "other"


@contextmanager
def duckdb_connection(
    database: str = ":memory:", *, config: Mapping[str, Any] | None = None, what: str
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a DuckDB database, close it afterwards, and turn DuckDB errors into FeatureError.

    ``what`` names the work in the error, e.g. "building feature view 'customer_tx'".
    """
    connection = _open(database, config, what)
    try:
        with _translated(what):
            yield connection
    finally:
        connection.close()


def _open(database: str, config: Mapping[str, Any] | None, what: str) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(database, config=dict(config or {}))
    except duckdb.Error as exc:
        raise FeatureError(f"DuckDB could not open {database!r} for {what}: {exc}") from exc


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except duckdb.Error as exc:
        raise FeatureError(f"DuckDB failed {what}: {exc}") from exc


class DuckDBEngine(OfflineEngine):
    """Compute training sets with DuckDB (in memory, or over the tables of a database file).

    >>> engine = DuckDBEngine(memory_limit="4GB", threads=2)
    """

    name: ClassVar[str] = "DuckDB"
    dialect: ClassVar[str] = "duckdb"

    def __init__(
        self,
        database: str | os.PathLike[str] = ":memory:",
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | os.PathLike[str] | None = None,
    ) -> None:
        self.database = os.fspath(database)
        # Build the join's hash table on the points (the right side, as written), whatever
        # the estimates say: DuckDB's guess of the events' size after their filters was
        # 40,000 for 1,000,000 rows, so it built on the events and ran 1.7x slower.
        self.config: dict[str, Any] = {
            "preserve_insertion_order": False,
            "disabled_optimizers": "build_side_probe_side",
        }
        if memory_limit is not None:
            self.config["memory_limit"] = memory_limit
        if threads is not None:
            self.config["threads"] = threads
        if temp_directory is not None:
            self.config["temp_directory"] = os.fspath(temp_directory)
        self._memory: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh connection: a cursor of the engine's in-memory database, opened once.

        A database file is opened for each use instead, as before: held open, it would stay
        locked, and the user's own connection to it with other settings would be refused.
        """
        if self.database != ":memory:":
            with duckdb_connection(self.database, config=self.config, what=what) as connection:
                yield connection
            return
        with self._lock:
            if self._memory is None:
                self._memory = _open(self.database, self.config, what)
            cursor = self._memory.cursor()
        try:
            with _translated(what):
                yield cursor
        finally:
            cursor.close()

    @contextmanager
    def connection(self, what: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh connection for work other than a training set (monitoring's profiles).

        The same as :meth:`run` gets: a cursor of the engine's database (opened once), its
        own registrations, closed on exit; DuckDB's errors become FeatureError naming
        ``what``. A profile of 5,000 rows took 0.1 s with a database opened for it and
        half that on a cursor, on the loaded 2-core machine.
        """
        with self._connect(what) as connection:
            yield connection

    def describe(self, source: EventSource) -> SourceSchema:
        """Return the source's columns and whether it has rows (reads one row at most)."""
        with self._connect(f"reading the schema of {_label(source)}") as connection:
            relation = _relation(connection, source)
            types = {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}
            empty = not relation.project("1").limit(1).fetchall()  # reads no column
        kinds = {column: _kind(type_name) for column, type_name in types.items()}
        return SourceSchema(kinds=kinds, types=types, empty=empty)

    def run(
        self,
        query: exp.Select,
        *,
        sources: Mapping[str, EventSource],
        tables: Mapping[str, pa.Table],
        what: str,
    ) -> pa.Table:
        """Run ``query`` over ``sources`` and ``tables`` in a fresh connection."""
        with self._connect(what) as connection:
            for name, source in sources.items():
                _relation(connection, source).create_view(name, replace=True)
            for name, table in tables.items():
                connection.register(name, table)
            result: pa.Table = connection.sql(self.render(query)).to_arrow_table()
        return result


def _label(source: EventSource) -> str:
    return f"{source.format} source {source.location!r}"


def _relation(connection: duckdb.DuckDBPyConnection, source: EventSource) -> Any:
    """Open ``source`` as a DuckDB relation (lazily: nothing is read yet)."""
    if source.format == "table":
        return connection.table(source.location)
    location = source.location
    if not os.path.exists(location):
        raise FeatureError(f"{_label(source)} does not exist: expected a file or folder")
    if os.path.isdir(location):
        location = os.path.join(location, "**", f"*.{source.format}")
    if source.format == "parquet":
        return connection.read_parquet(location)
    return connection.read_csv(location, header=True)
