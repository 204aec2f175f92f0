"""No process of ours reports usage: importing tether switches MLflow's telemetry off."""

from __future__ import annotations

import os
import subprocess
import sys

_CHECK = (
    "import {first}\n"
    "from mlflow.telemetry.utils import is_telemetry_disabled\n"
    "print(is_telemetry_disabled())\n"
)


def _telemetry_disabled(first: str) -> bool:
    # A clean environment: pytest's own variable would switch MLflow's telemetry off for us.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTEST_CURRENT_TEST", "CI", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"}
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHECK.format(first=first)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1] == "True"


def test_mlflow_would_report_usage_in_a_plain_process() -> None:
    assert not _telemetry_disabled("mlflow")


def test_importing_tether_switches_mlflow_telemetry_off() -> None:
    assert _telemetry_disabled("tether")
