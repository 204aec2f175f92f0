"""Feature store (issue 3): tether against Feast 0.67 and a bare DuckDB ASOF JOIN, same data.

Usage::

    python benchmarks/features.py [--quick] [--repeats N] [--calls 1000]
                                  [--redis redis://127.0.0.1:6379/0] [--no-readme]

Generates seeded events (1,000,000 rows, 10,000 entities, 90 days; ``--quick``: 50,000 rows,
1,000 entities) and a spine (100,000 rows, 20% at exactly an event time of their entity;
``--quick``: 5,000), see ``_features_data.py``, then runs, each contender in its own process:

* **offline, the case Feast can express**: the latest ``amount``, ``quantity`` and ``category``
  within a 2-day TTL. tether ``FeatureStore.build_training_set`` (DuckDB engine), Feast
  ``get_historical_features`` with its ``file`` (Dask) and ``duckdb`` offline stores, and a
  hand-written DuckDB ``ASOF JOIN`` (the floor). ``--repeats`` rounds, interleaved; each run
  warms up on the spine's first 1,000 rows, then times one call over the whole spine.
* **offline, windowed aggregations** (count, sum and mean of amount over 1d, 7d and 30d, which
  Feast's offline stores cannot express): tether on DuckDB and on Spark (local[2]).
* **online**: p50/p99 of ``--calls`` single-key calls (after 100 untimed ones) at the end of the
  data: tether on SQLite (in process) and on Redis, Feast ``get_online_features`` on SQLite.

Every output is checked against a numpy oracle (``searchsorted`` over sorted events) and
against each other. tether uses only events strictly before t and Feast includes an event at
exactly t, so the spine rows on an event time are compared separately: there they must differ.
Feast runs in its own virtual environment, ``benchmarks/.work/feast-venv``, created here if
missing (its pins differ from tether's). Prints the tables and ratios; the full run (not
``--quick``) writes them into ``benchmarks/README.md`` unless ``--no-readme``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _features_agreement import (
    checks_table,
    last_checks,
    online_checks,
    order_kept,
    window_checks,
)
from _features_data import END, FULL, QUICK, SEED, TTL_US, Oracle, Sizes, make_data, micros
from _features_measure import Measured, WorkerError, ensure_feast_venv, run_worker
from _features_report import SCRIPT, SECTION, median_and_runs, percentiles
from _readme import table, write_readme

BENCHMARKS = Path(__file__).resolve().parent
WORK = BENCHMARKS / ".work"
RUNS = WORK / "runs"
TETHER = (Path(sys.executable), BENCHMARKS / "_features_worker.py")
WARMUP_CALLS = 100
TETHER_LAST = "tether (DuckDB)"
FEAST_FILE = "Feast, file offline store (Dask)"
FEAST_DUCKDB = "Feast, duckdb offline store"
ASOF = "DuckDB ASOF JOIN (floor)"
SQLITE = "tether, SQLite (in process)"
REDIS = "tether, Redis (127.0.0.1)"
TARGET_FEAST_DUCKDB = 1.5
TARGET_ASOF = 2.0
TARGET_P99_MS = {SQLITE: 1.0, REDIS: 2.0}
LOAD_SAMPLES: list[float] = []
"""The 1-minute load average before each contender's run."""
README_INTRO = """\
`benchmarks/features.py` (helpers `benchmarks/_features_*.py`; Feast's side in
`benchmarks/_feast_worker.py`, run by Feast's own venv): what runs is in its docstring. The
block between the markers is written by the script; the text after it is written by hand."""


@dataclass(frozen=True)
class Contender:
    """One thing to time: a label, the worker task, and the python and script running it."""

    label: str
    task: str
    python: Path
    script: Path
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Runs:
    """The runs of one contender, or why it failed."""

    contender: Contender
    measured: list[Measured] = field(default_factory=list)
    error: str | None = None

    @property
    def output(self) -> Path:
        """The Parquet output of its last run."""
        return RUNS / f"{self.contender.task}.parquet"

    @property
    def result(self) -> dict[str, Any]:
        """The result of its last run."""
        return self.measured[-1].result

    @property
    def seconds(self) -> list[float]:
        """The timed seconds of each run."""
        return [float(m.result["seconds"]) for m in self.measured]

    @property
    def median(self) -> float:
        """The median time of its runs."""
        return statistics.median(self.seconds)

    @property
    def peak_mib(self) -> float:
        """The largest peak memory of its runs."""
        return max(m.peak_mib for m in self.measured)


def outputs(runs: list[Runs]) -> dict[str, Path]:
    """The output of each contender that ran, by label."""
    return {entry.contender.label: entry.output for entry in runs if entry.measured}


