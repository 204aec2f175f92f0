"""The demo's replay: the fraud world's months, day by day, through the real server over HTTP.

:func:`replay` takes a project with a champion deployed, whose clock is a
:class:`~tether.ReplayClock`, and the world's ``events`` (every version of every payment as
ingested: the incident's rows in cents, and the pipeline's fix, the same event ids with a later
``ingested_time``) and ``labels``. It starts the project's server (uvicorn on 127.0.0.1, a free
port, in a thread of this process, so that it shares the project's clock), then for each day:

1. **push** the rows ingested that day into the online store (the feature store's newest-
   version rule lets the fix replace the cents; its created-time rule keeps a row invisible to
   requests before its ingested time, so pushing the day's rows first changes no feature);
2. **predict**: ``POST /v1/predict`` in batches of the day's payments in event order
   (``instance_id`` = ``event_id``, ``unit_id`` = the customer, the entity keys, the raw
   columns as first ingested, the event time), the clock set to each batch's last event time;
3. **feedback**: ``POST /v1/feedback`` in batches for every label whose ``label_time`` falls in
   the day (the label, ``business`` ``{"amount": ...}`` at the corrected amount, the label
   time), for payments the replay scored;
4. **flush**: the clock moves to the day's end and the prediction log is flushed;
5. **hook**: ``on_day_end(day)`` (the demo ticks the loop there), then the server reloads its
   deployment if the registry changed, so the next day is served by what the loop deployed.

Deterministic: the same world gives the same requests in the same order, the same clock
times and so the same log (request ids aside). Each phase's seconds are measured on the
wall clock (lookup: inside the server's online lookup; predict: the predict requests less
their lookups), for the demo to say where the time goes.

Example::

    clock = ReplayClock(datetime(2026, 1, 1, tzinfo=UTC))
    project = Project.open("fraud-demo", clock=clock)
    result = replay(project, events, labels, create_app=tether.server.create_app,
                    start=date(2026, 1, 1), end=date(2026, 7, 1))
    result.predictions, result.seconds["predict"]
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pandas as pd

from tether._clock import ReplayClock
from tether._progress import Progress, no_progress
from tether.errors import ConfigError, ServingError
from tether.examples.fraud._replay_server import (
    AppFactory,
    ReplayProject,
    ReplayServer,
    running_server,
)

__all__ = ["ENTITY_COLUMNS", "REQUEST_COLUMNS", "ReplayProject", "ReplayResult", "replay"]

ENTITY_COLUMNS = ("customer_id", "device_id")
"""The entity keys of the fraud example's feature views, sent as each instance's entity."""
REQUEST_COLUMNS = ("amount", "merchant_id", "category", "country")
"""The raw payment columns a payment processor knows, sent as each instance's features."""
DEFAULT_BATCH = 1_000
"""Instances per predict request and items per feedback request (the server's default
``serving.max_instances`` is at least this; a larger batch saves little: see benchmarks)."""
REQUEST_TIMEOUT_S = 120.0
"""Seconds one request may take: a batch of a thousand takes well under one."""
PHASES = ("push", "lookup", "predict", "feedback", "flush", "hook")


@dataclass
class ReplayResult:
    """What a replay did: days, requests, predictions, feedbacks, rows pushed, and the wall
    seconds of each phase (:data:`PHASES`)."""

    days: int = 0
    requests: int = 0
    predictions: int = 0
    feedbacks: int = 0
    pushed: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))


