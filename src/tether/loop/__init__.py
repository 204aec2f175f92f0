"""The closed loop: monitoring's diagnosis drives rollback, holding on a data incident, and
retraining through gate, shadow and challenger to promotion, as a persisted state machine.

``Controller(ports, store, settings, clock).tick()`` is one pass; :class:`LoopStore` holds the
state, the events and the lease in tether's database; :class:`LoopPorts` is what the controller
needs of the world.
"""

from tether._config_loop import LoopSettings
from tether.loop._controller import Controller, TickResult
from tether.loop._ports import GateVerdict, LoopPorts, Observation, ShadowSeen, Trained
from tether.loop._store import LoopEvent, LoopState, LoopStore

__all__ = [
    "Controller",
    "GateVerdict",
    "LoopEvent",
    "LoopPorts",
    "LoopSettings",
    "LoopState",
    "LoopStore",
    "Observation",
    "ShadowSeen",
    "TickResult",
    "Trained",
]
