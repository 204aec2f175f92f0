"""Bad input is refused before any query runs, with an error naming it and the expectation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from feature_cases import write_parquet
from sqlglot import exp

from tether.errors import FeatureError
from tether.features import (
    Aggregation,
    DuckDBEngine,
    Entity,
    EventSource,
    FeatureStore,
    FeatureView,
    Transformation,
)

T = pd.Timestamp("2024-03-01 12:00", tz="UTC")
EVENTS = pd.DataFrame(
    {
        "event_id": ["e1", "e2"],
        "customer_id": ["c1", "c1"],
        "event_time": [T - pd.Timedelta(hours=2), T - pd.Timedelta(minutes=5)],
        "ingested_time": [T - pd.Timedelta(hours=1), T - pd.Timedelta(minutes=4)],
        "amount": [10.0, 20.0],
        "country": ["US", "FR"],
    }
)
SPINE = pd.DataFrame({"customer_id": ["c1"], "ts": [T], "amount": [5.0]})


class CountingEngine(DuckDBEngine):
    """DuckDB, counting the queries it runs (validation must come before any)."""

    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    def run(
        self,
        query: exp.Select,
        *,
        sources: Mapping[str, EventSource],
        tables: Mapping[str, pa.Table],
        what: str,
    ) -> pa.Table:
        self.queries += 1
        return super().run(query, sources=sources, tables=tables, what=what)


def make_view(path: Path, *features: Aggregation | Transformation, **source: Any) -> FeatureView:
    columns = {
        "entity_key": "customer_id",
        "event_id": "event_id",
        "event_time": "event_time",
        "created_time": "ingested_time",
        **source,
    }
    chosen = features or (Aggregation("n_1h", "count", window="1h"),)
    entity = Entity("customer", keys=["customer_id"])
    return FeatureView("tx", entity, EventSource.parquet(path, **columns), chosen)


@pytest.fixture
def events_path(tmp_path: Path) -> Path:
    return write_parquet(EVENTS, tmp_path / "events.parquet")


def refused(store: FeatureStore, spine: pd.DataFrame, message: str, **options: Any) -> None:
    engine = store.engine
    assert isinstance(engine, CountingEngine)
    with pytest.raises(FeatureError, match=message):
        store.build_training_set(spine, timestamp="ts", **options)
    assert engine.queries == 0, "a query ran before the input was checked"


@pytest.mark.parametrize(
    ("features", "source", "message"),
    [
        ((Aggregation("s", "sum", column="amout", window="1d"),), {}, "no column 'amout'"),
        (
            (Aggregation("n", "count", window="1d", filter="contry == 'US'"),),
            {},
            "no column 'contry' \\(the filter of feature 'n'\\)",
        ),
        ((), {"entity_key": "customer"}, "no column 'customer' \\(the entity_key\\)"),
        ((), {"event_id": "id"}, "no column 'id' \\(the event_id\\)"),
        ((), {"created_time": "created"}, "no column 'created' \\(the created_time\\)"),
        ((), {"event_time": "amount"}, "'amount' \\(the event_time\\).*expected"),
        (
            (Aggregation("s", "sum", column="country", window="1d"),),
            {},
            "'country' \\(the column of feature 's'\\).*expected float or integer",
        ),
    ],
)
def test_an_unknown_or_mistyped_source_column_is_named(
    events_path: Path, features: tuple[Aggregation, ...], source: dict[str, str], message: str
) -> None:
    store = FeatureStore([make_view(events_path, *features, **source)], engine=CountingEngine())
    refused(store, SPINE, message)


def test_a_bad_second_view_stops_the_first_from_running(events_path: Path) -> None:
    good = make_view(events_path)
    bad_view = make_view(events_path, Aggregation("s", "sum", column="nope", window="1d"))
    bad = FeatureView("zz_bad", bad_view.entity, bad_view.source, bad_view.features)
    store = FeatureStore([good, bad], engine=CountingEngine())
    refused(store, SPINE, "no column 'nope'")


def test_an_empty_source_is_refused(tmp_path: Path) -> None:
    path = write_parquet(EVENTS.iloc[:0], tmp_path / "empty.parquet")
    store = FeatureStore([make_view(path)], engine=CountingEngine())
    refused(store, SPINE, "has no rows: expected events")


def test_a_missing_source_file_is_refused(tmp_path: Path) -> None:
    store = FeatureStore([make_view(tmp_path / "nowhere.parquet")], engine=CountingEngine())
    refused(store, SPINE, "does not exist")


def test_naive_source_times_are_refused_unless_the_source_says_utc(tmp_path: Path) -> None:
    events = EVENTS.assign(event_time=EVENTS["event_time"].dt.tz_localize(None))
    path = write_parquet(events, tmp_path / "naive.parquet")
    store = FeatureStore([make_view(path)], engine=CountingEngine())
    refused(store, SPINE, "\\['event_time'\\] .* hold naive timestamps")


@pytest.mark.parametrize(
    ("spine", "message"),
    [
        (SPINE.drop(columns="ts"), "spine has no timestamp column 'ts'"),
        (SPINE.drop(columns="customer_id"), "spine has no entity key column 'customer_id'"),
        (SPINE.assign(n_1h=1), "spine already has column\\(s\\) \\['n_1h'\\]"),
        (SPINE.assign(ts=T.tz_localize(None)), "spine column 'ts' holds naive timestamps"),
        (SPINE.assign(ts="2024-03-01"), "spine column 'ts' holds str values: expected timestamps"),
        (SPINE.assign(customer_id=[7]), "spine column 'customer_id' holds int64 values but"),
        (
            pd.DataFrame({"customer_id": ["c1", "c1"], "ts": [T, pd.NaT]}),
            "spine column 'ts' has 1 null time",
        ),
        (
            pd.DataFrame(
                {
                    "customer_id": ["c1", "c1"],
                    "ts": [
                        T.to_pydatetime(),
                        datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=1))),
                    ],
                }
            ),
            "spine column 'ts' mixes time zones \\(UTC, UTC\\+01:00\\)",
        ),
        (
            pd.DataFrame(
                {"customer_id": ["c1", "c1"], "ts": [T.to_pydatetime(), datetime(2024, 3, 1)]}
            ),
            "spine column 'ts' mixes time zones \\(naive, UTC\\)",
        ),
    ],
)
def test_a_bad_spine_is_refused_with_what_was_expected(
    events_path: Path, spine: pd.DataFrame, message: str
) -> None:
    store = FeatureStore([make_view(events_path)], engine=CountingEngine())
    refused(store, spine, message)


def test_a_missing_request_column_is_named(events_path: Path) -> None:
    view = make_view(
        events_path,
        Aggregation("mean_1d", "mean", column="amount", window="1d"),
        Transformation("ratio", "price / mean_1d", request=["price"]),
    )
    store = FeatureStore([view], engine=CountingEngine())
    refused(store, SPINE, "spine has no request column 'price'")


def test_a_spine_that_is_not_a_dataframe_is_refused(events_path: Path) -> None:
    store = FeatureStore([make_view(events_path)], engine=CountingEngine())
    refused(store, SPINE.to_dict(), "spine is a dict: expected a pandas DataFrame")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("aggregation", "message"),
    [
        (Aggregation("m", "min", column="amount", window="1d", empty="none"), "empty of feature"),
        (Aggregation("m", "last", column="country", window="1d", null_fill=0), "null_fill of"),
        (Aggregation("c", "count_distinct", column="amount", window="1d", null_fill="?"), "null"),
    ],
)
def test_an_empty_value_or_fill_of_the_wrong_kind_is_refused(
    events_path: Path, aggregation: Aggregation, message: str
) -> None:
    store = FeatureStore([make_view(events_path, aggregation)], engine=CountingEngine())
    refused(store, SPINE, f"{message}.* does not fit column")


def test_an_engine_failure_is_a_feature_error_naming_the_view(events_path: Path) -> None:
    view = make_view(events_path, Aggregation("n", "count", window="1d", filter="country > 5"))
    with pytest.raises(FeatureError, match="DuckDB failed computing feature view 'tx'"):
        FeatureStore([view]).build_training_set(SPINE, timestamp="ts")
