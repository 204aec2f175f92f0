"""The skew audit: served vectors recomputed offline, compared feature by feature."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from feature_cases import write_parquet
from test_training_set import EVENTS, SPINE, worked_example_view

from tether.errors import FeatureError
from tether.features import FeatureStore, measure_skew


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore([worked_example_view(write_parquet(EVENTS, tmp_path / "tx.parquet"))])


def _served(store: FeatureStore) -> pd.DataFrame:
    served = store.build_training_set(SPINE.drop(columns=["label"]), timestamp="event_time")
    return served.rename(columns={"event_time": "request_time"})


def test_vectors_served_from_the_same_definitions_have_no_skew(store: FeatureStore) -> None:
    report = measure_skew(store, _served(store), timestamp="request_time")
    assert report.rows == len(SPINE)
    assert {f.feature for f in report.features} == set(store.feature_names)
    assert report.worst_rate == 0.0
    assert not report.exceeds(0.0)


def test_a_stale_value_and_a_missing_one_are_counted_with_examples(store: FeatureStore) -> None:
    served = _served(store)
    served.loc[1, "amount_sum_1d"] = 60.0  # a stale materialization: the row-0 value
    served.loc[0, "last_country_1d"] = None  # the online store knew nothing
    served.loc[4, "amount_mean_1d"] += 1e-12  # float noise within tolerance
    report = measure_skew(store, served, timestamp="request_time")
    by_name = {f.feature: f for f in report.features}
    sums = by_name["amount_sum_1d"]
    assert (sums.mismatches, sums.rows) == (1, 5)
    assert sums.mismatch_rate == pytest.approx(0.2)
    assert sums.max_abs_difference == pytest.approx(230.0)
    assert sums.examples[0]["served"] == 60.0 and sums.examples[0]["offline"] == 290.0
    assert sums.examples[0]["customer_id"] == "c1"
    assert math.isinf(by_name["last_country_1d"].max_abs_difference)
    assert by_name["amount_mean_1d"].mismatches == 0
    assert report.exceeds(0.1) and not report.exceeds(0.2)


def test_served_vectors_without_any_feature_are_refused(store: FeatureStore) -> None:
    with pytest.raises(FeatureError, match="no column of any feature"):
        measure_skew(store, SPINE, timestamp="event_time")
