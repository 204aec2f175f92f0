"""The SQL seam of the tables tether owns: the one module that imports SQLAlchemy.

The event log (registry), the prediction log and the feedback (serving) live in SQLite (WAL) by
default and in PostgreSQL at scale, on the same code: a URL picks the implementation.

- ``sqlite:///path/to/file.db``: WAL journal (readers never block the writer), a busy timeout
  of :data:`SQLITE_BUSY_TIMEOUT` seconds, and write transactions opened with
  ``BEGIN IMMEDIATE``, which takes the database's write lock up front: a transaction that reads
  and then writes cannot be overtaken by another writer between the two (the default
  ``BEGIN DEFERRED`` takes the lock only at the first write, and fails with "database is
  locked" when two such transactions race).
- ``postgresql://...``: the psycopg 3 driver, pooled connections checked before use, and locks
  that are transaction-level advisory locks, released by commit or rollback.

Domain modules never see SQLAlchemy: they write SQL text with ``:name`` parameters in the
portable subset both databases share (``BIGINT``, ``TEXT``, ``DOUBLE PRECISION``,
``INSERT ... ON CONFLICT DO NOTHING``), run it through a :class:`Transaction`, and get
:data:`SQLValue` tuples back. Every SQLAlchemy error is translated here into the error class the
caller chose (``RegistryError`` for the event log, ``ServingError`` for the prediction log).

Two storage conventions keep the SQL portable and exact: times are ``BIGINT`` microseconds since
the Unix epoch, UTC (:func:`to_micros`); JSON is ``TEXT`` written by :func:`dump_json`, never
``JSONB``, which would reorder keys, drop duplicates and refuse the ``NaN`` a feature vector
may hold, so "the features exactly as served" would not survive the round trip.

Schema versions are managed by :mod:`tether._schema`.
"""

from __future__ import annotations

import functools
import json
import numbers
import re
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from tether._uris import mask_uri
from tether.errors import ConfigError, TetherError

SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite connection waits for another's write lock before giving up."""

