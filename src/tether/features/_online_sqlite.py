"""The embedded online store: one SQLite file (WAL), by default ``.tether/online.sqlite``.

Three tables: ``versions`` (every stored version, keyed by namespace, event id and row),
``memberships`` (which entities each event was ever the key of, with the event's latest event
time) and ``watermarks``. A read joins an entity's recent memberships to the versions of those
events, so a correction that moves an event to another entity is seen by both. Writes are one
transaction each; ``INSERT OR IGNORE`` makes writing a version twice a no-op. The file's
``PRAGMA user_version`` is its format (:data:`SQLITE_FORMAT`); another one is refused. One
connection is shared by the threads of a process, behind a lock (a read takes tens of
microseconds, so the lock is not the bottleneck).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tether.config import STATE_DIR
from tether.errors import FeatureError, StoreUnavailableError
from tether.features._online_rows import StoredVersion
from tether.features._online_store import OnlineStore

__all__ = ["ONLINE_STORE_FILE", "SQLITE_FORMAT", "SQLiteOnlineStore"]

ONLINE_STORE_FILE = "online.sqlite"
"""The file name of a project's embedded online store, under its ``.tether/`` folder."""

SQLITE_FORMAT = 1
"""The layout of the file's tables, kept in ``PRAGMA user_version``; bumped when it changes."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    namespace TEXT NOT NULL, event_id TEXT NOT NULL, row TEXT NOT NULL,
    event_us INTEGER NOT NULL,
    PRIMARY KEY (namespace, event_id, row)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS memberships (
    namespace TEXT NOT NULL, entity TEXT NOT NULL, event_id TEXT NOT NULL,
    last_event_us INTEGER NOT NULL,
    PRIMARY KEY (namespace, entity, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_by_event ON memberships (namespace, event_id);
CREATE TABLE IF NOT EXISTS watermarks (
    namespace TEXT PRIMARY KEY, created_us INTEGER NOT NULL
) WITHOUT ROWID;
"""
# CROSS JOIN fixes the join order in SQLite: memberships first (a few rows by primary key),
# then each event's versions by primary key; the planner would otherwise scan all versions.
# A read takes many entities at once (IN over the primary key's second column): a batch of a
# thousand instances costs two statements per 500 entities rather than up to two per entity.
_READ = """
SELECT m.entity, v.row FROM memberships AS m
CROSS JOIN versions AS v ON v.namespace = m.namespace AND v.event_id = m.event_id
WHERE m.namespace = ? AND m.last_event_us >= ? AND m.entity IN ({marks})
"""
_KNOWN = "SELECT DISTINCT entity FROM memberships WHERE namespace = ? AND entity IN ({marks})"
_READ_CHUNK = 500
"""Entities per read statement, well under SQLite's limit of bound parameters."""
_STORED_EVENTS = "SELECT DISTINCT event_id FROM versions WHERE namespace = ? AND event_id IN"
_ADD_MEMBERSHIP = """
INSERT INTO memberships VALUES (?, ?, ?, ?)
ON CONFLICT DO UPDATE SET last_event_us = max(last_event_us, excluded.last_event_us)
"""
_REFRESH = """
UPDATE memberships SET last_event_us = (
    SELECT max(v.event_us) FROM versions AS v
    WHERE v.namespace = memberships.namespace AND v.event_id = memberships.event_id)
WHERE namespace = ? AND event_id = ?
"""
_OLD_EVENTS = """
SELECT event_id FROM versions WHERE namespace = ?
GROUP BY event_id HAVING max(event_us) < ?
"""