def run_once(entry: Runs, base: dict[str, Any]) -> None:
    """Run ``entry``'s contender once; record the measurement or the failure."""
    LOAD_SAMPLES.append(os.getloadavg()[0])
    task = entry.contender.task
    config = {
        **base,
        **entry.contender.settings,
        "task": task,
        "out": str(entry.output),
        "result": str(RUNS / f"{task}.json"),
    }
    config_path = RUNS / f"{task}.config.json"
    config_path.write_text(json.dumps(config))
    argv = [str(entry.contender.python), str(entry.contender.script), str(config_path)]
    try:
        has_children = task == "tether-windows-spark"
        measured = run_worker(
            argv, RUNS / f"{task}.json", RUNS / f"{task}.log", has_children=has_children
        )
    except WorkerError as exc:
        entry.error = str(exc).splitlines()[-1][:200]
        print(f" FAILED\n{exc}", flush=True)
        return
    entry.measured.append(measured)
    shown = measured.result.get("seconds", measured.result.get("materialize_seconds"))
    print(f" {shown:.2f} s, peak {measured.peak_mib:,.0f} MiB", flush=True)


def run_rounds(contenders: list[Contender], repeats: int, base: dict[str, Any]) -> list[Runs]:
    """Run every contender ``repeats`` times, interleaved round by round."""
    runs = [Runs(contender) for contender in contenders]
    RUNS.mkdir(parents=True, exist_ok=True)
    for round_number in range(1, repeats + 1):
        for entry in runs:
            if entry.error is None:
                label = entry.contender.label
                print(f"  {label}, run {round_number}/{repeats} ...", end="", flush=True)
                run_once(entry, base)
    return runs


def tether_online_problems(redis_url: str) -> dict[str, str]:
    """Why a tether online contender cannot run, by label (empty when both can)."""
    from _features_worker import online_classes

    try:
        online_classes()
    except ImportError as exc:
        reason = f"tether's online store does not import yet ({exc})"
        return {SQLITE: reason, REDIS: reason}
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        return {REDIS: f"Redis at {redis_url} unreachable ({exc})"}
    return {}


def failed(entry: Runs, width: int) -> list[str] | None:
    """A table row saying why ``entry`` has no numbers, or None if it has some."""
    if entry.measured:
        return None
    return [entry.contender.label, f"failed: {entry.error}", *[""] * (width - 2)]


def offline_table(runs: list[Runs], rows: int) -> str:
    """The "last within TTL" table, each contender's time relative to tether's."""
    tether = next((e.median for e in runs if e.contender.label == TETHER_LAST and e.measured), 0)
    lines = []
    for entry in runs:
        lines.append(
            failed(entry, 7)
            or [
                entry.contender.label,
                median_and_runs(entry.seconds),
                f"{entry.result['rows']:,}",
                f"{rows / entry.median:,.0f}",
                f"{entry.result['rss_before_mib']:,.0f}",
                f"{entry.peak_mib:,.0f}",
                f"{entry.median / tether:.2f}" if tether else "",
            ]
        )
    header = ["contender", "median s (runs)", "rows out", "spine rows/s", "RSS before MiB"]
    return table([*header, "peak RSS MiB", "time / tether"], lines)


def windows_table(runs: list[Runs], rows: int) -> str:
    """The windowed-aggregation table."""
    lines = [
        failed(entry, 5)
        or [
            entry.contender.label,
            median_and_runs(entry.seconds),
            f"{rows / entry.median:,.0f}",
            f"{entry.result['rss_before_mib']:,.0f}",
            f"{entry.peak_mib:,.0f}",
        ]
        for entry in runs
    ]
    header = ["engine", "median s (runs)", "spine rows/s", "RSS before MiB", "peak RSS MiB"]
    return table(header, lines)


def _latency_cells(latencies: dict[str, list[float]]) -> list[str]:
    p50, p99, worst = percentiles(latencies["wall"])
    cpu_p50, cpu_p99, _ = percentiles(latencies["cpu"])
    return [f"{p50:.3f}", f"{p99:.3f}", f"{worst:.2f}", f"{cpu_p50:.3f}", f"{cpu_p99:.3f}"]


