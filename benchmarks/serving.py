"""Serving (issue 4): tether's prediction server against ``mlflow models serve`` and a bare floor.

Usage::

    python benchmarks/serving.py [--quick] [--rounds 3] [--requests 2000] [--warmup 200]
                                 [--concurrency 8 32] [--time-cap 90] [--contenders KEYS]
                                 [--no-readme]

One fraud model (version 1 of a project trained by ``tether train`` on 200,000 generated
payments, see ``_serving_project.py``), the same single-row requests (its held-out rows),
the same load generator (``_serving_load.py``: closed-loop keep-alive clients, one request
at a time each), on 127.0.0.1, every server one uvicorn worker pinned to core 0 and the load
generator pinned to core 1. The contenders (``--contenders``, comma-separated keys):

* ``solo``: ``tether serve``, champion only (every prediction logged: logging is always on);
* ``shadow``: ``tether serve``, champion + shadow (version 3);
* ``full``: ``tether serve``, champion + shadow + challenger (version 2) on a sticky 10% of
  units; the issue's scenario 2;
* ``mlflow``: ``mlflow models serve --env-manager local -m models:/fraud-detector/1``;
* ``floor``: a bare FastAPI endpoint calling ``predict_proba`` on a NumPy row (the floor);
* ``floor-frame``: the same endpoint handing the model a one-row DataFrame (a reference);

First, every server's answers to the first requests are checked against the model run in this
process (tether and the floor: the probability of the version that answered; MLflow: the class
``predict`` gives, its pyfunc's method as tether logged the model). Then ``--rounds`` rounds:
each round runs every contender at every concurrency, in an order rotated by one per round;
a run is ``--warmup`` untimed requests, then ``--requests`` timed ones, capped at
``--time-cap`` seconds. After each run the benchmark waits (bounded) until the server is idle,
so that a shadow backlog neither competes with the next contender nor escapes the server's
CPU count. Then in-process measurements (``_serving_inprocess.py``): the model call alone,
the router and the ASGI app layer by layer, the shadow's enqueue cost, a cProfile breakdown.

Prints the tables; the full run (not ``--quick``) writes them into ``benchmarks/README.md``
unless ``--no-readme``. Raw results and logs go to ``benchmarks/.work/serving/runs/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
from _readme import write_readme
from _serving_project import MODEL, Projects, ensure_projects, request_rows, write_bodies
from _serving_report import (
    SCRIPT,
    SECTION,
    Cell,
    inprocess_tables,
    results_table,
    shadow_rows,
    target_rows,
    targets_table,
)
from _serving_servers import (
    PYTHON,
    SERVER_CORE,
    Server,
    ServerSpec,
    metric_totals,
    post,
    run_load,
    start,
    wait_ready,
)

import tether
from tether.registry import EventLog
from tether.serving import load_version

BENCHMARKS = Path(__file__).resolve().parent
WORK = BENCHMARKS / ".work" / "serving"
TETHER_CLI = str(PYTHON.with_name("tether"))
MLFLOW_CLI = str(PYTHON.with_name("mlflow"))
TRANSACTIONS = 200_000
AGREEMENT_ROWS = 200
FLOOR_LABEL = "floor: FastAPI + predict_proba(ndarray)"
FRAME_LABEL = "FastAPI + predict_proba(DataFrame)"
TETHER_METRICS = [
    "tether_model_predictions_total",
    "tether_shadow_dropped_total",
    "tether_prediction_log_dropped_total",
    "tether_challenger_fallbacks_total",
]
README_INTRO = """
`benchmarks/serving.py`: tether's prediction server (`tether serve`, one uvicorn worker)
against MLflow's scoring server (`mlflow models serve --env-manager local`, one worker) and a
bare FastAPI endpoint around the same model (the floor), on the same single-row requests from
the same load generator, at concurrency 8 and 32. Each server is pinned to core 0 and the load
generator to core 1 (`taskset`); rounds are interleaved and each cell is the median of the
rounds (each round in brackets). See the script's docstring for the contenders and the method.
"""


def specs(projects: Projects) -> dict[str, ServerSpec]:
    """Every contender, by key."""

    def tether_serve(key: str, label: str) -> ServerSpec:
        argv = [TETHER_CLI, "-C", str(projects.layout(key)), "serve", "--port", "{port}"]
        return ServerSpec(key, label, argv, "/v1/predict", "/readyz", "tether",
                          metrics_path="/metrics")  # fmt: skip

    def app(key: str, label: str, *extra: str) -> ServerSpec:
        argv = [str(PYTHON), str(BENCHMARKS / "_serving_apps.py"), *extra, "--port", "{port}"]
        return ServerSpec(key, label, argv, "/predict", "/readyz", "tether")

    mlflow_argv = [MLFLOW_CLI, "models", "serve", "--env-manager", "local", "-m",
                   f"models:/{MODEL}/1", "--port", "{port}", "-w", "1"]  # fmt: skip
    tracking = {"MLFLOW_TRACKING_URI": f"sqlite:///{projects.base / '.tether' / 'mlflow.db'}"}
    mlflow = ServerSpec("mlflow", "mlflow models serve", mlflow_argv, "/invocations", "/ping",
                        "mlflow", tracking)  # fmt: skip
    base = str(projects.base)
    return {
        "solo": tether_serve("solo", "tether: champion"),
        "shadow": tether_serve("shadow", "tether: champion + shadow"),
        "full": tether_serve("full", "tether: champion + shadow + 10% challenger"),
        "mlflow": mlflow,
        "floor": app("floor", FLOOR_LABEL, "floor", "--project", base),
        "floor-frame": app("floor-frame", FRAME_LABEL, "floor", "--project", base, "--frame"),
    }


@dataclass(frozen=True)
class Expected:
    """What the model gives for the first request rows, computed in this process."""

    probabilities: dict[str, list[float]]
    """By version: the probability of fraud of each row."""
    labels: list[int]
    """Version 1's ``predict`` of each row (MLflow's pyfunc calls ``predict``)."""


def expected_outputs(projects: Projects, rows: pd.DataFrame) -> Expected:
    """Versions 1 and 2 on the first :data:`AGREEMENT_ROWS` rows."""
    settings = tether.load_settings(projects.base)
    head = rows.head(AGREEMENT_ROWS)
    events = EventLog(settings.store.url)
    models = {
        v: load_version(settings.stores.tracking_uri, MODEL, v, events=events).model
        for v in ("1", "2")
    }
    probabilities = {v: [float(p) for p in m.predict_proba(head)[:, 1]] for v, m in models.items()}
    return Expected(probabilities, [int(label) for label in models["1"].predict(head)])


def agreement(server: Server, bodies: list[str], expected: Expected) -> dict[str, Any]:
    """Send the first rows one by one and compare each answer with ``expected``."""
    checked = matched = challenger = 0
    worst = 0.0
    for i, body in enumerate(bodies[: len(expected.labels)]):
        status, raw = post(server.url + server.spec.predict_path, body.encode())
        checked += 1
        if status != 200:
            continue
        answer = json.loads(raw)
        if server.spec.body_format == "mlflow":
            matched += int(answer["predictions"][0] == expected.labels[i])
            continue
        first = answer["predictions"][0] if "predictions" in answer else answer
        version_ = str(first.get("model_version", "1"))
        challenger += first.get("cohort") == "challenger"
        diff = abs(float(first["prediction"]) - expected.probabilities[version_][i])
        worst = max(worst, diff)
        matched += diff <= 1e-12
    return {"checked": checked, "matched": matched, "challenger": challenger, "max_diff": worst}


def run_inprocess(
    projects: Projects, bodies: Path, calls: int, run_dir: Path, *, pinned: bool = True
) -> dict[str, Any]:
    """The in-process measurements, in a subprocess pinned to the server core; not pinned,
    only the model call (scikit-learn's OpenMP pool then has a thread per core)."""
    name = "inprocess" if pinned else "inprocess-unpinned"
    out = run_dir / f"{name}.json"
    pin = ["taskset", "-c", str(SERVER_CORE)] if pinned else []
    argv = [*pin, str(PYTHON), str(BENCHMARKS / "_serving_inprocess.py"), "--project",
            str(projects.base), "--bodies", str(bodies), "--calls", str(calls), "--out",
            str(out), *([] if pinned else ["--model-call-only"])]  # fmt: skip
    with (run_dir / f"{name}.log").open("w") as log:
        subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=3600)
    found: dict[str, Any] = json.loads(out.read_text())
    return found


