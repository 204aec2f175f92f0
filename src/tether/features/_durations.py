"""Windows and TTLs: parse ``"1h"``, ``"7d"`` or a :class:`~datetime.timedelta` into microseconds.

A duration is a fixed length of time, never a calendar span: ``"1d"`` is always 86,400 seconds,
whatever the time zone or daylight-saving change. Both engines and the reference compare times
as integer microseconds since the Unix epoch (UTC), so a window means the same thing everywhere.

>>> parse_duration("7d", what="window of feature 'tx_count_7d'")
datetime.timedelta(days=7)
"""

from __future__ import annotations

import re
from datetime import timedelta

from tether.errors import FeatureError

__all__ = ["MICROSECONDS_PER_UNIT", "duration_micros", "format_duration", "parse_duration"]

MICROSECONDS_PER_UNIT: dict[str, int] = {
    "s": 1_000_000,
    "m": 60 * 1_000_000,
    "h": 3_600 * 1_000_000,
    "d": 86_400 * 1_000_000,
    "w": 7 * 86_400 * 1_000_000,
}
"""The units a duration may be written in, and their length."""

_DURATION = re.compile(r"(?P<count>[0-9]+)(?P<unit>[smhdw])")
_EXPECTED = "a whole number followed by s, m, h, d or w (e.g. '30m', '1h', '7d'), or a timedelta"


def parse_duration(value: str | timedelta, *, what: str) -> timedelta:
    """Parse a positive duration, naming ``what`` (e.g. "window of feature 'x'") in errors.

    Raises:
        FeatureError: the value is not a duration, is zero or negative, or is finer than a
            microsecond.
    """
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise FeatureError(f"{what} is {value!r}: expected {_EXPECTED}")
        micros = int(match["count"]) * MICROSECONDS_PER_UNIT[match["unit"]]
        duration = timedelta(microseconds=micros)
    else:
        raise FeatureError(f"{what} is {value!r} ({type(value).__name__}): expected {_EXPECTED}")
    if duration <= timedelta(0):
        raise FeatureError(f"{what} is {value!r}: expected a positive duration")
    return duration


def duration_micros(duration: timedelta) -> int:
    """Return the exact length of ``duration`` in microseconds."""
    return (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds


def format_duration(duration: timedelta) -> str:
    """Write ``duration`` in the largest unit that divides it exactly (``"7d"``, ``"90m"``).

    Durations that are not whole seconds are written in microseconds (``"1500000us"``).
    """
    micros = duration_micros(duration)
    for unit in ("w", "d", "h", "m", "s"):
        size = MICROSECONDS_PER_UNIT[unit]
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"
