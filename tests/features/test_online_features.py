"""Online feature vectors: statuses, writes that arrive out of order, materialization, errors.

Every test runs over SQLite and Redis. The worked example is the one of the training-set tests,
so the online values below are the offline values computed there by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from feature_cases import write_parquet
from online_backends import BACKENDS, open_store
from test_training_set import EVENTS, utc, worked_example_view

from tether.errors import FeatureError
from tether.features import Aggregation, Entity, EventSource, FeatureView
from tether.features._online import FeatureStatus, OnlineFeatureStore
from tether.features._online_store import OnlineStore

VALUE, EMPTY = FeatureStatus.VALUE, FeatureStatus.EMPTY
STALE, UNKNOWN = FeatureStatus.STALE, FeatureStatus.UNKNOWN_ENTITY


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> OnlineStore:
    return open_store(request.param, request, tmp_path)


@pytest.fixture
def online(store: OnlineStore, tmp_path: Path) -> OnlineFeatureStore:
    view = worked_example_view(write_parquet(EVENTS, tmp_path / "tx.parquet"))
    return OnlineFeatureStore([view], store)


def vector_at(online: OnlineFeatureStore, customer: str, at: str, amount: float = 40.0) -> dict:
    [vector] = online.get_online_features(
        [{"customer_id": customer}], [{"amount": amount}], at=utc(at)
    )
    return {name: (vector[name], vector.statuses[name]) for name in online.feature_names}


def test_the_worked_example_online_equals_the_values_computed_by_hand(
    online: OnlineFeatureStore,
) -> None:
    assert online.materialize().rows == len(EVENTS)
    c1 = vector_at(online, "c1", "2024-03-01 12:00")
    assert c1["tx_count_1h"] == (2, VALUE)
    assert c1["amount_mean_1d"] == (20.0, VALUE)
    assert c1["last_country_1d"] == ("US", VALUE)
    assert c1["amount_ratio_1d"] == (2.0, VALUE)
    later = vector_at(online, "c1", "2024-03-01 13:00", amount=100.0)
    assert later["amount_max_30d"] == (200.0, VALUE)  # the correction, known since 12:30
    assert later["tx_count_1h"] == (1, VALUE)  # e4, exactly at 12:00, now inside [12:00, 13:00)


def test_statuses_tell_apart_values_empty_windows_stale_values_and_unknown_entities(
    online: OnlineFeatureStore,
) -> None:
    online.materialize()
    c2 = vector_at(online, "c2", "2024-03-01 12:00")
    # e5 is ten days old: outside every 1d window (empty), inside the 30d one but older than
    # the view's 7d TTL (stale); the ratio reads the empty mean.
    assert c2["tx_count_1h"] == (0, EMPTY)
    assert c2["amount_sum_1d"] == (0.0, EMPTY)
    assert c2["amount_max_30d"] == (None, STALE)
    assert c2["amount_ratio_1d"] == (None, EMPTY)
    c9 = vector_at(online, "c9", "2024-03-01 12:00")
    assert {status for _, status in c9.values()} == {UNKNOWN}
    assert c9["tx_count_1h"] == (0, UNKNOWN) and c9["amount_sum_1d"] == (0.0, UNKNOWN)


# [t - 1h, t) at each time: 09:30 e1 | 10:00:00.000001 none (e1 at 09:00 just left) | 11:00
# e6 (e2 is at t itself) | 11:30 e6 (exactly t - 1h) and e2 | 12:00 e2 and e3 | 13:00 e4 (exactly
# t - 1h) | 13:00:00.000001 none.
HOURS = ["09:30", "10:00:00.000001", "11:00", "11:30", "12:00", "13:00", "13:00:00.000001"]


def test_windows_are_exact_at_request_time_not_at_materialization(
    online: OnlineFeatureStore,
) -> None:
    online.materialize()
    counts = [vector_at(online, "c1", f"2024-03-01 {hh}")["tx_count_1h"][0] for hh in HOURS]
    assert counts == [1, 0, 1, 2, 2, 1, 0]


def test_every_feature_matches_offline_at_those_times(online: OnlineFeatureStore) -> None:
    online.materialize()
    times = [utc(f"2024-03-01 {hh}") for hh in HOURS]
    spine = pd.DataFrame({"customer_id": "c1", "t": times, "amount": 1.0})
    offline = online.offline.build_training_set(spine, timestamp="t")
    for position, hh in enumerate(HOURS):
        vector = vector_at(online, "c1", f"2024-03-01 {hh}", amount=1.0)
        for name in online.feature_names:
            assert_same(offline[name].iloc[position], vector[name][0], where=f"{hh} {name}")


def assert_same(offline: object, online: object, *, where: str) -> None:
    """Null equals null; floats within 1e-9 relative; anything else exactly."""
    if pd.isna(offline):
        assert online is None, f"{where}: offline null, online {online!r}"
    elif isinstance(offline, float):
        assert isinstance(online, float), f"{where}: offline {offline!r}, online {online!r}"
        assert math.isclose(online, offline, rel_tol=1e-9), f"{where}: {offline} != {online}"
    else:
        assert online == offline, f"{where}: offline {offline!r}, online {online!r}"


def test_an_older_version_pushed_late_never_overwrites_the_newer_one(
    online: OnlineFeatureStore,
) -> None:
    correction, original = EVENTS.iloc[[4]], EVENTS.iloc[[3]]
    online.push(EVENTS.drop(index=[3]))
    online.push(correction)
    online.push(original)  # created at 11:30:05, before the correction: it loses after 12:30
    assert vector_at(online, "c1", "2024-03-01 13:00")["amount_max_30d"][0] == 200.0
    assert vector_at(online, "c1", "2024-03-01 12:00")["amount_max_30d"][0] == 30.0


def test_a_late_event_lands_in_its_place(online: OnlineFeatureStore) -> None:
    online.push(EVENTS)
    late = pd.DataFrame(
        [("e7", "c1", utc("2024-03-01 12:10"), utc("2024-03-01 12:45"), 5.0, "FR")],
        columns=EVENTS.columns,
    )
    online.push(late)
    assert vector_at(online, "c1", "2024-03-01 12:40")["tx_count_1h"][0] == 1  # not known yet
    assert vector_at(online, "c1", "2024-03-01 12:50")["tx_count_1h"][0] == 2  # e4 and e7


def test_incremental_materialization_reads_only_rows_created_since_the_watermark(
    store: OnlineStore, tmp_path: Path
) -> None:
    folder = tmp_path / "events"
    first, second = EVENTS.iloc[:5], EVENTS.iloc[5:]  # e4 and e5 are created after 12:30
    assert second["ingested_time"].min() < first["ingested_time"].max()  # e5: ingested long ago
    write_parquet(first, folder / "part-0.parquet")
    view = worked_example_view(folder)
    online = OnlineFeatureStore([view], store)
    assert online.materialize().rows == 5
    late = second[second["ingested_time"] >= first["ingested_time"].max()]
    write_parquet(second, folder / "part-1.parquet")
    # The last row of the first materialization (at the watermark) is read again: harmless.
    assert online.materialize().rows == len(late) + 1
    assert online.materialize(incremental=False).rows == len(EVENTS)
    assert vector_at(online, "c1", "2024-03-01 13:00")["tx_count_1h"][0] == 1


def test_a_materialization_of_a_source_without_created_times_is_always_full(
    store: OnlineStore, tmp_path: Path
) -> None:
    path = write_parquet(EVENTS.drop(columns="ingested_time"), tmp_path / "tx.parquet")
    view = worked_example_view(path)
    source = type(view.source).parquet(
        path, entity_key="customer_id", event_id="event_id", event_time="event_time"
    )
    view = type(view)(view.name, view.entity, source, view.features, ttl=view.ttl)
    online = OnlineFeatureStore([view], store)
    assert online.materialize().rows == online.materialize().rows == len(EVENTS)


def test_compaction_keeps_requests_after_its_time_exact(online: OnlineFeatureStore) -> None:
    online.materialize()
    before = vector_at(online, "c1", "2024-03-01 13:00")
    assert online.compact(utc("2024-03-01 13:00")) == 0  # every c1 event is within 30 days
    assert online.compact(utc("2024-03-25 00:00")) == 1  # e5 (20 Feb) is older than 30 days
    assert vector_at(online, "c1", "2024-03-01 13:00") == before
    assert vector_at(online, "c2", "2024-03-25")["tx_count_1h"] == (0, UNKNOWN)


def test_many_keys_at_once_come_back_in_order(online: OnlineFeatureStore) -> None:
    online.materialize()
    keys = [{"customer_id": c} for c in ["c9", "c1", "c2", "c1"]]
    vectors = online.get_online_features(keys, [{"amount": 1.0}] * 4, at=utc("2024-03-01 12:00"))
    assert [v.entity["customer_id"] for v in vectors] == ["c9", "c1", "c2", "c1"]
    assert [v["tx_count_1h"] for v in vectors] == [0, 2, 0, 2]


@pytest.mark.parametrize(
    ("keys", "request_data", "at", "message"),
    [
        ([{"customer": "c1"}], [{"amount": 1.0}], utc("2024-03-01"), r"unknown column\(s\)"),
        ([{}], [{"amount": 1.0}], utc("2024-03-01"), r"no column\(s\) \['customer_id'\]"),
        ([{"customer_id": "c1"}], [{}], utc("2024-03-01"), "lacks \\['amount'\\].*amount_ratio"),
        ([{"customer_id": "c1"}], None, utc("2024-03-01"), "lacks \\['amount'\\]"),
        ([{"customer_id": "c1"}], [{"amount": 1.0}], pd.Timestamp("2024-03-01"), "naive"),
        ([{"customer_id": "c1"}], [{"amount": 1.0}] * 2, utc("2024-03-01"), "2 rows"),
    ],
)
def test_bad_requests_are_refused_naming_the_problem(
    online: OnlineFeatureStore, keys: list, request_data: list | None, at: object, message: str
) -> None:
    with pytest.raises(FeatureError, match=message):
        online.get_online_features(keys, request_data, at=at)


def test_pushing_events_without_a_source_column_is_refused(online: OnlineFeatureStore) -> None:
    with pytest.raises(FeatureError, match="amount"):
        online.push(EVENTS.drop(columns="amount"))


def test_counts_say_what_was_read_and_what_was_new(store: OnlineStore, tmp_path: Path) -> None:
    path = write_parquet(EVENTS, tmp_path / "tx.parquet")
    view = worked_example_view(path)
    by_country = FeatureView(
        "country_tx",
        entity=Entity("country", keys=["country"]),
        source=EventSource.parquet(
            path, entity_key="country", event_id="event_id", event_time="event_time"
        ),
        features=[Aggregation("country_count_1d", "count", window="1d")],
    )
    online = OnlineFeatureStore([view, by_country], store)
    first = online.materialize()
    assert first.rows == 2 * len(EVENTS)
    assert {v.view: (v.rows, v.new) for v in first.views} == {
        "customer_tx": (len(EVENTS), len(EVENTS)),
        # e3's correction changes only the amount, which this view does not keep: one version.
        "country_tx": (len(EVENTS), len(EVENTS) - 1),
    }
    again = online.materialize()  # nothing new: the rows at the watermark are read again
    assert again.new == 0 and again.views[0].rows >= 1
    one = EVENTS.iloc[[0]].assign(event_id="e99")
    pushed = online.push(one)
    assert (pushed.rows, pushed.new, len(pushed.views)) == (1, 2, 2)  # 1 event into 2 views
    assert online.push(one).new == 0
    no_country = online.push(one.assign(event_id="e98", country=None))
    skipped = {v.view: (v.rows, v.skipped, v.new) for v in no_country.views}
    assert skipped == {"customer_tx": (1, 0, 1), "country_tx": (1, 1, 0)}
