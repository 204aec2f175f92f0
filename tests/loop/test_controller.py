"""Each policy branch of the controller, on the in-memory world, driven by a replay clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from loop_world import MODEL, START, FakePorts, clock, settings

from tether.errors import TransitionError
from tether.loop import Controller, LoopStore, Observation, ShadowSeen
from tether.loop._controller import TRAIN_ATTEMPTS


@pytest.fixture
def store(tmp_path: Path) -> LoopStore:
    return LoopStore(f"sqlite:///{tmp_path / 'tether.db'}")


def _controller(ports: FakePorts, store: LoopStore, **changes: object) -> Controller:
    return Controller(ports, store, settings(**changes), clock(), holder="test")


def _to_promotion(ports: FakePorts, controller: Controller) -> None:
    """retrain -> train, gate, shadow; shadow agrees -> challenger; test says promote."""
    ports.observation = Observation(action="retrain", cause="performance decline")
    controller.tick()
    ports.observation = Observation(action="wait", shadows={"2": ShadowSeen(150, 0.97)})
    controller.tick()
    ports.observation = Observation(action="wait", experiment="promote")
    controller.tick()


def test_wait_records_and_changes_nothing(store: LoopStore) -> None:
    ports = FakePorts()
    result = _controller(ports, store).tick()
    assert result.acted and result.steps == ((MODEL, "wait"),)
    assert ports.calls == [] and store.state(MODEL, START).phase == "idle"
    assert store.history(MODEL)[0].step == "wait"


def test_rollback_moves_the_champion_back_and_alerts(store: LoopStore) -> None:
    ports = FakePorts(aliases_now={"champion": "2", "previous-champion": "1"})
    ports.observation = Observation(action="rollback", cause="precision collapsed")
    _controller(ports, store).tick()
    assert ports.aliases_now == {"champion": "1"}
    assert ports.calls == ["rollback"] and len(ports.alerts) == 1
    assert store.history(MODEL)[0].step == "rollback_done"


def test_retrain_goes_through_gate_shadow_and_challenger_to_promotion(store: LoopStore) -> None:
    ports = FakePorts()
    controller = _controller(ports, store)
    ports.observation = Observation(action="retrain", cause="performance decline")
    controller.tick()
    state = store.state(MODEL, START)
    assert (state.phase, state.candidate, state.run_id) == ("shadow", "2", "run-1")
    assert ports.aliases_now == {"champion": "1", "shadow-2": "2"}
    ports.observation = Observation(action="wait", shadows={"2": ShadowSeen(50, 1.0)})
    controller.tick()
    assert store.state(MODEL, START).phase == "shadow", "50 pairs are fewer than 100"
    ports.observation = Observation(action="wait", shadows={"2": ShadowSeen(150, 0.97)})
    controller.tick()
    assert ports.aliases_now == {"champion": "1", "challenger": "2"}
    ports.observation = Observation(action="wait", experiment="continue")
    controller.tick()
    assert store.state(MODEL, START).phase == "challenger"
    ports.observation = Observation(action="wait", experiment="promote")
    controller.tick()
    assert ports.aliases_now == {"champion": "2", "previous-champion": "1"}
    assert ports.calls == [
        "train", "gate", "deploy_shadow", "retire", "deploy_challenger", "promote"
    ]  # fmt: skip
    assert store.state(MODEL, START).phase == "idle"
    assert ports.alerts == [f"{MODEL}: version 2 promoted to champion"]


def test_the_challenger_share_never_exceeds_the_maximum(store: LoopStore) -> None:
    ports = FakePorts()
    shares: list[float] = []
    deploy = ports.deploy

    def spy(model: str, version: str, role: str, *, reason: str, share: float) -> None:
        shares.append(share)
        deploy(model, version, role, reason=reason, share=share)

    ports.deploy = spy  # type: ignore[method-assign]
    controller = _controller(ports, store, challenger_share=0.3, max_challenger_share=0.3)
    _to_promotion(ports, controller)
    assert shares[-1] == 0.3


def test_a_second_retrain_waits_for_the_cooldown(store: LoopStore) -> None:
    ports = FakePorts()
    controller = _controller(ports, store, cooldown_days=7)
    _to_promotion(ports, controller)
    ports.observation = Observation(action="retrain", cause="still drifting")
    controller.tick()
    assert ports.calls.count("train") == 1
    assert store.history(MODEL)[0].step == "cooling_down"
    assert isinstance(controller.clock, type(clock()))
    controller.clock.advance(timedelta(days=7))
    controller.tick()
    assert ports.calls.count("train") == 2


def test_a_project_without_window_support_is_never_retrained(store: LoopStore) -> None:
    ports = FakePorts(supports_window=False)
    ports.observation = Observation(action="retrain", cause="drift")
    _controller(ports, store).tick()
    assert ports.calls == []
    event = store.history(MODEL)[0]
    assert event.step == "retrain_refused" and "window support" in str(event.evidence["reason"])


def test_a_candidate_failing_the_gate_is_never_deployed(store: LoopStore) -> None:
    ports = FakePorts(gate_passes=False)
    ports.observation = Observation(action="retrain", cause="drift")
    _controller(ports, store).tick()
    assert ports.calls == ["train", "gate"] and ports.aliases_now == {"champion": "1"}
    assert store.state(MODEL, START).phase == "idle"
    assert store.history(MODEL)[0].evidence["reason"] == "candidate worse"


def test_a_shadow_that_disagrees_is_discarded(store: LoopStore) -> None:
    ports = FakePorts()
    controller = _controller(ports, store)
    ports.observation = Observation(action="retrain", cause="drift")
    controller.tick()
    ports.observation = Observation(action="wait", shadows={"2": ShadowSeen(150, 0.5)})
    controller.tick()
    assert ports.aliases_now == {"champion": "1"}
    assert store.state(MODEL, START).phase == "idle"
    assert ports.alerts == [f"{MODEL}: candidate 2 discarded (shadow disagreed)"]


def test_a_challenger_the_test_rejects_is_retired(store: LoopStore) -> None:
    ports = FakePorts()
    controller = _controller(ports, store)
    ports.observation = Observation(action="retrain", cause="drift")
    controller.tick()
    ports.observation = Observation(action="wait", shadows={"2": ShadowSeen(150, 0.95)})
    controller.tick()
    ports.observation = Observation(action="wait", experiment="keep_champion")
    controller.tick()
    assert ports.aliases_now == {"champion": "1"} and "promote" not in ports.calls


def test_a_data_incident_holds_and_its_span_is_excluded_from_the_next_window(
    store: LoopStore,
) -> None:
    ports = FakePorts()
    controller = _controller(ports, store)
    span = (START - timedelta(days=2), START - timedelta(days=1))
    ports.observation = Observation(action="fix_data", cause="cents", incident=span)
    controller.tick()
    assert store.state(MODEL, START).phase == "holding" and len(ports.alerts) == 1
    ports.observation = Observation(action="fix_data", cause="cents", incident=span)
    controller.tick()
    assert store.state(MODEL, START).phase == "holding" and ports.calls == []
    ports.observation = Observation(action="retrain", cause="quality fine again, drift")
    controller.tick()
    assert store.state(MODEL, START).phase == "idle", "resumes, does not train the same tick"
    assert ports.calls == []
    controller.tick()
    assert ports.calls[0] == "train" and ports.windows == [(span,)]


def test_a_data_incident_discards_the_challenger_in_flight(store: LoopStore) -> None:
    ports = FakePorts()
    controller = _controller(ports, store)
    ports.observation = Observation(action="retrain", cause="drift")
    controller.tick()
    ports.observation = Observation(action="wait", shadows={"2": ShadowSeen(150, 0.95)})
    controller.tick()
    ports.observation = Observation(action="fix_data", cause="cents", experiment="promote")
    controller.tick()
    assert ports.aliases_now == {"champion": "1"} and "promote" not in ports.calls
    assert store.state(MODEL, START).phase == "holding"
    assert ports.alerts == [f"{MODEL}: candidate 2 discarded (data incident)"]


def test_dry_run_records_what_it_would_do_and_changes_nothing(store: LoopStore) -> None:
    ports = FakePorts(aliases_now={"champion": "2", "previous-champion": "1"})
    controller = _controller(ports, store, dry_run=True)
    for action in ("rollback", "retrain", "fix_data"):
        ports.observation = Observation(action=action)  # type: ignore[arg-type]
        assert controller.tick().dry_run
    assert ports.calls == [] and ports.alerts == []
    assert ports.aliases_now == {"champion": "2", "previous-champion": "1"}
    assert [e.step for e in reversed(store.history(MODEL))] == [
        "would_rollback", "would_train", "would_hold"
    ]  # fmt: skip
    assert store.state(MODEL, START).phase == "idle"


def test_a_paused_loop_does_nothing_until_resumed(store: LoopStore) -> None:
    ports = FakePorts()
    ports.observation = Observation(action="retrain", cause="drift")
    controller = _controller(ports, store)
    store.set_paused(True, "investigating the cents incident")
    result = controller.tick()
    assert not result.acted and "investigating" in result.reason and ports.calls == []
    store.set_paused(False, "")
    assert controller.tick().acted and ports.calls[0] == "train"


def test_the_config_pause_switch_also_stops_ticks(store: LoopStore) -> None:
    ports = FakePorts()
    result = _controller(ports, store, paused=True).tick()
    assert not result.acted and result.reason.startswith("paused")


def test_a_failing_step_is_recorded_and_retried_from_its_intent(store: LoopStore) -> None:
    ports = FakePorts()
    ports.observation = Observation(action="retrain", cause="drift")
    train = ports.train

    def down(*args: object, **kwargs: object) -> object:
        raise TransitionError("tracking server unreachable")

    ports.train = down  # type: ignore[assignment]
    controller = _controller(ports, store)
    assert controller.tick().steps[-1] == (MODEL, "error")
    assert "unreachable" in str(store.history(MODEL)[0].evidence["error"])
    assert store.state(MODEL, START).intent == "train"
    ports.train = train  # type: ignore[method-assign]
    controller.tick()
    assert ports.calls.count("train") == 1 and store.state(MODEL, START).phase == "shadow"


def test_a_training_failing_every_tick_is_given_up_alerted_and_cooled_down(
    store: LoopStore,
) -> None:
    ports = FakePorts()
    ports.observation = Observation(action="retrain", cause="drift")
    attempts: list[str] = []

    def broken(*args: object, **kwargs: object) -> object:
        attempts.append("train")
        raise ValueError("the window holds nothing to evaluate")

    ports.train = broken  # type: ignore[assignment]
    controller = _controller(ports, store, cooldown_days=7)
    for _ in range(TRAIN_ATTEMPTS):
        assert isinstance(controller.clock, type(clock()))
        controller.tick()
        controller.clock.advance(timedelta(days=1))
    assert len(attempts) == TRAIN_ATTEMPTS
    state = store.state(MODEL, START)
    assert (state.phase, state.intent) == ("idle", "")
    given_up = store.history(MODEL)[0]
    assert given_up.step == "train_abandoned" and given_up.evidence["attempts"] == TRAIN_ATTEMPTS
    assert "nothing to evaluate" in str(given_up.evidence["error"])
    assert ports.alerts[-1] == f"{MODEL}: retraining failed 3 times in a row, given up"
    controller.tick()  # the diagnosis still says retrain, but the cool-down runs
    assert len(attempts) == TRAIN_ATTEMPTS and store.history(MODEL)[0].step == "cooling_down"


def test_each_event_names_the_version_it_concerns(store: LoopStore) -> None:
    ports = FakePorts()
    _to_promotion(ports, _controller(ports, store))
    steps = [(event.step, event.version) for event in reversed(store.history(MODEL))]
    assert steps[:2] == [("train", ""), ("train_done", "2")]
    assert ("deploy_shadow_done", "2") in steps and steps[-1] == ("promote_done", "2")
    assert store.decisions(MODEL, {"2"})[0].step == "train_done"
    # A rollback concerns the champion it rolls away from.
    ports.observation = Observation(action="rollback", cause="precision collapsed")
    _controller(ports, store).tick()
    rolled = [(e.step, e.evidence.get("cause")) for e in store.decisions(MODEL, {"2"})][-2:]
    assert rolled == [("rollback", None), ("rollback_done", "precision collapsed")]
    assert store.decisions(MODEL, {"7"}) == []
