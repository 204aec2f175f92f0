"""Abuse (issue 8): valid traffic's latency with and without two clients sending crafted bodies.

Usage::

    python benchmarks/abuse.py [--quick] [--rounds 3] [--requests 2000] [--warmup 200]
                               [--concurrency 8] [--abusers 2] [--time-cap 90] [--no-readme]

The security probe of issue 8 found that 333,326 empty instances in 999,993 bytes took about
2.4 s to parse before the 413, and that two clients sending such bodies in a loop pushed valid
traffic from p50 6 ms / p99 19 ms to p50 5.2 s / p99 7.3 s. This script measures the same
thing against ``tether serve`` (champion only, one uvicorn worker on core 0), in one run: the
load generator of the serving benchmark (``_serving_load.py``, on core 1) sends the same valid
single-row requests with no abuse, then while ``--abusers`` threads of this process (also on
core 1) each send the 333,326-instance body in a loop on a keep-alive connection, alternating
clean and abused runs for ``--rounds`` rounds. Each cell is the median of the rounds; the
ratio is abused / clean (target: p99 within 2x). The abusive requests must all be answered
413, which the table counts.

The project is the serving benchmark's (``_serving_project.py``), built once and reused;
``--quick`` builds a small one of its own (20,000 transactions) and writes no README.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _readme import table, write_readme
from _serving_project import MODEL, ensure_projects, request_rows, write_bodies
from _serving_servers import (
    CLIENT_CORE,
    HOST,
    PYTHON,
    Server,
    ServerSpec,
    run_load,
    start,
    wait_ready,
)

import tether
from tether.registry import EventLog
from tether.serving import load_version

BENCHMARKS = Path(__file__).resolve().parent
WORK = BENCHMARKS / ".work"
TETHER_CLI = str(PYTHON.with_name("tether"))
TRANSACTIONS = 200_000
QUICK_TRANSACTIONS = 20_000
ABUSIVE_INSTANCES = 333_326
"""The probe's body: this many empty instances fit in 999,993 bytes, under the 1 MB limit."""
SCRIPT = "abuse.py"
SECTION = "## Abusive bodies (issue 8)"
README_INTRO = """
`benchmarks/abuse.py`: valid single-row predictions against `tether serve` (champion only,
one uvicorn worker pinned to core 0) with and without two clients sending 333,326 empty
instances (999,993 bytes, under the 1 MB body limit) in a loop, in one run; clean and abused
runs alternate, each cell is the median of the rounds. Target: abused p99 within 2x of clean.
"""


def abusive_body(instances: int = ABUSIVE_INSTANCES) -> bytes:
    """The probe's body: ``instances`` empty instances."""
    return b'{"instances": [' + b",".join([b"{}"] * instances) + b"]}"


