"""The SQL seam: URLs, transactions, locks and translated errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tether._storage import (
    Database,
    dump_json,
    from_micros,
    load_json,
    open_database,
    to_micros,
)
from tether.errors import ConfigError, RegistryError


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url, error=RegistryError, purpose="test")
    with db.write() as transaction:
        transaction.execute("CREATE TABLE tether_seam (id BIGINT PRIMARY KEY, name TEXT)")
    yield db
    db.dispose()


def test_a_write_commits_and_a_raising_block_rolls_back(database: Database) -> None:
    with database.write() as transaction:
        transaction.execute("INSERT INTO tether_seam VALUES (1, 'kept')")
    with pytest.raises(RuntimeError), database.write() as transaction:
        transaction.execute("INSERT INTO tether_seam VALUES (2, 'lost')")
        raise RuntimeError("abort")

    with database.read() as transaction:
        assert transaction.fetch_all("SELECT id, name FROM tether_seam") == [(1, "kept")]
        assert transaction.fetch_one("SELECT name FROM tether_seam WHERE id = 2") is None


def test_database_failures_become_the_chosen_error_naming_the_database(
    database: Database,
) -> None:
    failure = r"The test database at \S+ failed: \w+"
    with pytest.raises(RegistryError, match=failure), database.write() as transaction:
        transaction.execute("INSERT INTO tether_seam VALUES (1, 'a')")
        transaction.execute("INSERT INTO tether_seam VALUES (1, 'a')")


def test_locks_are_taken_in_write_transactions_only(database: Database) -> None:
    with database.write() as transaction:
        transaction.lock("tether-test", "fraud")
    with pytest.raises(RegistryError, match="in a read transaction"), database.read() as tx:
        tx.lock("tether-test", "fraud")


def test_sqlite_files_are_in_wal_mode_in_a_new_folder(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'new' / 'x.db'}", error=RegistryError, purpose="t")
    with db.read() as transaction:
        assert transaction.fetch_one("PRAGMA journal_mode") == ("wal",)
    db.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
        ("mysql://root:hunter2@db/tether", "uses 'mysql'"),
        ("postgresql+asyncpg://db/tether", "uses 'postgresql\\+asyncpg'"),
        ("not a url", "is not a database URL"),
    ],
)
def test_unsupported_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        open_database(url, error=RegistryError, purpose="event log")
    assert "hunter2" not in str(error.value)


def test_times_are_stored_as_utc_microseconds() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2025, 3, 1, 13, 0, 0, 123456, tzinfo=paris)
    assert to_micros(moment) == to_micros(datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC))
    assert from_micros(to_micros(moment)) == moment
    assert from_micros(0) == datetime(1970, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        to_micros(datetime(2025, 3, 1))


def test_json_keeps_key_order_nan_and_writes_other_numbers_as_int_or_float() -> None:
    values = {"b": float("nan"), "a": Fraction(1, 2), "c": np.int64(3), "d": np.bool_(True)}
    text = dump_json(values)
    assert text == '{"b":NaN,"a":0.5,"c":3,"d":true}'
    assert list(load_json(text)) == ["b", "a", "c", "d"]
    assert dump_json({"b": 1, "a": 2}, canonical=True) == '{"a":2,"b":1}'
    with pytest.raises(TypeError, match="object"):
        dump_json({"x": object()})
