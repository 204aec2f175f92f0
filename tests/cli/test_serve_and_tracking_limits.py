"""Bounded waits on a dead or silent tracking store, and ``tether serve``'s start-up refusals.

A "silent" store is a socket on 127.0.0.1 that accepts connections and never answers: the
case that kept a server starting, deaf to SIGTERM, for minutes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from subprocess_servers import free_port
from tether.config import load_settings
from tether.lineage import train_project
from tether.project import Project

pytestmark = pytest.mark.slow
RunCli = Callable[[list[str]], tuple[int, str, str]]


@contextlib.contextmanager
def _silent_port() -> Iterator[int]:
    """A listening socket that accepts (the kernel completes the handshake) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def _limits(project: Path, uri: str) -> None:
    path = project / "tether.toml"
    path.write_text(path.read_text() + f'\n[tracking]\nuri = "{uri}"\ntimeout_s = 2\nretries = 1\n')


@pytest.fixture
def mlflow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading settings exports MLflow's limits: restore the environment after the test."""
    for name in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):  # fmt: skip
        monkeypatch.setenv(name, "1")
        monkeypatch.delenv(name)


@pytest.mark.parametrize("scheme", ["http", "postgresql+psycopg"])
@pytest.mark.parametrize("store", ["dead", "silent"])
def test_cli_commands_fail_fast_naming_an_unreachable_tracking_store(
    run_cli: RunCli, fraud_project: Path, mlflow_environment: None, scheme: str, store: str
) -> None:
    with _silent_port() as silent:
        port = free_port() if store == "dead" else silent
        path = "/mlflow" if scheme.startswith("postgresql") else ""
        _limits(fraud_project, f"{scheme}://tether:pw-{store}@127.0.0.1:{port}{path}")
        for command in (["audit", "fraud-detector/1"], ["reproduce", "fraud-detector/1"]):
            code, out, err = run_cli(["-C", str(fraud_project), *command])
            assert code == 2, (out, err)
            assert f"tracking store at {scheme}://tether:***@127.0.0.1:{port}" in err
            assert "2 attempt(s) of 2 s each" in err
            assert f"pw-{store}" not in out + err


def test_serve_refuses_a_port_in_use_with_exit_2(run_cli: RunCli, fraud_project: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = run_cli(["-C", str(fraud_project), "serve", "--port", str(port)])
    assert code == 2, err
    assert f"Port {port} on 127.0.0.1 is already in use" in err
    assert "--port N" in err


def test_sigterm_during_start_up_ends_the_server(
    fraud_project: Path, mlflow_environment: None
) -> None:
    settings = load_settings(fraud_project)
    train_project(settings.with_params({"max_iter": "5"}))
    Project.open(settings).aliases.deploy("1", "champion", actor="test", reason="serve it")
    with _silent_port() as silent:
        toml = fraud_project / "tether.toml"
        # A long timeout: start-up would wait ten minutes for this store without the signal.
        toml.write_text(toml.read_text() + "\n[tracking]\ntimeout_s = 600\nretries = 0\n")
        env = {**os.environ, "TETHER_TRACKING_URI": f"http://127.0.0.1:{silent}"}
        command = [sys.executable, "-m", "tether", "-C", str(fraud_project), "serve", "--port",
                   str(free_port())]  # fmt: skip
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert process.stderr is not None
            for line in process.stderr:  # uvicorn says when the lifespan (model loading) starts
                if "Waiting for application startup" in line:
                    break
            time.sleep(0.5)  # inside the lifespan, waiting on the silent store
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=60)
            rest = process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert returncode == -signal.SIGTERM
    assert "stopped by SIGTERM during start-up" in rest
