"""tether's side of ``benchmarks/features.py``: one contender per process, run by tether's venv.

Usage (by ``features.py``, not by hand)::

    python benchmarks/_features_worker.py CONFIG.json

The config names the task, the data files and where to write the result (JSON: seconds, rows,
memory) and the output (Parquet: ``row_id`` or the request key, then the feature columns).
Offline tasks read the spine into pandas, warm up on its first rows, then time one call over
the whole spine; online tasks materialize the store, then time single-key calls.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _features_data import LAST_COLUMNS, TTL, TTL_US, WINDOWS, last_name
from _features_measure import max_rss_mib, rss_mib

from tether.features import Aggregation, Entity, EventSource, FeatureStore, FeatureView

ENTITY = Entity("account", keys=["entity_id"])
TIMESTAMP = "event_timestamp"


def source(events: str) -> EventSource:
    """The events Parquet file as a tether source."""
    return EventSource.parquet(
        events,
        entity_key="entity_id",
        event_id="event_id",
        event_time="event_time",
        created_time="created_time",
    )


def last_view(events: str) -> FeatureView:
    """The case Feast can express: the latest value of three columns within the TTL."""
    features = [Aggregation(last_name(c), "last", column=c, window=TTL) for c in LAST_COLUMNS]
    return FeatureView("account_last", entity=ENTITY, source=source(events), features=features)


def windows_view(events: str) -> FeatureView:
    """Windowed aggregations: count, sum and mean of amount over 1d, 7d and 30d."""
    features = []
    for window in WINDOWS:
        features += [
            Aggregation(f"count_{window}", "count", window=window),
            Aggregation(f"amount_sum_{window}", "sum", column="amount", window=window),
            Aggregation(f"amount_mean_{window}", "mean", column="amount", window=window),
        ]
    return FeatureView("account_windows", entity=ENTITY, source=source(events), features=features)


def spark_engine() -> Any:
    """tether's Spark engine on a local two-core session (the JVM starts here, untimed)."""
    from pyspark.sql import SparkSession

    from tether.features import SparkEngine

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("tether-features-benchmark")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return SparkEngine(spark)


def offline(config: dict[str, Any]) -> dict[str, Any]:
    """Time ``build_training_set`` (or the bare ASOF join) over the whole spine."""
    task, events = config["task"], config["events"]
    spine = pd.read_parquet(config["spine"])
    if task == "asof":
        run = asof_join(events)
        names = [last_name(c) for c in LAST_COLUMNS]
    else:
        view = last_view(events) if task == "tether-last" else windows_view(events)
        engine = spark_engine() if task == "tether-windows-spark" else "duckdb"
        store = FeatureStore([view], engine=engine)
        names = list(view.feature_names)

        def run(frame: pd.DataFrame) -> pd.DataFrame:
            return store.build_training_set(frame, TIMESTAMP)

    run(spine.head(config["warmup_rows"]))
    before = rss_mib()
    started = time.perf_counter()
    training = run(spine)
    seconds = time.perf_counter() - started
    training[["row_id", *names]].to_parquet(config["out"])
    return {"seconds": seconds, "rows": len(training), "rss_before_mib": before}


def asof_join(events: str) -> Any:
    """The floor: DuckDB's ASOF JOIN, strictly before t, values older than the TTL nulled."""
    import duckdb

    fresh = f"epoch_us(e.event_time) >= epoch_us(s.{TIMESTAMP}) - {TTL_US}"
    values = ", ".join(f"CASE WHEN {fresh} THEN e.{c} END AS {last_name(c)}" for c in LAST_COLUMNS)
    query = (
        f"SELECT s.*, {values} FROM spine AS s ASOF LEFT JOIN read_parquet('{events}') AS e "
        f"ON s.entity_id = e.entity_id AND s.{TIMESTAMP} > e.event_time ORDER BY s.row_id"
    )

    def run(spine: pd.DataFrame) -> pd.DataFrame:
        with duckdb.connect() as connection:
            connection.register("spine", spine)
            return connection.sql(query).df()

    return run


