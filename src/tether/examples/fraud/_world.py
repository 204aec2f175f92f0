"""The fixed parts of the fraud world: vocabularies, the clock, people and their devices.

Everything here is plain numpy on integer codes; strings are made once, at the end, by
:mod:`tether.examples.fraud.simulate`. Times are int64 microseconds since the Unix epoch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

MICROS_PER_HOUR = 3_600_000_000
MICROS_PER_DAY = 24 * MICROS_PER_HOUR
DRIFT_HORIZON_DAYS = 240.0
"""Days after ``start`` at which the drift level reaches 1 when ``drift`` is 1."""
VOLUME_GROWTH = 1.2
"""Relative growth of daily payment volume at drift level 1 (customers pay by card more
often). Issue 10 raised it from 0.9 so that the count features drift clearly (PSI 0.35 from
January to June instead of 0.24) once the warm-up took away their empty-January jump."""
PHONE_CHANGES_PER_MONTH = (0.03, 0.08)
"""Phone changes per customer per month at drift level 0 and at level 1."""

HOME_COUNTRY = "US"

# name: (legitimate share at drift level 0, share at level 1, amount multiplier)
CATEGORY_PROFILE: dict[str, tuple[float, float, float]] = {
    "digital_goods": (0.04, 0.11, 0.5),
    "electronics": (0.025, 0.035, 4.0),
    "entertainment": (0.06, 0.06, 1.0),
    "food_delivery": (0.06, 0.12, 0.9),
    "fuel": (0.09, 0.07, 1.1),
    "gift_cards": (0.01, 0.015, 1.5),
    "grocery": (0.22, 0.14, 1.0),
    "health": (0.04, 0.04, 1.5),
    "jewelry": (0.005, 0.008, 5.0),
    "online_retail": (0.14, 0.16, 1.3),
    "restaurants": (0.14, 0.12, 0.9),
    "travel": (0.03, 0.06, 6.0),
    "utilities": (0.05, 0.05, 2.5),
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_PROFILE)

# Where cardholders travel or shop abroad, and where card fraud has historically come from;
# the two overlap, so a foreign country is a clue, not a verdict.
LEGIT_ABROAD: dict[str, float] = {
    "CA": 0.2,
    "MX": 0.15,
    "GB": 0.15,
    "FR": 0.1,
    "DE": 0.1,
    "ES": 0.07,
    "IT": 0.06,
    "JP": 0.05,
    "BR": 0.04,
    "IN": 0.04,
    "CN": 0.04,
}
RISKY_ABROAD: dict[str, float] = {
    "NG": 0.15,
    "RO": 0.12,
    "RU": 0.12,
    "UA": 0.1,
    "VN": 0.1,
    "ID": 0.08,
    "BR": 0.1,
    "MX": 0.08,
    "GB": 0.08,
    "CN": 0.07,
}
TRAVEL_ABROAD: dict[str, float] = {
    name: share for name, share in LEGIT_ABROAD.items() if name not in RISKY_ABROAD
}
"""The destinations of cardholders' trips where fraud has not come from: where honest
shopping sprees abroad happen."""
COUNTRIES: tuple[str, ...] = tuple(sorted({HOME_COUNTRY, *LEGIT_ABROAD, *RISKY_ABROAD}))


def micros(moment: dt.datetime) -> int:
    """Microseconds since the Unix epoch of a timezone-aware datetime."""
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Clock:
    """The world's time span and its drift level over time.

    The span starts with a warm-up (``start_us`` to ``drift_start_us``) at drift level 0:
    history that fills the features' windows before the world starts to change.
    """

    start_us: int  # the first instant of the world, warm-up included
    end_us: int
    drift: float
    drift_start_us: int  # the first instant after the warm-up, where the drift level is 0

    @classmethod
    def between(
        cls, start: dt.datetime, end: dt.datetime, drift: float, warmup_days: int = 0
    ) -> Clock:
        """The clock of a world from ``warmup_days`` before ``start`` to just before ``end``."""
        drift_start_us = micros(start)
        return cls(
            start_us=drift_start_us - warmup_days * MICROS_PER_DAY,
            end_us=micros(end),
            drift=drift,
            drift_start_us=drift_start_us,
        )

    @property
    def n_days(self) -> int:
        """Whole days in the span."""
        return (self.end_us - self.start_us) // MICROS_PER_DAY

    def day_starts(self) -> Ints:
        """The first microsecond of each whole day in the span."""
        return self.start_us + np.arange(self.n_days, dtype=np.int64) * MICROS_PER_DAY

    def level(self, times_us: Ints) -> Floats:
        """Drift level in [0, 1] at each time: 0 until the warm-up ends, then growing linearly."""
        days = (times_us - self.drift_start_us) / MICROS_PER_DAY
        return np.clip(self.drift * days / DRIFT_HORIZON_DAYS, 0.0, 1.0)

    def day_weights(self) -> Floats:
        """Relative transaction volume per day: growing with drift, busier at weekends."""
        starts = self.day_starts()
        weekday = ((starts // MICROS_PER_DAY) + 3) % 7  # 1970-01-01 was a Thursday
        weekend = np.where(weekday >= 5, 1.15, 1.0)
        weights = (1.0 + VOLUME_GROWTH * self.level(starts)) * weekend
        return np.asarray(weights / weights.sum(), dtype=np.float64)


def lerp(at_start: float, at_end: float, level: Floats) -> Floats:
    """Linear interpolation between two values by drift level."""
    return at_start + (at_end - at_start) * level


def pick(
    rng: np.random.Generator, weights: Mapping[str, float], vocabulary: tuple[str, ...], size: int
) -> Ints:
    """Draw ``size`` vocabulary codes with the given relative weights."""
    codes = np.array([vocabulary.index(name) for name in weights], dtype=np.int64)
    probabilities = np.array(list(weights.values()))
    return rng.choice(codes, size=size, p=probabilities / probabilities.sum())


@dataclass(frozen=True)
class Population:
    """Cardholders: how often they pay, how much, how often abroad, and their devices."""

    activity: Floats
    spend_scale: Floats
    travel_habit: Floats
    has_second_device: Bools

    @classmethod
    def draw(cls, rng: np.random.Generator, n_customers: int) -> Population:
        """A population of ``n_customers`` with heavy-tailed activity and spending."""
        activity = rng.gamma(1.5, 1.0, n_customers)
        return cls(
            activity=activity / activity.sum(),
            spend_scale=rng.lognormal(np.log(30.0), 0.6, n_customers),
            travel_habit=np.minimum(rng.gamma(2.0, 0.5, n_customers), 8.0),
            has_second_device=rng.random(n_customers) < 0.25,
        )

    @property
    def size(self) -> int:
        """Number of customers."""
        return len(self.activity)


@dataclass(frozen=True)
class DeviceBook:
    """Which phone each customer holds at any time, and the device codes handed out so far.

    Device codes: ``c`` is customer ``c``'s first phone, ``n + c`` their second device
    (a tablet or laptop, for some), then one code per phone change, then the fresh codes
    handed out by :meth:`fresh` (fraudsters' devices, phones bought for a spree).
    """

    span_s: int  # seconds in the world; a key is customer * span_s + seconds since start
    change_keys: Ints  # sorted
    change_devices: Ints  # the new phone of each change, in key order
    next_code: int

    @classmethod
    def draw(cls, rng: np.random.Generator, clock: Clock, population: Population) -> DeviceBook:
        """Phone changes at a monthly rate per customer that grows with drift."""
        n = population.size
        daily_rate = lerp(*PHONE_CHANGES_PER_MONTH, clock.level(clock.day_starts())) / 30.4
        count = int(rng.poisson(n * daily_rate.sum()))
        days = rng.choice(clock.n_days, size=count, p=daily_rate / daily_rate.sum())
        seconds = days * 86_400 + rng.integers(0, 86_400, count)
        span_s = (clock.end_us - clock.start_us) // 1_000_000
        keys = np.sort(rng.integers(0, n, count) * span_s + seconds)
        return cls(span_s, keys, 2 * n + np.arange(count, dtype=np.int64), 2 * n + count)

    def current(self, clock: Clock, customers: Ints, times_us: Ints) -> Ints:
        """Each customer's phone at each time: their latest change by then, else the first."""
        keys = customers * self.span_s + (times_us - clock.start_us) // 1_000_000
        latest = np.searchsorted(self.change_keys, keys, side="right") - 1
        safe = np.maximum(latest, 0)
        own = (latest >= 0) & (self.change_keys[safe] // self.span_s == customers)
        return np.where(own, self.change_devices[safe], customers)

    def fresh(self, count: int) -> tuple[Ints, DeviceBook]:
        """``count`` never-seen device codes, and the book that has handed them out."""
        codes = self.next_code + np.arange(count, dtype=np.int64)
        book = DeviceBook(
            self.span_s, self.change_keys, self.change_devices, self.next_code + count
        )
        return codes, book