def replay(
    project: ReplayProject,
    events: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    create_app: AppFactory,
    start: dt.date,
    end: dt.date,
    on_day_end: Callable[[dt.date], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress = no_progress,
) -> ReplayResult:
    """Replay the payments with event times in ``[start, end)`` (UTC days) through the server
    that ``create_app`` (``tether.server.create_app``) makes for ``project`` (a Project).

    Rows ingested before ``start`` are pushed first (the history the first day's features
    read). ``progress`` hears ``("replaying", day, days)`` after each day.

    Raises:
        ConfigError: the project's clock is no ReplayClock, ``end`` is not after ``start``,
            a column is missing, or ``batch_size`` is not positive.
        ServingError: the server answered a request with an unexpected status.
    """
    clock = _replay_clock(project)
    _check(events, labels, start, end, batch_size)
    begin = _midnight(start)
    world = _World.of(events, labels, begin, _midnight(end))
    clock.set(begin)
    result = ReplayResult()
    with running_server(project, create_app, timeout_s=REQUEST_TIMEOUT_S) as (client, server):
        _push(project, world.history, result)
        days = (end - start).days
        for index in range(days):
            day = start + dt.timedelta(days=index)
            _replay_day(project, clock, client, server, world, day, batch_size, result)
            with _timed(result, "hook"):
                if on_day_end is not None:
                    on_day_end(day)
                server.refresh()
            progress("replaying", index + 1, days)
        # The lookups ran inside the predict requests: predict is what remains of them.
        result.seconds["lookup"] = server.lookup.seconds
        result.seconds["predict"] -= server.lookup.seconds
    return result


def _replay_day(
    project: ReplayProject,
    clock: ReplayClock,
    client: httpx.Client,
    server: ReplayServer,
    world: _World,
    day: dt.date,
    batch_size: int,
    result: ReplayResult,
) -> None:
    begin = _midnight(day)
    following = begin + dt.timedelta(days=1)
    _push(project, world.ingested_between(begin, following), result)
    payments = world.payments_between(begin, following)
    with _timed(result, "predict"):
        for batch in _batches(payments, batch_size):
            clock.set(batch["event_time"].iloc[-1].to_pydatetime())
            _post(client, "/v1/predict", {"instances": _instances(batch)}, {200})
            result.requests += 1
            result.predictions += len(batch)
    due = world.labels_between(begin, following)
    with _timed(result, "feedback"):
        for batch in _batches(due, batch_size):
            _post(client, "/v1/feedback", {"feedback": _feedback(batch)}, {200, 201})
            result.requests += 1
            result.feedbacks += len(batch)
    with _timed(result, "flush"):
        clock.set(following)
        server.predictions.flush()
    result.days += 1


@dataclass(frozen=True)
class _World:
    """The world cut for the replay: rows by ingested time, payments and labels by day."""

    history: pd.DataFrame
    rows: pd.DataFrame  # every version ingested from the start on, by ingested time
    payments: pd.DataFrame  # each payment in the replay once, as first ingested, by event time
    labels: pd.DataFrame  # the labels of those payments, by label time, with the amount

    @classmethod
    def of(cls, events: pd.DataFrame, labels: pd.DataFrame, begin: dt.datetime,
           end: dt.datetime) -> _World:  # fmt: skip
        by_ingest = events.sort_values(["ingested_time", "event_id"], kind="stable")
        history = by_ingest[by_ingest["ingested_time"] < begin]
        rows = by_ingest[by_ingest["ingested_time"] >= begin]
        first = by_ingest.drop_duplicates("event_id", keep="first")
        inside = (first["event_time"] >= begin) & (first["event_time"] < end)
        payments = first[inside].sort_values(["event_time", "event_id"], kind="stable")
        newest = by_ingest.drop_duplicates("event_id", keep="last").set_index("event_id")
        due = labels[labels["event_id"].isin(payments["event_id"])]
        due = due.assign(amount=newest["amount"].reindex(due["event_id"]).to_numpy())
        due = due.sort_values(["label_time", "event_id"], kind="stable")
        return cls(history, rows, payments.reset_index(drop=True), due.reset_index(drop=True))

    def ingested_between(self, begin: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        return _between(self.rows, "ingested_time", begin, end)

    def payments_between(self, begin: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        return _between(self.payments, "event_time", begin, end)

    def labels_between(self, begin: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        return _between(self.labels, "label_time", begin, end)


def _between(
    frame: pd.DataFrame, column: str, begin: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    """The rows of ``frame`` (sorted by ``column``) with ``column`` in ``[begin, end)``."""
    times = frame[column]
    low, high = times.searchsorted(pd.Timestamp(begin)), times.searchsorted(pd.Timestamp(end))
    return frame.iloc[int(low) : int(high)]


def _push(project: ReplayProject, rows: pd.DataFrame, result: ReplayResult) -> None:
    if rows.empty:
        return
    with _timed(result, "push"):
        project.online_store.push(rows)
    result.pushed += len(rows)


def _instances(batch: pd.DataFrame) -> list[dict[str, object]]:
    records = batch[["event_id", "event_time", *ENTITY_COLUMNS, *REQUEST_COLUMNS]]
    return [
        {
            "instance_id": row["event_id"],
            "unit_id": row["customer_id"],
            "entity": {column: row[column] for column in ENTITY_COLUMNS},
            "features": {column: _plain(row[column]) for column in REQUEST_COLUMNS},
            "event_time": row["event_time"].isoformat(),
        }
        for row in records.to_dict("records")
    ]


def _feedback(batch: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {
            "instance_id": row["event_id"],
            "label": int(row["is_fraud"]),
            "business": {"amount": float(row["amount"])},
            "time": row["label_time"].isoformat(),
        }
        for row in batch[["event_id", "is_fraud", "amount", "label_time"]].to_dict("records")
    ]


def _plain(value: object) -> object:
    """A JSON scalar: numpy's numbers as Python's, a missing value as null."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _post(client: httpx.Client, path: str, body: Mapping[str, object], ok: set[int]) -> None:
    response = client.post(path, json=body)
    if response.status_code not in ok:
        raise ServingError(
            f"The replay's POST {path} was answered {response.status_code}: "
            f"{response.text[:500]}; expected one of {sorted(ok)}."
        )


def _batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for begin in range(0, len(frame), size):
        yield frame.iloc[begin : begin + size]


@contextmanager
def _timed(result: ReplayResult, phase: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        result.seconds[phase] += time.perf_counter() - began


def _replay_clock(project: ReplayProject) -> ReplayClock:
    if not isinstance(project.clock, ReplayClock):
        raise ConfigError(
            f"The replay drives the project's clock, which is {project.clock!r}; expected a "
            "ReplayClock: open the project with Project.open(folder, clock=ReplayClock(start))."
        )
    return project.clock


def _check(
    events: pd.DataFrame, labels: pd.DataFrame, start: dt.date, end: dt.date, batch_size: int
) -> None:
    if end <= start:
        raise ConfigError(f"The replay ends {end}, not after its start {start}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size is {batch_size}; expected a positive number.")
    needed: Sequence[tuple[str, pd.DataFrame, Sequence[str]]] = [
        ("events", events, ["event_id", "event_time", "ingested_time",
                            *ENTITY_COLUMNS, *REQUEST_COLUMNS]),
        ("labels", labels, ["event_id", "is_fraud", "label_time"]),
    ]  # fmt: skip
    for name, frame, columns in needed:
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise ConfigError(
                f"The replay's {name} lack the column(s) {missing}; expected {list(columns)}."
            )


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
