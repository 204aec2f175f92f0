"""The prediction log: every prediction served (champion, challenger, shadow), and its feedback.

It is the input of the skew audit and of monitoring: who was scored, in which cohort, by which
model version in which role, on which features exactly, with which output and latency; and,
later, the label and business outcome of the instance. SQLite (WAL) by default, PostgreSQL by
URL, on the same code (:mod:`tether._storage`).

Writes are off the request path. :meth:`PredictionLog.record` only enqueues (about 2 µs,
measured on a loaded 2-core machine); a writer thread (:mod:`tether.serving._batch`) redacts,
encodes and inserts the rows in batches of up to ``max_batch``, one transaction per batch, as
soon as ``max_batch`` rows are queued and at least every ``flush_interval`` seconds. A full
queue drops the prediction (counted in ``dropped``) rather than slow the request.
:meth:`PredictionLog.flush` and :meth:`PredictionLog.close` write everything recorded before
them; a log used as a context manager closes itself.

**The loss bound**: after a hard kill, the predictions recorded since the writer's last commit
are lost, and nothing before it: at most the ``max_batch`` rows of the batch being written plus
the rows queued (never more than ``max_batch + capacity``; in steady state, the rows of the
last ``flush_interval`` seconds). A batch is one transaction, so it is never half written.

**Feedback** (:meth:`PredictionLog.record_feedback`) joins a prediction by instance id. It is
written synchronously (the caller needs to know whether it was accepted): the same feedback
twice is accepted once (``"created"``, then ``"duplicate"``), a different label or business
outcome for the same instance raises :class:`FeedbackConflictError`, and an instance id that
no prediction has raises :class:`UnknownInstanceError`. Feedback can arrive before the writer
has written its prediction: on a miss, the log flushes its own queue and looks again. With
several replicas the prediction may still be in another replica's queue for up to
``flush_interval``: a client should retry an unknown-instance answer after that long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Literal, TypeAlias

import pandas as pd

from tether._schema import upgrade
from tether._storage import JSONValue, Params, dump_json, open_database, to_micros
from tether.errors import FeedbackConflictError, ServingError, UnknownInstanceError
from tether.serving import _predlog_sql as sql
from tether.serving._batch import BatchWriter
from tether.serving._redaction import Redaction

Role: TypeAlias = Literal["champion", "challenger", "shadow"]
"""The part a model played for a prediction: served it (champion or challenger) or shadowed."""
ROLES: tuple[Role, ...] = ("champion", "challenger", "shadow")
FeedbackStatus: TypeAlias = Literal["created", "duplicate"]
"""What :meth:`PredictionLog.record_feedback` did: stored it, or found it already stored."""

DEFAULT_MAX_BATCH = 500
"""Rows per transaction. Measured (20-feature rows, loaded 2-core machine): 100 gave about
4,500 rows/s on SQLite and PostgreSQL, 500 about 7,000, 2,000 no more on SQLite; larger
batches also hold SQLite's write lock longer."""
DEFAULT_FLUSH_INTERVAL = 0.2
"""Seconds a prediction waits at most in the queue while the writer keeps up."""
DEFAULT_CAPACITY = 20_000
"""Predictions the queue holds before dropping: a few seconds of backlog at the measured
write rates, about 40 MB at 2 KB per queued prediction of 20 features."""
DEFAULT_TIMEOUT = 30.0
"""Seconds :meth:`PredictionLog.flush` and :meth:`PredictionLog.close` wait for the writer."""

_LOGGER = logging.getLogger(__name__)


# Not frozen: one is built per prediction on the request path, and a frozen dataclass took four
# times as long to build (12 against 2 microseconds, measured on a loaded 2-core machine).
@dataclass(slots=True)
class Prediction:
    """One prediction as served, handed to :meth:`PredictionLog.record`.

    Attributes:
        request_id: the request it answered (a request may score several instances).
        instance_id: the instance scored, e.g. a transaction id; feedback joins on it.
        time: when it was served (timezone-aware).
        model: the registered model's name.
        version: the model version that computed it.
        role: ``"champion"``, ``"challenger"`` or ``"shadow"``.
        features: the feature vector exactly as the model received it.
        output: what the model returned: a score, a label, or any JSON value.
        latency_ms: how long the model took, in milliseconds.
        unit_id: the unit the sticky assignment keys on (e.g. the customer), if any.
        cohort: the experiment cohort the unit fell in, if any.
        event_time: the time of the scored event itself, if it has one (timezone-aware).

    The log owns the object once recorded: do not change it, nor its ``features``, afterwards.
    """

    request_id: str
    instance_id: str
    time: datetime
    model: str
    version: str
    role: Role
    features: Mapping[str, JSONValue]
    output: JSONValue
    latency_ms: float
    unit_id: str | None = None
    cohort: str | None = None
    event_time: datetime | None = None

    def __post_init__(self) -> None:
        # Cheap checks only (this runs on the request path); the rest is the writer's job.
        if self.role not in ROLES:
            raise ServingError(
                f"Prediction {self.instance_id!r} has role {self.role!r}; expected one of "
                f"{', '.join(ROLES)}."
            )
        if self.time.tzinfo is None:
            raise ServingError(
                f"Prediction {self.instance_id!r} has the naive time {self.time}; expected a "
                "timezone-aware datetime (e.g. datetime.now(UTC))."
            )


