"""``since_last``: the time since the entity's previous event, strictly before t.

The oracle is arithmetic on the few events written here; the random cases of
``feature_cases.py`` check the same kind against the reference on every engine and online.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from feature_cases import write_parquet

from tether.errors import FeatureError
from tether.features import (
    Aggregation,
    Entity,
    EventSource,
    FeatureStore,
    FeatureView,
    OnlineFeatureStore,
    SQLiteOnlineStore,
)

T0 = pd.Timestamp("2026-03-01 08:00", tz="UTC")


def _view(path: Path, *, ttl: str | None = None) -> FeatureView:
    source = EventSource.parquet(
        path, entity_key="customer_id", event_id="event_id", event_time="event_time"
    )
    return FeatureView(
        "customer",
        entity=Entity("customer", keys=["customer_id"]),
        source=source,
        ttl=ttl,
        features=[
            Aggregation("hours_since", "since_last", window="1d", unit="1h"),
            Aggregation(
                "minutes_since_big",
                "since_last",
                window="2d",
                unit="1m",
                filter="amount > 10",
                empty=-1.0,
            ),
        ],
    )


def _write(tmp_path: Path) -> Path:
    minutes = [0, 90, 90, 600]
    events = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3", "e4"],
            "customer_id": ["a", "a", "a", "b"],
            "event_time": [T0 + pd.Timedelta(minutes=m) for m in minutes],
            "amount": [50.0, 5.0, 1.0, 20.0],
        }
    ).astype({"event_time": "datetime64[us, UTC]"})
    return write_parquet(events, tmp_path / "events.parquet")


SPINE = pd.DataFrame(
    {
        "customer_id": ["a", "a", "a", "a", "a", "b", "zz"],
        "t": [
            T0,  # exactly at the first event: nothing before it
            T0 + pd.Timedelta(minutes=90),  # at e2 and e3: only e1 is before
            T0 + pd.Timedelta(minutes=100),  # 10 minutes after e2/e3
            T0 + pd.Timedelta(hours=1, minutes=30, days=1),  # e2 and e3 exactly 1d old
            T0 + pd.Timedelta(days=3),  # everything out of both windows
            T0 + pd.Timedelta(minutes=601),
            T0,
        ],
    }
)
HOURS = [None, 1.5, 10 / 60, 24.0, None, 1 / 60, None]
MINUTES_SINCE_BIG = [-1.0, 90.0, 100.0, 24 * 60 + 90.0, -1.0, 1.0, -1.0]


def test_since_last_is_the_time_since_the_previous_event_strictly_before_t(
    tmp_path: Path,
) -> None:
    training = FeatureStore([_view(_write(tmp_path))]).build_training_set(SPINE, timestamp="t")
    hours = [None if pd.isna(v) else v for v in training["hours_since"]]
    assert hours == HOURS  # the same float division on both sides: exact
    assert training["minutes_since_big"].tolist() == MINUTES_SINCE_BIG
    assert training["hours_since"].dtype == "float64"


def test_online_since_last_equals_offline(tmp_path: Path) -> None:
    view = _view(_write(tmp_path))
    online = OnlineFeatureStore([view], SQLiteOnlineStore(tmp_path / "online.sqlite"))
    online.materialize()
    for position, row in enumerate(SPINE.itertuples(index=False)):
        [vector] = online.get_online_features([{"customer_id": row.customer_id}], at=row.t)
        assert vector["hours_since"] == HOURS[position], position
        assert vector["minutes_since_big"] == MINUTES_SINCE_BIG[position], position
    online.store.close()


def test_a_ttl_makes_an_old_previous_event_empty(tmp_path: Path) -> None:
    view = _view(_write(tmp_path), ttl="2h")
    training = FeatureStore([view]).build_training_set(SPINE, timestamp="t")
    hours = [None if pd.isna(v) else v for v in training["hours_since"]]
    assert hours == [None, 1.5, 10 / 60, None, None, 1 / 60, None]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Aggregation("s", "since_last", window="1d"), "since_last needs a unit"),
        (
            lambda: Aggregation("s", "since_last", column="amount", window="1d", unit="1h"),
            "since_last reads event times only",
        ),
        (
            lambda: Aggregation("s", "count", window="1d", unit="1h"),
            "only since_last takes a unit",
        ),
        (lambda: Aggregation("s", "since_last", window="1d", unit="0s"), "unit of feature 's'"),
        (
            lambda: Aggregation("s", "since_last", window="1d", unit="1h", empty="never"),
            "expected a number or None",
        ),
    ],
)
def test_bad_since_last_definitions_name_the_field(make: object, message: str) -> None:
    with pytest.raises(FeatureError, match=message):
        make()  # type: ignore[operator]


def test_only_since_last_writes_a_unit_into_the_normalized_form() -> None:
    since = Aggregation("s", "since_last", window="24h", unit="60m")
    assert since.to_dict()["unit"] == "1h" and since.to_dict()["window"] == "1d"
    assert "unit" not in Aggregation("n", "count", window="1d").to_dict()
    other = Aggregation("s", "since_last", window="24h", unit="1m")
    assert since.to_dict() != other.to_dict()
