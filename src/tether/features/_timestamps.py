"""Times in, microseconds since the Unix epoch (UTC) out, or a FeatureError saying why not.

Every time tether compares is an integer count of microseconds since 1970-01-01 UTC: spine
times, event times, created times, on both engines and in the reference. Time-zone-aware
values are converted to UTC; naive values are rejected unless the caller says they are UTC
(``naive_timestamps="utc"``); a column mixing time zones (or naive and aware values) is
rejected, because it usually means two sources were concatenated without normalisation.
Finer-than-microsecond precision is truncated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.errors import FeatureError
from tether.features._definitions import NaiveTimestamps

__all__ = ["series_micros", "timestamp_micros"]

_EPOCH = pd.Timestamp(0, tz="UTC")
_NAIVE_HINT = "pass naive_timestamps='utc' if they are UTC, or localize them first"


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
