"""The closed loop: monitoring's verdicts back to retraining and safe deployment.

``gate`` is the offline gate a retrained candidate passes before it serves a request
(:mod:`tether.loop._gate`).
"""

from tether.loop._gate import GateResult, GateSettings, gate

__all__ = ["GateResult", "GateSettings", "gate"]
