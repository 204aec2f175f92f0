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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from tether._storage import JSONValue, Params, Transaction
from tether.errors import FeedbackConflictError, InvalidFeedbackError
from tether.serving import _predlog_sql as sql

FeedbackStatus: TypeAlias = Literal["created", "duplicate", "corrected"]
"""What :meth:`PredictionLog.record_feedback` did: stored it, found it already stored, or
stored a correction (the earlier label kept in the history)."""


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
