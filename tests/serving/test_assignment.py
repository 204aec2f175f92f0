"""Sticky assignment: the cohort is a pure function of (experiment id, unit id) and the share."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from tether.errors import ServingError
from tether.serving._assignment import assign_cohort, assignment_bucket, bucket_index

UNITS = [f"customer-{i}" for i in range(100_000)]


@pytest.fixture(scope="module")
def buckets() -> np.ndarray:
    """The buckets of 100,000 units in experiment "17", as floats."""
    return np.array([assignment_bucket("17", unit) for unit in UNITS])


def test_bucket_matches_a_hand_computed_value() -> None:
    # printf '%s' 'exp-1:unit-1' | sha256sum -> d04331ac7ffa2eae a1e2a3aa... : the first 8 bytes
    # are 0xd04331ac7ffa2eae = 15006893000279862958, and 15006893000279862958 / 2**64 =
    # 0.81352529965804...
    assert bucket_index("exp-1", "unit-1") == 0xD04331AC7FFA2EAE == 15006893000279862958
    assert assignment_bucket("exp-1", "unit-1") == pytest.approx(0.8135252996580469, abs=1e-15)
    assert assign_cohort("exp-1", "unit-1", 0.81) == "champion"
    assert assign_cohort("exp-1", "unit-1", 0.82) == "challenger"


def test_bucket_is_the_first_8_bytes_of_sha256_big_endian() -> None:
    digest = hashlib.sha256(b"17:customer-42").digest()
    by_hand = sum(byte << (8 * (7 - i)) for i, byte in enumerate(digest[:8]))
    assert bucket_index("17", "customer-42") == by_hand == 0xFD5843AA069005D0


@pytest.mark.parametrize("share", [0.01, 0.05, 0.1, 0.5, 0.9])
def test_challenger_share_is_within_four_sigma_on_100k_units(
    buckets: np.ndarray, share: float
) -> None:
    n = len(buckets)
    challengers = int((buckets < share).sum())
    sigma = math.sqrt(n * share * (1 - share))
    assert abs(challengers - n * share) < 4 * sigma


def test_assign_cohort_agrees_with_the_bucket(buckets: np.ndarray) -> None:
    for unit, bucket in zip(UNITS[:2000], buckets[:2000], strict=True):
        expected = "challenger" if bucket < 0.3 else "champion"
        assert assign_cohort("17", unit, 0.3) == expected


def test_cohort_is_sticky_for_a_unit() -> None:
    first = [assign_cohort("17", unit, 0.2) for unit in UNITS[:500]]
    again = [assign_cohort("17", unit, 0.2) for unit in reversed(UNITS[:500])]
    assert first == list(reversed(again))


def test_raising_the_share_only_moves_units_to_the_challenger() -> None:
    for unit in UNITS[:2000]:
        if assign_cohort("17", unit, 0.1) == "challenger":
            assert assign_cohort("17", unit, 0.2) == "challenger"


def test_experiments_assign_independently(buckets: np.ndarray) -> None:
    other = np.array([assignment_bucket("18", unit) for unit in UNITS[:20_000]])
    share, n = 0.5, len(other)
    both = int(((buckets[:n] < share) & (other < share)).sum())
    expected = n * share * share
    sigma = math.sqrt(n * share * share * (1 - share * share))
    assert abs(both - expected) < 4 * sigma
    assert abs(np.corrcoef(buckets[:n], other)[0, 1]) < 4 / math.sqrt(n)


def test_units_without_id_and_zero_share_go_to_the_champion() -> None:
    assert assign_cohort("17", None, 1.0) == "champion"
    assert all(assign_cohort("17", unit, 0.0) == "champion" for unit in UNITS[:1000])


def test_a_share_of_one_sends_every_unit_to_the_challenger() -> None:
    assert all(assign_cohort("17", unit, 1.0) == "challenger" for unit in UNITS[:1000])


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_a_share_outside_zero_one_is_refused(share: float) -> None:
    with pytest.raises(ServingError, match=r"expected a number in \[0, 1\]"):
        assign_cohort("17", "u", share)
