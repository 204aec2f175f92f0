"""Running one contender of the feature-store benchmark: a subprocess, timed and watched.

Each contender runs in its own process (tether's venv or Feast's), so that its peak memory is
its own and no contender warms a cache for another. The worker times its own operation and
writes a JSON result, with its own ``ru_maxrss``. A worker that starts child processes (Spark's
JVM) is also watched from outside: the parent sums the resident memory of the worker's process
tree every 50 ms through ``/proc``. Finding the tree means reading every process's ``stat``
(about 10 ms of CPU), so it is refreshed once a second, not at every poll; other workers are
not polled from outside at all, so that the watcher never competes with a timed call for one
of the two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FEAST_REQUIREMENT = "feast[duckdb]==0.67.0"
FEAST_FALLBACK = ("feast==0.67.0", "duckdb")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_MIB = 1 << 20


def _children() -> dict[int, list[int]]:
    """Every process's children, by parent id (one scan of ``/proc``)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; the parent id follows its ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    tree = _children()
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += tree.get(pid, [])
    return found


def rss_bytes(pids: list[int]) -> int:
    """Resident bytes of ``pids`` together (processes already gone count 0)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_rss_bytes(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants."""
    return rss_bytes(descendants(root))


@dataclass
class Measured:
    """What one worker run reported, plus the peak memory seen from outside."""

    result: dict[str, Any]
    peak_mib: float
    wall_seconds: float
    log: Path = field(repr=False)


class WorkerError(RuntimeError):
    """A worker exited non-zero; the message ends with the tail of its log."""


def run_worker(
    argv: list[str], result_path: Path, log_path: Path, *, has_children: bool = False
) -> Measured:
    """Run ``argv`` and return its JSON result (written to ``result_path``); poll the memory of
    its process tree if it ``has_children``."""
    result_path.unlink(missing_ok=True)
    peak = 0
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def poll() -> None:
            nonlocal peak
            pids, refreshed = [process.pid], 0.0
            while not done.is_set():
                if time.monotonic() - refreshed >= 1.0:
                    pids, refreshed = descendants(process.pid), time.monotonic()
                peak = max(peak, rss_bytes(pids))
                done.wait(0.05)

        watcher = threading.Thread(target=poll, daemon=True)
        if has_children:
            watcher.start()
        code = process.wait()
        done.set()
        if has_children:
            watcher.join()
    wall = time.perf_counter() - started
    if code != 0 or not result_path.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise WorkerError(f"{' '.join(argv[:3])} exited with {code}; log {log_path}:\n{tail}")
    result = json.loads(result_path.read_text())
    own_peak = float(result.get("maxrss_mib", 0.0))
    return Measured(result, max(peak / _MIB, own_peak), wall, log_path)


def _pip(venv: Path, *requirements: str) -> None:
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
        check=True,
    )


def _feast_ready(python: Path) -> bool:
    probe = "import feast, duckdb, ibis; assert feast.__version__ == '0.67.0'"
    return python.exists() and subprocess.run([str(python), "-c", probe]).returncode == 0


def ensure_feast_venv(venv: Path) -> Path:
    """Create Feast's own virtual environment if it is missing; return its python.

    ``feast[duckdb]`` (Feast's DuckDB offline store, through Ibis) is tried first; if that
    does not give an importable ``duckdb`` and ``ibis``, Feast and DuckDB are installed apart.
    """
    python = venv / "bin" / "python"
    if _feast_ready(python):
        return python
    print(f"creating {venv} and installing {FEAST_REQUIREMENT} (a few minutes)", flush=True)
    if not python.exists():
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
    _pip(venv, "--upgrade", "pip")
    _pip(venv, FEAST_REQUIREMENT)
    if not _feast_ready(python):
        _pip(venv, *FEAST_FALLBACK)
    if not _feast_ready(python):
        sys.exit(f"{venv}: feast 0.67.0 with duckdb and ibis could not be installed")
    return python


def rss_mib() -> float:
    """This process tree's resident memory now, in MiB."""
    return tree_rss_bytes(os.getpid()) / _MIB


def max_rss_mib() -> float:
    """This process's peak resident memory so far (``ru_maxrss``), in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
