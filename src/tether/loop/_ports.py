"""What the controller needs of the world, as one protocol: monitoring's verdict, training,
the gate, the aliases and alerts. ``ProjectPorts`` (a project) is the real implementation;
tests drive every policy branch through a small in-memory one.

The controller never imports monitoring, lineage or the registry itself: it reads an
:class:`Observation` (the part of a ``ModelReport`` a decision needs) and calls these methods,
so nothing in ``loop/`` knows any one project or example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from tether._storage import JSONValue

DiagnosisAction = Literal["rollback", "fix_data", "retrain", "wait"]
ExperimentAction = Literal["promote", "keep_champion", "continue"]


@dataclass(frozen=True)
class ShadowSeen:
    """What the champion's comparison with one shadow version found: the paired requests and
    the share of them decided alike (None when a model has no threshold)."""

    pairs: int
    agreement: float | None


@dataclass(frozen=True)
class Observation:
    """One monitor run of one model, as the loop reads it.

    ``incident`` is the span a data incident reached (set with ``action == "fix_data"``);
    ``experiment`` the sequential test's action for the running challenger, if any.
    """

    action: DiagnosisAction
    cause: str = ""
    evidence: Mapping[str, JSONValue] = field(default_factory=dict)
    incident: tuple[datetime, datetime] | None = None
    experiment: ExperimentAction | None = None
    experiment_evidence: Mapping[str, JSONValue] = field(default_factory=dict)
    shadows: Mapping[str, ShadowSeen] = field(default_factory=dict)


@dataclass(frozen=True)
class Trained:
    """A training run and the model version it registered."""

    run_id: str
    version: str


@dataclass(frozen=True)
class GateVerdict:
    """The offline gate's verdict (the fields of ``tether.loop._gate.GateResult``)."""

    passed: bool
    reason: str
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


class LoopPorts(Protocol):
    """The world as the controller sees it. Every method may raise a ``TetherError``; a
    failing step is recorded and retried at the next tick from its persisted intent."""

    def models(self) -> Sequence[str]:
        """The models the loop looks after (those with a champion)."""
        ...

    def monitor(self, model: str) -> Observation:
        """Run monitoring on ``model`` now (the loop's clock)."""
        ...

    def window_supported(self) -> bool:
        """Whether the project's ``train(ctx)`` declares that it trains on ``ctx.window``."""
        ...

    def choose_window(
        self, now: datetime, *, days: int, incidents: Sequence[tuple[datetime, datetime]]
    ) -> Mapping[str, str]:
        """The training window (``TrainWindow.to_dict()``): ``days`` of matured data before
        ``now``, excluding ``incidents`` and their reach into windowed features."""
        ...

    def train(self, model: str, window: Mapping[str, str], *, tag: str) -> Trained:
        """A full reproducible training on ``window``, its run tagged with ``tag``."""
        ...

    def find_trained(self, model: str, tag: str) -> Trained | None:
        """The run (and its version) an earlier, interrupted tick trained with ``tag``."""
        ...

    def gate(self, model: str, candidate: str, champion: str) -> GateVerdict:
        """The candidate against the champion on the candidate's held-out frame."""
        ...

    def aliases(self, model: str) -> Mapping[str, str]:
        """``model``'s aliases now (``champion``, ``challenger``, ``shadow-<v>``, ...)."""
        ...

    def deploy(self, model: str, version: str, role: str, *, reason: str, share: float) -> None:
        """Deploy ``version`` as ``role`` (``shadow`` or ``challenger`` at ``share``)."""
        ...

    def promote(self, model: str, *, reason: str, evidence: Mapping[str, JSONValue]) -> None:
        """Make the challenger the champion, with the experiment's evidence."""
        ...

    def rollback(self, model: str, *, reason: str) -> None:
        """Put the previous champion back."""
        ...

    def retire(self, model: str, version: str, *, reason: str) -> None:
        """Remove every alias of ``version`` but the champion's."""
        ...

    def alert(self, model: str, step: str, message: str, evidence: Mapping[str, JSONValue]) -> None:
        """Tell a person that the loop took ``step`` (``rollback``, ``hold``, ``promote``,
        ``discard``): stored, logged
        and sent to the webhook as monitoring's alerts are."""
        ...