@dataclass
class Session:
    """One run's settings and everything it gathers."""

    args: argparse.Namespace
    run_dir: Path
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)
    raw: list[dict[str, Any]] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


def run_rounds(session: Session, servers: dict[str, Server], bodies: dict[str, Path]) -> None:
    """Every contender at every concurrency, ``rounds`` times, rotating the order."""
    args = session.args
    keys = list(servers)
    for round_ in range(args.rounds):
        session.load.append(os.getloadavg()[0])
        order = keys[round_ % len(keys) :] + keys[: round_ % len(keys)]
        for concurrency in args.concurrency:
            for key in order:
                server = servers[key]
                out = session.run_dir / f"load-{key}-c{concurrency}-r{round_}.json"
                result = run_load(server, bodies[server.spec.body_format], concurrency,
                                  args.requests, args.warmup, args.time_cap, out)  # fmt: skip
                result.update(key=key, round=round_)
                session.raw.append(result)
                session.cells.setdefault((key, concurrency), Cell()).add(result)
                print(f"  round {round_ + 1} c={concurrency:<3} {key:<12} "
                      f"{result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.1f} ms  "
                      f"p99 {result['p99_ms']:7.1f} ms  cpu "
                      f"{result['server_cpu_ms_per_request']:6.2f} ms/req  "
                      f"errors {result['errors']}", flush=True)  # fmt: skip
    session.load.append(os.getloadavg()[0])


