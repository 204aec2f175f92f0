"""Where the loop keeps its state: one row per model, its events, and the lease, in tether's
database (``[store] url``: SQLite by default, PostgreSQL by config), migrated like the others.

::

    tether_loop_state   one row per model: its phase (idle, holding, training, gating, shadow,
                        challenger), since when (the loop's clock), the candidate version and
                        training run, the data incidents seen, the last retrain, and the
                        *intent*: the side effect the controller is about to make, written
                        before it is made, cleared in the same transaction as its result
    tether_loop_events  one row per step with its evidence (JSON) and the model version it
                        concerns: what ``tether loop history`` and ``tether audit`` show
    tether_loop_lease   one row per loop: who holds it until when, and the persisted pause

The lease is a compare-and-set in one write transaction holding a lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: an advisory transaction lock), so two controllers can never both
believe they hold it. Its expiry is on the loop's clock, the same clock the ticks run on: a
replayed month expires a dead holder's lease after ``lease_seconds`` of replayed time.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

from tether._closing import Closing
from tether._schema import Migration, Schema, stored_version, upgrade
from tether._storage import (
    JSONValue,
    Params,
    Row,
    SQLValue,
    Transaction,
    dump_json,
    from_micros,
    load_json,
    open_database,
    to_micros,
)
from tether.errors import LoopError

STATE: Final = "tether_loop_state"
EVENTS: Final = "tether_loop_events"
LEASE: Final = "tether_loop_lease"
LOOP_NAME: Final = "default"
"""The lease row of the one loop a project runs."""

Phase = Literal["idle", "holding", "training", "gating", "shadow", "challenger"]
PHASES: Final[tuple[Phase, ...]] = ("idle", "holding", "training", "gating", "shadow", "challenger")

LOOP_SCHEMA = Schema(
    "loop",
    (
        Migration(
            1,
            "loop state, events and lease",
            (
                f"""CREATE TABLE {STATE} (
                    model TEXT PRIMARY KEY,
                    phase TEXT NOT NULL,
                    since_us BIGINT NOT NULL,
                    candidate TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    experiment TEXT NOT NULL,
                    incidents TEXT NOT NULL,
                    last_retrain_us BIGINT,
                    intent TEXT NOT NULL,
                    intent_detail TEXT NOT NULL
                )""",
                f"""CREATE TABLE {EVENTS} (
                    event_id BIGINT PRIMARY KEY,
                    model TEXT NOT NULL,
                    clock_us BIGINT NOT NULL,
                    step TEXT NOT NULL,
                    phase TEXT NOT NULL,
                    holder TEXT NOT NULL,
                    evidence TEXT NOT NULL
                )""",
                f"CREATE INDEX tether_loop_events_model ON {EVENTS} (model, event_id)",
                f"""CREATE TABLE {LEASE} (
                    name TEXT PRIMARY KEY,
                    holder TEXT NOT NULL,
                    expires_us BIGINT NOT NULL,
                    paused INTEGER NOT NULL,
                    pause_reason TEXT NOT NULL
                )""",
            ),
        ),
        Migration(
            2,
            "the model version each event concerns",
            (
                f"ALTER TABLE {EVENTS} ADD COLUMN version TEXT NOT NULL DEFAULT ''",
                lambda transaction: _backfill_versions(transaction),
            ),
        ),
    ),
)
"""The loop's tables, version by version."""


