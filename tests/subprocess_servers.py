"""Servers the tests start as real processes on 127.0.0.1: a free port, and a server that is
up (its health URL answers 200) for the duration of a ``with`` block, then stopped."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from typing import IO

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(
    command: list[str],
    health_url: str,
    *,
    name: str,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[bytes] | None = None,
    timeout_s: float = 120.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait until ``health_url`` answers 200, yield, then stop it (SIGTERM,
    then SIGKILL after 30 s). Fails the test if it exits or is not ready within ``timeout_s``."""
    process = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"{name} exited during startup:\n{err[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health_url, timeout=2).status_code == 200:
                    break
            time.sleep(0.3)
        else:
            pytest.fail(f"{name} did not answer {health_url} within {timeout_s} s")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