@dataclass(frozen=True)
class RetentionResult:
    """What :meth:`PredictionLog.delete_older_than` deleted."""

    predictions: int
    feedback: int


class PredictionLog:
    """The prediction log in a SQLite file or a PostgreSQL database; safe to share by threads.

    >>> log = PredictionLog("sqlite:///.tether/predictions.db",
    ...                     redaction=Redaction(hash=["customer_id"], salt=SALT))  # doctest: +SKIP
    >>> log.record(prediction)  # enqueues and returns at once  # doctest: +SKIP
    >>> log.record_feedback("tx-1", label=1, business={"loss": 120.0})  # doctest: +SKIP
    >>> frame = log.query(start, end, model="fraud", cohort="B")  # doctest: +SKIP
    >>> log.close()  # writes what is queued  # doctest: +SKIP

    Raises:
        ConfigError: the URL is not a SQLite or PostgreSQL URL, or a setting is out of range.
        ServingError: the database failed, or holds a schema from a newer tether.
    """

    def __init__(
        self,
        url: str,
        *,
        redaction: Redaction | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._database = open_database(url, error=ServingError, purpose="prediction log")
        try:
            upgrade(self._database, sql.PREDICTIONS_SCHEMA)
        except ServingError:
            self._database.dispose()
            raise
        self._redaction = redaction or Redaction()
        self._clock = clock or _utc_now
        self._closed = False
        self.rejected = 0
        """Predictions the writer could not encode (logged; e.g. a feature JSON cannot hold)."""
        self._writer: BatchWriter[Prediction] = BatchWriter(
            self._write,
            max_batch=max_batch,
            flush_interval=flush_interval,
            capacity=capacity,
            name=f"tether-predlog-{id(self):x}",
        )

    def record(self, prediction: Prediction) -> bool:
        """Enqueue ``prediction`` for writing and return at once; False if the queue was full.

        Raises:
            ServingError: the log is closed.
        """
        if self._closed:
            raise ServingError(
                f"The prediction log at {self._database.display_url} is closed; "
                f"prediction {prediction.instance_id!r} was not recorded."
            )
        return self._writer.put(prediction)

    @property
    def written(self) -> int:
        """Predictions written so far (including those already stored, skipped as retries)."""
        return self._writer.written

    @property
    def dropped(self) -> int:
        """Predictions :meth:`record` refused because the queue was full."""
        return self._writer.dropped

    @property
    def pending(self) -> int:
        """Predictions recorded and not yet written (approximately)."""
        return self._writer.pending

    def flush(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Return once every prediction recorded before the call is written.

        Raises:
            ServingError: the log is closed, or the writer did not finish within ``timeout``
                (the database is down or too slow; the last error is named).
        """
        if self._closed:
            raise ServingError(f"The prediction log at {self._database.display_url} is closed.")
        if not self._writer.flush(timeout):
            raise ServingError(
                f"The prediction log at {self._database.display_url} did not write its "
                f"{self._writer.pending} pending predictions within {timeout} s "
                f"(last error: {self._writer.last_error!r})."
            )

    def close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Write every recorded prediction, stop the writer and close the connections.

        Closing twice does nothing.

        Raises:
            ServingError: some predictions could not be written within ``timeout``; the
                message says how many were lost.
        """
        if self._closed:
            return
        self._closed = True
        lost = self._writer.close(timeout)
        self._database.dispose()
        if lost:
            raise ServingError(
                f"{lost} predictions were not written to the prediction log at "
                f"{self._database.display_url} before closing, within {timeout} s "
                f"(last error: {self._writer.last_error!r}); they are lost."
            )

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def record_feedback(
        self,
        instance_id: str,
        label: JSONValue,
        business: Mapping[str, JSONValue] | None = None,
        *,
        time: datetime | None = None,
    ) -> FeedbackStatus:
        """Record the outcome of ``instance_id``: its ``label`` and ``business`` values.

        ``time`` is when the outcome became known (default: now); it is not part of the
        feedback's identity, so a retry sent later is still the same feedback.

        Raises:
            UnknownInstanceError: no prediction of ``instance_id`` is logged.
            FeedbackConflictError: different feedback is already recorded for it.
            ServingError: a value cannot be stored as JSON, or the database failed.
        """
        row = self._feedback_row(instance_id, label, business or {}, time or self._clock())
        status = self._store_feedback(row)
        if status is None:  # perhaps its prediction is still in this log's queue
            self.flush()
            status = self._store_feedback(row)
        if status is None:
            raise UnknownInstanceError(
                f"No prediction of instance {instance_id!r} is in the prediction log at "
                f"{self._database.display_url}. If it was served less than "
                f"{self._writer.flush_interval} s ago by another replica, retry later."
            )
        return status

    def ping(self) -> None:
        """Check that the database answers (one ``SELECT 1``), for readiness probes.

        Raises:
            ServingError: the database cannot be reached.
        """
        with self._database.read() as transaction:
            transaction.fetch_one("SELECT 1")

    def query(
        self,
        start: datetime,
        end: datetime,
        *,
        model: str | None = None,
        version: str | None = None,
        cohort: str | None = None,
        role: Role | None = None,
        with_feedback: bool = True,
    ) -> pd.DataFrame:
        """Predictions served in ``[start, end)``, filtered by the arguments given, in time order.

        One row per prediction, columns ``instance_id, model, version, role, request_id, time,
        event_time, unit_id, cohort, features, output, score, latency_ms`` and, with feedback,
        ``label, business, feedback_time`` (null where no feedback came). Times are
        ``datetime64[us, UTC]``; ``features``, ``output``, ``label`` and ``business`` hold the
        decoded JSON values; ``score`` is the output when it is a number. Predictions still in
        the queue are not included: call :meth:`flush` first to see them.

        Raises:
            ServingError: the database failed.
            ValueError: ``start`` or ``end`` is naive.
        """
        filters = {"model": model, "version": version, "cohort": cohort, "role": role}
        with self._database.read() as transaction:
            return sql.select_frame(
                transaction, to_micros(start), to_micros(end), filters, with_feedback=with_feedback
            )

    def delete_older_than(self, age: timedelta, *, now: datetime | None = None) -> RetentionResult:
        """Delete the predictions served more than ``age`` before ``now`` (default: the clock),
        and the feedback of their instances, in one transaction. Flushes the queue first.

        Raises:
            ServingError: the database failed.
        """
        self.flush()
        cutoff = to_micros((now or self._clock()) - age)
        with self._database.write() as transaction:
            predictions, feedback = sql.delete_before(transaction, cutoff)
        return RetentionResult(predictions, feedback)

    def _write(self, batch: Sequence[Prediction]) -> None:
        rows = [row for row in map(self._encode, batch) if row is not None]
        with self._database.write() as transaction:
            transaction.execute_many(sql.INSERT_PREDICTION, rows)

    def _encode(self, prediction: Prediction) -> Params | None:
        """The row of ``prediction``, redacted; None (logged, counted) if it cannot be stored."""
        try:
            features = prediction.features
            if self._redaction.active:
                features = self._redaction.features(features)
            return {
                "instance_id": prediction.instance_id,
                "model": prediction.model,
                "version": prediction.version,
                "role": prediction.role,
                "request_id": prediction.request_id,
                "time_us": to_micros(prediction.time),
                "event_time_us": _optional_micros(prediction.event_time),
                "unit_id": self._redaction.unit_id(prediction.unit_id),
                "cohort": prediction.cohort,
                "features": dump_json(features),
                "output": dump_json(prediction.output),
                "score": sql.score_of(prediction.output),
                "latency_ms": float(prediction.latency_ms),
            }
        except (TypeError, ValueError) as exc:
            self.rejected += 1
            _LOGGER.error(
                "prediction %r of %s version %s cannot be stored and is skipped: %s",
                prediction.instance_id,
                prediction.model,
                prediction.version,
                exc,
            )
            return None

    def _feedback_row(
        self,
        instance_id: str,
        label: JSONValue,
        business: Mapping[str, JSONValue],
        time: datetime,
    ) -> Params:
        try:
            return {
                "instance_id": instance_id,
                "label": dump_json(label, canonical=True),
                "business": dump_json(dict(business), canonical=True),
                "time_us": to_micros(time),
            }
        except (TypeError, ValueError) as exc:
            raise ServingError(f"The feedback for instance {instance_id!r}: {exc}") from exc

    def _store_feedback(self, row: Params) -> FeedbackStatus | None:
        instance_id = str(row["instance_id"])
        with self._database.write() as transaction:
            if not sql.instance_known(transaction, instance_id):
                return None
            if sql.insert_feedback(transaction, row):
                return "created"
            stored = sql.stored_feedback(transaction, instance_id)
        if stored == (row["label"], row["business"]):
            return "duplicate"
        raise FeedbackConflictError(
            f"Instance {instance_id!r} already has feedback label={stored and stored[0]}, "
            f"business={stored and stored[1]}; the new label={row['label']}, "
            f"business={row['business']} differs. Feedback is recorded once per instance."
        )


def _optional_micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _utc_now() -> datetime:
    return datetime.now(UTC)
