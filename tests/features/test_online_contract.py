"""The contract of an online store, run over every implementation (SQLite, Redis).

A store keeps opaque event versions per namespace: these tests say what a read must return
after which writes, whatever the store does inside.
"""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest
from online_backends import BACKENDS, UNREACHABLE_REDIS, open_store

import tether
from tether.errors import FeatureError, StoreUnavailableError
from tether.features._online_redis import RedisOnlineStore
from tether.features._online_rows import StoredVersion
from tether.features._online_sqlite import SQLiteOnlineStore
from tether.features._online_store import OnlineStore

NS = "view@0123456789abcdef.1"
DAY = 86_400_000_000


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> OnlineStore:
    return open_store(request.param, request, tmp_path)


def version(event: str, entity: str, event_us: int, tag: str = "") -> StoredVersion:
    return StoredVersion(f'"{event}"', f'["{entity}"]', event_us, f"{event}|{entity}|{tag}")


def read(store: OnlineStore, entity: str, since_us: int = 0) -> list[str] | None:
    [rows] = store.read(NS, [f'["{entity}"]'], since_us)
    return None if rows is None else sorted(rows)


def test_a_version_written_twice_is_stored_once(store: OnlineStore) -> None:
    store.write(NS, [version("e1", "a", DAY), version("e2", "a", DAY)])
    store.write(NS, [version("e1", "a", DAY)])
    assert read(store, "a") == ["e1|a|", "e2|a|"]


def test_an_entity_never_written_is_unknown_and_one_with_only_old_events_is_empty(
    store: OnlineStore,
) -> None:
    store.write(NS, [version("e1", "a", DAY)])
    assert read(store, "zz") is None
    assert read(store, "a", since_us=2 * DAY) == []


def test_an_event_with_one_recent_version_comes_back_with_all_its_versions(
    store: OnlineStore,
) -> None:
    store.write(NS, [version("e1", "a", 5 * DAY, "new"), version("e2", "a", DAY)])
    store.write(NS, [version("e1", "a", DAY, "old")])  # an older version, written later
    assert read(store, "a", since_us=3 * DAY) == ["e1|a|new", "e1|a|old"]


def test_a_later_version_under_another_entity_makes_the_event_recent_for_both(
    store: OnlineStore,
) -> None:
    store.write(NS, [version("e1", "a", DAY, "first")])
    store.write(NS, [version("e1", "b", 9 * DAY, "moved")])  # a later batch
    # An event's recency is its latest version's, whichever entity that version is under.
    assert read(store, "a", since_us=5 * DAY) == ["e1|a|first", "e1|b|moved"]
    assert read(store, "b", since_us=5 * DAY) == ["e1|a|first", "e1|b|moved"]


def test_an_event_moved_to_another_entity_is_read_by_both(store: OnlineStore) -> None:
    store.write(NS, [version("e1", "a", DAY, "first")])
    store.write(NS, [version("e1", "b", DAY, "moved"), version("e2", "b", DAY)])
    moved = ["e1|a|first", "e1|b|moved"]
    assert read(store, "a") == moved
    assert read(store, "b") == [*moved, "e2|b|"]


def test_many_entities_are_read_at_once_in_order(store: OnlineStore) -> None:
    store.write(NS, [version("e1", "a", DAY), version("e2", "b", DAY)])
    rows = store.read(NS, ['["b"]', '["zz"]', '["a"]'], 0)
    assert rows == [["e2|b|"], None, ["e1|a|"]]


def test_namespaces_do_not_see_each_other(store: OnlineStore) -> None:
    store.write(NS, [version("e1", "a", DAY)])
    store.write("other@0.1", [version("e1", "a", DAY, "other")])
    store.set_watermark("other@0.1", 7)
    assert read(store, "a") == ["e1|a|"]
    assert store.watermark(NS) is None


def test_the_watermark_only_moves_forward(store: OnlineStore) -> None:
    assert store.watermark(NS) is None
    store.set_watermark(NS, 10 * DAY)
    store.set_watermark(NS, 3 * DAY)
    assert store.watermark(NS) == 10 * DAY
    store.set_watermark(NS, 11 * DAY)
    assert store.watermark(NS) == 11 * DAY


