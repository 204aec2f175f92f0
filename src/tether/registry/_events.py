"""The event log: an append-only record of every registry transition, and its per-model lock.

Each event says who (actor) did what (action: deploy, promote, rollback, retire...) to which
model, why (reason), and what the model's aliases were before and after (``{"champion": "3",
"challenger": "4"}``), with free JSON details (the evidence of a decision, a run id...). The
aliases a model has now are the ``after`` of its latest event, so ``tether audit`` can replay
a model's whole story and a rollback can read the state to go back to.

Transitions on one model are serialized across threads and processes::

    with log.transition("fraud-detector") as tx:
        state = dict(tx.state)                  # read inside the lock
        state["challenger"] = "4"
        event = tx.append("deploy", actor="loop", reason="retrained", after=state)
    experiment_id = event.id

Inside the block nobody else can transition the model, so the state read is still the state
when the event is appended; the events commit together when the block ends, or not at all if
it raises. On PostgreSQL the lock is a transaction advisory lock on the model's name; on
SQLite, the database write lock (``BEGIN IMMEDIATE``), which serializes transitions of all
models (they are rare: deployments and loop decisions, not requests).

Event ids are consecutive integers in commit order, with no gaps: appending takes a
log-wide lock (PostgreSQL) or holds the database lock (SQLite) and writes ``MAX(id) + 1``. So
``events(since_id=n)`` polling never skips an event committed late with a smaller id, and an
id names one transition forever (the serving experiments use the id of the event that deployed
a challenger as the experiment id). Keep the block short and append last: on PostgreSQL the
log-wide lock is held from the first append until the block ends.

Two times per event (schema version 2). ``time`` (column ``time_us``) is the project's clock's
(:class:`tether._clock.Clock`): the time monitoring aligns a deploy with its daily windows, so a
replay that deploys at its 12 March deploys on 12 March. ``wall_time`` (``wall_time_us``) is
the machine's clock when the event was appended: what leases, retention and "how long ago,
really" read. In production both come from the wall clock and differ by microseconds.
Version 1 logs had only ``time_us``, written by the wall clock (no replay existed), so the
migration copies it into ``wall_time_us``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from tether._clock import Clock, WallClock
from tether._schema import Migration, Schema, upgrade
from tether._storage import (
    JSONValue,
    Row,
    SQLValue,
    Transaction,
    dump_json,
    from_micros,
    load_json,
    open_database,
    to_micros,
)
from tether.errors import RegistryError

AliasState = Mapping[str, str]
"""A model's aliases: alias name -> model version, e.g. ``{"champion": "3"}``."""

EVENTS_SCHEMA = Schema(
    "events",
    (
        Migration(
            1,
            "the event log",
            (
                """CREATE TABLE tether_events (
                    id BIGINT PRIMARY KEY,
                    time_us BIGINT NOT NULL,
                    model TEXT NOT NULL,
                    action TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    before_state TEXT NOT NULL,
                    after_state TEXT NOT NULL,
                    details TEXT NOT NULL
                )""",
                "CREATE INDEX tether_events_model_id ON tether_events (model, id)",
            ),
        ),
        Migration(
            2,
            "wall time beside the clock's time",
            (
                # Nullable only because SQLite cannot add a NOT NULL column without a default;
                # every row has one after the UPDATE, and every insert writes one.
                "ALTER TABLE tether_events ADD COLUMN wall_time_us BIGINT",
                "UPDATE tether_events SET wall_time_us = time_us",
            ),
        ),
    ),
)
"""The event log's tables, version by version."""

_MODEL_LOCK = "tether-events-model"
_APPEND_LOCK = "tether-events-append"
_COLUMNS = (
    "id, time_us, model, action, actor, reason, before_state, after_state, details, wall_time_us"
)


@dataclass(frozen=True)
class Event:
    """One registry transition, as logged.

    Attributes:
        id: consecutive from 1, in commit order.
        time: when it was appended, on the log's clock (UTC): a replay's time in a replay.
        model: the registered model's name.
        action: what was done, e.g. ``"deploy"``, ``"promote"``, ``"rollback"``, ``"retire"``.
        actor: who did it: a user name or ``"loop"``.
        reason: why, in words.
        before: the model's aliases before the transition.
        after: the model's aliases after it.
        details: anything else worth keeping (evidence, run ids), as JSON.
        wall_time: when it was appended, on the machine's clock (UTC); ``None`` only on an
            event built by hand, never on one read from the log.
    """

    id: int
    time: datetime
    model: str
    action: str
    actor: str
    reason: str
    before: AliasState
    after: AliasState
    details: Mapping[str, JSONValue] = field(default_factory=lambda: MappingProxyType({}))
    wall_time: datetime | None = None


