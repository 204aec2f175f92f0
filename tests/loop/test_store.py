"""The loop's store on both databases: state round trip, events, the lease's compare-and-set
and takeover after expiry, the persisted pause. PostgreSQL runs when it is listening (and must,
with TETHER_REQUIRE_SERVICES=1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from loop_world import START

from tether._schema import upgrade
from tether._storage import dump_json, open_database
from tether.errors import LoopError
from tether.loop import LoopState, LoopStore, read_decisions
from tether.loop._store import EVENTS, LOOP_SCHEMA

LEASE = timedelta(minutes=10)


@pytest.fixture
def store(database_url: str) -> Iterator[LoopStore]:
    with LoopStore(database_url) as opened:
        yield opened


def test_a_state_reads_back_as_saved_with_its_event(store: LoopStore) -> None:
    assert store.state("fraud", START) == LoopState("fraud", "idle", START)
    state = LoopState(
        "fraud",
        "shadow",
        START,
        candidate="3",
        run_id="abc",
        incidents=((START - timedelta(days=3), START - timedelta(days=2)),),
        last_retrain=START,
        intent="deploy_challenger",
        intent_detail={"share": 0.1},
    )
    store.save(state, step="deploy_challenger", time=START, holder="h", evidence={"pairs": 5})
    assert store.state("fraud", START) == state
    assert store.states() == [state]
    store.save(LoopState("fraud", "idle", START), step="discard_done", time=START, holder="h")
    history = store.history("fraud")
    assert [event.step for event in history] == ["discard_done", "deploy_challenger"]
    assert history[1].evidence == {"pairs": 5} and history[1].phase == "shadow"
    assert store.history("other") == []


def test_a_live_lease_is_refused_to_another_holder(store: LoopStore) -> None:
    assert store.acquire("a", START, LEASE)
    assert not store.acquire("b", START + timedelta(minutes=9), LEASE)
    assert store.acquire("a", START + timedelta(minutes=9), LEASE), "its holder renews it"
    lease = store.lease()
    assert lease is not None and lease.holder == "a"


def test_an_expired_lease_is_taken_over(store: LoopStore) -> None:
    assert store.acquire("dead", START, LEASE)
    assert store.acquire("b", START + LEASE, LEASE)
    assert not store.acquire("dead", START + LEASE, LEASE)


def test_a_released_lease_is_free_at_once(store: LoopStore) -> None:
    assert store.acquire("a", START, LEASE)
    store.release("a", START)
    assert store.acquire("b", START, LEASE)


def test_the_pause_is_persisted(store: LoopStore) -> None:
    store.set_paused(True, "incident review")
    lease = store.lease()
    assert lease is not None and lease.paused and lease.pause_reason == "incident review"
    store.acquire("a", START, LEASE)
    store.set_paused(False, "")
    lease = store.lease()
    assert lease is not None and not lease.paused and lease.holder == "a"


def test_decisions_are_the_events_of_the_named_versions_oldest_first(store: LoopStore) -> None:
    candidate = LoopState("fraud", "gating", START, candidate="3", run_id="r")
    store.save(candidate, step="train_done", time=START, holder="h", evidence={"version": "3"})
    store.record("fraud", step="wait", phase="idle", time=START, holder="h")
    idle = LoopState("fraud", "idle", START)
    store.save(idle, step="gate_failed", time=START, holder="h", version="3")
    store.record("other", step="shadowing", phase="shadow", time=START, holder="h", version="3")
    found = store.decisions("fraud", {"3", "9"})
    assert [(e.step, e.version) for e in found] == [("train_done", "3"), ("gate_failed", "3")]
    assert store.decisions("fraud", set()) == []


def test_events_written_before_versions_were_kept_get_theirs_from_the_replayed_steps(
    database_url: str,
) -> None:
    database = open_database(database_url, error=LoopError, purpose="test")
    upgrade(database, LOOP_SCHEMA, target=1)
    steps = [
        ("train", {}), ("train_done", {"version": "4"}), ("deploy_shadow_done", {}),
        ("discard_done", {"reason": "shadow disagreed"}), ("wait", {}),
        ("rollback_done", {"champion": "2"}),
    ]  # fmt: skip
    with database.write() as transaction:
        transaction.execute_many(
            f"INSERT INTO {EVENTS} (event_id, model, clock_us, step, phase, holder, evidence) "
            "VALUES (:id, 'fraud', 0, :step, 'idle', 'h', :evidence)",
            [{"id": i, "step": s, "evidence": dump_json(e)} for i, (s, e) in enumerate(steps, 1)],
        )
    database.dispose()
    with LoopStore(database_url) as store:
        versions = [(e.step, e.version) for e in reversed(store.history("fraud"))]
    assert versions == [
        ("train", ""), ("train_done", "4"), ("deploy_shadow_done", "4"), ("discard_done", "4"),
        ("wait", ""), ("rollback_done", "2"),
    ]  # fmt: skip


def test_reading_decisions_where_the_loop_never_ran_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tether.db'}"
    assert read_decisions(url, "fraud", {"1"}) is None
    assert read_decisions(url, "fraud", {"1"}) is None, "the first read created no loop table"
    with LoopStore(url) as store:
        store.record("fraud", step="wait", phase="idle", time=START, holder="h")
    assert read_decisions(url, "fraud", {"1"}) == []
