"""Start-up (issue 9): how long tether's commands and its server take to start, and MLflow's.

Usage::

    python benchmarks/startup.py [--runs 5] [--before SRC] [--no-readme]

Measured on one trained, deployed and materialized fraud project (``tether init
--transactions 20000``): ``tether --help``, ``tether models status``, ``import tether.server``
(each a fresh process, the median of ``--runs``), and a server process from its start to the
first 200 on its readiness path: ``tether serve`` (``/readyz``: the champion loaded, its
manifest verified, the stores reached) against ``mlflow models serve --env-manager local`` on
the same registered version (``/ping``), the median of ``--runs`` // 2 + 1 starts each.

``--before SRC`` measures another checkout's ``src`` folder too (for example the commit before
issue 9, ``git worktree add /tmp/before f89e88e`` then ``--before /tmp/before/src``), on a
project built by that code, so a before/after table comes from one run on one machine. The
full run writes its table into ``benchmarks/README.md`` unless ``--no-readme``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _readme import table, write_readme
from _serving_servers import HOST, free_port, get

BENCHMARKS = Path(__file__).resolve().parent
SRC = BENCHMARKS.parent / "src"
WORK = BENCHMARKS / ".work" / "startup"
PYTHON = Path(sys.executable)
MLFLOW = PYTHON.parent / "mlflow"
TRANSACTIONS = 20_000
READY_TIMEOUT_S = 180.0
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@dataclass(frozen=True)
class Code:
    """One version of tether's code: a label and its ``src`` folder."""

    label: str
    src: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process running this code (its sources first on the path)."""
        path = f"{PYTHON.parent}:{os.environ.get('PATH', '')}"  # mlflow execs the venv's uvicorn
        return {**os.environ, **QUIET, "PYTHONPATH": str(self.src), "PATH": path, **extra}


def tether(*args: str) -> list[str]:
    """The argv of ``tether ARGS`` (the code is chosen by the process's ``PYTHONPATH``)."""
    return [str(PYTHON), "-m", "tether", *args]


def _run(argv: list[str], code: Code, cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, env=code.env(), capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")


def build_project(code: Code, folder: Path) -> Path:
    """A trained project with version 1 deployed as champion and the online store filled."""
    marker = folder / ".tether" / "startup-ready"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _run(tether("init", str(folder), "--transactions", str(TRANSACTIONS)), code, WORK)
    for args in (
        ("train",),
        ("models", "deploy", "1", "--as", "champion", "--reason", "startup benchmark"),
        ("features", "materialize"),
    ):
        _run(tether(*args), code, folder)
    marker.write_text("ok\n")
    return folder


def median_seconds(argv: list[str], code: Code, cwd: Path, runs: int) -> float:
    """The median wall time of ``runs`` fresh processes of ``argv``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        _run(argv, code, cwd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seconds_to_ready(
    argv: list[str], env: dict[str, str], cwd: Path, path: str, port: int
) -> float:
    """Wall time from starting ``argv`` to the first 200 on ``path``; the server is stopped."""
    log = (WORK / f"server-{port}.log").open("wb")
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        while time.perf_counter() - start < READY_TIMEOUT_S:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[:4]} exited; see {log.name}")
            try:
                status, _ = get(f"http://{HOST}:{port}{path}", timeout=1.0)
            except OSError:
                status = 0
            if status == 200:
                return time.perf_counter() - start
            time.sleep(0.05)
        raise RuntimeError(f"{argv[:4]} not ready after {READY_TIMEOUT_S:.0f} s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(10)
        log.close()


def measure(code: Code, project: Path, runs: int) -> dict[str, float]:
    """Every start-up time of ``code`` on ``project``, in seconds."""
    starts = runs // 2 + 1
    port = free_port()
    serve = tether("serve", "--port", str(port), "--no-access-log")
    return {
        "tether --help": median_seconds(tether("--help"), code, project, runs),
        "tether models status": median_seconds(tether("models", "status"), code, project, runs),
        "import tether.server": median_seconds(
            [str(PYTHON), "-c", "import tether.server"], code, project, runs
        ),
        "tether serve to /readyz 200": statistics.median(
            seconds_to_ready(serve, code.env(), project, "/readyz", port) for _ in range(starts)
        ),
    }


def mlflow_ready(code: Code, project: Path, runs: int) -> float:
    """``mlflow models serve`` on the project's version 1, start to the first ``/ping`` 200."""
    port = free_port()
    argv = [str(MLFLOW), "models", "serve", "-m", "models:/fraud-detector/1", "--env-manager",
            "local", "--host", HOST, "--port", str(port)]  # fmt: skip
    env = code.env(MLFLOW_TRACKING_URI=f"sqlite:///{project / '.tether' / 'mlflow.db'}")
    starts = (seconds_to_ready(argv, env, project, "/ping", port) for _ in range(runs // 2 + 1))
    return statistics.median(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another checkout's src folder")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    codes = [Code("after", SRC)]
    if args.before:
        codes.insert(0, Code("before", args.before.resolve()))
    results: dict[str, dict[str, float]] = {}
    projects: dict[str, Path] = {}
    for code in codes:
        projects[code.label] = build_project(code, WORK / f"project-{code.label}")
        print(f"measuring {code.label} ({code.src})", flush=True)
        results[code.label] = measure(code, projects[code.label], args.runs)
    after = codes[-1]
    peer = mlflow_ready(after, projects[after.label], args.runs)
    rows = []
    for name in results[after.label]:
        cells = [name] + [f"{results[c.label][name]:.2f} s" for c in codes]
        if args.before:
            cells.append(f"{results['before'][name] / results['after'][name]:.1f}x")
        rows.append(cells)
    header = ["what", *(c.label for c in codes)] + (["before / after"] if args.before else [])
    lines = [table(header, rows)]
    ready = results[after.label]["tether serve to /readyz 200"]
    lines.append(
        f"\n`mlflow models serve --env-manager local` on the same version, start to `/ping` "
        f"200: {peer:.2f} s; tether's server start-up is {ready / peer:.2f}x MLflow's "
        "(tether also verifies the model's manifest and reaches the online store and the log)."
    )
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    starts = args.runs // 2 + 1
    lines.append(f"\nMedians of {args.runs} processes ({starts} server starts); {machine}.")
    block = "\n".join(lines)
    print(block)
    if not args.no_readme:
        write_readme(
            BENCHMARKS / "README.md",
            block,
            script="startup.py",
            section="## Start-up (issue 9)",
            intro="`python benchmarks/startup.py --before /tmp/before/src` (see its docstring).",
        )


if __name__ == "__main__":
    main()