class Transition:
    """A model's state inside :meth:`EventLog.transition`, and the way to append to it."""

    def __init__(self, log: EventLog, transaction: Transaction, model: str) -> None:
        self._log = log
        self._transaction = transaction
        self.model = model
        """The model this transition holds the lock of."""
        self.state: AliasState = _latest_state(transaction, model)
        """The model's aliases now; after :meth:`append`, the ``after`` of the last event."""
        self.events: list[Event] = []
        """The events appended so far in this transition."""

    def append(
        self,
        action: str,
        *,
        actor: str,
        reason: str,
        after: AliasState,
        details: Mapping[str, JSONValue] | None = None,
    ) -> Event:
        """Append an event taking the model from :attr:`state` to ``after``; return it.

        Raises:
            RegistryError: an argument is empty or not of the documented type.
        """
        event = self._log._build_event(
            self.model, action, actor, reason, self.state, after, details or {}
        )
        event = _insert(self._transaction, event)
        self.state = event.after
        self.events.append(event)
        return event


class EventLog:
    """The registry's event log in a SQLite file or a PostgreSQL database.

    Events are stamped with ``clock``'s time (the project's: a replay's in a replay) and with
    ``wall_clock``'s; both default to :class:`tether._clock.WallClock`. Tests pass fixed ones.

    >>> log = EventLog("sqlite:///.tether/tether.db")  # doctest: +SKIP
    >>> log.append("fraud", "deploy", actor="ana", reason="first model",
    ...            after={"champion": "1"}).id  # doctest: +SKIP
    1

    Raises:
        ConfigError: the URL is not a SQLite or PostgreSQL URL.
        RegistryError: the database failed, or holds a schema from a newer tether.
    """

    def __init__(
        self, url: str, *, clock: Clock | None = None, wall_clock: Clock | None = None
    ) -> None:
        self._database = open_database(url, error=RegistryError, purpose="event log")
        self._clock = clock or WallClock()
        self._wall_clock = wall_clock or WallClock()
        self._local = threading.local()
        try:
            upgrade(self._database, EVENTS_SCHEMA)
        except RegistryError:
            self._database.dispose()
            raise

    @contextmanager
    def transition(self, model: str) -> Iterator[Transition]:
        """Hold ``model``'s lock for the block: read its state, append events, commit at exit.

        Transitions do not nest (in one thread, on one log): the inner one would wait forever
        for the outer one's lock.

        Raises:
            RegistryError: a transition is already open in this thread, or the database failed.
        """
        _require_text("model", model)
        if getattr(self._local, "model", None) is not None:
            raise RegistryError(
                f"A transition of {self._local.model!r} is already open in this thread; "
                f"finish it before transitioning {model!r} (transitions do not nest)."
            )
        self._local.model = model
        try:
            with self._database.write() as transaction:
                transaction.lock(_MODEL_LOCK, model)
                yield Transition(self, transaction, model)
        finally:
            self._local.model = None

    def append(
        self,
        model: str,
        action: str,
        *,
        actor: str,
        reason: str,
        after: AliasState,
        before: AliasState | None = None,
        details: Mapping[str, JSONValue] | None = None,
    ) -> Event:
        """Append one event in a transition of its own and return it.

        ``before``, when given, is the state the caller expects the model to be in: if another
        transition changed it since the caller read it, nothing is appended.

        Raises:
            RegistryError: ``before`` is not the model's state, an argument is invalid, or the
                database failed.
        """
        with self.transition(model) as tx:
            if before is not None and dict(before) != dict(tx.state):
                raise RegistryError(
                    f"Cannot {action} {model!r}: its aliases are {dict(tx.state)}, not the "
                    f"expected {dict(before)}; another transition happened first. Read the "
                    "state again and decide again."
                )
            return tx.append(action, actor=actor, reason=reason, after=after, details=details)

    def events(
        self, model: str | None = None, *, since_id: int | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events in id order: of ``model`` (or all), with an id above ``since_id``, at most
        ``limit`` of them."""
        where = ["id > :since_id"]
        params: dict[str, SQLValue] = {"since_id": since_id or 0}
        if model is not None:
            where.append("model = :model")
            params["model"] = model
        sql = f"SELECT {_COLUMNS} FROM tether_events WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._database.read() as transaction:
            return [_event_from_row(row) for row in transaction.fetch_all(sql, params)]

    def event(self, event_id: int) -> Event:
        """The event with id ``event_id``.

        Raises:
            RegistryError: there is no such event.
        """
        with self._database.read() as transaction:
            row = transaction.fetch_one(
                f"SELECT {_COLUMNS} FROM tether_events WHERE id = :id", {"id": event_id}
            )
        if row is None:
            # No location in the message: it reaches API clients, and the log's path or host
            # is the operator's business (the server log names it, masked).
            raise RegistryError(
                f"There is no event {event_id} in the event log; ids run from 1 to the latest "
                "event's."
            )
        return _event_from_row(row)

    def latest_state(self, model: str) -> dict[str, str]:
        """``model``'s aliases after its latest event; empty if it has none."""
        with self._database.read() as transaction:
            return dict(_latest_state(transaction, model))

    def close(self) -> None:
        """Close the database connections."""
        self._database.dispose()

    def _build_event(
        self,
        model: str,
        action: str,
        actor: str,
        reason: str,
        before: AliasState,
        after: AliasState,
        details: Mapping[str, JSONValue],
    ) -> Event:
        for name, value in (("action", action), ("actor", actor), ("reason", reason)):
            _require_text(name, value)
        _require_state(after)
        try:
            frozen_details = load_json(dump_json(dict(details)))
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"The details of the {action} of {model!r}: {exc}") from exc
        return Event(
            0,
            self._clock.now(),
            model,
            action,
            actor,
            reason,
            before,
            dict(after),
            frozen_details,
            wall_time=self._wall_clock.now(),
        )


