"""The event log's contract, run on SQLite and on PostgreSQL: append-only events with
consecutive ids, the state a model is in, and transitions serialized across threads and
processes."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tether.errors import RegistryError
from tether.registry._events import Event, EventLog

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WALL0 = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


class _TickingClock:
    """A clock that advances one second per reading, starting at ``start``."""

    def __init__(self, start: datetime) -> None:
        self._ticks = iter(range(1_000_000))
        self._start = start

    def now(self) -> datetime:
        return self._start + timedelta(seconds=next(self._ticks))


@pytest.fixture
def log(database_url: str) -> Iterator[EventLog]:
    event_log = EventLog(database_url, clock=_TickingClock(T0), wall_clock=_TickingClock(WALL0))
    yield event_log
    event_log.close()


def _deploy(log: EventLog, model: str, after: dict[str, str]) -> Event:
    return log.append(model, "deploy", actor="ana", reason="test", after=after)


def _increment(log: EventLog, model: str) -> None:
    """One read-state -> write-state+1 transition."""
    with log.transition(model) as tx:
        count = int(tx.state.get("count", "0"))
        tx.append("count", actor="test", reason="+1", after={**tx.state, "count": str(count + 1)})


def test_appended_events_are_read_back_exactly(log: EventLog) -> None:
    event = log.append(
        "fraud",
        "deploy",
        actor="ana",
        reason="first model",
        after={"champion": "1"},
        details={"run_id": "abc", "evidence": {"auc": 0.91, "n": [1, 2]}},
    )

    assert event == Event(
        id=1,
        time=T0,
        model="fraud",
        action="deploy",
        actor="ana",
        reason="first model",
        before={},
        after={"champion": "1"},
        details={"run_id": "abc", "evidence": {"auc": 0.91, "n": [1, 2]}},
        wall_time=WALL0,
    )
    assert log.events() == [event]
    assert log.event(1) == event


def test_ids_are_consecutive_across_models_and_state_follows_each_model(log: EventLog) -> None:
    first = _deploy(log, "fraud", {"champion": "1"})
    other = _deploy(log, "churn", {"champion": "7"})
    second = log.append(
        "fraud",
        "deploy",
        actor="loop",
        reason="retrained",
        after={"champion": "1", "challenger": "2"},
    )

    assert [first.id, other.id, second.id] == [1, 2, 3]
    assert second.before == {"champion": "1"}
    assert log.latest_state("fraud") == {"champion": "1", "challenger": "2"}
    assert log.latest_state("churn") == {"champion": "7"}
    assert log.latest_state("unknown") == {}
    assert [e.id for e in log.events("fraud")] == [1, 3]
    assert [e.id for e in log.events(since_id=1)] == [2, 3]
    assert [e.id for e in log.events(limit=2)] == [1, 2]


def test_an_unknown_event_id_is_an_error(log: EventLog) -> None:
    with pytest.raises(RegistryError, match="no event 42"):
        log.event(42)


def test_an_append_expecting_another_state_appends_nothing(log: EventLog) -> None:
    _deploy(log, "fraud", {"champion": "1"})

    with pytest.raises(RegistryError, match="another transition happened first"):
        log.append(
            "fraud",
            "promote",
            actor="ana",
            reason="stale view",
            before={"champion": "0"},
            after={"champion": "2"},
        )
    assert len(log.events()) == 1


def test_a_transition_that_raises_leaves_no_event(log: EventLog) -> None:
    with pytest.raises(RuntimeError, match="alias change failed"), log.transition("fraud") as tx:
        tx.append("deploy", actor="ana", reason="r", after={"champion": "1"})
        raise RuntimeError("alias change failed")

    assert log.events() == []


def test_appends_in_one_transition_chain_their_states(log: EventLog) -> None:
    with log.transition("fraud") as tx:
        tx.append("deploy", actor="loop", reason="r", after={"champion": "1", "challenger": "2"})
        tx.append("promote", actor="loop", reason="won", after={"champion": "2"})

    first, second = log.events("fraud")
    assert (first.before, first.after) == ({}, {"champion": "1", "challenger": "2"})
    assert (second.before, second.after) == (first.after, {"champion": "2"})


def test_transitions_do_not_nest(log: EventLog) -> None:
    with log.transition("fraud"), pytest.raises(RegistryError, match="do not nest"):  # noqa: SIM117
        with log.transition("churn"):
            pass


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"actor": ""}, "actor must be a non-empty string"),
        ({"reason": "  "}, "reason must be a non-empty string"),
        ({"after": {"champion": 3}}, "alias state must map alias names to version strings"),
        ({"details": {"when": datetime(2025, 1, 1)}}, "datetime .* cannot be written as JSON"),
    ],
)
def test_invalid_events_are_refused(
    log: EventLog, arguments: dict[str, object], message: str
) -> None:
    valid: dict[str, object] = {"actor": "ana", "reason": "r", "after": {"champion": "1"}}
    with pytest.raises(RegistryError, match=message):
        log.append("fraud", "deploy", **{**valid, **arguments})  # type: ignore[arg-type]
    assert log.events() == []


def test_concurrent_transitions_on_one_model_never_lose_an_update(log: EventLog) -> None:
    threads, rounds = 8, 50
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(rounds):
                _increment(log, "fraud")
        except RegistryError as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert log.latest_state("fraud") == {"count": str(threads * rounds)}
    events = log.events("fraud")
    assert [e.id for e in events] == list(range(1, threads * rounds + 1))
    assert all(e.before.get("count", "0") == str(int(e.after["count"]) - 1) for e in events)


def _increment_in_a_process(url: str, rounds: int) -> None:
    log = EventLog(url)
    for _ in range(rounds):
        _increment(log, "fraud")
    log.close()


def test_concurrent_transitions_from_processes_never_lose_an_update(
    log: EventLog, database_url: str
) -> None:
    # Forked, not spawned: a fresh interpreter would spend seconds importing tether (and MLflow
    # with it) before racing. The children open their own connections.
    processes, rounds = 2, 25
    fork = multiprocessing.get_context("fork")
    workers = [
        fork.Process(target=_increment_in_a_process, args=(database_url, rounds))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in range(rounds):  # this process races them too
        _increment(log, "fraud")
    for worker in workers:
        worker.join(timeout=120)

    assert [worker.exitcode for worker in workers] == [0] * processes
    assert log.latest_state("fraud") == {"count": str((processes + 1) * rounds)}
    assert len(log.events("fraud")) == (processes + 1) * rounds
