"""The feature-store benchmark's data: seeded events and spine, and a numpy oracle.

Events: ``entity_id`` (int64), ``event_id`` (int64, unique), ``event_time`` and
``created_time`` (UTC, microseconds), ``amount`` (float64), ``quantity`` (int64) and
``category`` (string), spread uniformly over :data:`SPAN_DAYS` days from :data:`START`.
Entities are not equally active: each gets a gamma(2)-distributed share of the events, so a few
have five times the mean and some have almost none (their TTL-bounded values are often null).
``created_time`` equals ``event_time`` (every event is known the moment it happens), so the only
semantic difference between the contenders is the one at t itself; the value columns hold no
null (tether's ``last`` skips null values, Feast's join returns them). Event times are unique,
so "the latest event" never needs a tie-break.

Spine: ``row_id``, ``entity_id``, ``event_timestamp``, in a shuffled order. ``ON_EVENT_SHARE``
of the rows are an event of that entity at exactly its time (the transaction being scored);
the others are uniform random times for uniform random entities.

The oracle computes every feature with sorted arrays and ``searchsorted``: as tether defines
them (events strictly before t, windows ``[t - w, t)``) or, for the "last" features, as Feast
does (events up to and including t).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20240603
START = pd.Timestamp("2024-06-01", tz="UTC")
SPAN_DAYS = 90
END = START + pd.Timedelta(days=SPAN_DAYS)
"""After every event: the request time of the online part."""
ON_EVENT_SHARE = 0.2
CATEGORIES = [f"cat_{i:02d}" for i in range(20)]
TTL = "2d"
TTL_US = 2 * 86_400_000_000
WINDOWS = {"1d": 86_400_000_000, "7d": 7 * 86_400_000_000, "30d": 30 * 86_400_000_000}
LAST_COLUMNS = ("amount", "quantity", "category")
_DAY_US = 86_400_000_000
_START_US = START.value // 1_000
_KEY_SHIFT = 44
"""Entity ids are shifted above 2**44 us (203 days) of relative time to form one sort key."""


@dataclass(frozen=True)
class Sizes:
    """How much data to make."""

    events: int
    entities: int
    spine: int


FULL = Sizes(events=1_000_000, entities=10_000, spine=100_000)
QUICK = Sizes(events=50_000, entities=1_000, spine=5_000)


def last_name(column: str) -> str:
    """The name of the "latest value within the TTL" feature of ``column``."""
    return f"last_{column}"


def window_names() -> list[str]:
    """The windowed features, in definition order: count, sum and mean per window."""
    names = []
    for window in WINDOWS:
        names += [f"count_{window}", f"amount_sum_{window}", f"amount_mean_{window}"]
    return names


def _unique_times(rng: np.random.Generator, size: int) -> npt.NDArray[np.int64]:
    """``size`` distinct offsets in microseconds within the span (redrawn on collision)."""
    span_us = SPAN_DAYS * _DAY_US
    times = rng.integers(0, span_us, size=size)
    while True:
        unique = np.unique(times)
        if len(unique) == size:
            return times
        times = np.concatenate([unique, rng.integers(0, span_us, size=size - len(unique))])


def make_events(sizes: Sizes) -> pd.DataFrame:
    """The seeded events, ordered by event time."""
    rng = np.random.default_rng(SEED)
    share = rng.gamma(2.0, size=sizes.entities)
    entity = rng.choice(sizes.entities, size=sizes.events, p=share / share.sum())
    offsets = np.sort(_unique_times(rng, sizes.events))
    event_time = pd.to_datetime(_START_US + offsets, unit="us", utc=True)
    return pd.DataFrame(
        {
            "event_id": np.arange(sizes.events, dtype=np.int64),
            "entity_id": entity.astype(np.int64),
            "event_time": event_time,
            "created_time": event_time,
            "amount": np.round(rng.lognormal(3.0, 1.0, size=sizes.events), 2),
            "quantity": rng.integers(1, 10, size=sizes.events),
            "category": pd.array(rng.choice(CATEGORIES, size=sizes.events), dtype="str"),
        }
    )


def make_spine(events: pd.DataFrame, sizes: Sizes) -> pd.DataFrame:
    """The seeded spine: ``ON_EVENT_SHARE`` of rows at an event's own time, in shuffled order."""
    rng = np.random.default_rng(SEED + 1)
    on_event = round(sizes.spine * ON_EVENT_SHARE)
    picked = rng.choice(len(events), size=on_event, replace=False)
    random_rows = sizes.spine - on_event
    entity = np.concatenate(
        [events["entity_id"].to_numpy()[picked], rng.integers(0, sizes.entities, random_rows)]
    )
    event_us = micros(events["event_time"])
    times = np.concatenate(
        [event_us[picked], _START_US + rng.integers(0, SPAN_DAYS * _DAY_US, random_rows)]
    )
    order = rng.permutation(sizes.spine)
    return pd.DataFrame(
        {
            "row_id": np.arange(sizes.spine, dtype=np.int64),
            "entity_id": entity[order].astype(np.int64),
            "event_timestamp": pd.to_datetime(times[order], unit="us", utc=True),
        }
    )


