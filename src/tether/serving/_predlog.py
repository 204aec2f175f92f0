"""The prediction log: every prediction served (champion, challenger, shadow), and its feedback.

It is the input of the skew audit and of monitoring: who was scored (its entity keys), in
which cohort, by which model version in which role, on which features exactly (each with its
status: from the online store, or sent by the client), with which request data, output and
latency; and, later, the label and business outcome of the instance. SQLite (WAL) by
default, PostgreSQL by URL, on the same code (:mod:`tether._storage`).

Writes are off the request path. :meth:`PredictionLog.record` only enqueues (about 2 µs,
measured on a loaded 2-core machine); a writer thread (:mod:`tether.serving._batch`) redacts
and encodes the rows (:mod:`._prediction`) and inserts them in batches of up to ``max_batch``,
one transaction per batch, as soon as ``max_batch`` rows are queued and at least every
``flush_interval`` seconds. A full queue refuses the prediction (``record`` returns False,
counted in ``dropped``, logged) rather than slow the request; the router then answers the
request 503, never 200.

**Retries and revisions**: a prediction is keyed by its instance id, model, version and
``input_digest``, a keyed digest of the instance's fields as the client sent them (computed
by the writer, off the request path). A client's retry (the same fields) writes nothing new
and is counted in ``retries``; the same instance id with other fields is stored as a new
revision, and the earlier one is marked ``superseded`` (see :mod:`._predlog_sql`). So every
prediction answered is in the log, or counted: the rows of the table equal the predictions
recorded minus ``retries``, ``rejected`` and ``dropped``, and the same counters are exported
to ``/metrics`` through the :class:`~tether.serving.ServingObserver` given to :meth:`observe`.
:meth:`PredictionLog.flush` and :meth:`PredictionLog.close` write everything recorded before
them; a log used as a context manager closes itself.

**The loss bound**: after a hard kill, the predictions recorded since the writer's last commit
are lost, and nothing before it: at most the ``max_batch`` rows of the batch being written plus
the rows queued (never more than ``max_batch + capacity``; in steady state, the rows of the
last ``flush_interval`` seconds). A batch is one transaction, so it is never half written.

**Feedback** (:meth:`PredictionLog.record_feedback`) joins a prediction by instance id (its
current revision). It is written synchronously (the caller needs to know whether it was
accepted): the label is checked against the label space stored with the instance's
predictions (a classifier's classes, a regressor's finite number; :mod:`._labels`); the same
feedback twice is accepted once (``"created"``, then ``"duplicate"``), a different label or
business outcome for the same instance raises :class:`FeedbackConflictError` unless it is a
*correction* (``correction=True`` with a ``reason``), which supersedes the label and keeps
every earlier one in :meth:`PredictionLog.feedback_history` (``"corrected"``); and an
instance id that no prediction has raises :class:`UnknownInstanceError`. Feedback can arrive
before the writer has written its prediction: on a miss, the log flushes its own queue and
looks again. With
several replicas the prediction may still be in another replica's queue for up to
``flush_interval``: a client should retry an unknown-instance answer after that long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pandas as pd

from tether._closing import Closing
from tether._names import Role
from tether._schema import upgrade
from tether._storage import (
    JSONValue,
    Params,
    SQLValue,
    dump_json,
    from_micros,
    load_json,
    open_database,
    to_micros,
)
from tether._uris import mask_uri
from tether.errors import (
    InvalidFeedbackError,
    PredictionLogDatabaseError,
    ServingError,
    UnknownInstanceError,
)
from tether.serving import _predlog_sql as sql
from tether.serving import _predlog_typed as typed
from tether.serving._batch import BatchWriter
from tether.serving._observer import NullObserver, ServingObserver
from tether.serving._prediction import Prediction, RetentionResult, prediction_row
from tether.serving._predlog_feedback import (
    FeedbackItem,
    FeedbackOutcome,
    FeedbackRecord,
    FeedbackStatus,
    check_reason,
    labelled,
    refused,
    store_batch,
    store_checked,
)
from tether.serving._redaction import Redaction

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


class PredictionLog(Closing):
    """The prediction log in a SQLite file or a PostgreSQL database; safe to share by threads.

    >>> log = PredictionLog("sqlite:///.tether/tether.db",
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
        self._database = open_database(
            url, error=PredictionLogDatabaseError, purpose="prediction log"
        )
        # Messages that can reach an HTTP body never name the database (a path or a host);
        # the server log does, masked.
        self._where = mask_uri(self._database.display_url)
        try:
            upgrade(self._database, sql.PREDICTIONS_SCHEMA)
        except ServingError:
            self._database.dispose()
            raise
        self._redaction = redaction or Redaction()
        self._clock = clock or _utc_now
        self._closed = False
        self._observer: ServingObserver = NullObserver()
        self.rejected = 0
        """Predictions the writer could not encode (logged; e.g. a feature JSON cannot hold)."""
        self.retries = 0
        """Predictions not written because the same one was stored already (a client's retry
        of the same instance with the same fields, by the same model version)."""
        self._typed = typed.TypedWriter()
        self._writer: BatchWriter[Prediction] = BatchWriter(
            self._write,
            max_batch=max_batch,
            flush_interval=flush_interval,
            capacity=capacity,
            name=f"tether-predlog-{id(self):x}",
        )

    def observe(self, observer: ServingObserver) -> None:
        """Report what the writer writes to ``observer`` (the server's metrics) from now on."""
        self._observer = observer

    def record(self, prediction: Prediction) -> bool:
        """Enqueue ``prediction`` for writing and return at once; False if the queue was full.

        Raises:
            ServingError: the log is closed.
        """
        if self._closed:
            raise ServingError(
                f"The prediction log is closed; prediction {prediction.instance_id!r} was not "
                "recorded."
            )
        return self._writer.put(prediction)

    @property
    def written(self) -> int:
        """Predictions the writer handled so far: stored, or skipped as retries or rejected."""
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
            raise ServingError("The prediction log is closed.")
        if not self._writer.flush(timeout):
            error = self._writer.last_error
            _LOGGER.error(
                "the prediction log at %s did not flush: %s", self._where, mask_uri(repr(error))
            )
            raise ServingError(
                f"The prediction log did not write its "
                f"{self._writer.pending} pending predictions within {timeout} s "
                f"(last error: {type(error).__name__}; the server log has it)."
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
                f"{self._where} before closing, within {timeout} s "
                f"(last error: {self._writer.last_error!r}); they are lost."
            )

    def record_feedback(
        self,
        instance_id: str,
        label: JSONValue,
        business: Mapping[str, JSONValue] | None = None,
        *,
        time: datetime | None = None,
        correction: bool = False,
        reason: str | None = None,
        received: datetime | None = None,
    ) -> FeedbackStatus:
        """Record the outcome of ``instance_id``: its ``label`` and ``business`` values.

        ``time`` is when the outcome became known (default: now); it is not part of the
        feedback's identity, so a retry sent later is still the same feedback. ``received``
        is when tether received it (default: the log's clock now: the wall time in service, a
        replay's time in a replay, so that "known by day d", which needs both, holds there
        too). With ``correction=True`` and a ``reason`` (e.g. "chargeback reversed"), the feedback
        replaces the instance's current one, which stays in :meth:`feedback_history`.

        Raises:
            UnknownInstanceError: no prediction of ``instance_id`` is logged.
            InvalidFeedbackError: the label is not one the instance's model can have, or a
                correction has no reason (or a reason comes without a correction).
            FeedbackConflictError: different feedback is already recorded for it (and this is
                no correction), or a correction finds no feedback to correct.
            ServingError: a value cannot be stored as JSON, or the database failed.
        """
        check_reason(correction, reason)
        row = self._feedback_row(instance_id, business or {}, time or self._clock(), reason)
        row["received_us"] = to_micros(received or self._clock())
        status = self._store_feedback(row, label, correction=correction)
        if status is None:  # perhaps its prediction is still in this log's queue
            self.flush()
            status = self._store_feedback(row, label, correction=correction)
        if status is None:
            _LOGGER.info("feedback for unknown instance %r (log at %s)", instance_id, self._where)
            raise UnknownInstanceError(
                f"No prediction of instance {instance_id!r} is in the prediction log. If it "
                f"was served less than {self._writer.flush_interval} s ago by another "
                "replica, retry later."
            )
        return status

    def feedback_history(self, instance_id: str) -> list[FeedbackRecord]:
        """Every label ``instance_id`` was given, oldest first; the last one is current.

        Empty when it has no feedback.

        Raises:
            ServingError: the database failed.
        """
        with self._guarded("reading feedback"), self._database.read() as transaction:
            rows = sql.feedback_history(transaction, instance_id)
        return [
            FeedbackRecord(
                revision=int(revision or 0),
                label=load_json(str(label)),
                business=load_json(str(business)),
                time=from_micros(int(time_us or 0)),
                reason=None if reason is None else str(reason),
            )
            for revision, label, business, time_us, reason in rows
        ]

    def ping(self) -> None:
        """Check that the database answers (one ``SELECT 1``), for readiness probes.

        Raises:
            ServingError: the database cannot be reached.
        """
        with self._guarded("ping"), self._database.read() as transaction:
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

        One row per prediction, columns ``instance_id, model, version, input_digest, role,
        request_id, time, event_time, unit_id, cohort, features, output, score, latency_ms,
        entity, request_data, statuses, superseded`` and, with feedback, ``label, business,
        feedback_time`` (null where no feedback came, and on superseded rows: feedback joins
        an instance's current revision by each model version; see :mod:`._predlog_sql`).
        Times are
        ``datetime64[us, UTC]``; ``features``, ``output``, ``label``, ``business``, ``entity``,
        ``request_data`` and ``statuses`` hold the decoded JSON values (the last three None on
        rows logged before schema version 4); ``score`` is the output when it is a number.
        Predictions still in the queue are not included: call :meth:`flush` first to see them.

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
        rows: list[Params] = []
        vectors: list[Mapping[str, JSONValue]] = []
        rejected: list[tuple[Prediction, Exception]] = []
        for prediction in batch:
            try:
                row, vector = prediction_row(prediction, self._redaction)
                rows.append(row)
                vectors.append(vector)
            except (TypeError, ValueError) as error:
                rejected.append((prediction, error))
        with self._database.write() as transaction:
            inserted = transaction.execute_many(sql.INSERT_PREDICTION, rows)
            learnt = self._typed.write(transaction, rows, vectors)
        self._typed.learn(learnt)
        # Counted once the batch is committed: a failed write is retried, and must not count
        # its rejections or retries twice.
        retries = len(rows) - inserted
        self.retries += retries
        self.rejected += len(rejected)
        for skipped, reason in rejected:
            _LOGGER.error(
                "prediction %r of %s version %s cannot be stored and is skipped: %s",
                skipped.instance_id,
                skipped.model,
                skipped.version,
                reason,
            )
        self._observer.predictions_logged(inserted, retries, len(rejected))

    def _feedback_row(
        self,
        instance_id: str,
        business: Mapping[str, JSONValue],
        time: datetime,
        reason: str | None,
    ) -> dict[str, SQLValue]:
        try:
            return {
                "instance_id": instance_id,
                "business": dump_json(dict(business), canonical=True),
                "time_us": to_micros(time),
                "reason": reason,
            }
        except (TypeError, ValueError) as exc:
            raise ServingError(f"The feedback for instance {instance_id!r}: {exc}") from exc

    def _store_feedback(
        self, row: dict[str, SQLValue], label: JSONValue, *, correction: bool
    ) -> FeedbackStatus | None:
        with self._guarded("recording feedback"), self._database.write() as transaction:
            checked = labelled(transaction, row, label)
            return (
                None
                if checked is None
                else store_checked(transaction, checked, correction=correction)
            )

    def record_feedback_batch(
        self, items: Sequence[FeedbackItem], *, received: datetime | None = None
    ) -> list[FeedbackOutcome]:
        """Record many feedbacks in one write transaction; one outcome per item, in order.

        Each item follows the rules of :meth:`record_feedback` (see :mod:`._predlog_feedback`
        for the batch's); an item refused on its own gets its outcome (``"not_found"``,
        ``"conflict"``, ``"invalid"``) and does not stop the others. Items whose prediction is
        not in the database yet are tried once more after a :meth:`flush`.

        Raises:
            ServingError: the database failed (nothing of the batch is stored then).
        """
        received_us = to_micros(received or self._clock())
        outcomes: list[FeedbackOutcome | None] = [None] * len(items)
        pending: list[tuple[int, tuple[Params, JSONValue, bool]]] = []
        for index, item in enumerate(items):
            try:
                check_reason(item.correction, item.reason)
            except InvalidFeedbackError as exc:
                outcomes[index] = refused(item.instance_id, exc)
                continue
            time = item.time or self._clock()
            row = self._feedback_row(item.instance_id, item.business, time, item.reason)
            row["received_us"] = received_us
            pending.append((index, (row, item.label, item.correction)))
        for attempt in range(2):
            if attempt:
                self.flush()  # perhaps their predictions are still in this log's queue
            with self._guarded("recording feedback"), self._database.write() as transaction:
                stored = store_batch(transaction, [entry for _, entry in pending])
            for (index, _), outcome in zip(pending, stored, strict=True):
                outcomes[index] = outcome
            pending = [
                entry for entry, outcome in zip(pending, stored, strict=True) if outcome is None
            ]
            if not pending:
                break
        return [
            outcome or self._not_found(items[i].instance_id) for i, outcome in enumerate(outcomes)
        ]

    def _not_found(self, instance_id: str) -> FeedbackOutcome:
        return FeedbackOutcome(
            instance_id,
            "not_found",
            f"No prediction of instance {instance_id!r} is in the prediction log. If it was "
            f"served less than {self._writer.flush_interval} s ago by another replica, retry "
            "later.",
        )

    @contextmanager
    def _guarded(self, action: str) -> Iterator[None]:
        """Database failures with the location in the server log only, not in the error."""
        try:
            yield
        except PredictionLogDatabaseError as exc:
            _LOGGER.error("prediction log %s: %s", action, mask_uri(str(exc)))
            cause = exc.__cause__
            detail = type(getattr(cause, "orig", cause)).__name__ if cause else "error"
            raise ServingError(
                f"The prediction log's database failed while {action} ({detail}); the server "
                "log has the details."
            ) from exc


def _utc_now() -> datetime:
    return datetime.now(UTC)