def online_table(runs: list[Runs], skipped: dict[str, str]) -> str:
    """The online latency table: as materialized, and (tether) after compaction."""
    lines = [[label, f"skipped: {reason}", *[""] * 7] for label, reason in skipped.items()]
    for entry in runs:
        if (row := failed(entry, 9)) is not None:
            lines.append(row)
            continue
        result = entry.result
        materialize = f"{result['materialize_seconds']:.1f}"
        peak = f"{entry.peak_mib:,.0f}"
        lines.append(
            [entry.contender.label, materialize, *_latency_cells(result["latencies_ms"]), peak]
        )
        if "compacted_latencies_ms" in result:
            how = result["compact_label"]
            seconds = f"{result['compact_seconds']:.1f}"
            cells = _latency_cells(result["compacted_latencies_ms"])
            lines.append([f"{entry.contender.label}, {how}", seconds, *cells, ""])
    header = ["contender", "materialize (compact) s", "p50 ms", "p99 ms", "max ms", "CPU p50 ms"]
    return table([*header, "CPU p99 ms", "peak RSS MiB"], lines)


def _ratio_line(what: str, slower: Runs, faster: Runs, target: str, met: bool | None) -> str:
    """``what``: the ratio of medians, the verdict, and the ratio within each round."""
    rounds = ", ".join(f"{a / b:.2f}" for a, b in zip(slower.seconds, faster.seconds, strict=False))
    verdict = "" if met is None else (": met" if met else ": MISSED")
    ratio = slower.median / faster.median
    return f"- {what}: {ratio:.2f}x ({target}){verdict}; within each round {rounds}"


def target_lines(last: list[Runs], online: list[Runs]) -> list[str]:
    """Each target, the measured value and whether it is met."""
    runs = {e.contender.label: e for e in last if e.measured}
    lines = []
    tether, feast, asof = runs.get(TETHER_LAST), runs.get(FEAST_DUCKDB), runs.get(ASOF)
    if tether and feast:
        met = feast.median / tether.median >= TARGET_FEAST_DUCKDB
        what = "Feast duckdb store time / tether time"
        lines.append(_ratio_line(what, feast, tether, "target >= 1.5x", met))
    if tether and asof:
        met = tether.median / asof.median <= TARGET_ASOF
        what = "tether time / ASOF floor time"
        lines.append(_ratio_line(what, tether, asof, "target <= 2x", met))
    if tether and FEAST_FILE in runs:
        what = "Feast file store time / tether time"
        lines.append(_ratio_line(what, runs[FEAST_FILE], tether, "no target", None))
    for entry in online:
        target = TARGET_P99_MS.get(entry.contender.label)
        if target is None or not entry.measured:
            continue
        compacted = f", {entry.result['compact_label']}"
        for suffix, key in (("", "latencies_ms"), (compacted, "compacted_latencies_ms")):
            p99 = percentiles(entry.result[key]["wall"])[1]
            verdict = "met" if p99 < target else f"MISSED by {p99 - target:.2f} ms"
            label = entry.contender.label + suffix
            lines.append(f"- {label}: p99 {p99:.3f} ms (target < {target:g} ms): {verdict}")
    return lines


def versions(feast_version: str) -> str:
    """The versions of the libraries that did the work."""
    import duckdb
    import pyspark

    return (
        f"Python {platform.python_version()}, pandas {pd.__version__}, DuckDB "
        f"{duckdb.__version__}, PySpark {pyspark.__version__} (tether's venv); Feast "
        f"{feast_version} on pandas 2 (its own venv)"
    )


@dataclass
class Session:
    """Everything one run of the benchmark needs and gathers."""

    sizes: Sizes
    repeats: int
    calls: int
    events: Path
    spine: Path
    base: dict[str, Any]
    feast: tuple[Path, Path]
    load: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


def prepare(arguments: argparse.Namespace) -> Session:
    """Make Feast's venv and the data; pick the online keys."""
    sizes: Sizes = QUICK if arguments.quick else FULL
    load = [os.getloadavg()[0]]
    started = time.perf_counter()
    feast_python = ensure_feast_venv(WORK / "feast-venv")
    data = WORK / ("features-quick" if arguments.quick else "features-full")
    events, spine = make_data(data, sizes)
    print(f"data: {sizes.events:,} events, {sizes.entities:,} entities, {sizes.spine:,} spine rows")
    keys = np.random.default_rng(SEED + 2).integers(
        0, sizes.entities, arguments.calls + WARMUP_CALLS
    )
    base = {
        "events": str(events),
        "spine": str(spine),
        "work": str(RUNS),
        "ttl_seconds": TTL_US // 1_000_000,
        "end_us": END.value // 1_000,
        "warmup_rows": 1_000,
        "warmup_keys": keys[:WARMUP_CALLS].tolist(),
        "online_keys": keys[WARMUP_CALLS:].tolist(),
        "redis": arguments.redis,
    }
    repeats = arguments.repeats or (1 if arguments.quick else 3)
    feast = (feast_python, BENCHMARKS / "_feast_worker.py")
    return Session(sizes, repeats, arguments.calls, events, spine, base, feast, load, started)


