"""The loop's store on both databases: state round trip, events, the lease's compare-and-set
and takeover after expiry, the persisted pause. PostgreSQL runs when it is listening (and must,
with TETHER_REQUIRE_SERVICES=1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from loop_world import START

from tether.loop import LoopState, LoopStore

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
