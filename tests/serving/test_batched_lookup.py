"""A batch of instances at many event times is looked up at once, with the values and statuses
of one lookup per instance (SQLite always; Redis under services)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tether.errors import FeatureError
from tether.features import (
    Aggregation,
    Encoding,
    Entity,
    EventSource,
    FeatureView,
    OnlineFeatureStore,
    OnlineStore,
    RedisOnlineStore,
    RequestColumn,
    RequestView,
    SQLiteOnlineStore,
    Transformation,
)
from tether.serving._online import OnlineLookup

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def events(rng: np.random.Generator, size: int = 300) -> pd.DataFrame:
    """Events over three days on a 10-minute grid, with repeated ids (later versions)."""
    minutes = rng.integers(0, 3 * 24 * 6, size=size) * 10
    event_time = T0 + pd.to_timedelta(minutes, unit="min")
    return pd.DataFrame(
        {
            "event_id": [f"e{k}" for k in rng.integers(0, int(size * 0.8), size=size)],
            "customer_id": rng.choice(["a", "b", "c", "d"], size=size),
            "event_time": event_time,
            "ingested_time": event_time + pd.to_timedelta(rng.choice([0, 5, 90], size), "min"),
            "amount": np.round(rng.uniform(1, 100, size=size), 2),
        }
    )


def view(path: Path) -> FeatureView:
    source = EventSource.parquet(
        path,
        entity_key="customer_id",
        event_id="event_id",
        event_time="event_time",
        created_time="ingested_time",
    )
    return FeatureView(
        "tx",
        entity=Entity("customer", keys=["customer_id"]),
        source=source,
        features=[
            Aggregation("n_1h", "count", window="1h"),
            Aggregation("mean_1d", "mean", column="amount", window="1d"),
            Aggregation("last_6h", "last", column="amount", window="6h", null_fill=-1.0),
            Aggregation("since_last_1d", "since_last", window="1d", unit="1h"),
            Transformation("ratio_1d", "amount / mean_1d", request=["amount"]),
        ],
        ttl="12h",
    )


def request_view() -> RequestView:
    """Request features of every kind, over the request's amount and country."""
    return RequestView(
        "req",
        features=[
            RequestColumn("amount"),
            Transformation("req_hour", "hour(event_time)"),
            Encoding("req_country_code", "country", vocabulary=("US", "FR"), unknown=-1),
            Transformation("req_foreign", "number(country != 'US')"),
            Transformation("req_big_afternoon", "hour(event_time) >= 12 and amount > 10"),
        ],
    )


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> OnlineStore:
    opened: OnlineStore
    if request.param == "sqlite":
        opened = SQLiteOnlineStore(tmp_path / "online.sqlite")
    else:
        url = request.getfixturevalue("redis_url")
        opened = RedisOnlineStore(url, prefix=f"tether-test-{uuid.uuid4().hex[:12]}")

    def cleanup() -> None:
        opened.clear()
        opened.close()

    request.addfinalizer(cleanup)
    return opened


def test_a_batch_at_many_times_equals_one_lookup_per_instance(
    store: OnlineStore, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    frame = events(rng)
    path = tmp_path / "events.parquet"
    frame.to_parquet(path, coerce_timestamps="us")
    online = OnlineFeatureStore([view(path), request_view()], store)
    online.materialize()
    size = 400
    # Unknown customers and repeated ones, at times from before the first event to after the
    # last, some exactly on event and created times.
    keys = [{"customer_id": str(c)} for c in rng.choice(["a", "b", "c", "d", "zz"], size=size)]
    edges = pd.concat([frame["event_time"], frame["ingested_time"]], ignore_index=True)
    times: list[datetime] = [
        (edges.iloc[int(rng.integers(len(edges)))] if rng.random() < 0.5 else
         T0 + pd.Timedelta(minutes=int(rng.integers(-60, 4 * 24 * 60)))).to_pydatetime()
        for _ in range(size)
    ]  # fmt: skip
    countries = rng.choice(["US", "FR", "DE"], size=size)
    requests = [
        {"amount": float(a), "country": str(c)}
        for a, c in zip(np.round(rng.uniform(1, 100, size), 2), countries, strict=True)
    ]
    lookup = OnlineLookup(online)
    batched = lookup.lookup(keys, requests, times)
    one_by_one = [
        lookup.lookup([k], [r], [t])[0] for k, r, t in zip(keys, requests, times, strict=True)
    ]
    assert batched == one_by_one
    statuses = {status for row in batched for status in row.statuses.values()}
    assert statuses == {"value", "empty", "stale", "unknown_entity"}
    assert {row.values["req_country_code"] for row in batched} == {0.0, 1.0, -1.0}
    # A column mixing kinds (a null country among strings) is computed one request at a time.
    mixed = [{**request, "country": None} if i % 7 == 0 else request
             for i, request in enumerate(requests)]  # fmt: skip
    batched = lookup.lookup(keys, mixed, times)
    one_by_one = [
        lookup.lookup([k], [r], [t])[0] for k, r, t in zip(keys, mixed, times, strict=True)
    ]
    assert batched == one_by_one


def test_a_time_per_row_must_match_the_rows(store: OnlineStore, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    events(np.random.default_rng(1), 20).to_parquet(path, coerce_timestamps="us")
    online = OnlineFeatureStore([view(path)], store)
    with pytest.raises(FeatureError, match="at has 1 times but entity_keys has 2 rows"):
        online.get_online_features(
            [{"customer_id": "a"}, {"customer_id": "b"}],
            [{"amount": 1.0}, {"amount": 2.0}],
            at=[T0.to_pydatetime()],
        )
