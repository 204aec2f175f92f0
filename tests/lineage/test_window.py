"""The training window: its round trip, the maturity rule and incident exclusion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tether.errors import ConfigError, ImmatureWindowError
from tether.lineage import TrainWindow, check_matured, choose_window, whole_data

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def day(month: int, dom: int, hour: int = 0) -> datetime:
    return datetime(2026, month, dom, hour, tzinfo=UTC)


def test_choose_window_ends_one_outcome_window_before_now() -> None:
    window = choose_window(NOW, days=60, outcome_window_days=60)
    assert window.end == NOW - timedelta(days=60)
    assert window.start == window.end - timedelta(days=60)
    assert window.cutoff == NOW
    assert window.excluded == ()
    check_matured(window, 60)  # the chosen window passes the rule it was chosen by


def test_the_naive_window_of_the_last_30_days_is_refused() -> None:
    naive = TrainWindow(NOW - timedelta(days=30), NOW, NOW)
    with pytest.raises(ImmatureWindowError, match=r"2026-05-02 to 2026-06-01.*outcome window"):
        check_matured(naive, 60)


def test_a_window_one_second_too_late_is_refused() -> None:
    end = NOW - timedelta(days=60) + timedelta(seconds=1)
    with pytest.raises(ImmatureWindowError):
        check_matured(TrainWindow(end - timedelta(days=10), end, NOW), 60)


def test_an_incident_is_excluded_with_its_reach_into_windowed_features() -> None:
    incident = (day(3, 1), day(3, 2))
    window = choose_window(
        NOW, days=60, outcome_window_days=60, incidents=[incident], reach=timedelta(days=10)
    )
    assert window.excluded == ((day(3, 1), day(3, 12)),)


def test_an_incident_whose_reach_ends_before_the_window_is_not_excluded() -> None:
    window = choose_window(
        NOW, days=10, outcome_window_days=60, incidents=[(day(1, 1), day(1, 2))],
        reach=timedelta(days=7),
    )  # fmt: skip
    assert window.excluded == ()


def test_an_incident_before_the_window_reaches_into_it_through_the_features() -> None:
    end = NOW - timedelta(days=60)
    start = end - timedelta(days=10)
    incident = (start - timedelta(days=3), start - timedelta(days=2))
    window = choose_window(
        NOW, days=10, outcome_window_days=60, incidents=[incident], reach=timedelta(days=7)
    )
    assert window.excluded == ((incident[0], incident[1] + timedelta(days=7)),)


def test_overlapping_incidents_merge_and_are_clipped_to_the_end() -> None:
    end = NOW - timedelta(days=60)
    incidents = [(end - timedelta(days=5), end - timedelta(days=4)),
                 (end - timedelta(days=4, hours=12), end - timedelta(days=1))]  # fmt: skip
    window = choose_window(
        NOW, days=30, outcome_window_days=60, incidents=incidents, reach=timedelta(days=2)
    )
    assert window.excluded == ((end - timedelta(days=5), end),)


def test_incidents_after_the_window_are_ignored() -> None:
    window = choose_window(NOW, days=30, outcome_window_days=60, incidents=[(day(5, 1), day(5, 2))])
    assert window.excluded == ()


def test_round_trip_keeps_excluded_spans() -> None:
    window = choose_window(
        NOW, days=60, outcome_window_days=60, incidents=[(day(3, 10), day(3, 11, 6))],
        reach=timedelta(days=30),
    )  # fmt: skip
    assert TrainWindow.from_dict(window.to_dict()) == window
    assert "excluding" in window.describe()


def test_whole_data_contains_any_pandas_time() -> None:
    import pandas as pd

    window = whole_data(NOW)
    assert pd.Timestamp(window.start) <= pd.Timestamp.min.tz_localize("UTC") + pd.Timedelta(
        days=200
    )
    assert pd.Timestamp(window.end) >= pd.Timestamp("2200-01-01", tz="UTC")


@pytest.mark.parametrize(
    ("start", "end", "cutoff"),
    [(day(2, 1), day(1, 1), NOW), (datetime(2026, 1, 1), day(2, 1), NOW)],
)
def test_an_invalid_window_is_refused_naming_the_field(
    start: datetime, end: datetime, cutoff: datetime
) -> None:
    with pytest.raises(ConfigError, match="TrainWindow"):
        TrainWindow(start, end, cutoff)


def test_from_dict_refuses_a_record_without_its_times() -> None:
    with pytest.raises(ConfigError, match="start, end, cutoff"):
        TrainWindow.from_dict({"start": NOW.isoformat()})


def test_choose_window_refuses_a_non_positive_length() -> None:
    with pytest.raises(ConfigError, match="days > 0"):
        choose_window(NOW, days=0, outcome_window_days=60)


def test_the_whole_data_window_is_described_in_words_not_by_pandas_limits() -> None:
    cutoff = datetime(2026, 3, 1, tzinfo=UTC)
    assert whole_data(cutoff).describe() == "the whole data (data known by 2026-03-01)"
