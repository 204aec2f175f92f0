"""Sticky assignment: which cohort a unit (e.g. a customer) falls in during an experiment.

The cohort is a pure function of ``(experiment id, unit id)``: the first 8 bytes of
``sha256(f"{experiment_id}:{unit_id}")``, read as an unsigned big-endian integer and divided
by ``2**64``, give the unit's *bucket* in [0, 1); the unit is in the challenger cohort iff
its bucket is below the challenger's traffic share. So one customer always sees one model
for the whole experiment, in every replica and after every restart, without any state; a
new experiment (a new id) reshuffles units independently of the previous one; and raising
the share only moves units from champion to challenger, never back.

An instance without a unit id is served by the champion: it cannot be kept sticky.

>>> round(assignment_bucket("17", "customer-42"), 4)
0.9896
>>> assign_cohort("17", "customer-42", share=0.1)
'champion'
"""

from __future__ import annotations

import hashlib

from tether._names import CHALLENGER, CHAMPION, Cohort
from tether.errors import ServingError

_BUCKET_BYTES = 8
_BUCKETS = 2**64


def bucket_index(experiment_id: str, unit_id: str) -> int:
    """The unit's bucket as an integer in ``[0, 2**64)`` (exact; see :func:`assign_cohort`)."""
    digest = hashlib.sha256(f"{experiment_id}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:_BUCKET_BYTES], "big", signed=False)


def assignment_bucket(experiment_id: str, unit_id: str) -> float:
    """The unit's bucket in [0, 1): ``bucket_index(...) / 2**64``, for display and analysis."""
    return bucket_index(experiment_id, unit_id) / _BUCKETS


def assign_cohort(experiment_id: str, unit_id: str | None, share: float) -> Cohort:
    """The cohort of ``unit_id`` in the experiment ``experiment_id`` at a challenger ``share``.

    The comparison ``bucket < share`` is made exactly, on integers (``share * 2**64`` is
    exact for a float): a float bucket near 1 would round up to 1.0 and leave the unit with
    the champion even at a share of 1.

    Raises:
        ServingError: ``share`` is not a number in [0, 1].
    """
    if not 0.0 <= share <= 1.0:  # also refuses NaN
        raise ServingError(f"Challenger share {share!r}: expected a number in [0, 1].")
    if unit_id is None or share == 0.0:
        return CHAMPION
    if bucket_index(experiment_id, unit_id) < share * _BUCKETS:
        return CHALLENGER
    return CHAMPION
