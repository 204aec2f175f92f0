"""Online equals offline: whatever events arrive, in whatever order, at any request time.

Hypothesis draws a few events on a coarse grid (bursts at one time, duplicate event ids with
other created times, corrections that move an event to another customer, late-created rows,
null amounts and countries), writes them to the online store (pushed in random chunks, some
twice, or materialized from the source and then partly pushed again), and asks for vectors at
request times placed on the edges that matter: exactly at an event time, at event time + each
window, at a created time, one microsecond either side. Each vector must equal the row that
``build_training_set`` (DuckDB) computes for the same customer and time, feature by feature:
exactly, or within 1e-9 relative for floats, nulls included.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from feature_cases import (
    COUNTRIES,
    T0,
    random_events,
    random_view,
    request_view,
    write_parquet,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from online_backends import open_store

from tether.features import EventBatch, FeatureStore
from tether.features._online import OnlineFeatureStore
from tether.features._online_rows import RowCodec, _Batch
from tether.features._online_store import OnlineStore

MINUTE = pd.Timedelta(minutes=1)
DELAYS = [0, 0, 1, 30, 180, 1440]  # minutes between event and created time
OFFSETS = [pd.Timedelta(0), pd.Timedelta(hours=1), pd.Timedelta(hours=6), pd.Timedelta(days=1)]
NUDGES = [pd.Timedelta(0), pd.Timedelta(0), pd.Timedelta(microseconds=1), -pd.Timedelta(1, "us")]

event_rows = st.tuples(
    st.integers(0, 9),  # event id: a small pool, so ids repeat
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 47),  # half hours over one day: bursts at one time
    st.sampled_from(DELAYS),
    st.one_of(st.none(), st.sampled_from([1.0, 2.5, 10.0, 99.5])),
    st.sampled_from(COUNTRIES),
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(st.lists(event_rows, min_size=1, max_size=24))
    events = pd.DataFrame(
        {
            "event_id": [f"e{r[0]}" for r in rows],
            "customer_id": pd.Series([r[1] for r in rows], dtype="str"),
            "event_time": [T0 + r[2] * 30 * MINUTE for r in rows],
            "ingested_time": [T0 + r[2] * 30 * MINUTE + r[3] * MINUTE for r in rows],
            "amount": pd.Series([r[4] for r in rows], dtype="float64"),
            "country": pd.Series([r[5] for r in rows], dtype="str"),
        }
    )
    order = draw(st.permutations(range(len(events))))
    chunks = draw(st.lists(st.integers(0, len(events)), max_size=3))
    again = draw(st.lists(st.integers(0, len(events) - 1), max_size=6))
    queries = draw(st.lists(query(len(events)), min_size=1, max_size=12))
    return {
        "events": events,
        "order": list(order),
        "cuts": sorted(set(chunks)),
        "again": again,
        "queries": queries,
        "ttl": draw(st.sampled_from([None, "2h"])),
        "created": draw(st.booleans()),
        "materialize": draw(st.booleans()),
    }


def query(size: int) -> st.SearchStrategy[tuple[str, int, str, pd.Timedelta, pd.Timedelta]]:
    """A customer and a time: (customer, event row, which time, window offset, nudge)."""
    return st.tuples(
        st.sampled_from(["a", "b", "c", "zz"]),
        st.integers(0, size - 1),
        st.sampled_from(["event_time", "ingested_time"]),
        st.sampled_from(OFFSETS),
        st.sampled_from(NUDGES),
    )


def fill(online: OnlineFeatureStore, scenario: dict[str, Any]) -> None:
    """Write the scenario's events: materialized or pushed in chunks, some pushed twice."""
    events = scenario["events"]
    if scenario["materialize"]:
        online.materialize()
    else:
        shuffled, cuts = events.iloc[scenario["order"]], scenario["cuts"]
        for start, stop in zip([0, *cuts], [*cuts, len(events)], strict=True):
            if stop > start:
                online.push(shuffled.iloc[start:stop])
    if scenario["again"]:
        online.push(events.iloc[scenario["again"]])


def spine_of(scenario: dict[str, Any]) -> pd.DataFrame:
    events = scenario["events"]
    rows = [
        (
            customer,
            events[column].iloc[row] + offset + nudge,
            1.0 + position * 7.5,
            COUNTRIES[position % len(COUNTRIES)],
        )
        for position, (customer, row, column, offset, nudge) in enumerate(scenario["queries"])
    ]
    spine = pd.DataFrame(rows, columns=["customer_id", "t", "amount", "country"])
    return spine.astype({"country": "str"})


def check(scenario: dict[str, Any], store_of: Callable[[str], OnlineStore], folder: Path) -> None:
    """Online vectors equal the offline training set, query by query, feature by feature."""
    name = uuid.uuid4().hex[:12]
    path = write_parquet(scenario["events"], folder / f"{name}.parquet")
    view = random_view(path, ttl=scenario["ttl"], created=scenario["created"])
    spine = spine_of(scenario)
    offline_store = FeatureStore([view, request_view()])
    offline = offline_store.build_training_set(spine, timestamp="t")
    online = OnlineFeatureStore([view, request_view()], store_of(name))
    fill(online, scenario)
    for position, row in enumerate(spine.itertuples(index=False)):
        country = None if pd.isna(row.country) else row.country
        [vector] = online.get_online_features(
            [{"customer_id": row.customer_id}],
            [{"amount": row.amount, "country": country}],
            at=row.t,
        )
        assert list(vector.values) == list(offline_store.feature_names)
        for feature in offline_store.feature_names:
            where = f"query {position} ({row.customer_id} at {row.t}), feature {feature}"
            assert_same(offline[feature].iloc[position], vector[feature], where=where)


def assert_same(offline: Any, online: Any, *, where: str) -> None:
    """Null equals null; floats within 1e-9 relative; anything else exactly, type included."""
    if pd.isna(offline):
        assert online is None, f"{where}: offline null, online {online!r}"
    elif isinstance(offline, float | np.floating):
        assert isinstance(online, float), f"{where}: offline {offline!r}, online {online!r}"
        assert math.isclose(online, offline, rel_tol=1e-9, abs_tol=1e-12), (
            f"{where}: offline {offline!r}, online {online!r}"
        )
    else:
        assert online == offline, f"{where}: offline {offline!r}, online {online!r}"
        assert isinstance(online, bool) == isinstance(offline, bool | np.bool_), where


SQLITE_EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SQLITE_EXAMPLES
@given(scenario=scenarios())
def test_sqlite_online_vectors_equal_the_offline_training_set(
    scenario: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    def sqlite_store(name: str) -> OnlineStore:
        (tmp_path / name).mkdir()
        return open_store("sqlite", request, tmp_path / name)

    check(scenario, sqlite_store, tmp_path)


@pytest.mark.services
@settings(SQLITE_EXAMPLES, max_examples=8)
@given(scenario=scenarios())
def test_redis_online_vectors_equal_the_offline_training_set(
    scenario: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    check(scenario, lambda name: open_store("redis", request, tmp_path), tmp_path)


@pytest.mark.parametrize("seed", range(3))
def test_the_online_version_order_is_the_reference_order(seed: int, tmp_path: Path) -> None:
    events = random_events(np.random.default_rng(seed))
    view = random_view(write_parquet(events, tmp_path / "tx.parquet"), ttl=None)
    assert _Batch(view, events).order == EventBatch(view, events).order
    assert RowCodec(view).tie_break == view.tie_break_columns
