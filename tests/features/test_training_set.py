"""Training sets: a hand-worked example, row order and pass-through, times, other sources."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from feature_cases import write_parquet

from tether.features import (
    Aggregation,
    DuckDBEngine,
    Entity,
    EventSource,
    FeatureStore,
    FeatureView,
    Transformation,
)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# The worked example (reused in the README). Customer c1 buys five times on 1 March 2024; the
# record of e3 is corrected at 12:30 (amount 20 -> 200), after it first arrived at 11:30:05.
# e4 happens exactly at 12:00. Customer c2's only purchase is ten days old.
EVENTS = pd.DataFrame(
    [
        ("e1", "c1", utc("2024-03-01 09:00"), utc("2024-03-01 09:00:05"), 10.0, "US"),
        ("e6", "c1", utc("2024-03-01 10:30"), utc("2024-03-01 10:30:05"), None, "GB"),
        ("e2", "c1", utc("2024-03-01 11:00"), utc("2024-03-01 11:00:05"), 30.0, "FR"),
        ("e3", "c1", utc("2024-03-01 11:30"), utc("2024-03-01 11:30:05"), 20.0, "US"),
        ("e3", "c1", utc("2024-03-01 11:30"), utc("2024-03-01 12:30:00"), 200.0, "US"),
        ("e4", "c1", utc("2024-03-01 12:00"), utc("2024-03-01 12:00:05"), 50.0, "DE"),
        ("e5", "c2", utc("2024-02-20 08:00"), utc("2024-02-20 08:00:05"), 70.0, "US"),
    ],
    columns=["event_id", "customer_id", "event_time", "ingested_time", "amount", "country"],
)
SPINE = pd.DataFrame(
    {
        "customer_id": ["c1", "c1", "c2", "c9", "c1"],
        "event_time": [
            utc("2024-03-01 12:00"),
            utc("2024-03-01 13:00"),
            utc("2024-03-01 12:00"),
            utc("2024-03-01 12:00"),
            utc("2024-03-01 10:00"),
        ],
        "amount": [40.0, 100.0, 5.0, 1.0, 40.0],
        "label": [0, 1, 0, 0, 1],
    }
)


def worked_example_view(path: Path) -> FeatureView:
    source = EventSource.parquet(
        path,
        entity_key="customer_id",
        event_id="event_id",
        event_time="event_time",
        created_time="ingested_time",
    )
    return FeatureView(
        "customer_tx",
        entity=Entity("customer", keys=["customer_id"]),
        source=source,
        ttl="7d",
        features=[
            Aggregation("tx_count_1h", "count", window="1h"),
            Aggregation("amount_sum_1d", "sum", column="amount", window="1d", empty=0.0),
            Aggregation("amount_mean_1d", "mean", column="amount", window="1d"),
            Aggregation("amount_max_30d", "max", column="amount", window="30d"),
            Aggregation("countries_1d", "count_distinct", column="country", window="1d"),
            Aggregation("last_country_1d", "last", column="country", window="1d"),
            Aggregation("foreign_count_1d", "count", window="1d", filter="country != 'US'"),
            Transformation("amount_ratio_1d", "amount / amount_mean_1d", request=["amount"]),
        ],
    )


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore([worked_example_view(write_parquet(EVENTS, tmp_path / "tx.parquet"))])


def test_the_worked_example_gives_the_values_computed_by_hand(store: FeatureStore) -> None:
    training = store.build_training_set(SPINE, timestamp="event_time")
    # Row 0, c1 at 12:00: e1, e6, e2 and the first version of e3 (amount 20) are known; the
    # correction arrives at 12:30 and e4 happens at 12:00 itself, so neither counts.
    #   1h window [11:00, 12:00): e2 (exactly at t - 1h, included) and e3 -> 2
    #   amounts (null skipped): 10 + 30 + 20 = 60, mean 20; countries US, GB, FR -> 3
    #   last: e3 at 11:30 -> US; foreign: e6 GB, e2 FR -> 2; ratio 40 / 20 = 2
    # Row 1, c1 at 13:00: the correction (200) and e4 are now known.
    #   1h window [12:00, 13:00): e4 -> 1; sum 10 + 30 + 200 + 50 = 290, mean 72.5, max 200
    #   countries US, GB, FR, DE -> 4; last: e4 -> DE; foreign: GB, FR, DE -> 3; 100 / 72.5
    # Row 2, c2 at 12:00: e5 is ten days old: outside every 1d window, and inside the 30d one
    #   but older than the view's 7d TTL, so the max is null too (its empty value).
    # Row 3, c9: no events at all: counts 0, the sum its empty value 0.0, the rest null.
    # Row 4, c1 at 10:00: only e1 (09:00, exactly at t - 1h): 1, 10, 10, 10, 1, US, 0, 4.
    expected = pd.DataFrame(
        {
            "tx_count_1h": [2, 1, 0, 0, 1],
            "amount_sum_1d": [60.0, 290.0, 0.0, 0.0, 10.0],
            "amount_mean_1d": [20.0, 72.5, np.nan, np.nan, 10.0],
            "amount_max_30d": [30.0, 200.0, np.nan, np.nan, 10.0],
            "countries_1d": [3, 4, 0, 0, 1],
            "last_country_1d": pd.Series(["US", "DE", None, None, "US"], dtype="str"),
            "foreign_count_1d": [2, 3, 0, 0, 0],
            "amount_ratio_1d": [2.0, 100.0 / 72.5, np.nan, np.nan, 4.0],
        }
    )
    pd.testing.assert_frame_equal(training[list(expected.columns)], expected)


def test_rows_keep_their_order_index_and_other_columns(store: FeatureStore) -> None:
    spine = SPINE.iloc[[4, 2, 0, 0, 3, 1]].copy()
    spine.index = pd.Index([10, 10, 7, 3, 3, 99])  # duplicate labels on purpose
    spine["note"] = ["x", "y", "z", "w", "v", "u"]
    training = store.build_training_set(spine, timestamp="event_time")
    assert list(training.index) == [10, 10, 7, 3, 3, 99]
    pd.testing.assert_frame_equal(training[list(spine.columns)], spine)
    assert list(training["tx_count_1h"]) == [1, 0, 2, 2, 0, 1]
    assert list(training.columns) == [*spine.columns, *store.feature_names]


def test_the_spine_is_not_modified(store: FeatureStore) -> None:
    spine = SPINE.copy()
    store.build_training_set(spine, timestamp="event_time")
    pd.testing.assert_frame_equal(spine, SPINE)


def test_an_empty_spine_gives_an_empty_training_set_with_every_column(store: FeatureStore) -> None:
    training = store.build_training_set(SPINE.iloc[:0], timestamp="event_time")
    assert len(training) == 0
    assert list(training.columns) == [*SPINE.columns, *store.feature_names]


def test_times_in_another_zone_are_the_same_instants(store: FeatureStore) -> None:
    spine = SPINE.copy()
    spine["event_time"] = spine["event_time"].dt.tz_convert("America/New_York")
    training = store.build_training_set(spine, timestamp="event_time")
    expected = store.build_training_set(SPINE, timestamp="event_time")
    names = list(store.feature_names)
    pd.testing.assert_frame_equal(training[names], expected[names])


def test_naive_spine_times_are_utc_when_told_so(store: FeatureStore) -> None:
    spine = SPINE.copy()
    spine["event_time"] = spine["event_time"].dt.tz_localize(None)
    training = store.build_training_set(spine, timestamp="event_time", naive_timestamps="utc")
    expected = store.build_training_set(SPINE, timestamp="event_time")
    names = list(store.feature_names)
    pd.testing.assert_frame_equal(training[names], expected[names])


def test_naive_source_times_are_utc_when_the_source_says_so(tmp_path: Path) -> None:
    events = EVENTS.copy()
    for column in ("event_time", "ingested_time"):
        events[column] = events[column].dt.tz_localize(None)
    view = worked_example_view(write_parquet(events, tmp_path / "naive.parquet"))
    source = EventSource.parquet(
        view.source.location, **{**_columns(view.source), "naive_timestamps": "utc"}
    )
    naive_view = FeatureView(view.name, view.entity, source, view.features, ttl=view.ttl)
    reference = worked_example_view(write_parquet(EVENTS, tmp_path / "aware.parquet"))
    names = list(naive_view.feature_names)
    got = FeatureStore([naive_view]).build_training_set(SPINE, timestamp="event_time")
    expected = FeatureStore([reference]).build_training_set(SPINE, timestamp="event_time")
    pd.testing.assert_frame_equal(got[names], expected[names])


def _columns(source: EventSource) -> dict[str, object]:
    return {
        "entity_key": source.entity_key,
        "event_id": source.event_id,
        "event_time": source.event_time,
        "created_time": source.created_time,
    }


def test_a_folder_a_csv_file_and_a_duckdb_table_give_the_same_features(tmp_path: Path) -> None:
    write_parquet(EVENTS.iloc[:3], tmp_path / "folder" / "part-0.parquet")
    write_parquet(EVENTS.iloc[3:], tmp_path / "folder" / "day=2" / "part-1.parquet")
    EVENTS.to_csv(tmp_path / "events.csv", index=False)
    database = tmp_path / "events.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.register("frame", EVENTS)
        connection.execute("CREATE TABLE tx AS SELECT * FROM frame")
    columns = _columns(worked_example_view(tmp_path / "unused").source)
    sources = {
        "folder": (EventSource.parquet(tmp_path / "folder", **columns), "duckdb"),
        "csv": (EventSource.csv(tmp_path / "events.csv", **columns), "duckdb"),
    }
    reference = FeatureStore([worked_example_view(write_parquet(EVENTS, tmp_path / "a.parquet"))])
    expected = reference.build_training_set(SPINE, timestamp="event_time")
    names = list(reference.feature_names)
    engines = {"table": (EventSource.table("tx", **columns), DuckDBEngine(database))}
    for label, (source, engine) in {**sources, **engines}.items():
        view = worked_example_view(tmp_path / "unused")
        view = FeatureView(view.name, view.entity, source, view.features, ttl=view.ttl)
        got = FeatureStore([view], engine=engine).build_training_set(SPINE, timestamp="event_time")
        pd.testing.assert_frame_equal(got[names], expected[names], obj=label)


def test_two_views_on_two_entities_fill_one_training_set(tmp_path: Path) -> None:
    events = EVENTS.assign(merchant_id=["m1", "m2", "m1", "m1", "m1", "m2", "m1"])
    path = write_parquet(events, tmp_path / "tx.parquet")
    merchant_source = EventSource.parquet(
        path, entity_key="merchant_id", event_id="event_id", event_time="event_time"
    )
    merchant = FeatureView(
        "merchant_tx",
        entity=Entity("merchant", keys=["merchant_id"]),
        source=merchant_source,
        features=[Aggregation("merchant_count_1d", "count", window="1d")],
    )
    store = FeatureStore([worked_example_view(path), merchant])
    spine = SPINE.assign(merchant_id=["m1", "m1", "m2", "m1", "m2"])
    training = store.build_training_set(spine, timestamp="event_time")
    # Without a created time the correction of e3 is known from the start: still one event.
    # m1 at 12:00: e1, e2, e3 -> 3; m1 at 13:00: + e4? no, e4 is m2 -> 3; m2 at 12:00: e6 -> 1
    # (e5 is ten days old); m1 at 12:00 -> 3; m2 at 10:00: e6 is at 10:30 -> 0.
    assert list(training["merchant_count_1d"]) == [3, 3, 1, 3, 0]
    assert list(training["tx_count_1h"]) == [2, 1, 0, 0, 1]


def test_the_generated_sql_is_readable_in_each_dialect(store: FeatureStore) -> None:
    sql = store.sql("customer_tx")
    assert "FROM __tether_events AS e\nRIGHT JOIN (" in sql and "__tether_bucket" in sql
    assert "EPOCH_US" in sql and "ARG_MAX" in sql
