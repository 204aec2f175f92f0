"""Definitions: validated when made, errors that name the field, and a stable version."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tether.errors import FeatureError
from tether.features import (
    Aggregation,
    Entity,
    EventSource,
    FeatureStore,
    FeatureView,
    Transformation,
    format_duration,
    parse_duration,
)

CUSTOMER = Entity("customer", keys=["customer_id"])
SOURCE = EventSource.parquet(
    "events.parquet",
    entity_key="customer_id",
    event_id="event_id",
    event_time="event_time",
    created_time="ingested_time",
)


def view(*features: Aggregation | Transformation, **options: Any) -> FeatureView:
    chosen = features or (Aggregation("n_1h", "count", window="1h"),)
    return FeatureView(options.pop("name", "tx"), CUSTOMER, SOURCE, chosen, **options)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", timedelta(hours=1)),
        ("30m", timedelta(minutes=30)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        ("45s", timedelta(seconds=45)),
        (" 1d ", timedelta(days=1)),
        (timedelta(minutes=90), timedelta(minutes=90)),
    ],
)
def test_windows_parse_to_fixed_durations(text: str | timedelta, expected: timedelta) -> None:
    assert parse_duration(text, what="window") == expected


@pytest.mark.parametrize("text", ["7x", "1.5h", "h", "", "-1d", "0h", "1 d", "1D", "7days"])
def test_a_window_that_does_not_parse_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(FeatureError, match=r"window of feature 'n' is .*: expected"):
        Aggregation("n", "count", window=text)


def test_durations_are_written_in_their_largest_exact_unit() -> None:
    assert format_duration(timedelta(days=7)) == "1w"
    assert format_duration(timedelta(hours=36)) == "36h"
    assert format_duration(timedelta(minutes=90)) == "90m"
    assert format_duration(timedelta(microseconds=1500)) == "1500us"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Entity("customer", keys=[]), "keys of entity 'customer'"),
        (lambda: Entity("2customer", keys=["id"]), "entity name is '2customer'"),
        (lambda: EventSource("delta", "x", "k", "id", "t"), "source format is 'delta'"),
        (
            lambda: EventSource.parquet("x", entity_key="", event_id="i", event_time="t"),
            "entity_key",
        ),
        (
            lambda: EventSource.parquet(
                "x", entity_key="k", event_id="i", event_time="t", naive_timestamps="local"
            ),
            "naive_timestamps is 'local'",
        ),
        (lambda: Aggregation("n", "avg", window="1h"), "function of feature 'n' is 'avg'"),
        (lambda: Aggregation("s", "sum", window="1h"), "column of feature 's' is None"),
        (lambda: Aggregation("n-1", "count", window="1h"), "feature name is 'n-1'"),
        (lambda: Aggregation("__n", "count", window="1h"), "reserved"),
        (
            lambda: Aggregation("n", "count", window="1h", filter="country ="),
            "filter of feature 'n'",
        ),
        (
            lambda: Aggregation("n", "count", window="1h", filter="os.system('x')"),
            "filter of feature 'n'",
        ),
        (lambda: Aggregation("n", "count", window="1h", empty="none"), "empty of feature 'n'"),
        (lambda: Aggregation("n", "count", window="1h", empty=0.5), "empty of feature 'n'"),
        (
            lambda: Aggregation("m", "mean", column="a", window="1h", null_fill="x"),
            "null_fill of feature 'm'",
        ),
        (lambda: Transformation("r", "a ** 2"), "expression of feature 'r'"),
        (lambda: Transformation("r", "a.b"), "expression of feature 'r'"),
        (lambda: view(Transformation("r", "amount / n_1h")), "'amount' in feature 'r'"),
        (
            lambda: view(
                Transformation("r", "n_1h * 2"), Aggregation("n_1h", "count", window="1h")
            ),
            "'n_1h' in feature 'r'",
        ),
        (
            lambda: view(
                Aggregation("n_1h", "count", window="1h"),
                Aggregation("n_1h", "count", window="1d"),
            ),
            "feature name 'n_1h' is used twice",
        ),
        (
            lambda: view(Aggregation("customer_id", "count", window="1h")),
            "'customer_id' is used twice",
        ),
        (lambda: view(ttl="soon"), "ttl of feature view 'tx'"),
        (lambda: FeatureView("tx", CUSTOMER, SOURCE, []), "features of feature view 'tx'"),
        (
            lambda: FeatureView("tx", Entity("pair", keys=["a", "b"]), SOURCE, view().features),
            "source entity_key of feature view 'tx'",
        ),
        (lambda: FeatureStore([view(), view()]), "feature view name 'tx' is used twice"),
        (
            lambda: FeatureStore([view(), view(name="other")]),
            "feature name 'n_1h' is in feature views",
        ),
    ],
)
def test_a_bad_definition_is_refused_with_an_error_naming_the_field(
    make: Any, message: str
) -> None:
    with pytest.raises(FeatureError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_the_version_is_a_sha256_that_stays_when_nothing_changes() -> None:
    first = view(
        Aggregation("n_1h", "count", window="1h", filter="country!='US'"),
        Transformation("r", "n_1h*2", request=["a", "b"]),
    )
    again = view(
        Aggregation("n_1h", "count", window=timedelta(minutes=60), filter="(country != 'US')"),
        Transformation("r", "(n_1h * 2)", request=["b", "a"]),
    )
    assert len(first.version) == 64
    assert first.version == again.version
    assert FeatureStore([first]).version == FeatureStore([again]).version


def test_the_version_changes_when_a_window_filter_policy_or_order_changes() -> None:
    base = view(Aggregation("n", "count", window="1h"), Aggregation("m", "count", window="1d"))
    changed = [
        view(Aggregation("n", "count", window="2h"), Aggregation("m", "count", window="1d")),
        view(
            Aggregation("n", "count", window="1h", filter="amount > 0"),
            Aggregation("m", "count", window="1d"),
        ),
        view(
            Aggregation("n", "count", window="1h", empty=None),
            Aggregation("m", "count", window="1d"),
        ),
        view(Aggregation("m", "count", window="1d"), Aggregation("n", "count", window="1h")),
        view(
            Aggregation("n", "count", window="1h"), Aggregation("m", "count", window="1d"), ttl="1d"
        ),
    ]
    versions = {base.version, *(other.version for other in changed)}
    assert len(versions) == len(changed) + 1


def test_the_store_version_ignores_the_order_views_are_given_in() -> None:
    first = view(name="a")
    second = view(Aggregation("m_1h", "count", window="1h"), name="b")
    assert FeatureStore([first, second]).version == FeatureStore([second, first]).version
    assert FeatureStore([second, first]).feature_names == ("n_1h", "m_1h")


def test_defaults_of_the_null_policy_are_written_into_the_definition() -> None:
    normalized = view(
        Aggregation("n", "count", window="1h"),
        Aggregation("c", "count_distinct", column="country", window="1d"),
        Aggregation("m", "mean", column="amount", window="1d"),
    ).to_dict()["features"]
    assert [(f["empty"], f["null_fill"]) for f in normalized] == [
        (0, None),
        (0, None),
        (None, None),
    ]


def test_the_version_does_not_depend_on_where_the_events_are() -> None:
    from tether.features import Aggregation, Entity, EventSource, FeatureView

    def view(path: str) -> FeatureView:
        source = EventSource.parquet(
            path, entity_key="customer_id", event_id="event_id", event_time="event_time"
        )
        return FeatureView(
            "tx", entity=Entity("customer", keys=["customer_id"]), source=source,
            features=[Aggregation("n_1d", "count", window="1d")],
        )  # fmt: skip

    assert view("data/a.parquet").version == view("/snapshots/ab/cdef").version
