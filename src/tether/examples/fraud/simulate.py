"""A deterministic synthetic card-transaction world whose fraud slowly changes.

``simulate(config)`` returns two tables, both in event order:

- ``events``: one row per card payment: ``event_id``, ``event_time``, ``ingested_time``
  (when it reached the pipeline: seconds to minutes later, 3% hours late), who paid
  whom (``customer_id``, ``merchant_id``), ``category``, ``country`` (ISO-2; customers
  live in the US), ``device_id`` and ``amount`` (dollars and cents).
- ``labels``: ``event_id``, ``is_fraud`` (0/1) and ``label_time``, when the outcome
  became known: a chargeback 3 to 45 days later, or for honest payments the close of
  the 30-to-60-day dispute window.

About 2.5% of payments are fraud. In January fraud is *classic*: bursts from a fresh
device, mostly abroad, in resellable categories, for three times the victim's usual
amount. Month by month (see ``_episodes.py``) more fraudsters *adapt* -- domestic, the
victim's own device, digital goods and gift cards, near-usual amounts, at night -- while
from February honest customers start classic-looking *shopping sprees* abroad, pay more
often, spend more and travel and change phones more (``_transactions.py``). A model
trained on January therefore loses precision month after month, and its input features
drift with it; a model retrained on matured labels learns both changes.

``drift=1.0`` is calibrated: such a model, thresholded to catch 85% of the fraud in
January's held-out days, keeps about 94% precision in February and has about 71% in July
(at 100 payments per customer, the default density; ``tests/examples`` holds the check:
95.9% in February and 72.7% in July at the default seed), while a model retrained at the
start of a month on the 60 days whose labels have all arrived holds 85% precision at a
recall no lower than the old model's (``test_fraud_retrain_world.py``), and six inputs
drift with PSI above 0.2 from January to June.
``drift=0.0`` is a stationary world (every input's PSI from one month to the next, and
from January to any later month, below 0.01).

The world starts with a warm-up: ``warmup_days`` (31) of unchanging history before
``start`` (1 January), whose payments are in the events file, so that on 1 January every
30-day feature window is already full. Without it a model's 30-day inputs would grow
through January for no reason in the world (``device_tx_count_30d`` at PSI 0.64 from
January to February with ``drift=0``), and a monitor would raise false alarms. Models
train from ``start`` on (``train_start`` in the project's tether.toml), never on the warm-up.

Speed (numpy 2.4, one core of a shared 2-core machine): 1,000,000 payments in about
3 s (3.0-3.3 s measured, 3.0 s again with the warm-up; 5 s under heavy load), 400,000 in
about 1 s.

Example:
    >>> events, labels = simulate(ScenarioConfig(n_transactions=20_000, n_customers=200))
    >>> len(events), bool(events["event_time"].is_monotonic_increasing)
    (20000, True)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tether.errors import ConfigError
from tether.examples.fraud._episodes import fraud_and_sprees
from tether.examples.fraud._transactions import Transactions, legitimate
from tether.examples.fraud._world import (
    CATEGORIES,
    CATEGORY_PROFILE,
    COUNTRIES,
    HOME_COUNTRY,
    MICROS_PER_DAY,
    MICROS_PER_HOUR,
    Clock,
    DeviceBook,
    Floats,
    Ints,
    Population,
    micros,
)

__all__ = ["ScenarioConfig", "ScenarioFiles", "simulate", "write_scenario"]

EVENTS_FILE = "events.parquet"
LABELS_FILE = "labels.parquet"
DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MIN_AMOUNT = 0.5
"""The smallest payment, in dollars."""
LATE_SHARE = 0.03
"""Share of events that reach the pipeline hours late instead of seconds to minutes."""
WARMUP_DAYS = 31
"""Days of history before ``start``: the example's longest feature window (30 days), plus
a day for payments ingested hours late, so that every window is full on ``start``."""

_UTC_MICROS = pa.timestamp("us", tz="UTC")
EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", _UTC_MICROS),
        ("ingested_time", _UTC_MICROS),
        ("customer_id", pa.string()),
        ("merchant_id", pa.string()),
        ("category", pa.string()),
        ("country", pa.string()),
        ("device_id", pa.string()),
        ("amount", pa.float64()),
    ]
)
LABELS_SCHEMA = pa.schema(
    [("event_id", pa.string()), ("is_fraud", pa.int64()), ("label_time", _UTC_MICROS)]
)


@dataclass(frozen=True)
class ScenarioConfig:
    """The knobs of the synthetic card-transaction world.

    Attributes:
        n_transactions: Rows in the events file, honest and fraudulent, the warm-up's
            included (with the default 31 days before an 8-month world, about 11% of
            them are warm-up payments, dated before ``start``).
        n_customers: Cardholders. The calibration assumes about 100 payments each (the
            defaults); far fewer per customer makes the per-customer features noisier.
        n_merchants: Merchants, spread over every (category, country) pair.
        start: First instant after the warm-up, where the world starts to change: a UTC
            datetime on day 1 to 28 of a month. Payments start ``warmup_days`` earlier.
        months: Length of the world in calendar months.
        seed: Seed of the one random generator everything is drawn from.
        drift: How fast fraud and customers change. The drift level grows from 0 at
            ``start`` by ``drift / 240`` a day up to 1; ``1.0`` is calibrated (level 0.8
            in July), ``2.0`` changes twice as fast, ``0.0`` is a stationary world.
        incident_day: A UTC date on which a pipeline bug delivered amounts in cents
            (x100) to the events file; labels are unaffected. ``None``: no incident.
        incident_fix_days: Days after the start of ``incident_day`` at which the
            pipeline's fix re-delivers that day's events with their correct amounts: the
            events file then also holds, right after each of them, a corrected version
            (same ``event_id``, ``ingested_time`` = the incident day + this many days),
            which the feature store's newest-version rule prefers from that time on.
            ``0`` (the default): the incident is never fixed, and every event id is
            unique, as the worlds of earlier issues were (a spine built straight from the
            events file, like ``train.py``'s, must take one version per id once this is set).
        warmup_days: Days of stationary history (drift level 0) before ``start``, so that
            the 30-day features are as full on ``start`` as on any later day and an
            undrifted world looks the same every month. ``0``: payments start on
            ``start`` with empty windows (the world before issue 10).

    Example:
        >>> ScenarioConfig(n_transactions=50_000, n_customers=500).end.date()
        datetime.date(2026, 9, 1)
    """

    n_transactions: int = 1_000_000
    n_customers: int = 10_000
    n_merchants: int = 5_000
    start: dt.datetime = DEFAULT_START
    months: int = 8
    seed: int = 7
    drift: float = 1.0
    incident_day: dt.date | None = None
    incident_fix_days: int = 0
    warmup_days: int = WARMUP_DAYS

    def __post_init__(self) -> None:
        """Refuse values the simulator cannot honour, naming the field."""
        pairs = len(CATEGORIES) * len(COUNTRIES)
        utc = self.start.utcoffset() == dt.timedelta(0)
        checks = {
            "n_transactions": (self.n_transactions >= 1_000, "at least 1000"),
            "n_customers": (self.n_customers >= 10, "at least 10"),
            "n_merchants": (self.n_merchants >= pairs, f"at least {pairs}"),
            "months": (1 <= self.months <= 36, "from 1 to 36"),
            "drift": (0.0 <= self.drift <= 10.0, "from 0 to 10"),
            "start": (utc and self.start.day <= 28, "a UTC datetime on day 1 to 28"),
            "warmup_days": (0 <= self.warmup_days <= 366, "from 0 to 366"),
            "incident_fix_days": (0 <= self.incident_fix_days <= 366, "from 0 to 366"),
        }
        for name, (valid, expected) in checks.items():
            if not valid:
                value = getattr(self, name)
                raise ConfigError(f"ScenarioConfig.{name} is {value!r}; expected {expected}")
        day = self.incident_day
        if day is not None and not self.start.date() <= day < self.end.date():
            raise ConfigError(
                f"ScenarioConfig.incident_day is {day}; expected a date from "
                f"{self.start.date()} to before {self.end.date()}"
            )

    @property
    def warmup_start(self) -> dt.datetime:
        """The first instant of the warm-up: ``warmup_days`` before ``start``."""
        return self.start - dt.timedelta(days=self.warmup_days)

    @property
    def end(self) -> dt.datetime:
        """The first instant after the world: ``start`` plus ``months`` calendar months."""
        month_index = self.start.month - 1 + self.months
        year = self.start.year + month_index // 12
        return self.start.replace(year=year, month=month_index % 12 + 1)


@dataclass(frozen=True)
class ScenarioFiles:
    """Where :func:`write_scenario` put the two tables."""

    events: Path
    labels: Path


def simulate(config: ScenarioConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the world described by ``config``: ``(events, labels)``, in event order.

    The same configuration always gives the same rows.
    """
    rng = np.random.default_rng(config.seed)
    clock = Clock.between(config.start, config.end, config.drift, config.warmup_days)
    population = Population.draw(rng, config.n_customers)
    book = DeviceBook.draw(rng, clock, population)
    episodes, book = fraud_and_sprees(rng, clock, population, book, config.n_transactions)
    everyday = legitimate(rng, clock, population, book, config.n_transactions - len(episodes))
    payments = everyday.concat(episodes)
    payments = payments.take(np.argsort(payments.time_us, kind="stable"))
    events = _events(rng, payments, book, config)
    labels = pd.DataFrame(
        {
            "event_id": events["event_id"],
            "is_fraud": payments.is_fraud.astype(np.int64),
            "label_time": _timestamps(payments.time_us + _label_delays(rng, payments)),
        }
    )
    return _with_fix(events, payments, config), labels


def write_scenario(directory: Path, config: ScenarioConfig | None = None) -> ScenarioFiles:
    """Simulate ``config`` (default: :class:`ScenarioConfig`) into two Parquet files.

    Writes ``events.parquet`` and ``labels.parquet`` under ``directory`` (created if
    missing), with microsecond UTC timestamps; the same configuration always gives the
    same bytes.

    Example:
        >>> files = write_scenario(Path("data"), ScenarioConfig(n_transactions=20_000))
        >>> files.events.name
        'events.parquet'
    """
    events, labels = simulate(config or ScenarioConfig())
    directory.mkdir(parents=True, exist_ok=True)
    files = ScenarioFiles(events=directory / EVENTS_FILE, labels=directory / LABELS_FILE)
    for frame, schema, path in (
        (events, EVENTS_SCHEMA, files.events),
        (labels, LABELS_SCHEMA, files.labels),
    ):
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        pq.write_table(table.replace_schema_metadata(None), path, compression="zstd")
    return files


def _events(
    rng: np.random.Generator, payments: Transactions, book: DeviceBook, config: ScenarioConfig
) -> pd.DataFrame:
    """The events table: payments (sorted by time) as named ids, codes as words."""
    merchants = _merchants(rng, payments, config.n_merchants)
    device_names = rng.permutation(book.next_code)  # ids must not reveal how a device arose
    amounts = np.maximum(np.round(payments.amount, 2), MIN_AMOUNT)
    return pd.DataFrame(
        {
            "event_id": _names("tx", np.arange(1, len(payments) + 1), len(payments), 8),
            "event_time": _timestamps(payments.time_us),
            "ingested_time": _timestamps(payments.time_us + _ingest_delays(rng, len(payments))),
            "customer_id": _names("cust", payments.customer, config.n_customers),
            "merchant_id": _names("merch", merchants, config.n_merchants),
            "category": _vocabulary(CATEGORIES, payments.category),
            "country": _vocabulary(COUNTRIES, payments.country),
            "device_id": _names("dev", device_names[payments.device], book.next_code),
            "amount": _with_incident(amounts, payments.time_us, config.incident_day),
        }
    )


def _merchants(rng: np.random.Generator, payments: Transactions, n_merchants: int) -> Ints:
    """A merchant for each payment, from those in its (category, country) pair.

    Every pair has at least one merchant; the rest go to pairs in proportion to how
    much business they see, so home-country grocers are many and foreign jewellers few.
    """
    n_countries = len(COUNTRIES)
    share = np.array([profile[0] for profile in CATEGORY_PROFILE.values()])
    home = np.array([20.0 if code == HOME_COUNTRY else 1.0 for code in COUNTRIES])
    popularity = np.outer(share, home).ravel()
    spare = n_merchants - len(popularity)
    counts = 1 + np.floor(popularity / popularity.sum() * spare).astype(np.int64)
    counts[np.argmax(popularity)] += n_merchants - counts.sum()
    first = np.r_[0, np.cumsum(counts)[:-1]]
    pair = payments.category * n_countries + payments.country
    chosen = first[pair] + np.floor(rng.random(len(payments)) * counts[pair]).astype(np.int64)
    names = rng.permutation(n_merchants)  # ids must not reveal the category
    return np.asarray(names[chosen], dtype=np.int64)


def _ingest_delays(rng: np.random.Generator, size: int) -> Ints:
    """Microseconds from payment to pipeline: seconds to minutes, a few percent hours."""
    delays = 1e6 + rng.exponential(30e6, size)
    late = rng.random(size) < LATE_SHARE
    delays[late] += rng.uniform(1, 12, int(late.sum())) * MICROS_PER_HOUR
    return delays.astype(np.int64)


def _label_delays(rng: np.random.Generator, payments: Transactions) -> Ints:
    """Microseconds from payment to known outcome: chargeback or dispute window closing."""
    size = len(payments)
    chargeback_days = np.minimum(3.0 + rng.exponential(9.0, size), 45.0)
    window_days = rng.uniform(30.0, 60.0, size)
    days = np.where(payments.is_fraud, chargeback_days, window_days)
    return (days * MICROS_PER_DAY).astype(np.int64)


def _with_incident(amounts: Floats, times_us: Ints, incident_day: dt.date | None) -> Floats:
    """Amounts as delivered: in cents (x100) on the incident day, if there is one."""
    if incident_day is None:
        return amounts
    start_us = micros(dt.datetime.combine(incident_day, dt.time(), tzinfo=dt.UTC))
    on_day = (times_us >= start_us) & (times_us < start_us + MICROS_PER_DAY)
    return np.where(on_day, np.round(amounts * 100.0, 2), amounts)


def _with_fix(events: pd.DataFrame, payments: Transactions, config: ScenarioConfig) -> pd.DataFrame:
    """``events`` with the fix's corrected versions of the incident day's events, if any.

    Drawn after everything else (no random numbers), so a world with the incident has the
    same payments as one without it. Each correction follows its original, so the file
    stays in event order.
    """
    if config.incident_day is None or config.incident_fix_days == 0:
        return events
    day_start = dt.datetime.combine(config.incident_day, dt.time(), tzinfo=dt.UTC)
    start_us = micros(day_start)
    on_day = (payments.time_us >= start_us) & (payments.time_us < start_us + MICROS_PER_DAY)
    fixed = events[on_day].copy()
    fixed["amount"] = np.maximum(np.round(payments.amount[on_day], 2), MIN_AMOUNT)
    fixed["ingested_time"] = pd.Timestamp(day_start + dt.timedelta(days=config.incident_fix_days))
    fixed["ingested_time"] = fixed["ingested_time"].astype(events["ingested_time"].dtype)
    order = np.r_[np.arange(len(events)), np.flatnonzero(on_day) + 0.5]
    both = pd.concat([events, fixed], ignore_index=True)
    return both.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def _names(prefix: str, codes: Ints, count: int, min_width: int = 5) -> pd.Series:
    """Zero-padded string ids such as ``cust-00042`` for integer codes up to ``count``."""
    width = max(len(str(count)), min_width)
    table = np.array([f"{prefix}-{code:0{width}d}" for code in range(count + 1)], dtype=object)
    return pd.Series(table[codes], dtype="str")


def _vocabulary(words: tuple[str, ...], codes: Ints) -> pd.Series:
    """The words for integer codes."""
    return pd.Series(np.array(words, dtype=object)[codes], dtype="str")


def _timestamps(times_us: Ints) -> pd.Series:
    """Microsecond UTC timestamps."""
    return pd.Series(pd.to_datetime(times_us, unit="us", utc=True))