def _insert(transaction: Transaction, event: Event) -> Event:
    transaction.lock(_APPEND_LOCK, "tether_events")
    row = transaction.fetch_one("SELECT COALESCE(MAX(id), 0) + 1 FROM tether_events")
    event_id = int(row[0] or 0) if row is not None else 1
    transaction.execute(
        f"INSERT INTO tether_events ({_COLUMNS}) VALUES (:id, :time_us, :model, :action, "
        ":actor, :reason, :before_state, :after_state, :details, :wall_time_us)",
        {
            "id": event_id,
            "time_us": to_micros(event.time),
            "model": event.model,
            "action": event.action,
            "actor": event.actor,
            "reason": event.reason,
            "before_state": dump_json(dict(event.before), canonical=True),
            "after_state": dump_json(dict(event.after), canonical=True),
            "details": dump_json(dict(event.details)),
            "wall_time_us": to_micros(event.wall_time or event.time),
        },
    )
    return Event(
        event_id,
        from_micros(to_micros(event.time)),
        event.model,
        event.action,
        event.actor,
        event.reason,
        event.before,
        event.after,
        event.details,
        from_micros(to_micros(event.wall_time or event.time)),
    )


def _latest_state(transaction: Transaction, model: str) -> dict[str, str]:
    row = transaction.fetch_one(
        "SELECT after_state FROM tether_events WHERE model = :model ORDER BY id DESC LIMIT 1",
        {"model": model},
    )
    return {} if row is None else dict(load_json(str(row[0])))


def _event_from_row(row: Row) -> Event:
    event_id, time_us, model, action, actor, reason, before, after, details, wall_time_us = row
    return Event(
        id=int(event_id or 0),
        time=from_micros(int(time_us or 0)),
        model=str(model),
        action=str(action),
        actor=str(actor),
        reason=str(reason),
        before=load_json(str(before)),
        after=load_json(str(after)),
        details=load_json(str(details)),
        # A version 1 row migrated has its time copied; NULL is impossible but read safely.
        wall_time=from_micros(int(wall_time_us if wall_time_us is not None else time_us or 0)),
    )


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(f"An event's {name} must be a non-empty string; got {value!r}.")


def _require_state(state: object) -> None:
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and key and isinstance(value, str) and value
        for key, value in state.items()
    ):
        raise RegistryError(
            f"An alias state must map alias names to version strings, e.g. "
            f'{{"champion": "3"}}; got {state!r}.'
        )
