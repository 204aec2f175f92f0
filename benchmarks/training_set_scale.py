"""Training sets at scale: a 1,000,000-row spine against 10,000,000 events, time and memory.

Usage::

    python benchmarks/training_set_scale.py [--events 10000000] [--spine 1000000]
                                            [--entities 100000] [--memory-limit 8GB]
                                            [--check 20000]

Issue 3 asks that a spine of 1 million rows against 10 million events works within this
24 GiB machine and that its peak memory is measured. The data is the feature benchmark's
(``_features_data.py``: seeded events over 90 days, 20% of the spine on an event time),
scaled up with the same density per entity (100 events each). Written once to
``benchmarks/.work/scale-<events>-<spine>/`` and reused.

Each view (the windowed one, count/sum/mean of amount over 1d/7d/30d, and the ``last``
within a 2-day TTL one) is built in its own child process, so that its peak resident memory
(``VmHWM``) is its own: the interpreter, the spine, DuckDB's working memory and the
result. DuckDB runs with ``--memory-limit`` and a spill folder, as a user with a larger job
would run it. The child checks the result has every spine row in the spine's order and
compares ``--check`` random rows with the numpy oracle. No peer: Feast's stores are compared
at the 1M-event scale in ``features.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _features_data import LAST_COLUMNS, Oracle, Sizes, last_name, make_data, micros, window_names
from _features_report import agreeing, present
from _features_worker import TIMESTAMP, last_view, windows_view

from tether.features import DuckDBEngine, FeatureStore

WORK = Path(__file__).resolve().parent / ".work"
VIEWS = {"windows": windows_view, "last": last_view}


def child(events: Path, spine_path: Path, view_name: str, memory_limit: str, check: int) -> None:
    """Build one view over the whole spine; print a JSON line with what was measured."""
    spine = pd.read_parquet(spine_path)
    before = _peak_mib()
    spill = WORK / "duckdb-spill"
    engine = DuckDBEngine(memory_limit=memory_limit, temp_directory=spill)
    view = VIEWS[view_name](str(events))
    store = FeatureStore([view], engine=engine)
    started = time.perf_counter()
    training = store.build_training_set(spine, TIMESTAMP)
    seconds = time.perf_counter() - started
    peak = _peak_mib()
    order_kept = bool((training["row_id"].to_numpy() == spine["row_id"].to_numpy()).all())
    agree = _agreement(events, spine, training, view_name, check)
    result = {
        "view": view_name,
        "seconds": seconds,
        "rows": len(training),
        "order_kept": order_kept,
        "rss_before_mib": before,
        "peak_mib": peak,
        "checked": check,
        "agreeing": agree,
    }
    print(json.dumps(result), flush=True)


def _agreement(
    events_path: Path, spine: pd.DataFrame, training: pd.DataFrame, view: str, check: int
) -> int:
    """How many of ``check`` random rows equal the oracle in every feature."""
    rows = np.random.default_rng(7).choice(len(spine), size=min(check, len(spine)), replace=False)
    columns = ["event_id", "entity_id", "event_time", *LAST_COLUMNS]
    oracle = Oracle(pd.read_parquet(events_path, columns=columns))
    entity = spine["entity_id"].to_numpy()[rows]
    t_us = micros(spine[TIMESTAMP].iloc[rows])
    if view == "windows":
        expected, names = oracle.windows(entity, t_us), window_names()
    else:
        expected = oracle.last(entity, t_us, inclusive=False)
        names = [last_name(c) for c in LAST_COLUMNS]
    got = training.iloc[rows].reset_index(drop=True)
    return int(agreeing(present(got), present(expected), names).sum())


def _peak_mib() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, not inherited
    from the parent that forked it, which held the generated data)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--spine", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--check", type=int, default=20_000)
    parser.add_argument("--child", nargs=2, metavar=("VIEW", "FOLDER"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        view, folder = arguments.child
        events, spine = Path(folder) / "events.parquet", Path(folder) / "spine.parquet"
        child(events, spine, view, arguments.memory_limit, arguments.check)
        return
    folder = WORK / f"scale-{arguments.events}-{arguments.spine}"
    sizes = Sizes(events=arguments.events, entities=arguments.entities, spine=arguments.spine)
    if not (folder / "spine.parquet").exists():
        started = time.perf_counter()
        make_data(folder, sizes)
        print(f"generated {sizes} in {time.perf_counter() - started:.0f} s", flush=True)
    print(
        f"{platform.python_version()}, DuckDB engine, memory_limit {arguments.memory_limit}, "
        f"load average {os.getloadavg()[0]:.1f} at the start",
        flush=True,
    )
    print(
        "| view | seconds | spine rows/s | rows out | order kept | RSS before MiB | "
        "peak RSS MiB | agree with oracle |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for view in VIEWS:
        command = [sys.executable, __file__, "--child", view, str(folder)]
        command += ["--memory-limit", arguments.memory_limit, "--check", str(arguments.check)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        r = json.loads(output.strip().splitlines()[-1])
        print(
            f"| {r['view']} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
            f"{r['rows']:,} | {'yes' if r['order_kept'] else 'NO'} | {r['rss_before_mib']:,.0f} | "
            f"{r['peak_mib']:,.0f} | {r['agreeing']:,} of {r['checked']:,} |",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
