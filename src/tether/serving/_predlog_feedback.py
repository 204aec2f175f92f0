"""The feedback rules of the prediction log: first labels, duplicates, conflicts, corrections.

:meth:`~tether.serving.PredictionLog.record_feedback` checks the label against the instance's
label spaces (:mod:`._labels`), then :func:`store_checked` applies these rules in the same
write transaction, so that two replicas receiving feedback for one instance at once cannot
both win:

- no feedback yet: stored as revision 1 (``"created"``); a correction is refused (nothing
  to correct);
- the same label and business outcome as the current one: ``"duplicate"``, nothing written
  (a retry, a correction's included);
- another label without ``correction``: refused (:class:`FeedbackConflictError`), the
  message naming the correction;
- a correction (with a reason): the current feedback becomes the next revision, and every
  revision stays in the history (``"corrected"``).

A batch (:meth:`PredictionLog.record_feedback_batch`) applies the same rules item by item, in
order, inside **one** write transaction (:func:`store_batch`): an item refused for its own
reason (no such instance, a conflict, an invalid label) is answered with that outcome and
writes nothing, since every refusal is decided before that item's first write; the others are
committed together. A database failure fails the whole batch before anything is
acknowledged, so every item a batch answers ``"created"`` (or ``"corrected"``) is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from tether._storage import JSONValue, Params, SQLValue, Transaction, dump_json
from tether.errors import FeedbackConflictError, InvalidFeedbackError, ServingError
from tether.serving import _predlog_sql as sql
from tether.serving import _predlog_typed as typed
from tether.serving._labels import LabelSpace, checked_label

FeedbackStatus: TypeAlias = Literal["created", "duplicate", "corrected"]
"""What :meth:`PredictionLog.record_feedback` did: stored it, found it already stored, or
stored a correction (the earlier label kept in the history)."""


BatchStatus: TypeAlias = Literal[
    "created", "duplicate", "corrected", "not_found", "conflict", "invalid"
]
"""What a batch did with one item: a :data:`FeedbackStatus`, or why it refused it."""


@dataclass(frozen=True)
class FeedbackItem:
    """One item of a feedback batch, as :meth:`PredictionLog.record_feedback_batch` takes it.

    The fields mean what the arguments of :meth:`PredictionLog.record_feedback` mean.
    """

    instance_id: str
    label: JSONValue
    business: Mapping[str, JSONValue]
    time: datetime | None = None
    correction: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class FeedbackOutcome:
    """What a batch did with one item; ``message`` says why, and for ``"invalid"``,
    ``field`` and ``expected`` name the field at fault and what it takes."""

    instance_id: str
    status: BatchStatus
    message: str
    field: str | None = None
    expected: str | None = None


@dataclass(frozen=True)
class FeedbackRecord:
    """One label an instance was given, as :meth:`PredictionLog.feedback_history` returns it.

    ``revision`` counts from 1 (the first feedback); ``reason`` is the correction's (None for
    the first); ``time`` is when the outcome became known.
    """

    revision: int
    label: JSONValue
    business: Mapping[str, JSONValue]
    time: datetime
    reason: str | None


def check_reason(correction: bool, reason: str | None) -> None:
    """Refuse a correction without a reason, and a reason without a correction.

    Raises:
        InvalidFeedbackError: naming ``reason``.
    """
    if correction and not (reason and reason.strip()):
        raise InvalidFeedbackError(
            "A correction needs a reason (e.g. 'chargeback reversed'); none was given.",
            field="reason",
            expected="a non-empty reason with correction: true",
        )
    if reason is not None and not correction:
        raise InvalidFeedbackError(
            "A reason is given only with a correction (correction: true); this feedback is "
            "not one.",
            field="reason",
            expected="no reason, or correction: true",
        )


def store_checked(transaction: Transaction, row: Params, *, correction: bool) -> FeedbackStatus:
    """Store checked feedback ``row`` in the open write transaction (see record_feedback)."""
    instance_id = str(row["instance_id"])
    stored = sql.stored_feedback(transaction, instance_id)
    if stored is None:
        if correction:
            raise FeedbackConflictError(
                f"Instance {instance_id!r} has no feedback yet, so there is nothing to "
                "correct; send its first label without correction."
            )
        if sql.insert_feedback(transaction, row):
            return "created"
        stored = sql.stored_feedback(transaction, instance_id)
    if stored is None:  # inserted by another transaction, then deleted by retention
        raise FeedbackConflictError(
            f"The feedback of instance {instance_id!r} changed during this request; retry."
        )
    label, business, revision = stored
    if (label, business) == (row["label"], row["business"]):
        return "duplicate"
    if not correction:
        raise FeedbackConflictError(
            f"Instance {instance_id!r} already has feedback label={label}, business={business}; "
            f"the new label={row['label']}, business={row['business']} differs. Feedback is "
            'recorded once per instance: send a correction ("correction": true with a '
            '"reason") to replace it.'
        )
    if not sql.correct_feedback(transaction, row, revision=int(revision or 0)):
        raise FeedbackConflictError(
            f"The feedback of instance {instance_id!r} was corrected by another request at the "
            "same time; read its history and retry."
        )
    return "corrected"


def labelled(transaction: Transaction, row: Params, label: JSONValue) -> dict[str, SQLValue] | None:
    """``row`` with its checked label, or None when no prediction of its instance is logged.

    Raises:
        InvalidFeedbackError: the label is not one the instance's models can have.
        ServingError: the label cannot be stored as JSON.
    """
    instance_id = str(row["instance_id"])
    spaces = sql.label_spaces(transaction, instance_id)
    if not spaces:
        return None
    known = [LabelSpace.from_json(text) for text in spaces if text is not None]
    accepted = checked_label(instance_id, label, known)
    try:
        return {
            **row,
            "label": dump_json(accepted, canonical=True),
            "label_value": typed.label_value(accepted),
        }
    except (TypeError, ValueError) as exc:
        raise ServingError(f"The feedback for instance {instance_id!r}: {exc}") from exc


def store_batch(
    transaction: Transaction, pending: Sequence[tuple[Params, JSONValue, bool]]
) -> list[FeedbackOutcome | None]:
    """Apply the feedback rules to each ``(row, label, correction)`` in order, in the open
    write transaction; None for an item whose instance has no logged prediction (yet)."""
    outcomes: list[FeedbackOutcome | None] = []
    for row, label, correction in pending:
        instance_id = str(row["instance_id"])
        try:
            checked = labelled(transaction, row, label)
            if checked is None:
                outcomes.append(None)
                continue
            status = store_checked(transaction, checked, correction=correction)
        except InvalidFeedbackError as exc:
            outcomes.append(refused(instance_id, exc))
            continue
        except FeedbackConflictError as exc:
            outcomes.append(FeedbackOutcome(instance_id, "conflict", str(exc)))
            continue
        outcomes.append(FeedbackOutcome(instance_id, status, STORED_MESSAGES[status]))
    return outcomes


def refused(instance_id: str, error: InvalidFeedbackError) -> FeedbackOutcome:
    """The outcome of an item refused as invalid, naming its field."""
    return FeedbackOutcome(instance_id, "invalid", str(error), error.field, error.expected)


STORED_MESSAGES: dict[str, str] = {
    "created": "Feedback recorded.",
    "duplicate": "The same feedback was already recorded.",
    "corrected": "The feedback was corrected; the earlier label is kept in its history.",
}
"""The message of each stored outcome of a batch item."""
