"""DuckDB's training sets equal the brute-force reference, row by row and feature by feature."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from feature_cases import RandomCase, assert_matches_reference

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
