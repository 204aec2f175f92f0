"""The serving benchmark's load generator: closed-loop HTTP/1.1 keep-alive clients on asyncio.

Run as a script, pinned by the parent to its own core::

    python _serving_load.py --port P --path /v1/predict --bodies FILE --concurrency 8 \
        --requests 2000 --warmup 200 --time-cap 60 --out result.json

``--concurrency`` connections are opened first; each runs one request at a time (send the next
body as soon as the previous response is read), taking bodies in turn from ``FILE`` (one JSON
body per line). The first ``--warmup`` responses are not timed; the next ``--requests`` are,
unless ``--time-cap`` seconds pass first (then the result says ``capped``). A response counts
as completed when it is ``200``; any other status, a reset or a timeout is an error, counted by
kind (after an error the connection is opened again).

Written on raw asyncio streams rather than ``httpx.AsyncClient``: on this machine httpx spent
3 to 6 ms of CPU per request (connection-pool bookkeeping and import-machinery lookups on every
request, by cProfile), so it saturated its core at about 120 requests/s, below every server
measured here. This client spends about 0.2 ms per request.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 30.0
"""No single request may take longer; the server is then reported with a timeout error."""


@dataclass
class Tally:
    """What the clients saw: latencies of completed requests, and errors by kind."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    warmup_sent: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Connect (again, after an error)."""
        self.close()
        self._reader, self._writer = await asyncio.open_connection(HOST, self._port)

    def close(self) -> None:
        """Drop the connection, if any."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request`` and return the response's status and body."""
        if self._reader is None or self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head)
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await _read_chunked(self._reader)
        else:
            body = await self._reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, body


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    for _ in range(100_000):  # bounded: a body of more chunks than this is not ours
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return b"".join(parts)
        parts.append(chunk[:-2])
    raise ValueError("a chunked body of more than 100,000 chunks")


def prepare(path: str, port: int, bodies: list[bytes]) -> list[bytes]:
    """Each body as a complete POST request."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        "Content-Length: {length}\r\n\r\n"
    )
    return [head.format(length=len(body)).encode() + body for body in bodies]


@dataclass
class Plan:
    """The requests the clients share: at most ``limit`` of them, none after ``deadline``."""

    requests: list[bytes]
    limit: int
    deadline: float
    issued: int = 0

    def next_request(self) -> bytes | None:
        """The next request to send, or None when the count or the time is spent."""
        if self.issued >= self.limit or time.perf_counter() >= self.deadline:
            return None
        request = self.requests[self.issued % len(self.requests)]
        self.issued += 1
        return request


async def _client(connection: Connection, plan: Plan, tally: Tally | None) -> None:
    """Send the plan's requests one at a time until it has none left."""
    while (request := plan.next_request()) is not None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                status, _ = await connection.exchange(request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                TimeoutError) as exc:  # fmt: skip
            connection.close()  # the next exchange connects again
            if tally is not None:
                tally.errors[type(exc).__name__] += 1
            continue
        if tally is None:
            continue
        if status == 200:
            tally.latencies.append(time.perf_counter() - started)
        else:
            tally.errors[f"HTTP {status}"] += 1


async def run(args: argparse.Namespace) -> dict[str, object]:
    """Warm up, then time ``args.requests`` requests at ``args.concurrency``."""
    bodies = [line.encode() for line in Path(args.bodies).read_text().splitlines() if line]
    requests = prepare(args.path, args.port, bodies)
    connections = [Connection(args.port) for _ in range(args.concurrency)]
    await asyncio.gather(*(c.open() for c in connections))
    warmup = Plan(requests, args.warmup, time.perf_counter() + args.time_cap)
    await asyncio.gather(*(_client(c, warmup, None) for c in connections))
    tally = Tally(warmup_sent=warmup.issued)
    gc.collect()
    gc.disable()  # no collector pauses inside the timed requests
    cpu, started = time.process_time(), time.perf_counter()
    timed = Plan(requests, args.requests, started + args.time_cap)
    await asyncio.gather(*(_client(c, timed, tally) for c in connections))
    wall = time.perf_counter() - started
    tally.sent = timed.issued
    cpu = time.process_time() - cpu
    gc.enable()
    for connection in connections:
        connection.close()
    return _summary(tally, wall, cpu, args)


def _summary(tally: Tally, wall: float, cpu: float, args: argparse.Namespace) -> dict[str, object]:
    latencies = sorted(tally.latencies)
    completed = len(latencies)

    def quantile(q: float) -> float:
        # Nearest rank: the smallest latency with at least q of the requests at or below it.
        return latencies[max(0, min(completed - 1, int(q * completed + 0.999999) - 1))] * 1e3

    return {
        "concurrency": args.concurrency,
        "requested": args.requests,
        "sent": tally.sent,
        "warmup_sent": tally.warmup_sent,
        "completed": completed,
        "errors": dict(tally.errors),
        "capped": tally.sent < args.requests,
        "wall_s": wall,
        "rps": completed / wall if wall > 0 else 0.0,
        "p50_ms": quantile(0.50) if completed else None,
        "p90_ms": quantile(0.90) if completed else None,
        "p99_ms": quantile(0.99) if completed else None,
        "max_ms": latencies[-1] * 1e3 if completed else None,
        "client_cpu_ms_per_request": cpu * 1e3 / max(1, tally.sent),
    }


def main() -> None:
    """Parse the arguments, run, write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--bodies", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--time-cap", type=float, default=60.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
