"""The closed loop: monitoring's diagnosis drives rollback, holding on a data incident, and
retraining through gate, shadow and challenger to promotion, as a persisted state machine.

``Controller(ports, store, settings, clock).tick()`` is one pass; :class:`LoopStore` holds the
state, the events and the lease in tether's database; :class:`LoopPorts` is what the controller
needs of the world, :class:`ProjectPorts` the real one over a project; ``gate`` is the offline
gate a retrained candidate passes before it serves a request (:mod:`tether.loop._gate`).
"""

from tether._config_loop import LoopSettings
from tether.loop._controller import Controller, TickResult
from tether.loop._gate import GateResult, GateSettings, gate
from tether.loop._ports import GateVerdict, LoopPorts, Observation, ShadowSeen, Trained
from tether.loop._project import LOOP_ALERT_KIND, ProjectLike, ProjectPorts
from tether.loop._store import LoopEvent, LoopState, LoopStore, read_decisions

__all__ = [
    "LOOP_ALERT_KIND",
    "Controller",
    "GateResult",
    "GateSettings",
    "GateVerdict",
    "LoopEvent",
    "LoopPorts",
    "LoopSettings",
    "LoopState",
    "LoopStore",
    "Observation",
    "ProjectLike",
    "ProjectPorts",
    "ShadowSeen",
    "TickResult",
    "Trained",
    "gate",
    "read_decisions",
]
