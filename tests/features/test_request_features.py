"""Request features: time functions, encodings and request views, the same on every path.

Oracles: pandas' own ``Timestamp.hour`` and ``weekday()`` for the time functions (on both
sides of the epoch, where SQL's truncating ``%`` and integer division differ from floor
semantics); the scalar path (:func:`request_scalars`, what the online store runs) for the
vectorised training-set path; and, for versions, the digest that the code before request
views gave the same definitions.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from feature_cases import request_view, write_parquet
from sqlglot import exp

from tether.errors import FeatureError, RequestColumnError
from tether.features import (
    Aggregation,
    Encoding,
    Entity,
    EventSource,
    FeatureStore,
    FeatureView,
    OnlineFeatureStore,
    RequestColumn,
    RequestView,
    SQLiteOnlineStore,
    Transformation,
    evaluate,
    measure_skew,
    parse_expression,
    to_sql,
    vector_from_values,
)
from tether.features._evaluate import vector_to_series
from tether.features._request import request_scalars

TIMES = pd.Series(
    pd.to_datetime(
        [
            "2026-01-05 13:30:00.000001",  # a Monday
            "2026-01-04 23:59:59.999999",  # a Sunday, last microsecond
            "1970-01-01 00:00:00",  # the epoch, a Thursday
            "1969-12-31 23:59:59.999999",  # one microsecond before it
            "1969-12-28 07:15:00",  # a Sunday before the epoch
            "1900-03-01 00:30:00",
            "2262-01-01 00:00:00",
        ],
        utc=True,
        format="ISO8601",
    ).astype("datetime64[us, UTC]")
)


def _python(text: str, times: pd.Series = TIMES) -> list[float]:
    vector = evaluate(
        parse_expression(text, what="test"),
        {"t": vector_from_values(times, what="t")},
        length=len(times),
    )
    return vector_to_series(vector).tolist()


def _duckdb(text: str, times: pd.Series = TIMES) -> list[float]:
    rendered = to_sql(parse_expression(text, what="test"), lambda name: exp.column(name, "r"))
    query = exp.select(rendered.as_("v")).from_(exp.to_table("rows").as_("r"))
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("rows", pd.DataFrame({"t": times}))
        return [float(row[0]) for row in connection.execute(query.sql("duckdb")).fetchall()]


def test_hour_and_day_of_week_equal_pandas_on_both_sides_of_the_epoch() -> None:
    assert _python("hour(t)") == [float(t.hour) for t in TIMES]
    assert _python("day_of_week(t)") == [float(t.weekday()) for t in TIMES]


def test_the_sql_time_functions_equal_the_python_ones_on_duckdb() -> None:
    for text in ("hour(t)", "day_of_week(t)", "hour(t) * 10 + day_of_week(t)"):
        assert _duckdb(text) == _python(text), text


def test_time_functions_agree_on_random_times_across_five_centuries() -> None:
    rng = np.random.default_rng(5)
    micros = rng.integers(-9 * 10**15, 9 * 10**15, size=2000)  # 1685 to 2255
    times = pd.Series(pd.to_datetime(micros, unit="us", utc=True)).astype("datetime64[us, UTC]")
    assert _python("hour(t)", times) == [float(t.hour) for t in times]
    assert _python("day_of_week(t)", times) == [float(t.weekday()) for t in times]
    assert _duckdb("day_of_week(t)", times) == _python("day_of_week(t)", times)
    assert _duckdb("hour(t)", times) == _python("hour(t)", times)


def test_a_time_is_compared_but_never_a_feature_value() -> None:
    assert _python("number(t < t)") == [0.0] * len(TIMES)
    with pytest.raises(FeatureError, match="gives times"):
        _python("t")
    with pytest.raises(FeatureError, match="'\\+' takes number values, got time"):
        _python("t + 1")
    with pytest.raises(FeatureError, match="'hour' takes time values, got number"):
        evaluate(parse_expression("hour(x)", what="t"), {"x": vector_from_values(
            pd.Series([1.0]), what="x")}, length=1)  # fmt: skip


@pytest.mark.parametrize("text", ["hour(t, t)", "hour()", "number(1, 2)", "day_of_week(t=1)"])
def test_time_functions_take_exactly_one_argument(text: str) -> None:
    with pytest.raises(FeatureError):
        parse_expression(text, what="test")


def test_an_encoding_codes_its_vocabulary_and_gives_unknown_to_anything_else() -> None:
    encoding = Encoding("code", "category", vocabulary=["fuel", "grocery"], unknown=-1)
    values = vector_from_values(pd.Series(["grocery", "fuel", "toys", None], dtype="str"),
                                what="category")  # fmt: skip
    assert vector_to_series(encoding.encode(values)).tolist() == [1.0, 0.0, -1.0, -1.0]
    assert encoding.code("grocery") == 1 and encoding.code(3) == -1
    with pytest.raises(FeatureError, match="holds number values: expected strings"):
        encoding.encode(vector_from_values(pd.Series([1.0]), what="category"))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Encoding("c", "x", vocabulary=[]), "expected a non-empty list"),
        (lambda: Encoding("c", "x", vocabulary=["a", "a"]), "expected distinct strings"),
        (lambda: Encoding("c", "x", vocabulary=["a", 1]), "expected distinct strings"),
        (lambda: Encoding("c", "x", vocabulary=["a", "b"], unknown=1), "the code of 'b'"),
        (lambda: Encoding("c", "x", vocabulary=["a"], unknown=True), "expected an integer"),
        (lambda: RequestView("r", features=[]), "expected at least one feature"),
        (
            lambda: RequestView("r", features=[RequestColumn("a"), RequestColumn("a")]),
            "'a' is used twice",
        ),
        (
            lambda: RequestView("r", features=[Transformation("event_time", "1")]),
            "'event_time' is used twice",
        ),
        (
            lambda: RequestView("r", features=[Transformation("x", "a + 1", request=["a"])]),
            "leave it out",
        ),
        (lambda: RequestView("r", features=["amount"]), "expected RequestColumn, Encoding"),  # type: ignore[list-item]
        (lambda: FeatureStore([request_view(), request_view()]), "request view name 'req'"),
    ],
)
def test_bad_request_definitions_name_the_field(make: object, message: str) -> None:
    with pytest.raises(FeatureError, match=message):
        make()  # type: ignore[operator]


def test_a_request_view_reads_every_name_that_is_not_a_feature_or_the_time() -> None:
    view = request_view()
    assert view.request_columns == ("amount", "country")
    assert view.passthrough == ("amount",)
    assert view.feature_names[0] == "amount"


def _spine() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "a", "c", "b", "a"],
            "ts": TIMES.iloc[:6].to_numpy(),
            "amount": [5.0, 12.0, None, 30.0, 0.5, 11.0],
            "country": pd.Series(["US", "FR", "DE", None, "US", "FR"], dtype="str"),
        }
    )


def test_the_training_set_equals_the_online_computation_row_by_row() -> None:
    view = request_view()
    spine = _spine()
    training = FeatureStore([view]).build_training_set(spine, timestamp="ts")
    assert training["amount"].equals(spine["amount"])  # the request's own column, untouched
    assert list(training.columns) == [*spine.columns, *view.feature_names[1:]]
    for position, row in enumerate(spine.to_dict("records")):
        request = {k: None if pd.isna(v) else v for k, v in row.items()}
        at_us = int(pd.Timestamp(row["ts"]).value // 1000)
        online = request_scalars(view, request, at_us)
        for name, value in online.items():
            offline = training[name].iloc[position]
            assert (value is None and pd.isna(offline)) or value == offline, (position, name)
    assert training["req_hour"].tolist() == [float(t.hour) for t in TIMES.iloc[:6]]
    assert training["req_country_code"].tolist() == [0.0, 1.0, -1.0, -1.0, 0.0, 1.0]
    assert training["req_foreign"].fillna(-9).tolist() == [0.0, 1.0, 1.0, -9, 0.0, 1.0]


def test_a_spine_without_a_request_column_is_refused_before_any_work() -> None:
    with pytest.raises(FeatureError, match=r"no request column 'country'.*request view 'req'"):
        FeatureStore([request_view()]).build_training_set(
            _spine().drop(columns="country"), timestamp="ts"
        )
    with pytest.raises(FeatureError, match="already has column\\(s\\) \\['req_hour'\\]"):
        FeatureStore([request_view()]).build_training_set(
            _spine().assign(req_hour=1), timestamp="ts"
        )


def _customer_view(path: Path) -> FeatureView:
    source = EventSource.parquet(
        path, entity_key="customer_id", event_id="event_id", event_time="event_time"
    )
    return FeatureView(
        "customer",
        entity=Entity("customer", keys=["customer_id"]),
        source=source,
        features=[Aggregation("since_last_h", "since_last", window="1d", unit="1h")],
    )


def _events(tmp_path: Path) -> Path:
    t0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    events = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "customer_id": ["a", "a", "b"],
            "event_time": [t0, t0 + pd.Timedelta(minutes=90), t0],
        }
    )
    return write_parquet(events.astype({"event_time": "datetime64[us, UTC]"}),
                         tmp_path / "events.parquet")  # fmt: skip


def test_online_vectors_hold_request_features_and_refuse_a_missing_column(tmp_path: Path) -> None:
    views = [_customer_view(_events(tmp_path)), request_view()]
    online = OnlineFeatureStore(views, SQLiteOnlineStore(tmp_path / "online.sqlite"))
    online.materialize()
    at = pd.Timestamp("2026-01-05 13:00", tz="UTC")
    [vector] = online.get_online_features(
        [{"customer_id": "a"}], [{"amount": 20.0, "country": "FR"}], at=at
    )
    assert vector["since_last_h"] == 1.5
    assert vector["req_hour"] == 13.0 and vector["req_country_code"] == 1.0
    assert vector["req_big_afternoon"] is True and vector["amount"] == 20.0
    assert vector.statuses["req_hour"] == "value"
    with pytest.raises(RequestColumnError, match="request row 1 lacks \\['country'\\]") as error:
        online.get_online_features(
            [{"customer_id": "a"}, {"customer_id": "b"}],
            [{"amount": 1.0, "country": "US"}, {"amount": 1.0}],
            at=at,
        )
    assert (error.value.row, error.value.column) == (1, "country")
    online.store.close()


def test_the_skew_audit_recomputes_request_features_from_the_logged_request(
    tmp_path: Path,
) -> None:
    views = [_customer_view(_events(tmp_path)), request_view()]
    served = _spine().iloc[:3].assign(ts=pd.Timestamp("2026-01-05 13:00", tz="UTC"))
    store = FeatureStore(views)
    vectors = store.build_training_set(served, timestamp="ts")
    assert measure_skew(store, vectors, timestamp="ts").worst_rate == 0.0
    vectors.loc[1, "req_country_code"] = 5.0  # a client that sent its own code
    report = measure_skew(store, vectors, timestamp="ts")
    audited = {f.feature: f for f in report.features}
    assert set(audited) == set(store.feature_names)
    assert audited["req_country_code"].mismatches == 1
    assert audited["req_hour"].mismatches == 0


# The digests the definitions had before request views and since_last existed (computed by
# the code of the parent commit): adding kinds must not change what existing ones mean.
OLD_VIEW_VERSION = "7a53c56fe35348b9b0c8047af022a54e4a99e4ae5b291ac6bb4e618cf640c6df"
OLD_STORE_VERSION = "1aa2c0199f7e29bc9d562fa566e7c07c10bc7d15f5592e74995d4e0a8b5cfbb0"


def _old_view() -> FeatureView:
    source = EventSource.parquet("x.parquet", entity_key="customer_id", event_id="event_id",
                                 event_time="event_time", created_time="ingested_time")  # fmt: skip
    return FeatureView(
        "customer_tx",
        entity=Entity("customer", keys=["customer_id"]),
        source=source,
        ttl="30d",
        features=[
            Aggregation("tx_count_1h", "count", window="1h"),
            Aggregation(
                "amount_mean_30d", "mean", column="amount", window="30d", filter="amount > 0"
            ),
            Aggregation("last_country", "last", column="country", window="7d"),
            Transformation("ratio", "amount / amount_mean_30d", request=["amount"]),
        ],
    )


def test_existing_definitions_keep_their_versions() -> None:
    assert _old_view().version == OLD_VIEW_VERSION
    assert FeatureStore([_old_view()]).version == OLD_STORE_VERSION


def test_request_views_and_their_vocabularies_are_part_of_the_version() -> None:
    base = FeatureStore([_old_view(), request_view()]).version
    assert base != OLD_STORE_VERSION
    assert FeatureStore([request_view(), _old_view()]).version == base  # order of the list
    swapped = RequestView("req", features=[Encoding("c", "x", vocabulary=["b", "a"])])
    plain = RequestView("req", features=[Encoding("c", "x", vocabulary=["a", "b"])])
    assert (
        FeatureStore([_old_view(), swapped]).version != FeatureStore([_old_view(), plain]).version
    )
    timed = RequestView("req", time="t", features=[Transformation("h", "hour(t)")])
    assert timed.to_dict()["time"] == "t"
    assert FeatureStore([timed]).version != FeatureStore([_old_view()]).version
