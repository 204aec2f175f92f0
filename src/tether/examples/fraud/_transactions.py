"""Everyday honest spending, drawn as integer-coded numpy arrays.

As the drift level rises honest customers change: they pay more often (volume grows),
amounts inflate, they pay abroad and change phones more often, and their spending
shifts towards travel, digital goods and food delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tether.examples.fraud._world import (
    CATEGORIES,
    CATEGORY_PROFILE,
    COUNTRIES,
    HOME_COUNTRY,
    LEGIT_ABROAD,
    MICROS_PER_DAY,
    MICROS_PER_HOUR,
    Bools,
    Clock,
    DeviceBook,
    Floats,
    Ints,
    Population,
    lerp,
    pick,
)

AMOUNT_INFLATION = 1.0
"""Log-growth of amounts at drift level 1 (x2.7: prices, and a richer mix of customers).
Issue 10 raised it from 0.8 so that ``amount`` drifts clearly (PSI 0.36 from January to
June instead of 0.22)."""
ABROAD_SHARE = (0.03, 0.06)
"""Share of an average customer's payments made abroad, at drift level 0 and at level 1."""
SECOND_DEVICE_SHARE = 0.2
"""Share of payments made from the second device, for customers who have one."""

_HOME_CODE = COUNTRIES.index(HOME_COUNTRY)
AMOUNT_MULTIPLIER = np.array([profile[2] for profile in CATEGORY_PROFILE.values()])
_MIX_START = {name: profile[0] for name, profile in CATEGORY_PROFILE.items()}
_MIX_END = {name: profile[1] for name, profile in CATEGORY_PROFILE.items()}
# Legitimate spending by hour of day: quiet at night, peaks at lunch and early evening.
_HOUR_PROFILE = np.interp(
    np.arange(24), [0, 4, 8, 12, 15, 19, 23], [1.0, 0.3, 4.0, 6.5, 5.0, 7.0, 2.0]
)
_HOUR_PROFILE = _HOUR_PROFILE / _HOUR_PROFILE.sum()


@dataclass(frozen=True)
class Transactions:
    """Parallel arrays, one element per transaction (unsorted)."""

    time_us: Ints
    customer: Ints
    category: Ints
    country: Ints
    device: Ints
    amount: Floats
    is_fraud: Bools

    def __len__(self) -> int:
        """Number of transactions."""
        return len(self.time_us)

    def concat(self, other: Transactions) -> Transactions:
        """These transactions followed by ``other``."""
        return Transactions(
            *(np.concatenate([getattr(self, f), getattr(other, f)]) for f in _FIELDS)
        )

    def take(self, index: Ints | Bools) -> Transactions:
        """The transactions selected by ``index`` (positions or a mask)."""
        return Transactions(*(getattr(self, f)[index] for f in _FIELDS))


_FIELDS = tuple(Transactions.__dataclass_fields__)


def legitimate(
    rng: np.random.Generator, clock: Clock, population: Population, book: DeviceBook, size: int
) -> Transactions:
    """``size`` honest payments, drawn over the world's days in proportion to volume."""
    days = rng.choice(clock.n_days, size=size, p=clock.day_weights())
    hours = rng.choice(24, size=size, p=_HOUR_PROFILE)
    within = rng.integers(0, MICROS_PER_HOUR, size)
    times = clock.start_us + days * MICROS_PER_DAY + hours * MICROS_PER_HOUR + within
    level = clock.level(times)
    customers = rng.choice(population.size, size=size, p=population.activity)
    drifted = rng.random(size) < level  # the category mix is a mixture of two mixes
    categories = np.where(
        drifted,
        pick(rng, _MIX_END, CATEGORIES, size),
        pick(rng, _MIX_START, CATEGORIES, size),
    )
    abroad_share = lerp(*ABROAD_SHARE, level) * population.travel_habit[customers]
    abroad = rng.random(size) < np.minimum(abroad_share, 0.9)
    countries = np.where(abroad, pick(rng, LEGIT_ABROAD, COUNTRIES, size), _HOME_CODE)
    second = population.has_second_device[customers] & (rng.random(size) < SECOND_DEVICE_SHARE)
    phones = book.current(clock, customers, times)
    devices = np.where(second, population.size + customers, phones)
    amounts = (
        population.spend_scale[customers]
        * AMOUNT_MULTIPLIER[categories]
        * rng.lognormal(0.0, 0.6, size)
        * np.exp(AMOUNT_INFLATION * level)
    )
    return Transactions(
        times, customers, categories, countries, devices, amounts, np.zeros(size, dtype=np.bool_)
    )
