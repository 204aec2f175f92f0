"""Feature definitions and point-in-time correct training sets (the offline feature store).

Define features once (feature views over entities' events, request views over the request
itself, so a client sends only the raw event); compute them offline (DuckDB by default,
Spark on the same definitions) and online (:class:`OnlineFeatureStore` over SQLite or
Redis, computing each vector at request time with the same reference aggregation and the
same expression evaluator), so training-serving skew cannot come from two implementations;
:func:`measure_skew` checks it.

>>> from tether.features import (Aggregation, Encoding, Entity, EventSource, FeatureStore,
...                              FeatureView, RequestColumn, RequestView, Transformation)
>>> customer = Entity("customer", keys=["customer_id"])
>>> tx = EventSource.parquet("events.parquet", entity_key="customer_id", event_id="event_id",
...                          event_time="event_time", created_time="ingested_time")
>>> view = FeatureView("customer_tx", entity=customer, source=tx, ttl="30d", features=[
...     Aggregation("tx_count_1h", "count", window="1h"),
...     Aggregation("amount_mean_30d", "mean", column="amount", window="30d"),
...     Transformation("amount_ratio_30d", "amount / amount_mean_30d", request=["amount"]),
...     Aggregation("hours_since_last_tx", "since_last", window="30d", unit="1h"),
... ])  # doctest: +SKIP
>>> payment = RequestView("payment", features=[
...     RequestColumn("amount"),
...     Transformation("hour_of_day", "hour(event_time)"),
...     Encoding("category_code", "category", vocabulary=["fuel", "grocery"], unknown=-1),
... ])
>>> store = FeatureStore([view, payment])  # doctest: +SKIP
>>> training = store.build_training_set(spine, timestamp="event_time")  # doctest: +SKIP
"""

from tether.features._aggregate import AggregateValue, EventBatch, aggregate_point, point_values
from tether.features._definitions import (
    AGGREGATION_FUNCTIONS,
    DEFINITIONS_FORMAT,
    Aggregation,
    AggregationFunction,
    Entity,
    EventSource,
    Feature,
    FeatureView,
    NaiveTimestamps,
    Transformation,
    definition_digest,
)
from tether.features._duckdb import DuckDBEngine, duckdb_connection
from tether.features._durations import duration_micros, format_duration, parse_duration
from tether.features._engine import ColumnKind, OfflineEngine, SourceSchema
from tether.features._evaluate import Vector, evaluate, evaluate_scalar, vector_from_values
from tether.features._expressions import Expression, Scalar, parse_expression, to_sql
from tether.features._offline import Definition, FeatureStore
from tether.features._online import (
    FeatureStatus,
    FeatureVector,
    OnlineFeatureStore,
    ViewWrite,
    WriteReport,
)
from tether.features._online_redis import RedisOnlineStore
from tether.features._online_rows import StoredVersion
from tether.features._online_sqlite import ONLINE_STORE_FILE, SQLiteOnlineStore
from tether.features._online_store import OnlineStore
from tether.features._request import Encoding, RequestColumn, RequestFeature, RequestView
from tether.features._skew import FeatureSkew, SkewReport, measure_skew
from tether.features._spark import SparkEngine
from tether.features._tables import read_table
from tether.features._timestamps import parse_iso_times, series_micros, timestamp_micros

__all__ = [
    "AGGREGATION_FUNCTIONS",
    "DEFINITIONS_FORMAT",
    "ONLINE_STORE_FILE",
    "AggregateValue",
    "Aggregation",
    "AggregationFunction",
    "ColumnKind",
    "Definition",
    "DuckDBEngine",
    "Encoding",
    "Entity",
    "EventBatch",
    "EventSource",
    "Expression",
    "Feature",
    "FeatureSkew",
    "FeatureStatus",
    "FeatureStore",
    "FeatureVector",
    "FeatureView",
    "NaiveTimestamps",
    "OfflineEngine",
    "OnlineFeatureStore",
    "OnlineStore",
    "RedisOnlineStore",
    "RequestColumn",
    "RequestFeature",
    "RequestView",
    "SQLiteOnlineStore",
    "Scalar",
    "SkewReport",
    "SourceSchema",
    "SparkEngine",
    "StoredVersion",
    "Transformation",
    "Vector",
    "ViewWrite",
    "WriteReport",
    "aggregate_point",
    "definition_digest",
    "duckdb_connection",
    "duration_micros",
    "evaluate",
    "evaluate_scalar",
    "format_duration",
    "measure_skew",
    "parse_duration",
    "parse_expression",
    "parse_iso_times",
    "point_values",
    "read_table",
    "series_micros",
    "timestamp_micros",
    "to_sql",
    "vector_from_values",
]