class SQLiteOnlineStore(OnlineStore):
    """An online store in one SQLite file, for one machine (the embedded default).

    >>> store = SQLiteOnlineStore.in_project(".")  # doctest: +SKIP
    >>> store.url  # doctest: +SKIP
    '/project/.tether/online.sqlite'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.url = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._connection = sqlite3.connect(
                self.url, check_same_thread=False, isolation_level=None
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._check_format()
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc

    def _check_format(self) -> None:
        (found,) = self._connection.execute("PRAGMA user_version").fetchone()
        if found not in (0, SQLITE_FORMAT):
            raise FeatureError(
                f"the SQLite online store {self.url!r} has format {found}: expected "
                f"{SQLITE_FORMAT}; delete the file and materialize again"
            )
        self._connection.executescript(_SCHEMA)
        self._connection.execute(f"PRAGMA user_version = {SQLITE_FORMAT}")

    @classmethod
    def in_project(cls, project: str | os.PathLike[str]) -> SQLiteOnlineStore:
        """The store of the project in folder ``project``: ``.tether/online.sqlite``."""
        folder = Path(project) / STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder / ONLINE_STORE_FILE)

    def _unavailable(self, exc: sqlite3.Error) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the SQLite online store {self.url!r} cannot be used: {exc}; expected a writable "
            "file in an existing folder"
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    yield self._connection
                except BaseException:
                    self._connection.execute("ROLLBACK")
                    raise
                self._connection.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc

    def write(self, namespace: str, versions: Sequence[StoredVersion]) -> int:
        """Add ``versions`` in one transaction; versions already stored are ignored.

        Returns how many were new: the rows ``INSERT OR IGNORE`` inserted.

        A membership's ``last_event_us`` is the latest event time of any version of its
        event. For an event first seen in this batch that is the batch's own maximum, written
        with the membership; only events the store already held need the (costlier) refresh
        from every stored version: half of the write's time when it ran for every event.
        """
        latest: dict[str, int] = {}
        for v in versions:
            latest[v.event_id] = max(v.event_us, latest.get(v.event_id, v.event_us))
        with self._transaction() as connection:
            known = self._stored_events(connection, namespace, list(latest))
            inserted = connection.executemany(
                "INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?)",
                [(namespace, v.event_id, v.row, v.event_us) for v in versions],
            ).rowcount
            connection.executemany(
                _ADD_MEMBERSHIP,
                {(namespace, v.entity, v.event_id, latest[v.event_id]) for v in versions},
            )
            connection.executemany(_REFRESH, [(namespace, event) for event in known])
        return max(inserted, 0)  # -1 for an empty batch, which inserted nothing

    @staticmethod
    def _stored_events(
        connection: sqlite3.Connection, namespace: str, events: Sequence[str]
    ) -> set[str]:
        """Which of ``events`` already have a stored version (looked up 500 at a time)."""
        known: set[str] = set()
        for start in range(0, len(events), 500):
            chunk = events[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"{_STORED_EVENTS} ({marks})"
            known.update(event for (event,) in connection.execute(query, [namespace, *chunk]))
        return known

    def read(
        self, namespace: str, entities: Sequence[str], since_us: int
    ) -> list[list[str] | None]:
        """Return the stored rows of each entity: one indexed join per 500 distinct entities,
        and one more for those with no recent row (known, or unknown to the store)."""
        distinct = list(dict.fromkeys(entities))
        found: dict[str, list[str]] = {}
        with self._lock:
            try:
                for start in range(0, len(distinct), _READ_CHUNK):
                    chunk = distinct[start : start + _READ_CHUNK]
                    self._read_chunk(namespace, chunk, since_us, found)
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        return [list(found[entity]) if entity in found else None for entity in entities]

    def _read_chunk(
        self, namespace: str, chunk: Sequence[str], since_us: int, found: dict[str, list[str]]
    ) -> None:
        marks = ",".join("?" * len(chunk))
        query = _READ.format(marks=marks)
        for entity, row in self._connection.execute(query, [namespace, since_us, *chunk]):
            found.setdefault(entity, []).append(row)
        idle = [entity for entity in chunk if entity not in found]
        if idle:
            known = _KNOWN.format(marks=",".join("?" * len(idle)))
            for (entity,) in self._connection.execute(known, [namespace, *idle]):
                found[entity] = []

    def watermark(self, namespace: str) -> int | None:
        """The created time up to which ``namespace`` is materialized, if it ever was."""
        with self._lock:
            try:
                found = self._connection.execute(
                    "SELECT created_us FROM watermarks WHERE namespace = ?", (namespace,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        return None if found is None else int(found[0])

    def set_watermark(self, namespace: str, created_us: int) -> None:
        """Move the watermark of ``namespace`` forward to ``created_us`` (never back)."""
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO watermarks VALUES (?, ?) ON CONFLICT (namespace) DO UPDATE "
                "SET created_us = max(created_us, excluded.created_us)",
                (namespace, created_us),
            )

    def compact(self, namespace: str, before_us: int) -> int:
        """Delete the events whose every version has an event time before ``before_us``."""
        with self._transaction() as connection:
            old = [
                (namespace, event_id)
                for (event_id,) in connection.execute(_OLD_EVENTS, (namespace, before_us))
            ]
            connection.executemany("DELETE FROM versions WHERE namespace = ? AND event_id = ?", old)
            connection.executemany(
                "DELETE FROM memberships WHERE namespace = ? AND event_id = ?", old
            )
        return len(old)

    def clear(self) -> None:
        """Delete every version, membership and watermark in the file."""
        with self._transaction() as connection:
            for table in ("versions", "memberships", "watermarks"):
                connection.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()
