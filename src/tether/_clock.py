"""The one clock monitoring and the loop read the time from: wall time, or a replay's.

tether keeps two times apart:

- **the clock's time** (:meth:`Clock.now`): the time a decision is made *at*. Monitoring's
  windows ("the last 7 days"), "known by day d" and the registry events monitoring aligns with
  windows (deploys, alias changes) are on it. In production it is the wall clock; a replay (the
  demo that plays the fraud world's months in minutes) drives a :class:`ReplayClock` forward
  day by day, so the same monitor and loop code sees the replayed January as "now".
- **wall time**: when something really happened on this machine. Timeouts stay on it,
  whatever the clock says, and so does every row's ``wall_time``. The loop's lease and the
  prediction log's retention follow the clock instead (issue 11): on the wall clock a replay's
  retention would delete the replayed January at start-up, and a replayed month would never
  see a dead controller's lease expire. In service the two clocks are one.

The one obvious way to pass it: a :class:`tether.Project` holds one clock and hands it to the
components it builds; domain code (monitoring, the loop, the event log) takes ``clock: Clock``
as an argument and never calls :func:`datetime.now` for the clock's time itself. A clock is a
protocol, so any object with a ``now()`` returning an aware UTC datetime is one (a test's
fixed clock, a ``freezegun``-free fake).

>>> clock = ReplayClock(datetime(2025, 1, 1, tzinfo=UTC))
>>> clock.advance(timedelta(days=1)).isoformat()
'2025-01-02T00:00:00+00:00'
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from tether.errors import ConfigError


@runtime_checkable
class Clock(Protocol):
    """Where tether reads the time decisions are made at."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class WallClock:
    """The machine's clock: production's :class:`Clock`."""

    def now(self) -> datetime:
        """The wall time now, in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "WallClock()"


class ReplayClock:
    """A clock a replay drives: it says what it was last set to, and never goes backwards.

    Going backwards is refused because everything read on the clock assumes time only moves
    on: a window already reported, an event stamped at day 12 while the replay is at day 10,
    a loop that decided at day 20 deciding again at day 19 would each break an audit's order.

    Thread-safe: a replay's driver advances it while the server's workers read it.

    Raises:
        ConfigError: the start is not a timezone-aware datetime.
    """

    def __init__(self, start: datetime) -> None:
        self._now = _utc("start", start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The time the replay is at."""
        with self._lock:
            return self._now

    def set(self, when: datetime) -> datetime:
        """Move the clock to ``when`` (at or after :meth:`now`) and return it.

        Raises:
            ConfigError: ``when`` is naive, or before the time the clock is at.
        """
        when = _utc("when", when)
        with self._lock:
            if when < self._now:
                raise ConfigError(
                    f"A replay clock cannot go backwards: it is at {self._now.isoformat()}, "
                    f"asked to go to {when.isoformat()}. Start a new ReplayClock to replay "
                    "from an earlier time."
                )
            self._now = when
            return when

    def advance(self, step: timedelta) -> datetime:
        """Move the clock ``step`` (zero or more) forward and return the new time.

        Raises:
            ConfigError: ``step`` is negative.
        """
        if step < timedelta(0):
            raise ConfigError(
                f"A replay clock only advances: got a step of {step}; expected zero or more."
            )
        with self._lock:
            self._now += step
            return self._now

    def __repr__(self) -> str:
        return f"ReplayClock({self.now().isoformat()!r})"


def _utc(name: str, when: datetime) -> datetime:
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise ConfigError(
            f"A clock's {name} must be a timezone-aware datetime; got {when!r}. "
            "Pass e.g. datetime(2025, 1, 1, tzinfo=UTC)."
        )
    return when.astimezone(UTC)
