"""Databases for the storage contract suites: a SQLite file, and a fresh PostgreSQL schema.

Every suite that takes ``database_url`` runs once per database. The PostgreSQL runs use a
schema of their own (``search_path`` set in the URL), dropped afterwards, so tests never see
each other's rows nor assume a clean database. They turn off ``synchronous_commit`` only to be
fast on a busy machine: it changes durability after a server crash, not locking or visibility.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file in the test's own folder."""
    return f"sqlite:///{tmp_path / 'tether.db'}"


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """The test database, seen through a schema created for this test and dropped after it."""
    schema = f"tether_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres_url}?options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database tether's logs support, in turn."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url
