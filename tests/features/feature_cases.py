"""Small event tables and random adversarial cases for the feature-store tests.

The random cases are built to hit every edge of point-in-time semantics at once: few entities
and a coarse time grid (bursts of events at one time), a small pool of event ids (duplicates,
corrections that move an event or change its key), created times equal to event times, late
rows, null inputs, spine times placed exactly on event times, on event time + window and on
created times, unknown and null entity keys, and duplicated spine rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tether.features import (
    Aggregation,
    Encoding,
    Entity,
    EventBatch,
    EventSource,
    FeatureView,
    RequestColumn,
    RequestView,
    Transformation,
    point_values,
)

T0 = pd.Timestamp("2024-01-01", tz="UTC")
WINDOWS = ("1h", "6h", "1d")
COUNTRIES = ("US", "FR", "DE", None)


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as Parquet with microsecond times (Spark reads no nanoseconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=False)
    return path


def random_events(rng: np.random.Generator, size: int = 160) -> pd.DataFrame:
    """Events on a 15-minute grid over two days, with duplicates, late rows and nulls."""
    minutes = rng.integers(0, 2 * 24 * 4, size=size) * 15
    event_time = T0 + pd.to_timedelta(minutes, unit="min")
    delays = rng.choice([0, 0, 1, 15, 30, 180, 1440], size=size)
    amounts = np.round(rng.uniform(1, 100, size=size), 2)
    return pd.DataFrame(
        {
            "event_id": [f"e{k}" for k in rng.integers(0, int(size * 0.7), size=size)],
            "customer_id": rng.choice(["a", "b", "c"], size=size),
            "event_time": event_time,
            "ingested_time": event_time + pd.to_timedelta(delays, unit="min"),
            "amount": np.where(rng.random(size) < 0.12, np.nan, amounts),
            "country": [COUNTRIES[i] for i in rng.integers(0, len(COUNTRIES), size=size)],
        }
    )


def random_spine(rng: np.random.Generator, events: pd.DataFrame, size: int = 80) -> pd.DataFrame:
    """Spine times on the edges that matter: at events, at event + window, at created times."""
    edges = [
        events["event_time"],
        events["event_time"] + pd.Timedelta(hours=1),
        events["event_time"] + pd.Timedelta(days=1),
        events["ingested_time"],
    ]
    pool = pd.concat(edges, ignore_index=True)
    times = pool.sample(n=size, replace=True, random_state=int(rng.integers(1 << 30)))
    keys = rng.choice(["a", "b", "c", "a", "b", "zz"], size=size).astype(object)
    keys[rng.random(size) < 0.05] = None
    spine = pd.DataFrame(
        {
            "customer_id": pd.Series(keys, dtype="str"),
            "ts": times.to_numpy(),
            "amount": np.round(rng.uniform(1, 50, size=size), 2),
            "label": rng.integers(0, 2, size=size),
        }
    )
    return pd.concat([spine, spine.iloc[:5]], ignore_index=True)  # duplicated rows


def random_view(
    path: Path, *, ttl: str | None, created: bool = True, windows: tuple[str, ...] = WINDOWS
) -> FeatureView:
    """Every aggregation function, with filters, fills and empty values, over ``path``."""
    source = EventSource.parquet(
        path,
        entity_key="customer_id",
        event_id="event_id",
        event_time="event_time",
        created_time="ingested_time" if created else None,
    )
    features: list[Aggregation | Transformation] = []
    for window in windows:
        features += [
            Aggregation(f"n_{window}", "count", window=window),
            Aggregation(f"n_amount_{window}", "count", column="amount", window=window),
            Aggregation(f"sum_{window}", "sum", column="amount", window=window, empty=0.0),
            Aggregation(f"mean_{window}", "mean", column="amount", window=window),
            Aggregation(f"min_{window}", "min", column="amount", window=window),
            Aggregation(f"max_{window}", "max", column="amount", window=window, null_fill=0.0),
            Aggregation(f"countries_{window}", "count_distinct", column="country", window=window),
            Aggregation(f"last_country_{window}", "last", column="country", window=window),
            Aggregation(f"since_last_{window}", "since_last", window=window, unit="1h"),
        ]
    features += [
        Aggregation("last_amount_1d", "last", column="amount", window="1d", null_fill=-1.0),
        Aggregation("min_country_1d", "min", column="country", window="1d", empty="none"),
        Aggregation("foreign_6h", "count", window="6h", filter="country != 'US'"),
        Aggregation(
            "big_sum_1d",
            "sum",
            column="amount",
            window="1d",
            filter="amount / 2 > 10 and country in ('US', 'DE') or country is None",
        ),
        Aggregation(
            "countries_filled_1d", "count_distinct", column="country", window="1d", null_fill="??"
        ),
        Aggregation("n_empty_null_1h", "count", window="1h", empty=None),
        Aggregation(
            "since_foreign_1d",
            "since_last",
            window="1d",
            unit="7m",  # a unit that does not divide the grid: the quotient is a real float
            filter="country != 'US'",
            empty=-1.0,
        ),
        # Time functions in a filter run in SQL on the engines and in Python in the reference.
        Aggregation(
            "n_morning_1d",
            "count",
            window="1d",
            filter="hour(event_time) < 12 and day_of_week(event_time) != 0",
        ),
        Aggregation(
            "n_us_or_big_1d",
            "count",
            window="1d",
            filter="number(country == 'US') + number(amount > 50) >= 1",
        ),
        Aggregation(
            "n_created_same_hour_1d",
            "count",
            window="1d",
            filter="hour(ingested_time) == hour(event_time) and ingested_time > event_time",
        ),
        Transformation("ratio_1d", "amount / mean_1d", request=["amount"]),
        Transformation("busy", "n_1h >= 2 or coalesce(max_1h, 0) > 90"),
    ]
    entity = Entity("customer", keys=["customer_id"])
    return FeatureView("tx", entity=entity, source=source, features=features, ttl=ttl)


def request_view() -> RequestView:
    """Every kind of request feature, over the request's ``amount`` and ``country``."""
    return RequestView(
        "req",
        features=[
            RequestColumn("amount"),
            Transformation("req_hour", "hour(event_time)"),
            Transformation("req_weekday", "day_of_week(event_time)"),
            Encoding("req_country_code", "country", vocabulary=("US", "FR"), unknown=-1),
            Transformation("req_foreign", "number(country != 'US')"),
            Transformation("req_big_afternoon", "hour(event_time) >= 12 and amount > 10"),
            Transformation("req_mix", "req_hour * 100 + req_country_code"),
        ],
    )