def online_classes() -> tuple[Any, Any, Any]:
    """tether's online store classes: the public names if exported, else their modules."""
    try:
        from tether.features import (  # type: ignore[attr-defined]
            OnlineFeatureStore,
            RedisOnlineStore,
            SQLiteOnlineStore,
        )
    except ImportError:
        from tether.features._online import OnlineFeatureStore
        from tether.features._online_redis import RedisOnlineStore
        from tether.features._online_sqlite import SQLiteOnlineStore
    return OnlineFeatureStore, SQLiteOnlineStore, RedisOnlineStore


def time_calls(
    online: Any, keys: list[int], at_us: int, warmup: list[int]
) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    """Wall and CPU milliseconds per single-key call for ``keys``, after untimed calls for
    ``warmup``; and the values returned."""
    for key in warmup:
        online.get_online_features([{"entity_id": key}], at=at_us)
    wall, cpu, values = [], [], []
    for key in keys:
        started, started_cpu = time.perf_counter(), time.thread_time()
        [vector] = online.get_online_features([{"entity_id": key}], at=at_us)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
        values.append(dict(vector.values))
    return {"wall": wall, "cpu": cpu}, values


def store_is_sqlite(config: dict[str, Any]) -> bool:
    """Whether the task is the SQLite one (else Redis)."""
    return bool(config["task"] == "tether-online-sqlite")


def online_store(config: dict[str, Any]) -> Any:
    """The SQLite store in a fresh file, or the Redis store under the benchmark's prefix."""
    _, sqlite_store, redis_store = online_classes()
    if store_is_sqlite(config):
        path = Path(config["work"]) / "tether-online.sqlite"
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
        return sqlite_store(path)
    return redis_store(config["redis"], prefix="tether-bench-features")


def keep_recent(features: Any, config: dict[str, Any]) -> tuple[int, float]:
    """Leave only the events that ``compact(end)`` keeps; return (events dropped, seconds).

    SQLite: ``compact`` itself. Redis: ``compact`` is one Lua script over every old event,
    which would block the Redis server that other people share for about a minute at this
    size (50,000 events took 2.9 s in --quick), so the store is cleared and only the events
    that compaction keeps (event time in the last window before the end) are pushed: the same
    stored state, reached without the long script. Its time is then the push's.
    """
    end = pd.Timestamp(config["end_us"], unit="us", tz="UTC")
    started = time.perf_counter()
    if store_is_sqlite(config):
        dropped = features.compact(end)
        return dropped, time.perf_counter() - started
    features.store.clear()
    events = pd.read_parquet(config["events"])
    recent = events["event_time"] >= end - pd.Timedelta(microseconds=TTL_US)
    features.push(events[recent])
    return int((~recent).sum()), time.perf_counter() - started


def online(config: dict[str, Any]) -> dict[str, Any]:
    """Materialize the "last" view, time single-key calls, compact, time them again."""
    online_feature_store = online_classes()[0]
    store = online_store(config)
    store.clear()
    try:
        features = online_feature_store([last_view(config["events"])], store)
        started = time.perf_counter()
        rows = features.materialize(incremental=False).rows
        materialize_s = time.perf_counter() - started
        keys, at_us, warmup = config["online_keys"], config["end_us"], config["warmup_keys"]
        timings, values = time_calls(features, keys, at_us, warmup)
        dropped, compact_s = keep_recent(features, config)
        compacted, compacted_values = time_calls(features, keys, at_us, warmup)
    finally:
        store.clear()
        store.close()
    frame = pd.DataFrame(values)
    frame.insert(0, "entity_id", np.asarray(keys, dtype=np.int64))
    frame.to_parquet(config["out"])
    return {
        "materialize_seconds": materialize_s,
        "materialized_rows": rows,
        "latencies_ms": timings,
        "compacted_events": dropped,
        "compact_seconds": compact_s,
        "compacted_latencies_ms": compacted,
        "compacted_values_equal": compacted_values == values,
        "compact_label": (
            "after compact(end)" if store_is_sqlite(config) else "holding the last 2d only"
        ),
        "rows": len(frame),
    }


def main() -> None:
    """Run the task named in the config file and write its result."""
    config = json.loads(Path(sys.argv[1]).read_text())
    task = config["task"]
    result = online(config) if task.startswith("tether-online") else offline(config)
    result["maxrss_mib"] = max_rss_mib()
    Path(config["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
