"""The demo's replay: wall time per phase of six months of the fraud world through the server.

Usage::

    python benchmarks/replay.py [--payments 400000] [--months 6] [--batch 1000]
                                [--folder DIR] [--lookup-sample 1000]

Makes a fraud project of ``--payments`` payments (``tether init``'s scenario, 100 payments per
customer) in ``--folder`` (default: a temporary folder, removed at the end), trains and deploys
version 1 as champion, then replays ``--months`` months from 1 January with
:func:`tether.examples.fraud.replay.replay` (no hook: the loop is not ticked), and prints the
counts and the seconds of each phase. Then it times the online lookup of ``--lookup-sample``
payments of one mid-replay day, each at its own event time, two ways: one store call per
instance (how ``OnlineLookup`` grouped a replayed batch by time before, i.e. per instance) and
one call for the batch (now); it checks both give the same rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from tether import ReplayClock
from tether.examples._scaffold import init_project
from tether.examples.fraud.replay import ENTITY_COLUMNS, REQUEST_COLUMNS, replay
from tether.examples.fraud.simulate import ScenarioConfig
from tether.project import Project
from tether.server import create_app
from tether.serving import OnlineLookup

START = dt.date(2026, 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=400_000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--lookup-sample", type=int, default=1_000)
    args = parser.parse_args()
    scratch = args.folder is None
    folder = Path(tempfile.mkdtemp(prefix="tether-replay-")) if scratch else args.folder
    try:
        print(json.dumps(run(folder / "fraud", args), indent=2))
    finally:
        if scratch:
            shutil.rmtree(folder, ignore_errors=True)


def run(folder: Path, args: argparse.Namespace) -> dict[str, object]:
    began = time.perf_counter()
    scenario = ScenarioConfig(n_transactions=args.payments, n_customers=args.payments // 100)
    init_project(folder, scenario)
    made = time.perf_counter()
    project = Project.open(folder)
    project.train()
    project.aliases.deploy("1", "champion", actor="benchmark", reason="replay benchmark")
    project.close()
    trained = time.perf_counter()
    events = pd.read_parquet(folder / "data" / "events.parquet")
    labels = pd.read_parquet(folder / "data" / "labels.parquet")
    end = _add_months(START, args.months)
    clock = ReplayClock(dt.datetime.combine(START, dt.time(), tzinfo=dt.UTC))
    project = Project.open(folder, clock=clock)
    try:
        replay_began = time.perf_counter()
        result = replay(project, events, labels, create_app=create_app, start=START, end=end,
                        batch_size=args.batch)  # fmt: skip
        replay_s = time.perf_counter() - replay_began
        lookup = _lookup_costs(project, events, args.lookup_sample)
    finally:
        project.close()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "payments_in_world": len(events),
        "replayed": f"{START} to {end} ({result.days} days)",
        "requests": result.requests,
        "predictions": result.predictions,
        "feedbacks": result.feedbacks,
        "rows_pushed": result.pushed,
        "replay_s": round(replay_s, 1),
        "phase_s": {phase: round(s, 1) for phase, s in result.seconds.items()},
        "init_s": round(made - began, 1),
        "train_and_deploy_s": round(trained - made, 1),
        "lookup_ms_per_instance": lookup,
    }


def _lookup_costs(project: Project, events: pd.DataFrame, sample: int) -> dict[str, float]:
    day = pd.Timestamp(_add_months(START, 2), tz="UTC") + pd.Timedelta(days=14)
    payments = events[(events["event_time"] >= day)].sort_values("event_time").head(sample)
    entities = [{c: row[c] for c in ENTITY_COLUMNS} for row in payments.to_dict("records")]
    requests = [{c: row[c] for c in REQUEST_COLUMNS} for row in payments.to_dict("records")]
    times = [t.to_pydatetime() for t in payments["event_time"]]
    lookup = OnlineLookup(project.online_store)
    lookup.lookup(entities[:10], requests[:10], times[:10])  # warm-up
    began = time.perf_counter()
    one_by_one = [lookup.lookup([e], [r], [t])[0] for e, r, t in zip(entities, requests, times,
                                                                   strict=True)]  # fmt: skip
    single_s = time.perf_counter() - began
    began = time.perf_counter()
    batched = lookup.lookup(entities, requests, times)
    batch_s = time.perf_counter() - began
    if batched != one_by_one:
        raise AssertionError("the batched lookup differs from one lookup per instance")
    return {
        "one_call_per_instance": round(1000 * single_s / len(times), 3),
        "one_call_per_batch": round(1000 * batch_s / len(times), 3),
    }


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    return dt.date(day.year + index // 12, index % 12 + 1, 1)


if __name__ == "__main__":
    main()
