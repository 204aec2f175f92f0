"""Online features: latency of one single-key vector from SQLite and from Redis.

Usage::

    python benchmarks/online_features.py [--entities 10000] [--events 100] [--calls 1000]
                                         [--span-days 240] [--redis redis://127.0.0.1:6379/0]

Pushes ``--entities`` x ``--events`` seeded random payments, spread evenly over the last
``--span-days`` days (240, eight months, is the fraud scenario: about 12 payments per customer
in the 30-day window; 30 puts every stored payment in the window, the worst case), into each
store, then times ``--calls`` calls of ``get_online_features`` for one random customer at the
end of the data, after 100 warm-up calls. Prints p50, p99 and max per store, and the push
time. Everything is written under a temporary folder (SQLite) or a temporary key prefix
(Redis), removed at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tether.features import Aggregation, Entity, EventSource, FeatureView, Transformation
from tether.features._online import OnlineFeatureStore
from tether.features._online_redis import RedisOnlineStore
from tether.features._online_sqlite import SQLiteOnlineStore
from tether.features._online_store import OnlineStore

SEED = 20240602
END = pd.Timestamp("2024-09-01", tz="UTC")
PUSH_CHUNK = 100_000


def fraud_view(path: Path) -> FeatureView:
    """The fraud example's customer features, as one view."""
    source = EventSource.parquet(
        path,
        entity_key="customer_id",
        event_id="event_id",
        event_time="event_time",
        created_time="ingested_time",
    )
    features: list[Aggregation | Transformation] = [
        Aggregation("tx_count_1h", "count", window="1h"),
        Aggregation("tx_count_1d", "count", window="1d"),
        Aggregation("tx_count_7d", "count", window="7d"),
        Aggregation("amount_sum_1d", "sum", column="amount", window="1d", empty=0.0),
        Aggregation("amount_mean_30d", "mean", column="amount", window="30d"),
        Aggregation("amount_max_30d", "max", column="amount", window="30d"),
        Aggregation("last_country_30d", "last", column="country", window="30d"),
        Aggregation("foreign_7d", "count", window="7d", filter="country != 'US'"),
        Transformation("amount_to_mean_30d", "amount / amount_mean_30d", request=["amount"]),
    ]
    entity = Entity("customer", keys=["customer_id"])
    return FeatureView("customer_tx", entity=entity, source=source, features=features, ttl="30d")


def payments(entities: int, per_entity: int, span_days: int) -> pd.DataFrame:
    """Seeded payments, evenly spread over ``span_days`` days before :data:`END`."""
    rng = np.random.default_rng(SEED)
    size = entities * per_entity
    offsets = rng.integers(1, span_days * 86_400_000_000, size=size)
    event_time = END - pd.to_timedelta(offsets, unit="us")
    return pd.DataFrame(
        {
            "event_id": np.arange(size),
            "customer_id": np.repeat(np.arange(entities), per_entity),
            "event_time": event_time,
            "ingested_time": event_time + pd.Timedelta(seconds=2),
            "amount": np.round(rng.lognormal(3, 1, size=size), 2),
            "country": rng.choice(["US", "US", "US", "FR", "DE"], size=size),
        }
    )


def measure(
    online: OnlineFeatureStore, entities: int, calls: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per single-key call, for random customers at :data:`END`.

    The CPU time of this process leaves out waiting (for Redis, and for the scheduler on a
    busy machine), so it tells the cost of tether's own work apart from the machine's load.
    """
    pick = random.Random(SEED)
    wall, cpu = [], []
    for call in range(calls + 100):
        key = [{"customer_id": pick.randrange(entities)}]
        started, started_cpu = time.perf_counter(), time.process_time()
        online.get_online_features(key, [{"amount": 42.0}], at=END)
        if call >= 100:
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def run(name: str, store: OnlineStore, view: FeatureView, events: pd.DataFrame, calls: int) -> None:
    """Push ``events`` into ``store``, time the calls, print the numbers."""
    store.clear()
    online = OnlineFeatureStore([view], store)
    started = time.perf_counter()
    for start in range(0, len(events), PUSH_CHUNK):
        online.push(events.iloc[start : start + PUSH_CHUNK])
    pushed = time.perf_counter() - started
    wall, cpu = measure(online, int(events["customer_id"].max()) + 1, calls)
    p50, p99 = np.percentile(wall, [50, 99])
    cpu50, cpu99 = np.percentile(cpu, [50, 99])
    print(
        f"{name:7} push {len(events):,} events {pushed:6.1f} s | get_online_features, one key: "
        f"wall p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(wall):.3f} ms | "
        f"CPU p50 {cpu50:.3f} ms, p99 {cpu99:.3f} ms | load average {os.getloadavg()[0]:.1f}"
    )
    store.clear()
    store.close()


def main() -> None:
    """Parse arguments and run both stores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--span-days", type=int, default=240)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    arguments = parser.parse_args()
    events = payments(arguments.entities, arguments.events, arguments.span_days)
    print(f"{platform.python_version()} on {platform.machine()}, {len(events):,} events")
    with tempfile.TemporaryDirectory() as folder:
        view = fraud_view(Path(folder) / "unused.parquet")
        sqlite = SQLiteOnlineStore(Path(folder) / "online.sqlite")
        run("SQLite", sqlite, view, events, arguments.calls)
        redis = RedisOnlineStore(arguments.redis, prefix=f"tether-bench-{SEED}")
        run("Redis", redis, view, events, arguments.calls)


if __name__ == "__main__":
    main()