@dataclass
class RandomCase:
    """A random view, its events on disk, and a spine."""

    view: FeatureView
    events: pd.DataFrame
    spine: pd.DataFrame


def reference_values(case: RandomCase) -> list[dict[str, Any]]:
    """The brute-force value of every feature for every spine row, one row at a time."""
    batch = EventBatch(case.view, case.events)
    rows = case.spine.to_dict("records")
    return [
        point_values(batch, [None if pd.isna(r["customer_id"]) else r["customer_id"]], r["ts"], r)
        for r in rows
    ]


def assert_same_value(actual: Any, expected: Any, *, where: str) -> None:
    """Equal, with null == NaN == NA, and floats within 1e-9 relative."""
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        assert pd.isna(actual), f"{where}: expected null, got {actual!r}"
        return
    assert not pd.isna(actual), f"{where}: expected {expected!r}, got null"
    if isinstance(expected, float) or isinstance(actual, float):
        assert math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-12), (
            f"{where}: expected {expected!r}, got {actual!r}"
        )
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"


def assert_matches_reference(training: pd.DataFrame, case: RandomCase) -> None:
    """Every feature of every row of ``training`` equals the reference computation."""
    expected = reference_values(case)
    for position, values in enumerate(expected):
        for name, value in values.items():
            actual = training[name].iloc[position]
            assert_same_value(actual, value, where=f"row {position}, feature {name}")
