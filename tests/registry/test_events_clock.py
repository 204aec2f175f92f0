"""The event log's two times, run on SQLite and on PostgreSQL: the clock's (what monitoring
aligns deploys with) and the wall's (what leases and retention read), and the migration that
gave version 1 logs their wall time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tether._clock import ReplayClock
from tether._schema import schema_version, upgrade
from tether._storage import Database, open_database, to_micros
from tether.errors import RegistryError
from tether.registry._events import EVENTS_SCHEMA, EventLog

REPLAY_START = datetime(2025, 1, 1, tzinfo=UTC)
WALL = datetime(2026, 12, 2, 5, 30, tzinfo=UTC)


class _FixedClock:
    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url, error=RegistryError, purpose="test")
    yield opened
    opened.dispose()


def test_events_carry_the_replay_clock_and_the_wall_time_apart(database_url: str) -> None:
    replay = ReplayClock(REPLAY_START)
    log = EventLog(database_url, clock=replay, wall_clock=_FixedClock(WALL))
    first = log.append("fraud", "deploy", actor="loop", reason="r", after={"champion": "1"})
    replay.advance(timedelta(days=12))
    second = log.append("fraud", "deploy", actor="loop", reason="r", after={"champion": "2"})
    stored = log.events("fraud")
    log.close()

    assert [(e.time, e.wall_time) for e in stored] == [
        (REPLAY_START, WALL),
        (REPLAY_START + timedelta(days=12), WALL),
    ]
    assert stored == [first, second]  # what append returned is what was stored


def test_a_version_1_log_gets_its_time_as_wall_time(database: Database, database_url: str) -> None:
    upgrade(database, EVENTS_SCHEMA, target=1)
    with database.write() as transaction:
        transaction.execute(
            "INSERT INTO tether_events VALUES (1, :time_us, 'fraud', 'deploy', 'ana', 'first', "
            "'{}', '{\"champion\":\"1\"}', '{}')",
            {"time_us": to_micros(WALL)},
        )

    log = EventLog(database_url, clock=_FixedClock(REPLAY_START), wall_clock=_FixedClock(WALL))
    log.append("fraud", "deploy", actor="ana", reason="second", after={"champion": "2"})
    old, new = log.events("fraud")
    log.close()
    with database.read() as transaction:
        version = schema_version(transaction, "events")
        nulls = transaction.fetch_one(
            "SELECT COUNT(*) FROM tether_events WHERE wall_time_us IS NULL"
        )

    assert version == EVENTS_SCHEMA.current_version == 2
    assert (old.time, old.wall_time) == (WALL, WALL)  # version 1 stamped the wall's time
    assert (new.time, new.wall_time) == (REPLAY_START, WALL)
    assert nulls is not None and nulls[0] == 0


def test_the_default_clocks_are_the_wall(database_url: str) -> None:
    before = datetime.now(UTC)
    log = EventLog(database_url)
    event = log.append("fraud", "deploy", actor="ana", reason="r", after={"champion": "1"})
    log.close()
    after = datetime.now(UTC)

    # An order, not a duration: both stamps fall between two readings of the wall clock.
    assert event.wall_time is not None
    assert before - timedelta(microseconds=1) <= event.time <= after
    assert before - timedelta(microseconds=1) <= event.wall_time <= after