def micros(times: pd.Series) -> npt.NDArray[np.int64]:
    """UTC times as int64 microseconds since the epoch."""
    naive = times.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    return naive.to_numpy().view(np.int64)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` with microsecond timestamps (Spark does not read nanoseconds)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, coerce_timestamps="us", row_group_size=250_000)


def make_data(folder: Path, sizes: Sizes) -> tuple[Path, Path]:
    """Write ``events.parquet`` and ``spine.parquet`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    events = make_events(sizes)
    spine = make_spine(events, sizes)
    events_path, spine_path = folder / "events.parquet", folder / "spine.parquet"
    write_parquet(events, events_path)
    write_parquet(spine, spine_path)
    return events_path, spine_path


class Oracle:
    """Every feature of the benchmark by sorted arrays: the reference for agreement."""

    def __init__(self, events: pd.DataFrame) -> None:
        relative = micros(events["event_time"]) - _START_US
        keys = (events["entity_id"].to_numpy() << _KEY_SHIFT) + relative
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.values = {c: events[c].to_numpy()[order] for c in LAST_COLUMNS}
        # One slot past the end, so that a window ending at the last event can be summed.
        self.amounts = np.append(self.values["amount"].astype(np.float64), 0.0)

    def _key(self, entity: npt.NDArray[np.int64], relative: npt.NDArray[np.int64]) -> npt.NDArray:
        return (entity << _KEY_SHIFT) + np.clip(relative, 0, None)

    def _bounds(
        self, entity: npt.NDArray[np.int64], t_us: npt.NDArray[np.int64], window_us: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Positions of the first event at or after t - window and the first at or after t."""
        relative = t_us - _START_US
        low = np.searchsorted(self.keys, self._key(entity, relative - window_us), side="left")
        high = np.searchsorted(self.keys, self._key(entity, relative), side="left")
        return low, high

    def on_event(self, entity: npt.NDArray[np.int64], t_us: npt.NDArray[np.int64]) -> npt.NDArray:
        """Whether the entity has an event at exactly t."""
        key = self._key(entity, t_us - _START_US)
        position = np.searchsorted(self.keys, key, side="left")
        inside = position < len(self.keys)
        hit = np.zeros(len(key), dtype=bool)
        hit[inside] = self.keys[position[inside]] == key[inside]
        return hit

    def last(
        self, entity: npt.NDArray[np.int64], t_us: npt.NDArray[np.int64], *, inclusive: bool
    ) -> pd.DataFrame:
        """The latest value of each column within the TTL: before t, or up to t if inclusive."""
        relative = t_us - _START_US
        low = np.searchsorted(self.keys, self._key(entity, relative - TTL_US), side="left")
        side = "right" if inclusive else "left"
        high = np.searchsorted(self.keys, self._key(entity, relative), side=side)
        found = high > low
        latest = np.where(found, high - 1, 0)
        columns = {}
        for column in LAST_COLUMNS:
            values = pd.Series(self.values[column][latest])
            columns[last_name(column)] = values.where(found, None)
        return pd.DataFrame(columns)

    def windows(self, entity: npt.NDArray[np.int64], t_us: npt.NDArray[np.int64]) -> pd.DataFrame:
        """Count, sum and mean of amount per window, strictly before t."""
        columns: dict[str, pd.Series] = {}
        for window, window_us in WINDOWS.items():
            low, high = self._bounds(entity, t_us, window_us)
            count = high - low
            # Each window summed on its own (a difference of running sums over 10 million
            # events loses about 1e-8, more than the agreement's tolerance on a small sum).
            total = np.add.reduceat(self.amounts, np.column_stack([low, high]).ravel())[::2]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / count
            columns[f"count_{window}"] = pd.Series(count)
            columns[f"amount_sum_{window}"] = pd.Series(np.where(count > 0, total, np.nan))
            columns[f"amount_mean_{window}"] = pd.Series(np.where(count > 0, mean, np.nan))
        return pd.DataFrame(columns)