def versions_line() -> str:
    """The versions that matter here."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=BENCHMARKS, check=False).stdout.strip()  # fmt: skip
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, cwd=BENCHMARKS,
                             check=False).stdout.strip()  # fmt: skip
    if changed:
        commit += " (plus uncommitted work)"
    names = ["mlflow", "fastapi", "uvicorn", "starlette", "pydantic", "scikit-learn", "pandas",
             "numpy"]  # fmt: skip
    packages = ", ".join(f"{name} {version(name)}" for name in names)
    return (f"tether at commit {commit}, Python "
            f"{platform.python_version()}, {packages}; uvicorn on asyncio with h11 (no uvloop, "
            "no httptools installed)")  # fmt: skip


def report(session: Session, labels: dict[str, str], extra: dict[str, Any]) -> str:
    """The Markdown block: command, conditions, tables, targets, agreement, in-process."""
    args = session.args
    minutes = (time.perf_counter() - session.started) / 60
    conditions = (
        f"{args.rounds} round(s) x {len(labels)} contenders x concurrency "
        f"{' and '.join(map(str, args.concurrency))}; {args.requests:,} timed requests per run "
        f"after {args.warmup:,} untimed, capped at {args.time_cap:.0f} s. {versions_line()}. "
        f"Load average {session.load[0]:.1f} at the start, {session.load[-1]:.1f} at the end "
        f"({min(session.load):.1f} to {max(session.load):.1f} at the rounds' starts); the "
        f"whole run took {minutes:.0f} minutes."
    )
    enqueue = extra.get("inprocess", {}).get("enqueue", {}).get("added_cpu_us")
    parts = [
        f"```\n{extra['command']}\n```",
        textwrap.fill(conditions, 96, break_on_hyphens=False),
        "**Requests per second and latency** (median of the rounds; each round in brackets)",
        results_table(session.cells, labels, args.concurrency),
        "**Targets** (requests/s ratio; also the ratio of the servers' CPU per request, i.e. "
        "of what each serves per core-second)",
        targets_table(target_rows(session.cells, args.concurrency, enqueue)),
        "**The shadow, over HTTP** (tether champion alone -> champion + shadow)",
        "\n".join(shadow_rows(session.cells, args.concurrency)),
        "**Agreement** (first requests, one at a time, against the model in the benchmark's "
        "process)",
        agreement_table(extra["agreement"], labels),
        "**tether's counters after the rounds** (`/metrics`)",
        counters_lines(extra["counters"], labels),
    ]
    if "inprocess" in extra:
        parts.append(inprocess_tables(extra["inprocess"]))
    return "\n\n".join(parts)


def agreement_table(found: dict[str, dict[str, Any]], labels: dict[str, str]) -> str:
    """One line per contender."""
    lines = []
    for key, label in labels.items():
        if key not in found:
            continue
        a = found[key]
        what = f"{a['matched']}/{a['checked']} answers equal"
        if key != "mlflow":
            what += f" (max difference {a['max_diff']:.1e}"
            what += f", {a['challenger']} by the challenger)" if a["challenger"] else ")"
        else:
            what += " (class labels)"
        lines.append(f"- {label}: {what}")
    return "\n".join(lines)


def counters_lines(found: dict[str, dict[str, float]], labels: dict[str, str]) -> str:
    """tether's prediction, shadow and drop counters per tether server."""
    lines = []
    for key, counters in found.items():
        shown = ", ".join(f"{name.removeprefix('tether_')} {value:,.0f}"
                          for name, value in sorted(counters.items()))  # fmt: skip
        served = sum(v for k, v in counters.items() if "champion" in k or "challenger}" in k)
        shadowed = counters.get("tether_model_predictions_total{role=shadow}", 0.0)
        if shadowed or counters.get("tether_shadow_dropped_total"):
            shown += f"; **{shadowed / served:.0%} of the requests served were shadowed**"
        lines.append(f"- {labels[key]}: {shown}")
    return "\n".join(lines)


