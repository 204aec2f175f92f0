"""Shared fixtures: small projects, and the real PostgreSQL and Redis of this machine.

Service tests skip when a server is missing, unless TETHER_REQUIRE_SERVICES=1 (as in
CI), where a missing service fails the run instead.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tether.examples._scaffold import init_project
from tether.examples.fraud.simulate import ScenarioConfig
from tiny_project import write_tiny_project

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
SMALL_SCENARIO = ScenarioConfig(n_transactions=30_000, n_customers=800)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, with TETHER_REQUIRE_SERVICES=1, fail) when a service is not listening."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("TETHER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}, and TETHER_REQUIRE_SERVICES=1 requires it")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    """The URL of the machine's PostgreSQL test database."""
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    return f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"


@pytest.fixture
def redis_url() -> str:
    """The URL of the machine's Redis."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def new_fraud_project(directory: Path) -> Path:
    """A fresh fraud project (its own git repository) on a small scenario."""
    return init_project(directory, SMALL_SCENARIO).directory


@pytest.fixture
def fraud_project(tmp_path: Path) -> Path:
    """A fresh fraud project in this test's temporary folder."""
    return new_fraud_project(tmp_path / "project")


@pytest.fixture(scope="session")
def make_fraud_project() -> Callable[[Path], Path]:
    """A factory of fresh fraud projects, for module-scoped fixtures."""
    return new_fraud_project


@pytest.fixture
def feature_project(tmp_path: Path) -> Path:
    """A tiny project whose training set comes from feature definitions."""
    return write_tiny_project(tmp_path / "tiny")


# Databases for the storage contract suites: a SQLite file, and a fresh PostgreSQL schema.
# Every suite that takes ``database_url`` runs once per database. The PostgreSQL runs use a
# schema of their own (``search_path`` set in the URL), dropped afterwards, so tests never see
# each other's rows nor assume a clean database. They turn off ``synchronous_commit`` only to
# be fast on a busy machine: it changes durability after a server crash, not locking.


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


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Each database tether's logs support, in turn, shared by a module's tests: for data
    that is slow to write and only read by the tests (a PostgreSQL schema of its own)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'tether.db'}"
        return
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    postgres_url = f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"
    schema = f"tether_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres_url}?options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
