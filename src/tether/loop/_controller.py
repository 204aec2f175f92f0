"""The closed loop's controller: a persisted state machine per model, ticked under a lease.

A tick takes the lease (:meth:`LoopStore.acquire`; a second controller with a live lease does
nothing and says so), then for each model runs monitoring and acts by its phase and the
diagnosis::

    idle        rollback -> roll back, alert          fix_data -> record the incident, holding
                retrain  -> (cool-down passed, window supported) training -> gating -> shadow
                wait     -> record only
    holding     quality checks pass again (diagnosis not fix_data) -> idle; nothing else runs
    shadow      >= shadow_requests paired and agreement >= shadow_min_agreement -> challenger
                at challenger_share; enough pairs but too little agreement -> discarded
    challenger  sequential test: promote -> promote with its evidence; keep_champion -> retire

**Exactly once.** Every side effect (train, deploy, promote, rollback, retire) is preceded by
its *intent*, saved with the state, and followed by its result, saved in the same transaction
that clears the intent. A tick that finds an intent (the last one died between the two) checks
the world before redoing it: the aliases for a deploy, promote, rollback or retire, the run
tagged with the intent's tag for a training. So a crash at any step costs at most a repeated
check, never a second training, deployment or promotion. A rollback, a hold, a promotion and a
discard each alert a person (monitoring's alert path, kind ``loop``); alerts are sent before the
result is saved: after a crash they may be sent twice, never lost.

**Incidents.** A ``fix_data`` diagnosis during shadow or challenger discards the candidate: its
evidence was gathered on broken data and cannot be trusted (a fresh retrain after the incident
will be measured on clean traffic). The incident's span is kept and excluded from every later
training window.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from tether._clock import Clock
from tether._config_loop import LoopSettings
from tether._storage import JSONValue
from tether.loop._ports import LoopPorts, Observation
from tether.loop._store import LoopState, LoopStore, Phase
from tether.registry import CHALLENGER, CHAMPION, SHADOW_PREFIX

logger = logging.getLogger(__name__)

ACTOR: Final = "tether-loop"
"""The actor the loop's registry events carry."""
TRAIN_ATTEMPTS: Final = 3
"""Ticks a training may fail in a row before the loop gives it up: a store that is down for a
tick or two is retried; an entry point that raises the same error every day (measured: the demo
retrained 25 times in a row on a window it could not split) is given up, alerted, and the
cool-down starts as if it had trained, so the next attempt is a fresh window."""

CrashHook = Callable[[str], None]
"""Called at each step boundary (``"<intent>:begun"``, ``"<intent>:done"``); tests raise
from it to kill a tick there."""


@dataclass(frozen=True)
class TickResult:
    """What one tick did: whether it held the lease (``acted``), who did, and each model's
    steps in order (``(model, step)``); under ``dry_run`` the steps were recorded, not done."""

    acted: bool
    holder: str
    reason: str
    steps: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False


