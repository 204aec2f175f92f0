"""Times in, microseconds since the Unix epoch (UTC) out, or a FeatureError saying why not.

Every time tether compares is an integer count of microseconds since 1970-01-01 UTC: spine
times, event times, created times, on both engines and in the reference. Time-zone-aware
values are converted to UTC; naive values are rejected unless the caller says they are UTC
(``naive_timestamps="utc"``); a column mixing time zones (or naive and aware values) is
rejected, because it usually means two sources were concatenated without normalisation.
Finer-than-microsecond precision is truncated.

Text (the time columns of a CSV file) is read by :func:`parse_iso_times`: ISO-8601 only,
because ``01/02/2026`` means two different days on two continents. A cell with a UTC offset
(``Z``, ``+02:00``, ``-0500``) is that instant, so one column may hold several offsets (a
zone across a daylight-saving change); cells without one stay naive, for the caller's naive
policy to accept or refuse; a column holding both is refused, as above.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.errors import FeatureError
from tether.features._definitions import NaiveTimestamps

__all__ = ["parse_iso_times", "series_micros", "timestamp_micros"]

_EPOCH = pd.Timestamp(0, tz="UTC")
_NAIVE_HINT = "pass naive_timestamps='utc' if they are UTC, or localize them first"
_ISO_EXAMPLES = "e.g. 2026-01-20T09:30:00Z, 2026-01-20T11:30:00+02:00 or 2026-01-20"
# An offset ends a text that has a time part: "T09:30Z", " 09:30:00.5+02:00", "T0930-05". The
# time part is required, so the day of a bare date ("2026-01-20") never reads as "-20".
_OFFSET = re.compile(r"[Tt ]\d[\d:.,]*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")
# The times a Python datetime (and so every later step) can hold, in UTC.
_EARLIEST = pd.Timestamp(datetime.min, tz="UTC")
_LATEST = pd.Timestamp(datetime.max, tz="UTC")


def series_micros(
    values: pd.Series, *, what: str, naive: NaiveTimestamps
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Return ``(micros, null)`` for a column of times; ``micros`` is 0 where ``null``.

    Raises:
        FeatureError: the column holds something other than times, naive times without
            ``naive="utc"``, or a mix of time zones.
    """
    series = values
    if series.dtype == object:
        series = _uniform_zone(series, what=what)
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        if not pd.api.types.is_datetime64_dtype(series.dtype):
            raise FeatureError(
                f"{what} holds {series.dtype} values: expected timestamps "
                "(parse strings first, e.g. pd.to_datetime(column, utc=True))"
            )
        if naive != "utc":
            raise FeatureError(f"{what} holds naive timestamps (no time zone): {_NAIVE_HINT}")
        series = series.dt.tz_localize("UTC")
    null = series.isna().to_numpy(dtype=np.bool_)
    utc = series.dt.tz_convert("UTC").dt.tz_localize(None)
    micros = utc.to_numpy(dtype="datetime64[us]").view(np.int64).copy()
    micros[null] = 0
    return micros, null


def _uniform_zone(series: pd.Series, *, what: str) -> pd.Series:
    present = series.dropna()
    if present.empty:
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
    if not all(isinstance(value, datetime) for value in present):
        kinds = sorted({type(value).__name__ for value in present})
        raise FeatureError(f"{what} holds {', '.join(kinds)} values: expected timestamps")
    zones = sorted({str(value.tzinfo) for value in present})
    if len(zones) > 1:
        shown = ", ".join("naive" if zone == "None" else zone for zone in zones)
        raise FeatureError(
            f"{what} mixes time zones ({shown}): expected one time zone for the whole column; "
            "convert it first, e.g. pd.to_datetime(column, utc=True)"
        )
    if zones == ["None"]:
        return pd.Series(pd.to_datetime(series), index=series.index)
    return pd.Series(pd.to_datetime(series, utc=True), index=series.index)


def timestamp_micros(value: Any, *, what: str, naive: NaiveTimestamps = "reject") -> int:
    """Return one time as microseconds since the epoch (an ``int`` passes through as such).

    Raises:
        FeatureError: the value is null, not a time, or naive without ``naive="utc"``.
    """
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, datetime | np.datetime64 | str):
        raise FeatureError(f"{what} is {value!r}: expected a timestamp")
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise FeatureError(f"{what} is null: expected a timestamp")
    if stamp.tzinfo is None:
        if naive != "utc":
            raise FeatureError(f"{what} is naive ({value!r}): {_NAIVE_HINT}")
        stamp = stamp.tz_localize("UTC")
    return int((stamp - _EPOCH) // pd.Timedelta(microseconds=1))


def parse_iso_times(text: pd.Series, *, what: str) -> pd.Series:
    """Parse a column of ISO-8601 texts, such as a time column of a CSV file, into times.

    Returns a UTC ``datetime64`` column when every time has a UTC offset (each converted to
    UTC), a naive one when none has (the caller's ``naive_timestamps`` decides what they
    mean, through :func:`series_micros`). Empty cells are null. Row numbers in messages
    count the column's values from 1 (in a CSV file, the lines after the header).

    >>> parse_iso_times(pd.Series(["2026-01-20T11:30:00+02:00"]), what="event_time")[0]
    Timestamp('2026-01-20 09:30:00+0000', tz='UTC')

    Raises:
        FeatureError: a cell is not an ISO-8601 time, some cells have an offset and others
            do not, or a time lies outside years 1 to 9999 in UTC (before
            0001-01-01T00:00:00Z or after 9999-12-31T23:59:59.999999Z).
    """
    cells = pd.Series(text, dtype="string").str.strip()
    present = (cells.notna() & (cells != "")).to_numpy(dtype=np.bool_)
    # format="ISO8601" refuses any other layout; utc=True reads a naive text as that wall time.
    utc = pd.Series(
        pd.to_datetime(cells.where(present), format="ISO8601", utc=True, errors="coerce"),
        index=text.index,
    )
    malformed = present & utc.isna().to_numpy(dtype=np.bool_)
    _check_cells(cells, malformed, what, f"is not an ISO-8601 time: expected {_ISO_EXAMPLES}")
    aware = cells.str.contains(_OFFSET).fillna(False).to_numpy(dtype=np.bool_) & present
    naive = present & ~aware
    if aware.any() and naive.any():
        raise FeatureError(
            f"{what} mixes times with and without a UTC offset (row "
            f"{np.flatnonzero(aware)[0] + 1} has a UTC offset and row "
            f"{np.flatnonzero(naive)[0] + 1} has none): expected an offset on every time "
            "(e.g. Z), or on none"
        )
    outside = present & ((utc < _EARLIEST) | (utc > _LATEST)).to_numpy(dtype=np.bool_)
    span = f"{_EARLIEST.isoformat()} to {_LATEST.isoformat()}"
    _check_cells(cells, outside, what, f"is outside the times tether reads: expected {span}")
    if not aware.any():
        return utc.dt.tz_localize(None)  # naive: the caller's naive_timestamps decides
    return utc


def _check_cells(cells: pd.Series, bad: npt.NDArray[np.bool_], what: str, problem: str) -> None:
    """Raise, naming the first bad cell (row and value) and how many others there are."""
    rows = np.flatnonzero(bad)
    if rows.size == 0:
        return
    more = f" (and {rows.size - 1} more)" if rows.size > 1 else ""
    raise FeatureError(f"{what}, row {rows[0] + 1}: {cells.iloc[rows[0]]!r}{more} {problem}")
