"""The same definitions give the same training set on Spark as on DuckDB.

Exactly for count, min, max, last and count-distinct; within 1e-9 relative for sum and mean
(and the transformations built on them), whose floating-point summation order differs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from feature_cases import T0, RandomCase, request_view, write_parquet

from tether.features import (
    Aggregation,
    Entity,
    EventSource,
    FeatureStore,
    FeatureView,
    SparkEngine,
    Transformation,
)

pytestmark = pytest.mark.slow


def assert_same_training_sets(
    spark_set: pd.DataFrame, duckdb_set: pd.DataFrame, view: FeatureView
) -> None:
    # since_last is exact: both sides divide the same two integers (below 2**53) in IEEE.
    inexact = {a.name for a in view.aggregations if a.function in ("sum", "mean")}
    inexact |= {t.name for t in view.transformations}
    exact = [name for name in view.feature_names if name not in inexact]
    pd.testing.assert_frame_equal(spark_set[exact], duckdb_set[exact], check_exact=True)
    columns = sorted(inexact)
    pd.testing.assert_frame_equal(
        spark_set[columns], duckdb_set[columns], check_exact=False, rtol=1e-9, atol=0
    )


def test_spark_equals_duckdb_on_adversarial_events_with_a_ttl(
    spark: Any, make_random_case: Callable[..., RandomCase]
) -> None:
    # Two windows (not three) keep Spark's plan, and so the test, smaller.
    case = make_random_case(21, ttl="2h", windows=("1h", "1d"))
    on_duckdb = FeatureStore([case.view]).build_training_set(case.spine, timestamp="ts")
    on_spark = FeatureStore([case.view], engine=SparkEngine(spark)).build_training_set(
        case.spine, timestamp="ts"
    )
    assert_same_training_sets(on_spark, on_duckdb, case.view)
    assert list(on_spark.columns) == list(on_duckdb.columns)


def test_spark_equals_duckdb_across_the_epoch_with_time_functions_and_request_features(
    spark: Any, make_random_case: Callable[..., RandomCase]
) -> None:
    # hour() and day_of_week() in filters run in SQL: before 1970 the engines' % and integer
    # division truncate toward zero, which the rendering must turn into floor semantics.
    case = make_random_case(22, windows=("1h", "1d"))
    shift = pd.Timestamp(0, tz="UTC") - T0 - pd.Timedelta(days=1)
    events = case.events.assign(
        event_time=case.events["event_time"] + shift,
        ingested_time=case.events["ingested_time"] + shift,
    )
    write_parquet(events, Path(case.view.source.location))
    countries = pd.Series(["US", "FR", None, "DE"] * len(case.spine), dtype="str")
    spine = case.spine.assign(
        ts=case.spine["ts"] + shift, country=countries.iloc[: len(case.spine)].to_numpy()
    )
    views = [case.view, request_view()]
    on_duckdb = FeatureStore(views).build_training_set(spine, timestamp="ts")
    on_spark = FeatureStore(views, engine=SparkEngine(spark)).build_training_set(
        spine, timestamp="ts"
    )
    assert_same_training_sets(on_spark, on_duckdb, case.view)
    request = list(request_view().feature_names)
    pd.testing.assert_frame_equal(on_spark[request], on_duckdb[request], check_exact=True)
    assert on_duckdb["n_morning_1d"].sum() > 0
    assert list(on_spark.columns) == list(on_duckdb.columns)


def test_spark_reads_naive_source_times_as_utc_and_dedups_without_created_time(
    spark: Any, tmp_path: Path
) -> None:
    t = pd.Timestamp("2024-03-01 12:00")
    events = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e2", "e3", "e4"],
            "merchant_id": [7, 7, 7, 8, 7],
            "event_time": [t - pd.Timedelta(minutes=m) for m in (90, 30, 30, 10, 0)],
            "amount": [1.5, 2.0, 4.0, None, 8.0],
            "approved": [True, False, True, True, None],
        }
    )
    path = write_parquet(events, tmp_path / "naive.parquet")
    columns = {"entity_key": "merchant_id", "event_id": "event_id", "event_time": "event_time"}
    source = EventSource.parquet(path, **columns, naive_timestamps="utc")
    view = FeatureView(
        "merchant",
        entity=Entity("merchant", keys=["merchant_id"]),
        source=source,
        features=[
            Aggregation("n_1h", "count", window="1h"),
            Aggregation("sum_1d", "sum", column="amount", window="1d"),
            Aggregation("last_approved", "last", column="approved", window="1d"),
            Aggregation("max_amount", "max", column="amount", window="1d", null_fill=100.0),
            Transformation("share", "sum_1d / coalesce(max_amount, 1)"),
        ],
    )
    spine = pd.DataFrame(
        {
            "merchant_id": [7, 8, 7, 9],
            "ts": [t, t, t + pd.Timedelta(minutes=1), t],
        }
    )
    on_duckdb = FeatureStore([view]).build_training_set(spine, "ts", naive_timestamps="utc")
    spark_store = FeatureStore([view], engine=SparkEngine(spark))
    on_spark = spark_store.build_training_set(spine, "ts", naive_timestamps="utc")
    assert_same_training_sets(on_spark, on_duckdb, view)
    # Without a created time, e2's two versions tie on time and key; the tie-break columns
    # (amount, then approved) make the 4.0 version win. e3's amount is null: skipped by the
    # sum, filled with 100 by the max. e4 at 12:00 counts only from 12:01.
    assert on_duckdb["n_1h"].tolist() == [1, 1, 2, 0]
    assert on_duckdb["sum_1d"].fillna(-1).tolist() == [5.5, -1, 13.5, -1]
    assert on_duckdb["max_amount"].fillna(-1).tolist() == [4.0, 100.0, 8.0, -1]
    assert on_duckdb["last_approved"].fillna(False).tolist() == [True, True, True, False]
    assert on_duckdb["share"].fillna(-1).tolist() == [1.375, -1, 1.6875, -1]