def run_all(session: Session, redis_url: str) -> tuple[list[Runs], list[Runs], list[Runs], dict]:
    """The three parts: offline "last", offline windows, online."""
    print("offline, latest value within the TTL:")
    last = run_rounds(
        [
            Contender(TETHER_LAST, "tether-last", *TETHER),
            Contender(FEAST_FILE, "feast-file", *session.feast, {"offline_store": "file"}),
            Contender(FEAST_DUCKDB, "feast-duckdb", *session.feast, {"offline_store": "duckdb"}),
            Contender(ASOF, "asof", *TETHER),
        ],
        session.repeats,
        session.base,
    )
    print("offline, windowed aggregations:")
    windows = run_rounds(
        [
            Contender("tether, DuckDB", "tether-windows-duckdb", *TETHER),
            Contender("tether, Spark local[2]", "tether-windows-spark", *TETHER),
        ],
        session.repeats,
        session.base,
    )
    print("online, single-key vectors:")
    skipped = tether_online_problems(redis_url)
    for label, reason in skipped.items():
        print(f"  {label}: SKIPPED, {reason}")
    candidates = [
        Contender(SQLITE, "tether-online-sqlite", *TETHER),
        Contender(REDIS, "tether-online-redis", *TETHER),
        Contender("Feast, SQLite online store", "feast-online", *session.feast),
    ]
    online = run_rounds([c for c in candidates if c.label not in skipped], 1, session.base)
    return last, windows, online, skipped


def report(
    session: Session, command: str, parts: tuple[list[Runs], list[Runs], list[Runs], dict]
) -> str:
    """The Markdown block: command, conditions, tables, targets, agreement."""
    last, windows, online, skipped = parts
    session.load.append(os.getloadavg()[0])
    minutes = (time.perf_counter() - session.started) / 60
    spine = pd.read_parquet(session.spine)
    oracle = Oracle(pd.read_parquet(session.events))
    entity, t_us = spine["entity_id"].to_numpy(), micros(spine["event_timestamp"])
    on_event = int(oracle.on_event(entity, t_us).sum())
    feast_version = next(
        (
            e.result["feast_version"]
            for e in last + online
            if e.measured and "feast_version" in e.result
        ),
        "(not run)",
    )
    checks = last_checks(outputs(last), TETHER_LAST, spine, oracle)
    checks += window_checks(outputs(windows), spine, oracle)
    checks += online_checks(outputs(online), oracle)
    sizes = session.sizes
    loads = LOAD_SAMPLES or session.load
    conditions = (
        f"Data: {sizes.events:,} events, {sizes.entities:,} entities, {sizes.spine:,} spine "
        f"rows ({on_event:,} at an event time of their entity). {session.repeats} interleaved "
        f"run(s) per offline contender; {session.calls:,} timed online calls. "
        f"{versions(feast_version)}. Load average {session.load[0]:.1f} at the start, "
        f"{session.load[-1]:.1f} at the end, {min(loads):.1f} to {max(loads):.1f} before the "
        f"contenders' runs; the whole run took {minutes:.0f} minutes."
    )
    return "\n\n".join(
        [
            f"```\n{command}\n```",
            textwrap.fill(conditions, 96, break_on_hyphens=False),
            "**Offline: latest value of 3 columns within a 2-day TTL**",
            offline_table(last, sizes.spine),
            "**Offline: windowed aggregations** (count, sum, mean of amount; 1d, 7d, 30d)",
            windows_table(windows, sizes.spine),
            "**Online: one entity per call, at the end of the data** (milliseconds)",
            online_table(online, skipped),
            "**Targets**",
            "\n".join(target_lines(last, online)),
            "**Agreement** (oracle: numpy `searchsorted` over the sorted events)",
            checks_table(checks),
            f"Spine order kept: {order_kept(outputs(last + windows), spine)}.",
        ]
    )


def main() -> None:
    """Generate the data, run every contender, check agreement, print and record the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="offline rounds (3; quick 1)")
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-readme", action="store_true", help="do not write the README")
    arguments = parser.parse_args()
    command = shlex.join([".venv/bin/python", "benchmarks/features.py", *sys.argv[1:]])
    session = prepare(arguments)
    parts = run_all(session, arguments.redis)
    block = report(session, command, parts)
    print(f"\n{block}")
    if not arguments.quick and not arguments.no_readme:
        readme = BENCHMARKS / "README.md"
        write_readme(readme, block, script=SCRIPT, section=SECTION, intro=README_INTRO)
        print("\nwrote benchmarks/README.md")


if __name__ == "__main__":
    main()
