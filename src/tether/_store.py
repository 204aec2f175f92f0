"""The move of a project's two legacy SQLite files into the one store of tether's tables.

Before ``[store] url``, tether kept the registry's event log in ``.tether/events.db`` and the
prediction log with its feedback in ``.tether/predictions.db``, so a prediction could not be
joined to the deploy event that explains it. On the first open of such a project
(:meth:`tether.Project.open`), :func:`migrate_legacy_files` moves the tables of both files into
``.tether/tether.db``:

- each legacy file is checkpointed (its write-ahead log folded in), then copied table by table
  with its exact schema (``sqlite_master``) and its indexes, and the schema-version rows of its
  components (``events``, ``predictions``) with it, in one transaction of the target, so a
  crash leaves either everything or nothing moved;
- it refuses to overwrite: a table (or a component's schema version) that the target already
  holds is a :class:`~tether.errors.ConfigError` naming both files, and nothing is changed;
- each moved file is recorded in ``tether_store_migrations`` (file name and sha256) and renamed
  ``*.migrated`` (kept, never deleted); opening again finds nothing to move, and a crash between
  the commit and the rename is finished on the next open, since the recorded digest matches.

Only a SQLite target is migrated into: a project that names a PostgreSQL ``[store] url`` while
legacy files exist is refused with the files named (copying between databases is a step its
operator takes, not one tether takes silently).
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from tether.config import STORE_FILE
from tether.errors import ConfigError

LEGACY_FILES = ("events.db", "predictions.db")
"""The files under ``.tether/`` that ``[store] url`` replaced, in the order they are moved."""
MIGRATED_SUFFIX = ".migrated"
MIGRATIONS_TABLE = "tether_store_migrations"
_VERSION_TABLE = "tether_schema_version"  # see tether._schema: one row per component
_SQLITE = "sqlite:///"


def migrate_legacy_files(state_dir: Path, store_url: str) -> list[str]:
    """Move the tables of ``state_dir``'s legacy files into the store; return the files moved.

    Raises:
        ConfigError: the target already holds one of the tables, or the store is not SQLite.
    """
    legacy = [state_dir / name for name in LEGACY_FILES if (state_dir / name).is_file()]
    if not legacy:
        return []
    if not store_url.startswith(_SQLITE):
        names = ", ".join(str(path) for path in legacy)
        raise ConfigError(
            f"{names} hold tether's tables from before [store] url, which names another "
            "database. Copy their tables (tether_events, tether_predictions, tether_feedback) "
            f"into it, then rename the files to *{MIGRATED_SUFFIX}; or remove [store] url to "
            f"have them moved into .tether/{STORE_FILE} automatically."
        )
    target = Path(store_url.removeprefix(_SQLITE))
    target.parent.mkdir(parents=True, exist_ok=True)
    digests = {path: _checkpointed_digest(path) for path in legacy}
    with closing(sqlite3.connect(target, isolation_level=None)) as connection:
        # SQLite attaches only outside a transaction; the copy is then one transaction.
        for number, path in enumerate(legacy):
            connection.execute(f"ATTACH DATABASE ? AS legacy{number}", (str(path),))
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                "(source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, migrated_us BIGINT NOT NULL)"
            )
            for number, path in enumerate(legacy):
                _move(connection, f"legacy{number}", path, digests[path], target)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    for path in legacy:
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                part.rename(part.with_name(part.name + MIGRATED_SUFFIX))
    return [path.name for path in legacy]


def _checkpointed_digest(path: Path) -> str:
    """Fold the file's write-ahead log into it, then hash the file."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _move(
    connection: sqlite3.Connection, schema: str, path: Path, digest: str, target: Path
) -> None:
    recorded = connection.execute(
        f"SELECT sha256 FROM {MIGRATIONS_TABLE} WHERE source = ?", (path.name,)
    ).fetchone()
    if recorded is not None:
        if recorded[0] == digest:
            return  # moved by an open that stopped before renaming the file: only rename it
        raise ConfigError(
            f"{path} was already moved into {target}, but has changed since (its sha256 is "
            f"not the one recorded in {MIGRATIONS_TABLE}). Compare the two and rename the "
            f"file to {path.name}{MIGRATED_SUFFIX} once nothing in it is missing from the store."
        )
    _copy_tables(connection, schema, path, target)
    connection.execute(
        f"INSERT INTO {MIGRATIONS_TABLE} (source, sha256, migrated_us) VALUES (?, ?, ?)",
        (path.name, digest, int(datetime.now(UTC).timestamp() * 1_000_000)),
    )


def _copy_tables(connection: sqlite3.Connection, schema: str, path: Path, target: Path) -> None:
    objects = connection.execute(
        f"SELECT type, name, sql FROM {schema}.sqlite_master "
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', name"
    ).fetchall()
    existing = {
        row[0]
        for row in connection.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")
    }
    for kind, name, sql in objects:
        if kind == "table" and name == _VERSION_TABLE:
            _copy_versions(connection, schema, path, target, existing)
            continue
        if kind == "table":
            if name in existing:
                raise _refusal(path, target, f"the table {name}")
            connection.execute(sql)
            connection.execute(f'INSERT INTO main."{name}" SELECT * FROM {schema}."{name}"')
        else:
            connection.execute(sql)


def _copy_versions(
    connection: sqlite3.Connection, schema: str, path: Path, target: Path, existing: set[str]
) -> None:
    if _VERSION_TABLE not in existing:
        sql = connection.execute(
            f"SELECT sql FROM {schema}.sqlite_master WHERE name = ?", (_VERSION_TABLE,)
        ).fetchone()[0]
        connection.execute(sql)
        existing.add(_VERSION_TABLE)
    for component, version, migrated in connection.execute(
        f"SELECT component, version, migrated_us FROM {schema}.{_VERSION_TABLE}"
    ).fetchall():
        found = connection.execute(
            f"SELECT version FROM main.{_VERSION_TABLE} WHERE component = ?", (component,)
        ).fetchone()
        if found is not None:
            raise _refusal(path, target, f"the schema version of {component!r}")
        connection.execute(
            f"INSERT INTO main.{_VERSION_TABLE} (component, version, migrated_us) VALUES (?, ?, ?)",
            (component, version, migrated),
        )


def _refusal(path: Path, target: Path, what: str) -> ConfigError:
    return ConfigError(
        f"Cannot move {path} into {target}: {target} already holds {what}, which tether will "
        "not overwrite. Nothing was changed. Compare the two files, keep the one that is "
        f"right, and rename the other to *{MIGRATED_SUFFIX}."
    )
