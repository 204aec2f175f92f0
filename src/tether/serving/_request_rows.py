"""A request's instances as rows: what the router scores, logs and hands to shadows.

:class:`~tether.serving.Router` turns each :class:`InstanceRequest` of a request into one
:class:`RequestRow`: its event time made timezone-aware (the request's time when it has none;
:func:`with_utc_time`), its instance id kept or generated and unique in the request
(:func:`instance_ids`), its cohort assigned by its unit id, its feature vector and statuses
assembled, and its fields as the client sent them (:func:`sent_fields`), which the prediction
log digests to tell a retry from a revision. Each model's :class:`Answer` for a row becomes
the row's :class:`InstanceResult` (:func:`instance_result`). No lock and no I/O: the
router calls these on the request path, from many threads at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tether._names import Cohort
from tether._storage import JSONValue, to_micros
from tether.errors import InvalidInstanceError
from tether.serving._assignment import assign_cohort
from tether.serving._deployment import ServedModel
from tether.serving._features import (
    Assembled,
    FeatureValue,
    InstanceRequest,
    Statuses,
    Vector,
    utc,
)
from tether.serving._observer import ModelRole
from tether.serving._routing_results import InstanceResult
from tether.serving._scoring import decide


@dataclass(frozen=True)
class RequestRow:
    """One instance of a request, validated, timed, assigned its cohort and assembled."""

    instance_id: str
    unit_id: str | None
    event_time: datetime
    cohort: Cohort
    vector: Vector
    statuses: Statuses
    entity: Mapping[str, str] | None
    raw: Mapping[str, FeatureValue]  # the client's `features`: request data for the log
    inputs: dict[str, JSONValue]  # the fields as sent: the log's digest of them spots retries


@dataclass(frozen=True)
class Answer:
    """What one model answered for one row, and in which role (``fallback``: the champion
    answered in place of the challenger)."""

    model: ServedModel
    role: ModelRole
    output: JSONValue
    seconds: float
    fallback: bool


def request_row(
    instance_id: str,
    instance: InstanceRequest,
    assembled: Assembled,
    sent: InstanceRequest,
    now: datetime,
    experiment_id: str,
    share: float,
) -> RequestRow:
    """The row of ``instance`` (``sent`` as the client sent it), in the cohort of its unit."""
    return RequestRow(
        instance_id,
        instance.unit_id,
        instance.event_time or now,
        assign_cohort(experiment_id, instance.unit_id, share),
        assembled.vector,
        assembled.statuses,
        instance.entity,
        instance.features,
        sent_fields(sent),
    )


def instance_result(row: RequestRow, answer: Answer) -> InstanceResult:
    """The answer for ``row``, with the features (and statuses) of the model that gave it."""
    names = answer.model.features
    return InstanceResult(
        row.instance_id,
        answer.output,
        answer.model.version,
        row.cohort,
        answer.fallback,
        {name: row.vector[name] for name in names},
        {name: row.statuses[name] for name in names},
        decide(answer.model, answer.output),
    )


def with_utc_time(position: int, instance: InstanceRequest, now: datetime) -> InstanceRequest:
    """``instance`` with a timezone-aware event time: ``now`` when it has none."""
    if instance.event_time is None:
        return replace(instance, event_time=now)
    return replace(
        instance, event_time=utc(instance.event_time, f"instances[{position}].event_time")
    )


def sent_fields(instance: InstanceRequest) -> dict[str, JSONValue]:
    """The fields of ``instance`` as the client sent them (no default time, no looked-up
    features): what a retry repeats. References only: the log digests them off the path."""
    sent = instance.event_time
    return {
        "features": instance.features,
        "entity": instance.entity,
        "unit_id": instance.unit_id,
        "event_time": None if sent is None else to_micros(sent),
    }


def instance_ids(instances: Sequence[InstanceRequest]) -> list[str]:
    """The instance id of each instance (a new UUID where absent); repeats are refused."""
    ids: list[str] = []
    seen: dict[str, int] = {}
    for position, instance in enumerate(instances):
        instance_id = instance.instance_id or uuid.uuid4().hex
        if instance_id in seen:
            raise InvalidInstanceError(
                f"instances[{position}].instance_id {instance_id!r} repeats "
                f"instances[{seen[instance_id]}]; expected unique instance ids (feedback "
                "joins on them).",
                field=f"instances[{position}].instance_id",
                expected="an instance id not used elsewhere in the request",
            )
        seen[instance_id] = position
        ids.append(instance_id)
    return ids
