"""Episodes: short runs of payments on one card in one style -- fraud, and its lookalikes.

A fraud episode is a fraudster using a victim's card. Early in the world every
fraudster works in the *classic* style: a fast burst from a fresh device, often abroad,
in resellable categories, for amounts far above the victim's usual. As the drift level
rises, a growing share switches to the *adapted* style: domestic merchants, mostly the
victim's own device, digital goods and gift cards, near the victim's usual amounts, at
night (a ring abroad, in its own daytime). A model trained on the classic style misses
more and more fraud; a model retrained on labels that include the adapted style learns it.

From February honest customers start *shopping sprees* that look like classic fraud to a
model that never saw one (a new phone, gadgets and gift cards in quick succession,
abroad): the inputs that meant fraud in January are often honest by summer -- concept
drift in the strict sense -- so the old model's alerts are wrong more often. Sprees pay
only in trip destinations fraud never comes from (``TRAVEL_ABROAD``), so a retrained
model can tell them apart. ``docs/decisions.md`` ("The recalibrated world") says why each
knob has its value and what it measured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from tether.examples.fraud._transactions import AMOUNT_INFLATION, AMOUNT_MULTIPLIER, Transactions
from tether.examples.fraud._world import (
    CATEGORIES,
    COUNTRIES,
    HOME_COUNTRY,
    MICROS_PER_DAY,
    MICROS_PER_HOUR,
    RISKY_ABROAD,
    TRAVEL_ABROAD,
    Bools,
    Clock,
    DeviceBook,
    Floats,
    Ints,
    Population,
    lerp,
    pick,
)

FRAUD_SHARE = 0.025
"""Expected share of payments that are fraudulent, steady over time."""
SPREE_SHARE = 0.010
"""Share of payments that are honest classic-looking sprees at drift level 1 (0 at level 0)."""
SPREES_AFTER_DAYS = 31
"""Days after the world starts to change before the first honest spree: none in January,
so version 1 never learns to tell a spree from fraud."""
SPREE_STEP = 0.06
"""The spree share's step on the first day of sprees, as a drift level: a few from day one."""

_HOME_CODE = COUNTRIES.index(HOME_COUNTRY)
_RESELLABLE = {"electronics": 0.45, "gift_cards": 0.35, "jewelry": 0.2}
_EVERYDAY_ONLINE = {
    "digital_goods": 0.35,
    "food_delivery": 0.25,
    "online_retail": 0.25,
    "entertainment": 0.15,
}


@dataclass(frozen=True)
class Style:
    """How one kind of episode runs; probabilities are per episode."""

    foreign: float  # probability the episode pays merchants abroad
    fresh_device: float  # probability it uses a device never seen before
    resellable: float  # probability of resellable categories rather than everyday online
    amount_factor: float  # median amount relative to the customer's usual for the category
    gap_minutes: float  # mean time between the episode's payments
    mean_length: float  # mean payments per episode
    abroad: Mapping[str, float] = field(default_factory=lambda: RISKY_ABROAD)
    """Where its foreign payments go, with relative weights."""
    hours: tuple[float, ...] = (1.0,) * 24
    """Relative weight of each UTC hour of the day for the episode's first payment."""
    everyday: Mapping[str, float] = field(default_factory=lambda: _EVERYDAY_ONLINE)
    """Its categories when not resellable, with relative weights."""


CLASSIC = Style(
    foreign=0.75,
    fresh_device=0.9,
    resellable=0.8,
    amount_factor=3.0,
    gap_minutes=4.0,
    mean_length=3.0,
)
ADAPTED = Style(
    foreign=0.05,
    fresh_device=0.3,
    resellable=0.1,
    amount_factor=1.5,
    gap_minutes=45.0,
    mean_length=3.0,
    hours=tuple(1.0 if hour < 6 else 0.05 for hour in range(24)),
    everyday={"digital_goods": 0.5, "gift_cards": 0.3, "online_retail": 0.2},
)
SPREE = replace(CLASSIC, mean_length=1.5, foreign=1.0, abroad=TRAVEL_ABROAD)


@dataclass(frozen=True)
class Kind:
    """A kind of episode: its style at drift level 0, the style it moves to, and its label."""

    early: Style
    late: Style
    late_share: tuple[float, float]  # share of episodes in the late style at levels 0 and 1
    is_fraud: bool


FRAUD = Kind(early=CLASSIC, late=ADAPTED, late_share=(0.0, 0.6), is_fraud=True)
HONEST_SPREE = Kind(early=SPREE, late=SPREE, late_share=(0.0, 0.0), is_fraud=False)


@dataclass(frozen=True)
class Episodes:
    """One row per episode: when it starts, whose card, whether late-style, how long."""

    kind: Kind
    start_us: Ints
    customer: Ints
    late: Bools
    length: Ints

    def style(self, attribute: Callable[[Style], float]) -> Floats:
        """One style attribute for each episode, e.g. ``style(lambda s: s.foreign)``."""
        early, late = attribute(self.kind.early), attribute(self.kind.late)
        return np.where(self.late, late, early).astype(np.float64)

    def codes(self, draw: Callable[[Style, int], Ints], of: Ints | None = None) -> Ints:
        """A code drawn by each episode's style (``of``: one per payment, by episode)."""
        late = self.late if of is None else self.late[of]
        size = len(late)
        return np.where(late, draw(self.kind.late, size), draw(self.kind.early, size))


