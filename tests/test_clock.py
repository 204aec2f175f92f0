"""The clock protocol, the wall clock and the replay clock a demo drives."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tether import Clock, Project, ReplayClock, WallClock
from tether.errors import ConfigError

START = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_replay_clock_says_what_it_was_set_to_and_advanced_by() -> None:
    clock = ReplayClock(START)

    assert clock.now() == START
    assert clock.advance(timedelta(days=1)) == START + timedelta(days=1)
    assert clock.set(START + timedelta(days=30)) == START + timedelta(days=30)
    assert clock.advance(timedelta(0)) == clock.now() == START + timedelta(days=30)


def test_a_replay_clock_refuses_to_go_backwards_and_stays_where_it_was() -> None:
    clock = ReplayClock(START + timedelta(days=10))

    with pytest.raises(ConfigError, match=r"cannot go backwards.*2025-01-11.*2025-01-10"):
        clock.set(START + timedelta(days=9))
    with pytest.raises(ConfigError, match="only advances"):
        clock.advance(timedelta(seconds=-1))
    assert clock.now() == START + timedelta(days=10)


def test_a_replay_clock_refuses_naive_times_and_reports_other_zones_in_utc() -> None:
    with pytest.raises(ConfigError, match="timezone-aware"):
        ReplayClock(datetime(2025, 1, 1))  # a naive time: refused
    clock = ReplayClock(datetime(2025, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))))
    with pytest.raises(ConfigError, match="timezone-aware"):
        clock.set(datetime(2025, 2, 1))

    assert clock.now() == START and clock.now().tzinfo == UTC


def test_the_wall_clock_is_aware_utc_and_both_are_clocks() -> None:
    now = WallClock().now()

    assert now.tzinfo == UTC
    assert isinstance(WallClock(), Clock) and isinstance(ReplayClock(START), Clock)


def test_concurrent_advances_are_all_counted() -> None:
    clock = ReplayClock(START)

    def advance_many() -> None:
        for _ in range(500):
            clock.advance(timedelta(seconds=1))

    threads = [threading.Thread(target=advance_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert clock.now() == START + timedelta(seconds=2000)


TOML = (
    '[project]\nname = "p"\nmodel_name = "m"\n[train]\nentry_point = "train:train"\n'
    'label = "y"\n[tracking]\nuri = "http://127.0.0.1:9/"\ntimeout_s = 1\nretries = 0\n'
)


def test_a_project_holds_one_clock_and_its_event_log_stamps_with_it(tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_text(TOML)
    replay = ReplayClock(START)
    before = datetime.now(UTC)
    with Project.open(tmp_path, clock=replay) as project:
        replay.advance(timedelta(days=40))
        event = project.events.append("m", "deploy", actor="demo", reason="r", after={"a": "1"})
        assert project.clock is replay
    after = datetime.now(UTC)
    with Project.open(tmp_path) as project:
        assert isinstance(project.clock, WallClock)

    assert event.time == START + timedelta(days=40)
    assert event.wall_time is not None  # the machine's: between two readings of it
    assert before - timedelta(microseconds=1) <= event.wall_time <= after