@dataclass(frozen=True)
class LoopState:
    """One model's place in the loop. ``intent`` is empty unless a side effect was begun and
    its result not yet recorded: the next tick checks the world and finishes it."""

    model: str
    phase: Phase
    since: datetime
    candidate: str = ""
    run_id: str = ""
    experiment: str = ""
    incidents: tuple[tuple[datetime, datetime], ...] = ()
    last_retrain: datetime | None = None
    intent: str = ""
    intent_detail: Mapping[str, JSONValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready: what ``tether loop status --json`` prints."""
        return {
            "model": self.model,
            "phase": self.phase,
            "since": self.since.isoformat(),
            "candidate": self.candidate,
            "run_id": self.run_id,
            "experiment": self.experiment,
            "incidents": [[start.isoformat(), end.isoformat()] for start, end in self.incidents],
            "last_retrain": None if self.last_retrain is None else self.last_retrain.isoformat(),
            "intent": self.intent,
        }


@dataclass(frozen=True)
class LoopEvent:
    """One step the loop took (or, in dry-run, would have taken), with its evidence."""

    event_id: int
    model: str
    time: datetime
    step: str
    phase: str
    holder: str
    evidence: Mapping[str, JSONValue]
    version: str = ""
    """The model version the step concerns (the candidate; for a rollback, the champion rolled
    away from); empty for a step about no version (a wait, a hold)."""

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready: a line of ``tether loop history --json``."""
        return {
            "event_id": self.event_id,
            "model": self.model,
            "time": self.time.isoformat(),
            "step": self.step,
            "phase": self.phase,
            "holder": self.holder,
            "version": self.version,
            "evidence": dict(self.evidence),
        }

    def summary(self) -> str:
        """The evidence in one line a person reads: its reason, cause and the numbers that
        decided (``reason shadow disagreed; pairs 500; agreement 0.91``)."""
        found = [
            f"{key} {_said(self.evidence[key])}" for key in SUMMARY_KEYS if key in self.evidence
        ]
        experiment = self.evidence.get("experiment")
        if isinstance(experiment, dict) and experiment.get("reason"):
            found.append(f"experiment {experiment['reason']}")
        return "; ".join(found) or "-"


@dataclass(frozen=True)
class Lease:
    """Who holds the loop's lease, until when, and whether the loop is paused."""

    holder: str
    expires: datetime
    paused: bool
    pause_reason: str


class LoopStore(Closing):
    """The loop's tables in the database at ``url`` (``[store] url``).

    >>> with LoopStore("sqlite:///.tether/tether.db") as store:  # doctest: +SKIP
    ...     store.acquire("host-1:4242", now, timedelta(minutes=30))
    True

    Raises:
        LoopError: the database failed, or holds a schema from a newer tether.
    """

    def __init__(self, url: str) -> None:
        self._database = open_database(url, error=LoopError, purpose="loop state")
        upgrade(self._database, LOOP_SCHEMA)

    def close(self) -> None:
        self._database.dispose()

    def acquire(self, holder: str, now: datetime, duration: timedelta) -> bool:
        """Take or renew the lease for ``holder`` until ``now + duration``; False if another
        holder's lease is still live at ``now`` (it is left alone)."""
        expires = to_micros(now + duration)
        with self._database.write() as transaction:
            transaction.lock("tether-loop", LEASE)
            row = transaction.fetch_one(
                f"SELECT holder, expires_us FROM {LEASE} WHERE name = :name", {"name": LOOP_NAME}
            )
            if row is None:
                transaction.execute(
                    f"INSERT INTO {LEASE} (name, holder, expires_us, paused, pause_reason) "
                    "VALUES (:name, :holder, :expires, 0, '')",
                    {"name": LOOP_NAME, "holder": holder, "expires": expires},
                )
                return True
            if str(row[0]) != holder and int(row[1] or 0) > to_micros(now):
                return False
            transaction.execute(
                f"UPDATE {LEASE} SET holder = :holder, expires_us = :expires WHERE name = :name",
                {"name": LOOP_NAME, "holder": holder, "expires": expires},
            )
            return True

    def release(self, holder: str, now: datetime) -> None:
        """End ``holder``'s lease at ``now`` (nothing if another holds it)."""
        with self._database.write() as transaction:
            transaction.execute(
                f"UPDATE {LEASE} SET expires_us = :now WHERE name = :name AND holder = :holder",
                {"name": LOOP_NAME, "holder": holder, "now": to_micros(now)},
            )

    def lease(self) -> Lease | None:
        """The lease row, None before any controller ran or paused the loop."""
        with self._database.read() as transaction:
            row = transaction.fetch_one(
                f"SELECT holder, expires_us, paused, pause_reason FROM {LEASE} WHERE name = :name",
                {"name": LOOP_NAME},
            )
        if row is None:
            return None
        return Lease(str(row[0]), from_micros(int(row[1] or 0)), bool(row[2]), str(row[3]))

    def set_paused(self, paused: bool, reason: str) -> None:
        """Persist the pause switch (``tether loop pause|resume``); a tick reads it first."""
        with self._database.write() as transaction:
            transaction.lock("tether-loop", LEASE)
            updated = transaction.execute(
                f"UPDATE {LEASE} SET paused = :paused, pause_reason = :reason WHERE name = :name",
                {"name": LOOP_NAME, "paused": int(paused), "reason": reason},
            )
            if updated == 0:
                transaction.execute(
                    f"INSERT INTO {LEASE} (name, holder, expires_us, paused, pause_reason) "
                    "VALUES (:name, '', 0, :paused, :reason)",
                    {"name": LOOP_NAME, "paused": int(paused), "reason": reason},
                )

    def state(self, model: str, now: datetime) -> LoopState:
        """``model``'s state; a model the loop never saw is idle since ``now``."""
        with self._database.read() as transaction:
            row = transaction.fetch_one(
                f"SELECT {_STATE_COLUMNS} FROM {STATE} WHERE model = :model", {"model": model}
            )
        return LoopState(model, "idle", now) if row is None else _state(row)

    def states(self) -> list[LoopState]:
        """Every model's state, by model name."""
        with self._database.read() as transaction:
            rows = transaction.fetch_all(f"SELECT {_STATE_COLUMNS} FROM {STATE} ORDER BY model")
        return [_state(row) for row in rows]

    def save(
        self,
        state: LoopState,
        *,
        step: str,
        time: datetime,
        holder: str,
        evidence: Mapping[str, JSONValue] | None = None,
        version: str | None = None,
    ) -> LoopState:
        """Write ``state`` and the event ``step`` that led to it in one transaction, so the
        history never disagrees with the state; the event concerns ``version`` (default: the
        state's candidate)."""
        with self._database.write() as transaction:
            transaction.lock("tether-loop", STATE)
            params = _state_params(state)
            updated = transaction.execute(
                f"UPDATE {STATE} SET {_STATE_SET} WHERE model = :model", params
            )
            if not updated:
                transaction.execute(
                    f"INSERT INTO {STATE} ({_STATE_COLUMNS}) VALUES ({_STATE_VALUES})", params
                )
            concerns = state.candidate if version is None else version
            self._insert_event(
                transaction, state.model, time, step, state.phase, holder, evidence, concerns
            )
        return state

    def record(
        self,
        model: str,
        *,
        step: str,
        phase: str,
        time: datetime,
        holder: str,
        evidence: Mapping[str, JSONValue] | None = None,
        version: str = "",
    ) -> None:
        """Write an event that changes no state (a wait, a refusal, a dry-run's intent)."""
        with self._database.write() as transaction:
            transaction.lock("tether-loop", STATE)
            self._insert_event(transaction, model, time, step, phase, holder, evidence, version)

    def history(self, model: str | None = None, *, limit: int = 100) -> list[LoopEvent]:
        """The latest events (of ``model``, or of every model), newest first."""
        where = "" if model is None else " WHERE model = :model"
        with self._database.read() as transaction:
            rows = transaction.fetch_all(
                f"SELECT {_EVENT_COLUMNS} FROM {EVENTS}{where} "
                f"ORDER BY event_id DESC LIMIT {int(limit)}",
                {} if model is None else {"model": model},
            )
        return [_event(row) for row in rows]

    def decisions(self, model: str, versions: Collection[str]) -> list[LoopEvent]:
        """Every event of ``model`` that concerns one of ``versions``, oldest first: what
        ``tether audit`` lists of a run's versions (its training, gate, shadow, challenger,
        promotion or discard, and rollbacks away from it)."""
        if not versions:
            return []
        marks = ", ".join(f":v{i}" for i in range(len(versions)))
        params: dict[str, SQLValue] = {f"v{i}": v for i, v in enumerate(sorted(versions))}
        with self._database.read() as transaction:
            rows = transaction.fetch_all(
                f"SELECT {_EVENT_COLUMNS} FROM {EVENTS} WHERE model = :model "
                f"AND version IN ({marks}) ORDER BY event_id",
                {**params, "model": model},
            )
        return [_event(row) for row in rows]

    @staticmethod
    def _insert_event(
        transaction: Transaction,
        model: str,
        time: datetime,
        step: str,
        phase: str,
        holder: str,
        evidence: Mapping[str, JSONValue] | None,
        version: str,
    ) -> None:
        found = transaction.fetch_one(f"SELECT MAX(event_id) FROM {EVENTS}")
        event_id = int((found[0] if found else 0) or 0) + 1
        transaction.execute(
            f"INSERT INTO {EVENTS} ({_EVENT_COLUMNS}) VALUES (:event_id, :model, :clock, :step, "
            ":phase, :holder, :evidence, :version)",
            {
                "event_id": event_id,
                "model": model,
                "clock": to_micros(time),
                "step": step,
                "phase": phase,
                "holder": holder,
                "evidence": dump_json(dict(evidence or {})),
                "version": version,
            },
        )


def read_decisions(url: str, model: str, versions: Collection[str]) -> list[LoopEvent] | None:
    """:meth:`LoopStore.decisions` of the database at ``url``; None when the loop's tables
    were never created there (the loop never ran), which a reader must not create.

    Example::

        read_decisions(project.store_url, "fraud", {"3"})  # None, or the events of version 3
    """
    database = open_database(url, error=LoopError, purpose="loop state")
    try:
        found = stored_version(database, LOOP_SCHEMA.component)
    finally:
        database.dispose()
    if found == 0:
        return None
    with LoopStore(url) as store:
        return store.decisions(model, versions)


SUMMARY_KEYS: Final = (
    "reason", "cause", "passed", "champion", "version", "run_id", "pairs", "agreement",
    "needed", "share", "incident", "until", "error",
)  # fmt: skip
"""The evidence keys :meth:`LoopEvent.summary` names, in this order (the rest is in the JSON)."""
_EVENT_COLUMNS = "event_id, model, clock_us, step, phase, holder, evidence, version"
_ENDS_CANDIDATE: Final = frozenset({"gate_failed", "promote_done", "discard_done"})
"""Steps after which a model has no candidate (the migration's backfill reads them)."""


def _said(value: JSONValue) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return " to ".join(str(item) for item in value)
    return str(value)


def _event(row: Row) -> LoopEvent:
    return LoopEvent(
        int(row[0] or 0),
        str(row[1]),
        from_micros(int(row[2] or 0)),
        str(row[3]),
        str(row[4]),
        str(row[5]),
        load_json(str(row[6])),
        str(row[7] or ""),
    )


def _backfill_versions(transaction: Transaction) -> None:
    """Give the events written before migration 2 the version they concern, replaying each
    model's steps in order: the controller holds one candidate at a time, from its
    ``train_done`` (whose evidence names the version) to a gate failure, promotion or discard;
    a rollback concerns the champion its evidence names."""
    rows = transaction.fetch_all(
        f"SELECT event_id, model, step, evidence FROM {EVENTS} ORDER BY model, event_id"
    )
    candidates: dict[str, str] = {}
    updates: list[Params] = []
    for event_id, model, step, evidence in rows:
        found = load_json(str(evidence))
        key, name = str(model), str(step)
        if name == "train_done" and found.get("version"):
            candidates[key] = str(found["version"])
        version = candidates.get(key, "")
        if name.startswith("rollback"):
            version = str(found.get("champion", ""))
        if name in _ENDS_CANDIDATE:
            candidates.pop(key, None)
        if version:
            updates.append({"event_id": event_id, "version": version})
    transaction.execute_many(
        f"UPDATE {EVENTS} SET version = :version WHERE event_id = :event_id", updates
    )


_FIELDS = (
    "model", "phase", "since_us", "candidate", "run_id", "experiment", "incidents",
    "last_retrain_us", "intent", "intent_detail",
)  # fmt: skip
_STATE_COLUMNS = ", ".join(_FIELDS)
_STATE_VALUES = ", ".join(f":{name}" for name in _FIELDS)
_STATE_SET = ", ".join(f"{name} = :{name}" for name in _FIELDS if name != "model")


def _state_params(state: LoopState) -> dict[str, str | int | None]:
    return {
        "model": state.model,
        "phase": state.phase,
        "since_us": to_micros(state.since),
        "candidate": state.candidate,
        "run_id": state.run_id,
        "experiment": state.experiment,
        "incidents": dump_json(
            [[to_micros(start), to_micros(end)] for start, end in state.incidents]
        ),
        "last_retrain_us": None if state.last_retrain is None else to_micros(state.last_retrain),
        "intent": state.intent,
        "intent_detail": dump_json(dict(state.intent_detail)),
    }


def _state(row: Row) -> LoopState:
    phase = str(row[1])
    if phase not in PHASES:
        raise LoopError(f"Loop state of {row[0]!r} has phase {phase!r}; expected one of {PHASES}.")
    spans: Sequence[Sequence[int]] = load_json(str(row[6]))
    return LoopState(
        model=str(row[0]),
        phase=phase,
        since=from_micros(int(row[2] or 0)),
        candidate=str(row[3]),
        run_id=str(row[4]),
        experiment=str(row[5]),
        incidents=tuple((from_micros(s), from_micros(e)) for s, e in spans),
        last_retrain=None if row[7] is None else from_micros(int(row[7])),
        intent=str(row[8]),
        intent_detail=load_json(str(row[9])),
    )