def test_compaction_drops_only_events_whose_every_version_is_old(store: OnlineStore) -> None:
    store.write(NS, [version("e1", "a", DAY), version("e1", "b", 9 * DAY, "moved")])
    store.write(NS, [version("e2", "a", 2 * DAY), version("e3", "c", 3 * DAY)])
    assert store.compact(NS, 5 * DAY) == 2
    assert read(store, "a") == ["e1|a|", "e1|b|moved"]
    assert read(store, "c") is None  # its only event is gone: nothing is known of it now
    assert store.compact(NS, 5 * DAY) == 0


def test_compaction_of_more_events_than_one_batch_drops_them_all(
    store: OnlineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis compacts in scripts of a bounded number of events, so that it keeps answering.
    monkeypatch.setattr("tether.features._online_redis._COMPACT_BATCH", 2)
    store.write(NS, [version(f"e{i}", "a", (i + 1) * DAY) for i in range(5)])
    store.write(NS, [version("new", "a", 9 * DAY)])
    assert store.compact(NS, 6 * DAY) == 5
    assert read(store, "a") == ["new|a|"]


def test_clear_forgets_everything(store: OnlineStore) -> None:
    store.write(NS, [version("e1", "a", DAY)])
    store.set_watermark(NS, DAY)
    store.clear()
    assert read(store, "a") is None
    assert store.watermark(NS) is None


def test_an_empty_write_changes_nothing(store: OnlineStore) -> None:
    store.write(NS, [])
    assert read(store, "a") is None


def test_an_unreachable_sqlite_store_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "missing-folder" / "online.sqlite"
    with pytest.raises(StoreUnavailableError, match="missing-folder"):
        SQLiteOnlineStore(path)


def test_an_unreachable_redis_names_its_url_without_the_password() -> None:
    store = RedisOnlineStore(UNREACHABLE_REDIS, timeout=0.5)
    with pytest.raises(StoreUnavailableError, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0") as error:
        store.read(NS, ['["a"]'], 0)
    assert "secret" not in str(error.value)
    with pytest.raises(StoreUnavailableError):
        store.write(NS, [version("e1", "a", DAY)])


def test_a_sqlite_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "online.sqlite"
    SQLiteOnlineStore(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(FeatureError, match="format 99: expected 1"):
        SQLiteOnlineStore(path)


def test_a_redis_prefix_must_be_plain() -> None:
    with pytest.raises(FeatureError, match="prefix"):
        RedisOnlineStore("redis://127.0.0.1:6379/0", prefix="a*b")


def test_a_project_keeps_its_sqlite_store_under_dot_tether(tmp_path: Path) -> None:
    store = SQLiteOnlineStore.in_project(tmp_path)
    store.close()
    assert Path(store.url) == tmp_path / ".tether" / "online.sqlite"
    assert sqlite3.connect(store.url).execute("PRAGMA journal_mode").fetchone() == ("wal",)


def imports_redis(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "redis" for alias in node.names)
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "redis"


def test_only_the_redis_store_imports_redis_and_only_when_one_is_made() -> None:
    package = Path(tether.__file__).parent
    importers = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if any(imports_redis(node) for node in ast.walk(ast.parse(path.read_text())))
    }
    assert importers == {"features/_online_redis.py"}
    module = ast.parse((package / "features" / "_online_redis.py").read_text())
    assert not [node for node in module.body if imports_redis(node)]


def test_a_write_returns_how_many_versions_were_new(store: OnlineStore) -> None:
    # The counts the CLI prints ("0 new") come from here: a rewrite must not count.
    assert store.write(NS, [version("e1", "a", DAY), version("e2", "a", DAY)]) == 2
    assert store.write(NS, [version("e1", "a", DAY)]) == 0
    assert store.write(NS, [version("e1", "a", DAY, "fix"), version("e1", "a", DAY, "fix")]) == 1
    assert store.write(NS, []) == 0
