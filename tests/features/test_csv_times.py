"""Time columns of CSV files: ISO-8601 text, offsets honoured, naive per policy, bad cells named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tether.errors import FeatureError
from tether.features import parse_iso_times, read_table, series_micros

WHAT = "column 'event_time' of spine.csv"


def micros(text: list[str | None], naive: str = "reject") -> list[int | None]:
    parsed = parse_iso_times(pd.Series(text, dtype="str"), what=WHAT)
    values, null = series_micros(parsed, what=WHAT, naive=naive)  # type: ignore[arg-type]
    return [None if n else int(v) for v, n in zip(values, null, strict=True)]


NOON_UTC = int(pd.Timestamp("2026-01-20T12:00:00Z").value // 1000)


def test_z_and_utc_offsets_give_the_same_instant() -> None:
    text = ["2026-01-20T12:00:00Z", "2026-01-20T14:00:00+02:00", "2026-01-20T07:00:00-0500"]
    assert micros(text) == [NOON_UTC] * 3


def test_fractions_a_space_and_empty_cells_are_read() -> None:
    text = ["2026-01-20 12:00:00.250Z", None, ""]
    assert micros(text) == [NOON_UTC + 250_000, None, None]


def test_naive_times_follow_the_policy() -> None:
    with pytest.raises(FeatureError, match=r"column 'event_time' of spine.csv holds naive"):
        micros(["2026-01-20T12:00:00"])
    assert micros(["2026-01-20T12:00:00", "2026-01-20"], naive="utc") == [
        NOON_UTC,
        NOON_UTC - 12 * 3600 * 1_000_000,
    ]


def test_a_malformed_cell_is_named_by_column_row_and_value() -> None:
    text = ["2026-01-20T12:00:00Z", "2026-01-20T12:00:00Z", "20/01/2026 12:00", "nope"]
    with pytest.raises(FeatureError) as raised:
        micros(text)
    message = str(raised.value)
    assert "column 'event_time' of spine.csv" in message
    assert "row 3" in message and "'20/01/2026 12:00'" in message
    assert "(and 1 more)" in message and "ISO-8601" in message


def test_a_column_mixing_offsets_and_naive_times_is_refused() -> None:
    with pytest.raises(FeatureError, match=r"row 1 has a UTC offset and row 2 has none"):
        micros(["2026-01-20T12:00:00Z", "2026-01-20T12:00:00"], naive="utc")


def test_the_whole_range_of_years_is_read_and_beyond_it_is_refused() -> None:
    first, last = micros(["0001-01-01T00:00:00Z", "2300-01-01T00:00:00Z"])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert first == (datetime(1, 1, 1, tzinfo=UTC) - epoch) // timedelta(microseconds=1)
    assert last == (datetime(2300, 1, 1, tzinfo=UTC) - epoch) // timedelta(microseconds=1)
    with pytest.raises(FeatureError, match=r"row 1: '0001-01-01T00:00:00\+01:00' is outside"):
        micros(["0001-01-01T00:00:00+01:00"])


def test_read_table_parses_the_time_columns_of_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "push.csv"
    path.write_text("event_id,customer_id,event_time,amount\n1,007,2026-01-20T12:00:00Z,10.5\n")
    frame = read_table(path, what="the events file", time_columns=["event_time", "absent"])
    assert frame["event_time"].tolist() == [pd.Timestamp("2026-01-20T12:00:00Z")]
    assert frame["amount"].tolist() == [10.5]


def test_read_table_names_a_missing_file_and_a_bad_cell_with_the_file(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match=r"The spine .*nothing.csv does not exist"):
        read_table(tmp_path / "nothing.csv", what="The spine", time_columns=[])
    path = tmp_path / "spine.csv"
    path.write_text("customer_id,event_time\na,yesterday\n")
    with pytest.raises(FeatureError, match=r"column 'event_time' of .*spine.csv, row 1"):
        read_table(path, what="The spine", time_columns=["event_time"])


def test_read_table_names_a_file_it_cannot_parse(tmp_path: Path) -> None:
    path = tmp_path / "spine.parquet"
    path.write_text("customer_id,event_time\n")
    with pytest.raises(FeatureError, match=r"The spine .*spine.parquet cannot be read as Parquet"):
        read_table(path, what="The spine", time_columns=[])
