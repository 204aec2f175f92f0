"""An in-memory world for the controller's tests: aliases held in a dict with the registry's
rules that matter here, trainings and alerts counted, and monitoring's verdict set by the test.

A plain module (not a conftest) so that test modules import the names they use.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tether._clock import ReplayClock
from tether._storage import JSONValue
from tether.errors import TransitionError
from tether.loop import GateVerdict, LoopSettings, Observation, Trained

START = datetime(2026, 4, 1, tzinfo=UTC)
MODEL = "fraud"


@dataclass
class FakePorts:
    """One model ``fraud`` with champion v1; every call counted in ``calls``."""

    observation: Observation = field(default_factory=lambda: Observation(action="wait"))
    supports_window: bool = True
    gate_passes: bool = True
    aliases_now: dict[str, str] = field(default_factory=lambda: {"champion": "1"})
    runs: dict[str, Trained] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    windows: list[Sequence[tuple[datetime, datetime]]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    monitor_gate: threading.Event | None = None
    monitor_entered: threading.Event = field(default_factory=threading.Event)

    def models(self) -> Sequence[str]:
        return [MODEL]

    def monitor(self, model: str) -> Observation:
        self.monitor_entered.set()
        if self.monitor_gate is not None:
            assert self.monitor_gate.wait(timeout=10), "the test never released monitor()"
        return self.observation

    def window_supported(self) -> bool:
        return self.supports_window

    def choose_window(
        self, now: datetime, *, days: int, incidents: Sequence[tuple[datetime, datetime]]
    ) -> Mapping[str, str]:
        self.windows.append(tuple(incidents))
        start = now - timedelta(days=days + 60)
        return {"start": start.isoformat(), "end": (now - timedelta(days=60)).isoformat()}

    def train(self, model: str, window: Mapping[str, str], *, tag: str) -> Trained:
        self.calls.append("train")
        trained = Trained(run_id=f"run-{len(self.runs) + 1}", version=str(len(self.runs) + 2))
        self.runs[tag] = trained
        return trained

    def find_trained(self, model: str, tag: str) -> Trained | None:
        return self.runs.get(tag)

    def gate(self, model: str, candidate: str, champion: str) -> GateVerdict:
        self.calls.append("gate")
        reason = "candidate at least as good" if self.gate_passes else "candidate worse"
        return GateVerdict(self.gate_passes, reason, {"candidate": {"precision": 0.9}})

    def aliases(self, model: str) -> Mapping[str, str]:
        return dict(self.aliases_now)

    def deploy(self, model: str, version: str, role: str, *, reason: str, share: float) -> None:
        self.calls.append(f"deploy_{role}")
        if role == "challenger":
            if "challenger" in self.aliases_now:
                raise TransitionError("a challenger is already deployed")
            self.aliases_now["challenger"] = version
        else:
            self.aliases_now[f"shadow-{version}"] = version

    def promote(self, model: str, *, reason: str, evidence: Mapping[str, JSONValue]) -> None:
        self.calls.append("promote")
        if "challenger" not in self.aliases_now:
            raise TransitionError("no challenger to promote")
        self.aliases_now["previous-champion"] = self.aliases_now["champion"]
        self.aliases_now["champion"] = self.aliases_now.pop("challenger")

    def rollback(self, model: str, *, reason: str) -> None:
        self.calls.append("rollback")
        if "previous-champion" not in self.aliases_now:
            raise TransitionError("no previous champion")
        self.aliases_now["champion"] = self.aliases_now.pop("previous-champion")

    def retire(self, model: str, version: str, *, reason: str) -> None:
        self.calls.append("retire")
        held = [a for a, v in self.aliases_now.items() if v == version and a != "champion"]
        if not held:
            raise TransitionError(f"{version} holds no alias")
        for alias in held:
            del self.aliases_now[alias]

    def alert(self, model: str, step: str, message: str, evidence: Mapping[str, JSONValue]) -> None:
        self.alerts.append(message)


def settings(**changes: object) -> LoopSettings:
    """Small numbers so a case runs in a few ticks."""
    values: dict[str, object] = {
        "cooldown_days": 7,
        "shadow_requests": 100,
        "shadow_min_agreement": 0.9,
        "challenger_share": 0.2,
        "lease_seconds": 600.0,
    }
    values.update(changes)
    return LoopSettings(**values)  # type: ignore[arg-type]


def clock() -> ReplayClock:
    return ReplayClock(START)
