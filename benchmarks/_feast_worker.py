"""Feast's side of ``benchmarks/features.py``, run by the Feast venv's python (not tether's).

Usage (by ``features.py``, not by hand)::

    benchmarks/.work/feast-venv/bin/python benchmarks/_feast_worker.py CONFIG.json

Builds a fresh Feast repository (an entity, a ``FileSource`` on the benchmark's events Parquet,
a ``FeatureView`` of three columns with the benchmark's TTL, a ``feature_store.yaml`` with the
``file`` or ``duckdb`` offline store and the ``sqlite`` online store), applies it, then either
times ``get_historical_features`` over the whole spine (after a warm-up on its first rows) or
materializes the TTL before the end of the data and times single-key ``get_online_features``
calls. Imports nothing of tether: Feast pins pandas below 3, tether is on pandas 3.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = ("amount", "quantity", "category")
VIEW = "account_last"
_PAGE = os.sysconf("SC_PAGE_SIZE")
# Feast reports usage unless told not to (this process imports nothing of tether's).
os.environ.update({"FEAST_USAGE": "False", "DO_NOT_TRACK": "true"})

YAML = """\
project: tether_benchmark
registry: {repo}/registry.db
provider: local
offline_store:
    type: {offline}
online_store:
    type: sqlite
    path: {repo}/online.db
entity_key_serialization_version: 3
"""


def rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE / (1 << 20)


def feature_store(config: dict[str, Any], offline: str) -> Any:
    """A fresh Feast repository over the events, applied; returns its FeatureStore."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    repo = Path(config["work"]) / f"feast-repo-{config['task']}"
    repo.mkdir(parents=True, exist_ok=True)
    for stale in ("registry.db", "online.db"):
        (repo / stale).unlink(missing_ok=True)
    (repo / "feature_store.yaml").write_text(YAML.format(repo=repo, offline=offline))
    account = Entity(name="account", join_keys=["entity_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="events",
        path=config["events"],
        timestamp_field="event_time",
        created_timestamp_column="created_time",
    )
    view = FeatureView(
        name=VIEW,
        entities=[account],
        ttl=timedelta(seconds=config["ttl_seconds"]),
        schema=[
            Field(name="entity_id", dtype=Int64),
            Field(name="amount", dtype=Float64),
            Field(name="quantity", dtype=Int64),
            Field(name="category", dtype=String),
        ],
        source=source,
        online=True,
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply([account, view])
    return store


def historical(config: dict[str, Any]) -> dict[str, Any]:
    """Time ``get_historical_features(...).to_df()`` over the whole spine."""
    store = feature_store(config, config["offline_store"])
    features = [f"{VIEW}:{column}" for column in COLUMNS]
    spine = pd.read_parquet(config["spine"])
    store.get_historical_features(
        entity_df=spine.head(config["warmup_rows"]), features=features
    ).to_df()
    before = rss_mib()
    started = time.perf_counter()
    training = store.get_historical_features(entity_df=spine, features=features).to_df()
    seconds = time.perf_counter() - started
    renamed = training.rename(columns={c: f"last_{c}" for c in COLUMNS})
    renamed[["row_id", *(f"last_{c}" for c in COLUMNS)]].to_parquet(config["out"])
    return {"seconds": seconds, "rows": len(training), "rss_before_mib": before}


def online(config: dict[str, Any]) -> dict[str, Any]:
    """Materialize the TTL before the end, then time single-key ``get_online_features``."""
    store = feature_store(config, "file")
    end = pd.Timestamp(config["end_us"], unit="us", tz="UTC").to_pydatetime()
    started = time.perf_counter()
    store.materialize(start_date=end - timedelta(seconds=config["ttl_seconds"]), end_date=end)
    materialize_s = time.perf_counter() - started
    features = [f"{VIEW}:{column}" for column in COLUMNS]
    keys = config["online_keys"]
    for key in config["warmup_keys"]:
        store.get_online_features(features=features, entity_rows=[{"entity_id": key}]).to_dict()
    wall, cpu, values = [], [], []
    for key in keys:
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = store.get_online_features(features=features, entity_rows=[{"entity_id": key}])
        row = response.to_dict()
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
        values.append({f"last_{c}": row[c][0] for c in COLUMNS})
    frame = pd.DataFrame(values)
    frame.insert(0, "entity_id", keys)
    frame.to_parquet(config["out"])
    return {
        "materialize_seconds": materialize_s,
        "latencies_ms": {"wall": wall, "cpu": cpu},
        "rows": len(frame),
    }


def main() -> None:
    """Run the task named in the config file and write its result."""
    config = json.loads(Path(sys.argv[1]).read_text())
    import feast

    result = online(config) if config["task"] == "feast-online" else historical(config)
    result["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["feast_version"] = feast.__version__
    Path(config["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
