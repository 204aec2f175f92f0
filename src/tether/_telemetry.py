"""No process of tether's reports usage anywhere: dependencies' telemetry is switched off.

MLflow 3 sends usage events to its vendor unless ``MLFLOW_DISABLE_TELEMETRY`` or
``DO_NOT_TRACK`` is set (it reads them at each call, so setting them before the first MLflow
call is enough); ``DO_NOT_TRACK`` is the convention other tools honour. Importing this module
(``tether/__init__.py`` does, first) sets both, overriding a user's value on purpose: a
process running tether talks to the stores its configuration names and to nothing else.
"""

from __future__ import annotations

import os

SWITCHES = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
"""The environment variables, and the value that turns each dependency's telemetry off."""


def switch_off() -> None:
    """Set every telemetry switch of :data:`SWITCHES` in this process's environment."""
    os.environ.update(SWITCHES)


switch_off()
