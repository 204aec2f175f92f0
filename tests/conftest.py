"""Shared fixtures: small projects, and the real PostgreSQL and Redis of this machine.

Service tests skip when a server is missing, unless TETHER_REQUIRE_SERVICES=1 (as in
CI), where a missing service fails the run instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tether.examples._scaffold import init_project
from tether.examples.fraud.simulate import ScenarioConfig

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
