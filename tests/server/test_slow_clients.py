"""Slow clients against a real uvicorn server: a body that stops arriving, too many connections.

The server runs in a thread on a free port with the limits ``tether serve`` gives uvicorn; the
clients are raw sockets, so nothing between them and the server completes a request for them.
No assertion is on time beyond "answered before the test's own bounded wait".
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from server_cases import MemoryRegistry, settings_for, store_url

from subprocess_servers import free_port
from tether.server import create_app
from tether.serving._predlog import PredictionLog

WAIT_S = 20.0  # the test's bounded wait: far above the configured timeout


@contextmanager
def uvicorn_server(tmp_path: Path, **overrides: object) -> Iterator[tuple[int, uvicorn.Server]]:
    """The app on a real uvicorn server, configured as `tether serve` configures it."""
    settings = settings_for(tmp_path, **overrides)
    app = create_app(
        settings, source=MemoryRegistry(), predictions=PredictionLog(store_url(tmp_path))
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            limit_concurrency=settings.max_connections)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(400):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        yield port, server
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


def _slow_request(port: int, declared: int = 1000, sent: bytes = b'{"instanc') -> socket.socket:
    """A connection that declares a body of ``declared`` bytes and sends only ``sent``."""
    client = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    client.sendall(
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    return client


def _held_request(port: int, server: uvicorn.Server) -> socket.socket:
    """A slow request, returned once the server has taken it: holding it or answering it.

    The server's event loop runs in another thread, and uvicorn counts every connection it
    has accepted, so connections sent at once may all be refused before any is held.
    """
    tasks = len(server.server_state.tasks)
    client = _slow_request(port)
    for _ in range(400):
        if len(server.server_state.tasks) > tasks or select.select([client], [], [], 0)[0]:
            break
        threading.Event().wait(0.01)
    return client


def _read_until_closed(client: socket.socket) -> bytes:
    received = b""
    while chunk := client.recv(65536):  # b"" once the server closed the connection
        received += chunk
    return received


def test_a_body_that_stops_arriving_is_answered_408_and_closed(tmp_path: Path) -> None:
    with uvicorn_server(tmp_path, body_timeout_s=0.5) as (port, _):
        client = _slow_request(port)
        with client:
            answer = _read_until_closed(client)  # raises socket.timeout after WAIT_S
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b'"error":"body_timeout"' in answer
        assert b"0.5 seconds (serving.body_timeout_s)" in answer
        assert b"connection: close" in answer.lower()
        # A client that drips its body byte by byte is held no longer.
        drip = _slow_request(port, declared=50, sent=b"{")
        with drip:
            for byte in b'"instances"':
                drip.sendall(bytes([byte]))
            assert _read_until_closed(drip).startswith(b"HTTP/1.1 408 ")


def test_connections_beyond_max_connections_are_refused_503(tmp_path: Path) -> None:
    with uvicorn_server(tmp_path, body_timeout_s=30.0, max_connections=3) as (port, server):
        held: list[socket.socket] = []
        try:
            for _ in range(3):
                held.append(_held_request(port, server))
            extra = _slow_request(port, declared=0, sent=b"")
            with extra:
                answer = extra.recv(65536)
            assert answer.startswith(b"HTTP/1.1 503 "), answer
        finally:
            for client in held:
                client.close()