class Controller:
    """Ticks the loop for every model ``ports`` names, with state in ``store``.

    >>> controller = Controller(ports, store, settings, clock)  # doctest: +SKIP
    >>> controller.tick().steps  # doctest: +SKIP
    (('fraud', 'wait'),)
    """

    def __init__(
        self,
        ports: LoopPorts,
        store: LoopStore,
        settings: LoopSettings,
        clock: Clock,
        *,
        holder: str | None = None,
        crash_hook: CrashHook | None = None,
    ) -> None:
        self.ports = ports
        self.store = store
        self.settings = settings
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._crash_hook = crash_hook
        self._steps: list[tuple[str, str]] = []

    def tick(self) -> TickResult:
        """One pass over every model, under the lease (released at the end)."""
        now = self.clock.now()
        lease = self.store.lease()
        if self.settings.paused or (lease is not None and lease.paused):
            reason = lease.pause_reason if lease is not None and lease.paused else "[loop] paused"
            return TickResult(False, self.holder, f"paused: {reason or 'no reason given'}")
        duration = timedelta(seconds=self.settings.lease_seconds)
        if not self.store.acquire(self.holder, now, duration):
            held = self.store.lease()
            other = "" if held is None else f"{held.holder} until {held.expires.isoformat()}"
            return TickResult(False, self.holder, f"lease held by {other}")
        self._steps = []
        # Released on success or an ordinary error; a process killed mid-tick keeps it until
        # it expires, so a successor cannot act while the dead tick's side effect may be live.
        try:
            for model in self.ports.models():
                self._tick_model_guarded(model)
        except Exception:
            self.store.release(self.holder, self.clock.now())
            raise
        self.store.release(self.holder, self.clock.now())
        return TickResult(
            True, self.holder, "ticked", tuple(self._steps), dry_run=self.settings.dry_run
        )

    def _tick_model_guarded(self, model: str) -> None:
        # The tick is a process boundary: one model's failure (MLflow down, a refused
        # transition) is logged and recorded, its intent kept for the next tick, and the other
        # models still get their turn.
        try:
            self._tick_model(model)
        except Exception as exc:
            logger.exception("loop tick of %s failed", model)
            self._steps.append((model, "error"))
            self.store.record(
                model,
                step="error",
                phase=self.store.state(model, self.clock.now()).phase,
                time=self.clock.now(),
                holder=self.holder,
                evidence={"error": f"{type(exc).__name__}: {exc}"},
            )
            self._give_up_failing_training(model, f"{type(exc).__name__}: {exc}")

    def _give_up_failing_training(self, model: str, error: str) -> None:
        state = self.store.state(model, self.clock.now())
        if state.intent != "train":
            return
        latest = self.store.history(model, limit=TRAIN_ATTEMPTS)
        failed = [e for e in latest if e.step == "error" and e.time >= state.since]
        if len(failed) < TRAIN_ATTEMPTS:
            return
        now = self.clock.now()
        evidence: dict[str, JSONValue] = {"attempts": len(failed), "error": error,
                                          "intent": dict(state.intent_detail)}  # fmt: skip
        message = f"{model}: retraining failed {len(failed)} times in a row, given up"
        self.ports.alert(model, "train_abandoned", message, evidence)
        idle = replace(state, phase="idle", since=now, intent="", intent_detail={},
                       last_retrain=now)  # fmt: skip
        self._save(idle, "train_abandoned", evidence)

    def _tick_model(self, model: str) -> None:
        state = self.store.state(model, self.clock.now())
        observation = self.ports.monitor(model)
        if state.intent:
            state = self._finish(state)
        handler = {
            "idle": self._idle,
            "holding": self._holding,
            "gating": self._gating,
            "shadow": self._shadow,
            "challenger": self._challenger,
        }.get(state.phase)
        if handler is not None:
            handler(state, observation)
        # A training that just finished is gated in the same tick: the gate reads only the
        # candidate's own held-out frame, nothing a later tick would add.
        after = self.store.state(model, self.clock.now())
        if after.phase == "gating" and not after.intent and state.phase != "gating":
            self._gating(after, observation)

    # -- phases ---------------------------------------------------------------------------

    def _idle(self, state: LoopState, seen: Observation) -> None:
        evidence: dict[str, JSONValue] = {"cause": seen.cause, "diagnosis": dict(seen.evidence)}
        if seen.action == "rollback":
            champion = self.ports.aliases(state.model).get(CHAMPION, "")
            self._begin(state, "rollback", {**evidence, "champion": champion})
        elif seen.action == "fix_data":
            self._hold(state, seen)
        elif seen.action == "retrain":
            self._retrain(state, seen)
        else:
            self._note(state, "wait", evidence)

    def _retrain(self, state: LoopState, seen: Observation) -> None:
        now = self.clock.now()
        cooldown = timedelta(days=self.settings.cooldown_days)
        if state.last_retrain is not None and now < state.last_retrain + cooldown:
            until = (state.last_retrain + cooldown).isoformat()
            self._note(state, "cooling_down", {"cause": seen.cause, "until": until})
            return
        if not self.ports.window_supported():
            reason = "the project's train(ctx) does not declare window support"
            self._note(state, "retrain_refused", {"cause": seen.cause, "reason": reason})
            return
        window = self.ports.choose_window(
            now, days=self.settings.training_days, incidents=state.incidents
        )
        tag = f"{state.model}:{now.isoformat()}"
        detail: dict[str, JSONValue] = {"cause": seen.cause, "window": dict(window), "tag": tag}
        self._begin(replace(state, phase="training", since=now), "train", detail)

    def _hold(self, state: LoopState, seen: Observation) -> None:
        now = self.clock.now()
        span = seen.incident or (now, now)
        evidence: dict[str, JSONValue] = {
            "cause": seen.cause,
            "diagnosis": dict(seen.evidence),
            "incident": [span[0].isoformat(), span[1].isoformat()],
        }
        if self.settings.dry_run:
            self._note(state, "would_hold", evidence)
            return
        self.ports.alert(
            state.model, "hold", f"{state.model}: data incident, loop holding", evidence
        )
        held = replace(state, phase="holding", since=now, incidents=(*state.incidents, span))
        self._save(held, "hold", evidence)

    def _holding(self, state: LoopState, seen: Observation) -> None:
        if seen.action == "fix_data":
            if seen.incident is not None and state.incidents:
                start, end = state.incidents[-1]
                widened = (min(start, seen.incident[0]), max(end, seen.incident[1]))
                state = replace(state, incidents=(*state.incidents[:-1], widened))
            self._save(state, "holding", {"cause": seen.cause})
            return
        self._save(replace(state, phase="idle", since=self.clock.now()), "resume", {})

    def _gating(self, state: LoopState, seen: Observation) -> None:
        champion = self.ports.aliases(state.model).get(CHAMPION, "")
        verdict = self.ports.gate(state.model, state.candidate, champion)
        evidence: dict[str, JSONValue] = {
            "passed": verdict.passed,
            "reason": verdict.reason,
            "champion": champion,
            "metrics": {k: dict(v) for k, v in verdict.metrics.items()},
        }
        if not verdict.passed:
            idle = replace(state, phase="idle", since=self.clock.now(), candidate="", run_id="")
            self._save(idle, "gate_failed", evidence, version=state.candidate)
            return
        self._begin(state, "deploy_shadow", evidence)

    def _shadow(self, state: LoopState, seen: Observation) -> None:
        if seen.action == "fix_data":
            self._begin(state, "discard", {"reason": "data incident", "then": "holding"})
            return
        found = seen.shadows.get(state.candidate)
        pairs = 0 if found is None else found.pairs
        evidence: dict[str, JSONValue] = {
            "pairs": pairs,
            "agreement": None if found is None else found.agreement,
            "needed": self.settings.shadow_requests,
        }
        if found is None or pairs < self.settings.shadow_requests:
            self._note(state, "shadowing", evidence)
        elif found.agreement is not None and found.agreement >= self.settings.shadow_min_agreement:
            share = min(self.settings.challenger_share, self.settings.max_challenger_share)
            self._begin(state, "deploy_challenger", {**evidence, "share": share})
        else:
            self._begin(state, "discard", {**evidence, "reason": "shadow disagreed"})

    def _challenger(self, state: LoopState, seen: Observation) -> None:
        evidence = dict(seen.experiment_evidence)
        if seen.action == "fix_data":
            self._begin(state, "discard", {"reason": "data incident", "then": "holding"})
        elif seen.experiment == "promote":
            self._begin(state, "promote", {"experiment": evidence})
        elif seen.experiment == "keep_champion":
            self._begin(state, "discard", {"reason": "experiment kept the champion", **evidence})
        else:
            self._note(state, "experimenting", {"experiment": evidence})

    # -- side effects, each between a saved intent and its saved result ---------------------

    def _begin(self, state: LoopState, intent: str, detail: Mapping[str, JSONValue]) -> None:
        version = _concerns(intent, state, detail)
        if self.settings.dry_run:
            self._note(state, f"would_{intent}", detail, version=version)
            return
        begun = replace(state, intent=intent, intent_detail=dict(detail))
        begun = self._save(begun, intent, {}, version=version)
        self._crash(f"{intent}:begun")
        self._finish(begun)

    def _finish(self, state: LoopState) -> LoopState:
        """Make ``state.intent``'s side effect unless the world shows it made, then save the
        result; returns the new state (a later phase may act on it within the same tick)."""
        model, detail, intent = state.model, dict(state.intent_detail), state.intent
        aliases = self.ports.aliases(model)
        now = self.clock.now()
        cleared = replace(state, intent="", intent_detail={})
        result: LoopState
        if intent == "rollback":
            if aliases.get(CHAMPION, "") == detail.get("champion"):
                self.ports.rollback(model, reason=f"loop: {detail.get('cause', '')}")
            self._crash("rollback:done")
            self.ports.alert(model, "rollback", f"{model}: rolled back", detail)
            result = replace(cleared, phase="idle", since=now)
        elif intent == "train":
            tag = str(detail["tag"])
            trained = self.ports.find_trained(model, tag)
            if trained is None:
                window = detail["window"]
                assert isinstance(window, dict)
                trained = self.ports.train(model, {k: str(v) for k, v in window.items()}, tag=tag)
            self._crash("train:done")
            detail |= {"run_id": trained.run_id, "version": trained.version}
            result = replace(
                cleared,
                phase="gating",
                since=now,
                candidate=trained.version,
                run_id=trained.run_id,
                last_retrain=now,
            )
        elif intent == "deploy_shadow":
            if aliases.get(f"{SHADOW_PREFIX}{state.candidate}") != state.candidate:
                self.ports.deploy(
                    model, state.candidate, "shadow", reason="loop: gate passed", share=0.0
                )
            self._crash("deploy_shadow:done")
            result = replace(cleared, phase="shadow", since=now)
        elif intent == "deploy_challenger":
            if aliases.get(f"{SHADOW_PREFIX}{state.candidate}") == state.candidate:
                self.ports.retire(model, state.candidate, reason="loop: shadow passed")
            if aliases.get(CHALLENGER) != state.candidate:
                share = float(str(detail.get("share", self.settings.challenger_share)))
                self.ports.deploy(
                    model, state.candidate, "challenger", reason="loop: shadow passed", share=share
                )
            self._crash("deploy_challenger:done")
            result = replace(cleared, phase="challenger", since=now)
        elif intent == "promote":
            if aliases.get(CHAMPION) != state.candidate:
                evidence = detail.get("experiment")
                self.ports.promote(
                    model,
                    reason="loop: the sequential test decided promote",
                    evidence=evidence if isinstance(evidence, dict) else {},
                )
            self._crash("promote:done")
            promoted = f"{model}: version {state.candidate} promoted to champion"
            self.ports.alert(model, "promote", promoted, detail)
            result = replace(cleared, phase="idle", since=now, candidate="", run_id="")
        elif intent == "discard":
            if state.candidate in aliases.values() and aliases.get(CHAMPION) != state.candidate:
                self.ports.retire(model, state.candidate, reason=f"loop: {detail.get('reason')}")
            self._crash("discard:done")
            discarded = f"{model}: candidate {state.candidate} discarded ({detail.get('reason')})"
            self.ports.alert(model, "discard", discarded, detail)
            phase: Phase = "holding" if detail.get("then") == "holding" else "idle"
            result = replace(cleared, phase=phase, since=now, candidate="", run_id="")
        else:
            raise ValueError(f"Loop state of {model} has unknown intent {intent!r}.")
        concerns = result.candidate or _concerns(intent, state, detail)
        return self._save(result, f"{intent}_done", detail, version=concerns)

    # -- bookkeeping ----------------------------------------------------------------------

    def _save(
        self,
        state: LoopState,
        step: str,
        evidence: Mapping[str, JSONValue],
        *,
        version: str | None = None,
    ) -> LoopState:
        """Save ``state`` with its event, which concerns ``version`` (default: the candidate)."""
        self._steps.append((state.model, step))
        return self.store.save(
            state, step=step, time=self.clock.now(), holder=self.holder, evidence=evidence,
            version=version,
        )  # fmt: skip

    def _note(
        self,
        state: LoopState,
        step: str,
        evidence: Mapping[str, JSONValue],
        *,
        version: str | None = None,
    ) -> None:
        self._steps.append((state.model, step))
        self.store.record(
            state.model,
            step=step,
            phase=state.phase,
            time=self.clock.now(),
            holder=self.holder,
            evidence=evidence,
            version=state.candidate if version is None else version,
        )

    def _crash(self, point: str) -> None:
        if self._crash_hook is not None:
            self._crash_hook(point)


def _concerns(intent: str, state: LoopState, detail: Mapping[str, JSONValue]) -> str:
    """The version an intent's events concern: a rollback's, the champion it rolls away from;
    any other's, the candidate (empty before a training names one)."""
    if intent == "rollback":
        return str(detail.get("champion", ""))
    return state.candidate