def draw_episodes(
    rng: np.random.Generator,
    clock: Clock,
    population: Population,
    kind: Kind,
    daily_payments: Floats,
) -> Episodes:
    """Episodes of ``kind`` adding up to about ``daily_payments[d]`` payments on day ``d``."""
    late_by_day = lerp(*kind.late_share, clock.level(clock.day_starts()))
    mean_length = lerp(kind.early.mean_length, kind.late.mean_length, late_by_day)
    daily_episodes = daily_payments / mean_length
    total = daily_episodes.sum()
    count = round(total)
    by_day = daily_episodes / total if count else np.full(clock.n_days, 1.0 / clock.n_days)
    days = rng.choice(clock.n_days, size=count, p=by_day)
    late = rng.random(count) < late_by_day[days]
    customers = rng.choice(population.size, size=count, p=population.activity)
    mean = np.where(late, kind.late.mean_length, kind.early.mean_length)
    length = 1 + rng.poisson(mean - 1.0)
    unstarted = Episodes(kind, days, customers, late, length.astype(np.int64))
    hours = unstarted.codes(lambda style, size: rng.choice(24, size=size, p=_weights(style.hours)))
    within = rng.integers(0, MICROS_PER_HOUR, count)
    start = clock.start_us + days * MICROS_PER_DAY + hours * MICROS_PER_HOUR + within
    return replace(unstarted, start_us=start)


def _weights(values: tuple[float, ...]) -> Floats:
    weights = np.asarray(values, dtype=np.float64)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def fraud_and_sprees(
    rng: np.random.Generator,
    clock: Clock,
    population: Population,
    book: DeviceBook,
    n_transactions: int,
) -> tuple[Transactions, DeviceBook]:
    """Fraud and honest sprees for a world of ``n_transactions`` payments in all."""
    expected = n_transactions * clock.day_weights()
    spree_level = clock.level(clock.day_starts() - SPREES_AFTER_DAYS * MICROS_PER_DAY)
    spree_share = SPREE_SHARE * (spree_level + SPREE_STEP * (spree_level > 0))
    fraud = draw_episodes(rng, clock, population, FRAUD, FRAUD_SHARE * expected)
    sprees = draw_episodes(rng, clock, population, HONEST_SPREE, spree_share * expected)
    fraud_payments, book = expand(rng, clock, population, book, fraud)
    spree_payments, book = expand(rng, clock, population, book, sprees)
    return fraud_payments.concat(spree_payments), book


def expand(
    rng: np.random.Generator,
    clock: Clock,
    population: Population,
    book: DeviceBook,
    episodes: Episodes,
) -> tuple[Transactions, DeviceBook]:
    """Episodes as payments, and the book after handing out fresh devices."""
    n_episodes = len(episodes.start_us)
    foreign = rng.random(n_episodes) < episodes.style(lambda style: style.foreign)
    fresh_device = rng.random(n_episodes) < episodes.style(lambda style: style.fresh_device)
    resellable = rng.random(n_episodes) < episodes.style(lambda style: style.resellable)
    abroad_country = episodes.codes(lambda style, size: pick(rng, style.abroad, COUNTRIES, size))
    fresh_codes, book = book.fresh(n_episodes)

    of, times = _payment_times(rng, episodes)
    size = len(of)
    customers = episodes.customer[of]
    categories = np.where(
        resellable[of],
        pick(rng, _RESELLABLE, CATEGORIES, size),
        episodes.codes(lambda style, n: pick(rng, style.everyday, CATEGORIES, n), of),
    )
    amounts = (
        population.spend_scale[customers]
        * AMOUNT_MULTIPLIER[categories]
        * episodes.style(lambda style: style.amount_factor)[of]
        * rng.lognormal(0.0, 0.5, size)
        * np.exp(AMOUNT_INFLATION * clock.level(times))
    )
    devices = np.where(fresh_device[of], fresh_codes[of], book.current(clock, customers, times))
    countries = np.where(foreign[of], abroad_country[of], _HOME_CODE)
    labels = np.full(size, episodes.kind.is_fraud, dtype=np.bool_)
    payments = Transactions(times, customers, categories, countries, devices, amounts, labels)
    return payments.take(times < clock.end_us), book


def _payment_times(rng: np.random.Generator, episodes: Episodes) -> tuple[Ints, Ints]:
    """The episode of each payment, and its time: the start plus exponential gaps."""
    of = np.repeat(np.arange(len(episodes.start_us)), episodes.length)
    first = np.cumsum(episodes.length) - episodes.length  # position of each first payment
    gaps = rng.exponential(60e6, len(of)) * episodes.style(lambda style: style.gap_minutes)[of]
    gaps[first] = 0.0
    elapsed = np.cumsum(gaps)
    return of, episodes.start_us[of] + (elapsed - elapsed[first][of]).astype(np.int64)