@dataclass
class Abusers:
    """Threads that each send the abusive body in a loop until stopped, counting statuses."""

    port: int
    count: int
    body: bytes = field(default_factory=abusive_body)
    statuses: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start the threads."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, daemon=True) for _ in range(self.count)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the threads (each finishes its request in flight)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _loop(self) -> None:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        while not self._stop.is_set():
            try:
                connection.request("POST", "/v1/predict", body=self.body, headers=headers)
                response = connection.getresponse()
                response.read()
                self.statuses[str(response.status)] += 1
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as exc:
                self.statuses[type(exc).__name__] += 1
                connection.close()
        connection.close()


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Build (or reuse) the project, start the server, run the rounds; the results."""
    os.sched_setaffinity(0, {CLIENT_CORE})  # the abusers share the load generator's core
    root = WORK / "abuse" / "projects-quick" if args.quick else WORK / "serving" / "projects"
    print(f"project (built once, then reused) under {root}", flush=True)
    projects = ensure_projects(root, args.transactions)
    settings = tether.load_settings(projects.base)
    events = EventLog(settings.store.url)
    try:
        served = load_version(settings.stores.tracking_uri, MODEL, "1", events=events)
    finally:
        events.close()
    columns = list(served.features)
    run_dir = WORK / "abuse" / "runs" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    bodies = write_bodies(request_rows(projects, columns), run_dir)["tether"]
    argv = [TETHER_CLI, "-C", str(projects.layout("solo")), "serve", "--port", "{port}"]
    spec = ServerSpec("solo", "tether: champion", argv, "/v1/predict", "/readyz", "tether")
    server: Server = start(spec, run_dir)
    runs: dict[str, list[dict[str, object]]] = {"clean": [], "abused": []}
    abusers = Abusers(server.port, args.abusers)
    try:
        wait_ready(server)
        for round_ in range(args.rounds):
            for phase in ("clean", "abused"):
                if phase == "abused":
                    abusers.start()
                out = run_dir / f"{phase}-{round_}.json"
                try:
                    result = run_load(server, bodies, args.concurrency, args.requests,
                                      args.warmup, args.time_cap, out)  # fmt: skip
                finally:
                    if phase == "abused":
                        abusers.stop()
                runs[phase].append(result)
                p50, p99, rps = result["p50_ms"], result["p99_ms"], result["rps"]
                print(f"round {round_ + 1} {phase}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                      f"{rps:.0f} req/s", flush=True)  # fmt: skip
    finally:
        server.stop()
    results = {"runs": runs, "abusive_statuses": dict(abusers.statuses), "args": vars(args)}
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def _median(runs: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(run[key]) for run in runs)  # type: ignore[arg-type]


def report(results: dict[str, object], args: argparse.Namespace) -> str:
    """The results as Markdown: one row per phase, then the ratios."""
    runs: dict[str, list[dict[str, object]]] = results["runs"]  # type: ignore[assignment]
    rows = []
    for phase in ("clean", "abused"):
        cells = [f"{_median(runs[phase], k):.1f}" for k in ("p50_ms", "p99_ms")]
        rounds = " ".join(f"{float(r['p99_ms']):.1f}" for r in runs[phase])  # type: ignore[arg-type]
        rows.append([phase, *cells, f"[{rounds}]", f"{_median(runs[phase], 'rps'):.0f}"])
    p50 = _median(runs["abused"], "p50_ms") / _median(runs["clean"], "p50_ms")
    p99 = _median(runs["abused"], "p99_ms") / _median(runs["clean"], "p99_ms")
    statuses = ", ".join(f"{n} x {s}" for s, n in sorted(results["abusive_statuses"].items()))  # type: ignore[attr-defined]
    header = ["valid traffic", "p50 ms", "p99 ms", "p99 per round", "req/s"]
    return "\n\n".join([
        table(header, rows),
        f"Ratio abused / clean: p50 {p50:.2f}x, p99 {p99:.2f}x (target: p99 within 2x).",
        f"Abusive requests ({args.abusers} clients, {ABUSIVE_INSTANCES:,} empty instances "
        f"each): {statuses}.",
        f"Concurrency {args.concurrency}, {args.requests} timed requests per run after "
        f"{args.warmup} untimed, {args.rounds} rounds; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores.",
    ])  # fmt: skip


def main() -> None:
    """Parse the command line, measure, print, and (full runs) write the README section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run, no README")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (3; quick 1)")
    parser.add_argument("--requests", type=int, default=None, help="timed (2000; quick 200)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed (200; quick 50)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--abusers", type=int, default=2)
    parser.add_argument("--time-cap", type=float, default=90.0, help="seconds per run")
    parser.add_argument("--transactions", type=int, default=None)
    parser.add_argument("--no-readme", action="store_true", help="do not write the README")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.requests = args.requests or (200 if args.quick else 2000)
    args.warmup = args.warmup if args.warmup is not None else (50 if args.quick else 200)
    args.transactions = args.transactions or (QUICK_TRANSACTIONS if args.quick else TRANSACTIONS)
    results = measure(args)
    block = report(results, args)
    print(block)
    if not args.quick and not args.no_readme:
        write_readme(BENCHMARKS / "README.md", block, script=SCRIPT, section=SECTION,
                     intro=README_INTRO)  # fmt: skip


if __name__ == "__main__":
    main()
