"""The online stores every online test runs over: SQLite always, Redis when it is up.

A test module makes a fixture with :func:`open_store` and :data:`BACKENDS`; each Redis store
gets a key prefix of its own and is cleared afterwards, so tests never see each other's keys.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tether.features._online_redis import RedisOnlineStore
from tether.features._online_sqlite import SQLiteOnlineStore
from tether.features._online_store import OnlineStore

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.services),
]
UNREACHABLE_REDIS = "redis://:secret@127.0.0.1:1/0"
"""Nothing listens on port 1 of the loopback address."""


def open_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> OnlineStore:
    """Open a fresh store of ``kind``; it is cleared and closed when the test ends."""
    store: OnlineStore
    if kind == "sqlite":
        store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    else:
        url = request.getfixturevalue("redis_url")
        store = RedisOnlineStore(url, prefix=f"tether-test-{uuid.uuid4().hex[:12]}")

    def cleanup() -> None:
        store.clear()
        store.close()

    request.addfinalizer(cleanup)
    return store