SQLValue: TypeAlias = int | float | str | None
"""A value that crosses the seam: the column types tether's tables use."""
Row: TypeAlias = tuple[SQLValue, ...]
"""One result row."""
Params: TypeAlias = Mapping[str, SQLValue]
"""The ``:name`` parameters of one statement."""
JSONValue: TypeAlias = (
    "bool | int | float | str | Sequence[JSONValue] | Mapping[str, JSONValue] | None"
)
"""A value :func:`dump_json` can write: what feature vectors, outputs and details hold."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_WRITE_OPTION = "tether_write"
_NAMED_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")  # :name, but not ::cast nor a:b


class Transaction:
    """One open transaction: run statements, read rows. Committed when its block ends cleanly.

    Obtained from :meth:`Database.read` or :meth:`Database.write`, never built directly.
    """

    def __init__(self, connection: Connection, database: Database, *, writable: bool) -> None:
        self._connection = connection
        self._database = database
        self.writable = writable
        """Whether the transaction was opened by :meth:`Database.write`."""

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``, for the rare statement that differs."""
        return self._database.dialect

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement and return the number of rows it changed."""
        result = self._connection.execute(sa.text(sql), dict(params or {}))
        return int(result.rowcount)

    def execute_many(self, sql: str, rows: Sequence[Params]) -> int:
        """Run one statement once per parameter set (the driver's ``executemany``) and return
        the number of rows changed in all (both drivers sum them).

        The statement goes to the driver as it is, but for its parameter style: SQLAlchemy's
        per-row parameter processing cost as much as the insert itself (the prediction log's
        batches are its main user).
        """
        if not rows:
            return 0
        result = self._connection.exec_driver_sql(self._database._driver_sql(sql), list(rows))
        return int(result.rowcount)

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a query and return all its rows."""
        return [tuple(row) for row in self._connection.execute(sa.text(sql), dict(params or {}))]

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """Run a query and return its first row, or None when it returns none."""
        row = self._connection.execute(sa.text(sql), dict(params or {})).first()
        return None if row is None else tuple(row)

    def lock(self, namespace: str, key: str) -> None:
        """Hold an exclusive lock on ``(namespace, key)`` until this transaction ends.

        Other transactions locking the same pair, in any thread or process, wait. Only write
        transactions lock: on SQLite they already hold the whole database's write lock.
        """
        if not self.writable:
            raise self._database.error(
                f"Cannot lock {namespace}/{key} in a read transaction on "
                f"{self._database.display_url}; open it with Database.write()."
            )
        self._database._lock(self, namespace, key)


class Database(ABC):
    """A SQL database holding some of tether's tables; one subclass per database product.

    A subclass configures its engine and says how to lock; everything else is shared. Use
    :func:`open_database` to get one from a URL. Safe to share between threads.
    """

    dialect: ClassVar[str]
    """The SQLAlchemy dialect name, ``"sqlite"`` or ``"postgresql"``."""

    def __init__(self, engine: Engine, *, error: type[TetherError], purpose: str) -> None:
        self._engine = engine
        self.error = error
        """The error class every failure of this database is reported as."""
        self.purpose = purpose
        """What the database holds, for messages (e.g. ``"prediction log"``)."""
        self.display_url = mask_uri(engine.url.render_as_string(hide_password=False))
        """The URL with any password hidden, for messages."""

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """Open a transaction for queries. It does not block writers.

        Raises:
            TetherError: (the class given to :func:`open_database`) the database failed.
        """
        with self._transaction(writable=False) as transaction:
            yield transaction

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """Open a transaction that writes, committed when the block ends without an exception.

        On SQLite it holds the database's write lock from its first statement (``BEGIN
        IMMEDIATE``), so what it reads cannot change before it writes.

        Raises:
            TetherError: (the class given to :func:`open_database`) the database failed.
        """
        with self._transaction(writable=True) as transaction:
            yield transaction

    def dispose(self) -> None:
        """Close every pooled connection. The object must not be used afterwards."""
        self._engine.dispose()

    @abstractmethod
    def _lock(self, transaction: Transaction, namespace: str, key: str) -> None:
        """Take the lock of :meth:`Transaction.lock` inside ``transaction``."""

    def _driver_sql(self, sql: str) -> str:
        """``sql`` with its ``:name`` parameters in the driver's own style (sqlite3 takes them
        as they are)."""
        return sql

    @contextmanager
    def _transaction(self, *, writable: bool) -> Iterator[Transaction]:
        try:
            with self._engine.connect() as connection:
                connection.execution_options(**{_WRITE_OPTION: writable})
                with connection.begin():
                    yield Transaction(connection, self, writable=writable)
        except SQLAlchemyError as exc:
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            raise self.error(
                f"The {self.purpose} database at {self.display_url} failed: "
                f"{type(cause).__name__}: {cause}"
            ) from exc


class SQLiteDatabase(Database):
    """A SQLite file in WAL mode; write transactions begin with ``BEGIN IMMEDIATE``."""

    dialect = "sqlite"

    def __init__(self, url: URL, *, error: type[TetherError], purpose: str) -> None:
        if not url.database or url.database == ":memory:":
            raise ConfigError(
                f"The {purpose} URL {url} names no file; expected sqlite:///path/to/file.db "
                "(an in-memory database would be one per connection, and lost on exit)."
            )
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        super().__init__(engine, error=error, purpose=purpose)
        self._enable_wal()

    def _enable_wal(self) -> None:
        """Put the file in WAL mode, where it stays.

        Converting a file needs its exclusive lock, and SQLite does not wait for it (no busy
        timeout applies), so processes opening a new file together retry here, up to the timeout.
        """
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
        connection = self._engine.raw_connection()
        try:
            while True:
                try:
                    mode = connection.cursor().execute("PRAGMA journal_mode=WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorname != "SQLITE_BUSY" or time.monotonic() > deadline:
                        raise self.error(f"Cannot open {self.display_url}: {exc}") from exc
                    time.sleep(0.01)
        finally:
            connection.close()
        if mode != "wal":
            raise self.error(
                f"The {self.purpose} database {self.display_url} cannot use a write-ahead log "
                f"(its journal mode stays {mode!r}); put the file on a local file system."
            )

    def _lock(self, transaction: Transaction, namespace: str, key: str) -> None:
        """Nothing to do: a SQLite write transaction holds the database's only write lock."""


class PostgresDatabase(Database):
    """A PostgreSQL database through psycopg 3; locks are transaction advisory locks."""

    dialect = "postgresql"

    def __init__(self, url: URL, *, error: type[TetherError], purpose: str) -> None:
        engine = sa.create_engine(url.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
        super().__init__(engine, error=error, purpose=purpose)

    def _driver_sql(self, sql: str) -> str:
        return _psycopg_style(sql)

    def _lock(self, transaction: Transaction, namespace: str, key: str) -> None:
        # The two-key form keeps tether's locks apart from other users of advisory locks; a
        # hash collision between two keys only makes them wait for each other, never unsafe.
        transaction.fetch_one(
            "SELECT pg_advisory_xact_lock(hashtext(:namespace), hashtext(:key))",
            {"namespace": namespace, "key": key},
        )


def open_database(url: str, *, error: type[TetherError], purpose: str) -> Database:
    """Open the database at ``url``: ``sqlite:///path`` or ``postgresql://user@host/db``.

    ``error`` is the class failures are reported as; ``purpose`` names the database in them.

    >>> db = open_database("sqlite:///.tether/log.db", error=ServingError,
    ...                    purpose="prediction log")  # doctest: +SKIP

    Raises:
        ConfigError: the URL is malformed or names another database product.
    """
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            mask_uri(f"The {purpose} URL {url!r} is not a database URL: {exc}")
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername == "sqlite":
        return SQLiteDatabase(parsed, error=error, purpose=purpose)
    if backend == "postgresql" and parsed.drivername in {"postgresql", "postgresql+psycopg"}:
        return PostgresDatabase(parsed, error=error, purpose=purpose)
    raise ConfigError(
        f"The {purpose} URL {mask_uri(parsed.render_as_string(hide_password=False))} uses "
        f"{parsed.drivername!r}; expected sqlite:///path/to/file.db or postgresql://... "
        "(tether connects to PostgreSQL with psycopg 3)."
    )


@functools.lru_cache(maxsize=64)  # a handful of constant statements
def _psycopg_style(sql: str) -> str:
    """``sql`` with ``:name`` parameters as psycopg's ``%(name)s``, a literal ``%`` doubled."""
    return _NAMED_PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))


def _configure_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    # Python's sqlite3 would BEGIN by itself, deferred and only before a write; tether emits
    # its own BEGIN (below) so that reads and writes share one transaction.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _begin_sqlite_transaction(connection: Connection) -> None:
    writable = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writable else "BEGIN")


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of a timezone-aware ``moment``, as tether stores time.

    Raises:
        ValueError: ``moment`` is naive (its zone would be a guess).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got the naive {moment}")
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC datetime of ``micros`` microseconds since the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def dump_json(value: object, *, canonical: bool = False) -> str:
    """Compact JSON text of ``value``; ``canonical`` sorts keys, for comparing two values.

    Key order is kept otherwise (a feature vector is stored as served). ``NaN`` and infinities
    are written as Python's ``json`` writes them, and read back the same. Numbers that are not
    ``int``/``float`` (``Fraction``, numpy scalars) are written as the int or float they equal,
    and numpy booleans as booleans.

    Raises:
        TypeError: ``value`` holds something JSON cannot hold.
    """
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, sort_keys=canonical, default=_number
    )


def load_json(text: str) -> Any:
    """The value of JSON ``text`` written by :func:`dump_json`."""
    return json.loads(text)


def _number(value: object) -> bool | int | float | str:
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    # numpy scalars (including numpy.bool_, which is no number) convert themselves with item().
    item = getattr(value, "item", None)
    scalar = item() if callable(item) else None
    if isinstance(scalar, bool | int | float | str):
        return scalar
    raise TypeError(f"{type(value).__name__} {value!r} cannot be written as JSON")
