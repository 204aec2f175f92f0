"""Schema versions of the tables tether owns, and the ordered migrations that upgrade them.

Each component (``"events"``, ``"predictions"``) has a :class:`Schema`: a list of
:class:`Migration` numbered 1, 2, 3... Version 1 creates the tables; each later one changes them.
One shared table records, per component, the version a database is at::

    tether_schema_version(component TEXT PRIMARY KEY, version INTEGER, migrated_us BIGINT)

:func:`upgrade` runs when a log opens its database. In one write transaction, holding a lock that
makes concurrent openers (threads or processes) wait, it reads the component's version, applies
every migration above it in order, records the new version and commits; a failing step rolls
the whole upgrade back, so a database is always at one of the listed versions. A database at a
version above the last one listed was written by a newer tether and is refused: this tether
cannot know what the newer columns mean, and must not write rows that lack them.

Why not Alembic, as MLflow does: tether owns three small tables, and an explicit list of SQL
strings (or functions, for a backfill) is the whole migration history, readable in one screen
and testable by building a database at any old version from the same list. Alembic would add a
scripts folder, an ``env.py``, one ``alembic_version`` table per database (which tether would
share with MLflow's when both use one PostgreSQL database) and a second configuration system.
Migrations run inside the transaction on both databases: PostgreSQL and SQLite both roll back
DDL. A migration must never be edited once released; add a new one instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from tether._storage import Database, Params, Transaction, to_micros

VERSION_TABLE = "tether_schema_version"
"""The table that records each component's schema version."""

Step: TypeAlias = "str | Callable[[Transaction], None]"
"""One step of a migration: a portable SQL statement, or a function (a backfill, or a statement
that differs between SQLite and PostgreSQL, which reads :attr:`Transaction.dialect`)."""

_LOCK_NAMESPACE = "tether-schema"
_CREATE_VERSION_TABLE = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    migrated_us BIGINT NOT NULL
)"""


@dataclass(frozen=True)
class Migration:
    """The steps that take a component's tables from ``version - 1`` to ``version``."""

    version: int
    description: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Schema:
    """A component's tables: its name and its migrations, numbered 1 to N in order.

    Raises:
        ValueError: the migrations are not numbered 1, 2, ... N.
    """

    component: str
    migrations: tuple[Migration, ...]

    def __post_init__(self) -> None:
        versions = [migration.version for migration in self.migrations]
        if versions != list(range(1, len(versions) + 1)):
            raise ValueError(
                f"The migrations of {self.component!r} are numbered {versions}; "
                "expected 1, 2, ... in order."
            )

    @property
    def current_version(self) -> int:
        """The version this tether writes: the last migration's."""
        return self.migrations[-1].version


def schema_version(transaction: Transaction, component: str) -> int:
    """The version ``component`` is at in the open transaction's database, 0 if never created."""
    row = transaction.fetch_one(
        f"SELECT version FROM {VERSION_TABLE} WHERE component = :component",
        {"component": component},
    )
    return 0 if row is None else int(row[0] or 0)


def stored_version(database: Database, component: str) -> int:
    """The version ``component`` is at in ``database``, 0 if never created: for a reader that
    must not create a component's tables (only the shared version table, where missing)."""
    with database.write() as transaction:
        transaction.execute(_CREATE_VERSION_TABLE)
        return schema_version(transaction, component)


def upgrade(database: Database, schema: Schema, *, target: int | None = None) -> int:
    """Bring ``schema`` in ``database`` to ``target`` (default: the current version).

    Returns the version the database was at before. ``target`` exists for tests that build a
    database as an older tether left it.

    Raises:
        TetherError: (the database's error class) the database is at a version newer than this
            tether knows, or a migration failed (nothing of the upgrade is kept).
    """
    target = schema.current_version if target is None else target
    with database.write() as transaction:
        transaction.lock(_LOCK_NAMESPACE, VERSION_TABLE)
        transaction.execute(_CREATE_VERSION_TABLE)
        found = schema_version(transaction, schema.component)
        if found > schema.current_version:
            raise database.error(_newer_message(database, schema, found))
        for migration in schema.migrations[found:target]:
            for step in migration.steps:
                if isinstance(step, str):
                    transaction.execute(step)
                else:
                    step(transaction)
        if target > found:
            _record_version(transaction, schema.component, target, found=found)
    return found


def _record_version(transaction: Transaction, component: str, version: int, *, found: int) -> None:
    params: Params = {
        "component": component,
        "version": version,
        "now": to_micros(datetime.now(UTC)),
    }
    if found == 0:
        transaction.execute(
            f"INSERT INTO {VERSION_TABLE} (component, version, migrated_us) "
            "VALUES (:component, :version, :now)",
            params,
        )
    else:
        transaction.execute(
            f"UPDATE {VERSION_TABLE} SET version = :version, migrated_us = :now "
            "WHERE component = :component",
            params,
        )


def _newer_message(database: Database, schema: Schema, found: int) -> str:
    return (
        f"The {database.purpose} database at {database.display_url} has {schema.component!r} "
        f"tables at schema version {found}, but this tether knows versions up to "
        f"{schema.current_version}: it was written by a newer tether. Upgrade tether, or point "
        "this one at another database; tether never downgrades a schema."
    )
