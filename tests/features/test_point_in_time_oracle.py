"""DuckDB's training sets equal the brute-force reference, row by row and feature by feature."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from feature_cases import T0, RandomCase, assert_matches_reference, write_parquet

from tether.features import FeatureStore


@pytest.mark.parametrize("seed", range(6))
def test_duckdb_training_set_equals_the_reference_on_adversarial_events(
    seed: int, make_random_case: Callable[..., RandomCase]
) -> None:
    case = make_random_case(seed)
    training = FeatureStore([case.view]).build_training_set(case.spine, timestamp="ts")
    assert_matches_reference(training, case)


@pytest.mark.parametrize("seed", range(6, 9))
def test_a_ttl_shorter_than_the_window_gives_the_empty_value_on_both_paths(
    seed: int, make_random_case: Callable[..., RandomCase]
) -> None:
    case = make_random_case(seed, ttl="2h")
    training = FeatureStore([case.view]).build_training_set(case.spine, timestamp="ts")
    assert_matches_reference(training, case)


@pytest.mark.parametrize("seed", range(9, 12))
def test_without_created_time_the_last_version_of_each_event_wins_everywhere(
    seed: int, make_random_case: Callable[..., RandomCase]
) -> None:
    case = make_random_case(seed, created=False)
    training = FeatureStore([case.view]).build_training_set(case.spine, timestamp="ts")
    assert_matches_reference(training, case)


@pytest.mark.parametrize("seed", range(12, 14))
def test_times_on_both_sides_of_the_epoch_are_joined_like_any_other(
    seed: int, make_random_case: Callable[..., RandomCase]
) -> None:
    # The join buckets times by integer division, which truncates toward zero: the bucket
    # around 1970-01-01 is twice as wide as the others, and windows cross it.
    case = make_random_case(seed)
    shift = pd.Timestamp(0, tz="UTC") - T0 - pd.Timedelta(days=1)
    events = case.events.assign(
        event_time=case.events["event_time"] + shift,
        ingested_time=case.events["ingested_time"] + shift,
    )
    write_parquet(events, Path(case.view.source.location))
    spine = case.spine.assign(ts=case.spine["ts"] + shift)
    assert spine["ts"].min() < pd.Timestamp(0, tz="UTC") < spine["ts"].max()
    training = FeatureStore([case.view]).build_training_set(spine, timestamp="ts")
    assert_matches_reference(training, RandomCase(case.view, events, spine))
