"""The servers of the serving benchmark: how each starts, when it is ready, what CPU it used.

Every server is started as ``taskset -c SERVER_CORE ...`` in a session of its own, so that it and
any child (``mlflow models serve`` execs uvicorn in a child process) stay on the server core and
can be found, measured and stopped as one process group. Its CPU time is read from
``/proc/PID/stat`` (user + system) of every process of the group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
SERVER_CORE = 0
CLIENT_CORE = 1
READY_TIMEOUT_S = 300.0
"""MLflow's server takes about a minute to start on the loaded machine."""
QUIET_CPU_SHARE = 0.05
"""A server is idle when it used less than this share of a core over :data:`QUIET_WINDOW_S`."""
QUIET_WINDOW_S = 0.5
QUIET_TIMEOUT_S = 60.0
_TICKS = os.sysconf("SC_CLK_TCK")
BENCHMARKS = Path(__file__).resolve().parent
PYTHON = Path(sys.executable)


@dataclass(frozen=True)
class ServerSpec:
    """One contender: how to start it and how to talk to it."""

    key: str
    label: str
    argv: list[str]
    predict_path: str
    ready_path: str
    body_format: str
    """``tether`` (tether's request body, also the floor's) or ``mlflow``."""
    env: dict[str, str] = field(default_factory=dict)
    metrics_path: str = ""
    """tether's Prometheus endpoint, read after the rounds (empty: none)."""


@dataclass
class Server:
    """A started server."""

    spec: ServerSpec
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of every process of the server's group so far."""
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the command name: state, ppid, pgrp, ..., utime (14th field), stime.
            if int(fields[2]) == self.process.pid:
                total += int(fields[11]) + int(fields[12])
        return total / _TICKS

    def wait_quiet(self) -> float:
        """Wait (bounded) until the server is idle; the seconds waited."""
        started = time.monotonic()
        before = self.cpu_seconds()
        while time.monotonic() - started < QUIET_TIMEOUT_S:
            time.sleep(QUIET_WINDOW_S)
            now = self.cpu_seconds()
            if now - before < QUIET_CPU_SHARE * QUIET_WINDOW_S:
                break
            before = now
        return time.monotonic() - started

    def stop(self) -> None:
        """Terminate the server's process group (then kill it if it lingers)."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url`` (127.0.0.1 only): status and body."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    """POST a JSON ``body`` to ``url`` (127.0.0.1 only): status and body."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def start(spec: ServerSpec, logs: Path) -> Server:
    """Start ``spec`` on a free port, pinned to the server core (not yet ready)."""
    port = free_port()
    argv = [arg.replace("{port}", str(port)) for arg in spec.argv]
    log = logs / f"server-{spec.key}.log"
    env = {**os.environ, **spec.env, "PATH": f"{PYTHON.parent}:{os.environ.get('PATH', '')}"}
    out: IO[bytes] = log.open("wb")
    process = subprocess.Popen(
        ["taskset", "-c", str(SERVER_CORE), *argv],
        stdout=out, stderr=subprocess.STDOUT, env=env, cwd=BENCHMARKS, start_new_session=True,
    )  # fmt: skip
    out.close()
    return Server(spec, port, process, log)


def wait_ready(server: Server) -> None:
    """Return once the server answers its readiness path with 200 (bounded in time)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.spec.label} exited; see {server.log}")
        try:
            status, _ = get(server.url + server.spec.ready_path, timeout=2.0)
        except OSError:
            status = 0
        if status == 200:
            return
        time.sleep(1.0)
    raise RuntimeError(f"{server.spec.label} not ready after {READY_TIMEOUT_S:.0f} s")


def metric_totals(server: Server, names: list[str]) -> dict[str, float]:
    """Sums of Prometheus samples by metric name (and by ``role`` label for predictions)."""
    if not server.spec.metrics_path:
        return {}
    _, body = get(server.url + server.spec.metrics_path)
    totals: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        sample, _, value = line.rpartition(" ")
        name = sample.split("{", 1)[0]
        if name not in names:
            continue
        key = name
        if 'role="' in sample:
            key += "{role=" + sample.split('role="', 1)[1].split('"', 1)[0] + "}"
        totals[key] = totals.get(key, 0.0) + float(value)
    return totals


def run_load(
    server: Server, bodies: Path, concurrency: int, requests: int, warmup: int,
    time_cap: float, out: Path,
) -> dict[str, object]:  # fmt: skip
    """One load-generator run against ``server``, pinned to the client core; its result,
    plus the server's CPU per request (warm-up included, until the server is idle again)."""
    argv = [
        "taskset", "-c", str(CLIENT_CORE), str(PYTHON), str(BENCHMARKS / "_serving_load.py"),
        "--port", str(server.port), "--path", server.spec.predict_path, "--bodies", str(bodies),
        "--concurrency", str(concurrency), "--requests", str(requests), "--warmup", str(warmup),
        "--time-cap", str(time_cap), "--out", str(out),
    ]  # fmt: skip
    out.unlink(missing_ok=True)
    cpu = server.cpu_seconds()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=2 * time_cap + 120)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    quiet = server.wait_quiet()
    result: dict[str, object] = json.loads(out.read_text())
    served = int(result["sent"]) + int(result["warmup_sent"])  # type: ignore[call-overload]
    result["server_cpu_ms_per_request"] = (server.cpu_seconds() - cpu) * 1e3 / max(1, served)
    result["quiet_wait_s"] = quiet
    return result