def start_servers(chosen: dict[str, ServerSpec], run_dir: Path) -> dict[str, Server]:
    """Start every server, then wait for each to be ready."""
    servers: dict[str, Server] = {}
    try:
        for key, spec in chosen.items():
            servers[key] = start(spec, run_dir)
        for server in servers.values():
            wait_ready(server)
            print(f"  ready: {server.spec.label} on port {server.port}", flush=True)
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def parse_args() -> argparse.Namespace:
    """The command line (``--quick`` sets small defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run, no README")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (3; quick 1)")
    parser.add_argument("--requests", type=int, default=None, help="timed (2000; quick 300)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed (200; quick 50)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--time-cap", type=float, default=90.0, help="seconds per run")
    parser.add_argument("--inprocess-calls", type=int, default=None, help="(2000; quick 300)")
    parser.add_argument("--contenders", default="solo,shadow,full,mlflow,floor,floor-frame")
    parser.add_argument("--transactions", type=int, default=TRANSACTIONS)
    parser.add_argument("--no-readme", action="store_true", help="do not write the README")
    args = parser.parse_args()
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.requests = args.requests or (300 if quick else 2000)
    args.warmup = args.warmup if args.warmup is not None else (50 if quick else 200)
    args.inprocess_calls = args.inprocess_calls or (300 if quick else 2000)
    return args


def main() -> None:
    """Build the project, start the servers, check them, run the rounds, report."""
    args = parse_args()
    command = shlex.join([".venv/bin/python", "benchmarks/serving.py", *sys.argv[1:]])
    session = Session(args, WORK / "runs" / time.strftime("%Y%m%d-%H%M%S"))
    session.run_dir.mkdir(parents=True)
    session.load.append(os.getloadavg()[0])
    print(f"project (built once, then reused) under {WORK / 'projects'}", flush=True)
    projects = ensure_projects(WORK / "projects", args.transactions)
    settings = tether.load_settings(projects.base)
    events = EventLog(settings.store.url)
    columns = list(load_version(settings.stores.tracking_uri, MODEL, "1", events=events).features)
    rows = request_rows(projects, columns)
    bodies = write_bodies(rows, session.run_dir)
    print(f"{len(rows):,} request rows; run folder {session.run_dir}", flush=True)
    all_specs = specs(projects)
    chosen = {key: all_specs[key] for key in args.contenders.split(",")}
    labels = {key: spec.label for key, spec in chosen.items()}
    expected = expected_outputs(projects, rows)
    extra: dict[str, Any] = {"command": command}
    servers = start_servers(chosen, session.run_dir)
    try:
        tether_lines = bodies["tether"].read_text().splitlines()
        mlflow_lines = bodies["mlflow"].read_text().splitlines()
        extra["agreement"] = {
            key: agreement(s, mlflow_lines if key == "mlflow" else tether_lines, expected)
            for key, s in servers.items()
        }
        print(f"  agreement: {extra['agreement']}", flush=True)
        run_rounds(session, servers, bodies)
        extra["counters"] = {
            key: metric_totals(s, TETHER_METRICS) for key, s in servers.items()
            if s.spec.metrics_path
        }  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
    print("in-process measurements", flush=True)
    extra["inprocess"] = run_inprocess(projects, bodies["tether"], args.inprocess_calls,
                                       session.run_dir)  # fmt: skip
    unpinned = run_inprocess(projects, bodies["tether"], min(args.inprocess_calls, 500),
                             session.run_dir, pinned=False)  # fmt: skip
    extra["inprocess"]["model_call_unpinned"] = unpinned["model_call"]
    extra["inprocess"]["openmp_threads_unpinned"] = unpinned["openmp_threads"]
    session.load.append(os.getloadavg()[0])
    block = report(session, labels, extra)
    (session.run_dir / "results.json").write_text(
        json.dumps({"runs": session.raw, **extra, "load": session.load}, indent=2)
    )
    print("\n" + block)
    if not args.quick and not args.no_readme:
        readme = BENCHMARKS / "README.md"
        write_readme(readme, block, script=SCRIPT, section=SECTION, intro=README_INTRO)
        print(f"\nwritten to benchmarks/README.md, {SECTION}")


if __name__ == "__main__":
    main()
