"""Exactly once under crashes, and never two controllers acting at once.

A tick is killed at each step boundary in turn (the crash hook raises a BaseException, which
no ``except Exception`` in the controller can swallow, as a SIGKILL would not be either); a new
controller, started after the dead one's lease expired, must finish the job with one training,
one shadow deploy, one challenger deploy and one promotion.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from loop_world import MODEL, START, FakePorts, clock, settings

from tether.loop import Controller, LoopStore, Observation, ShadowSeen

LEASE_S = 600.0


class Killed(BaseException):
    """The process died here."""


def _script(ports: FakePorts, tick: int) -> None:
    """Monitoring's verdicts for the three ticks of a promotion."""
    ports.observation = [
        Observation(action="retrain", cause="drift"),
        Observation(action="wait", shadows={"2": ShadowSeen(150, 0.97)}),
        Observation(action="wait", experiment="promote"),
    ][tick]


def _boundaries(tmp_path: Path) -> list[str]:
    """Every crash point a clean promotion passes, in order."""
    seen: list[str] = []
    ports = FakePorts()
    store = LoopStore(f"sqlite:///{tmp_path / 'clean.db'}")
    controller = Controller(ports, store, settings(), clock(), crash_hook=seen.append)
    for tick in range(3):
        _script(ports, tick)
        controller.tick()
    return seen


EXPECTED_CALLS = ["train", "deploy_shadow", "retire", "deploy_challenger", "promote"]


def test_a_clean_promotion_passes_every_step_boundary(tmp_path: Path) -> None:
    assert _boundaries(tmp_path) == [
        f"{step}:{when}"
        for step in ("train", "deploy_shadow", "deploy_challenger", "promote")
        for when in ("begun", "done")
    ]


@pytest.mark.parametrize("crash_at", range(8))
def test_a_tick_killed_at_any_step_is_finished_exactly_once(tmp_path: Path, crash_at: int) -> None:
    point = _boundaries(tmp_path)[crash_at]
    ports = FakePorts()
    store = LoopStore(f"sqlite:///{tmp_path / 'tether.db'}")
    loop_clock = clock()

    def die(at: str) -> None:
        if at == point:
            raise Killed(at)

    dead = Controller(ports, store, settings(lease_seconds=LEASE_S), loop_clock, crash_hook=die)
    tick = 0
    while True:
        _script(ports, tick)
        try:
            dead.tick()
        except Killed:
            break
        tick += 1
    heir = Controller(ports, store, settings(lease_seconds=LEASE_S), loop_clock, holder="heir")
    assert not heir.tick().acted, "the dead controller's lease is still live"
    loop_clock.advance(timedelta(seconds=LEASE_S))
    while tick < 3:
        _script(ports, tick)
        assert heir.tick().acted
        tick += 1
    assert [c for c in ports.calls if c != "gate"] == EXPECTED_CALLS
    assert ports.aliases_now == {"champion": "2", "previous-champion": "1"}
    assert store.state(MODEL, START).phase == "idle"


def test_two_controllers_on_one_database_never_both_act(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tether.db'}"
    ports = FakePorts(monitor_gate=threading.Event())
    ports.observation = Observation(action="retrain", cause="drift")
    loop_clock = clock()
    first = Controller(ports, LoopStore(url), settings(), loop_clock, holder="first")
    second = Controller(ports, LoopStore(url), settings(), loop_clock, holder="second")
    results = []
    thread = threading.Thread(target=lambda: results.append(first.tick()))
    thread.start()
    assert ports.monitor_entered.wait(timeout=10)
    blocked = second.tick()
    assert ports.monitor_gate is not None
    ports.monitor_gate.set()
    thread.join(timeout=10)
    assert not blocked.acted and "first" in blocked.reason
    assert results[0].acted and ports.calls.count("train") == 1


def test_many_threads_ticking_at_once_train_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tether.db'}"
    ports = FakePorts()
    ports.observation = Observation(action="retrain", cause="drift")
    loop_clock = clock()
    controllers = [
        Controller(ports, LoopStore(url), settings(), loop_clock, holder=f"c{i}") for i in range(4)
    ]
    threads = [threading.Thread(target=controller.tick) for controller in controllers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Whoever acted first trained; the others were refused the lease or found the model in
    # shadow (a later tick of a released lease) and did not train again.
    assert ports.calls.count("train") == 1
