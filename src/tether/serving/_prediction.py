"""A prediction as served, and the row of the prediction log that stores it.

A :class:`Prediction` is one instance scored by one model version in one role (champion,
challenger or shadow): the router and the shadow worker build one per instance and model on the
request path, so building it only checks what is cheap (the role, a timezone-aware time), and
the log owns it once recorded. Its row (:func:`prediction_row`, computed by the log's writer
off the request path) is what ``tether_predictions`` holds (:mod:`._predlog_sql`):

- its key, ``(instance_id, model, version, input_digest)``: ``input_digest`` is the first
  :data:`INPUT_DIGEST_CHARS` hex characters of the HMAC of the instance's fields as the client
  sent them (``inputs``), keyed by the redaction's salt, so a client's retry has the same key
  and the same instance id with other fields is a new revision;
- the features, entity keys, request data and feature statuses, redacted (:mod:`._redaction`),
  as JSON; the unit id as the redaction lets it be written (itself, its hash, or null);
- times in microseconds since the epoch (UTC); ``window_us``, the time monitoring windows on:
  the event time when the instance has one, else the time served;
- the output as JSON, and as ``score`` when it is a number; the decision and the experiment
  that assigned the cohort; the label space feedback is checked against; the sample key.

A value JSON cannot hold makes the row raise :class:`TypeError` or :class:`ValueError`: the
writer then rejects that prediction alone (counted, logged), never the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tether._names import ROLES, Role
from tether._storage import JSONValue, Params, dump_json, to_micros
from tether.errors import ServingError
from tether.serving import _predlog_sql as sql
from tether.serving import _predlog_typed as typed
from tether.serving._labels import LabelSpace
from tether.serving._redaction import Redaction

INPUT_DIGEST_CHARS = 32
"""Hex characters of the input digest kept: 128 bits, no collision among any log's rows."""


# Not frozen: one is built per prediction on the request path, and a frozen dataclass took four
# times as long to build (12 against 2 microseconds, measured on a loaded 2-core machine).
@dataclass(slots=True)
class Prediction:
    """One prediction as served, handed to :meth:`~tether.serving.PredictionLog.record`.

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
        inputs: the instance's fields as the client sent them, which identify a retry
            (default: ``features``, ``unit_id`` and ``event_time``). The router passes the
            request's own fields: ``features`` may hold online values that change between
            a request and its retry.
        labels: the labels the model can be told (None: not known), checked by feedback.
        entity: the instance's entity keys (None: it had none), redacted like the features.
        statuses: the status of each of ``features`` (``SERVED_STATUSES``; None: not known).
        request_data: the client's raw values that are not among ``features`` (request
            columns for the online store's transformations; None: not recorded), redacted.
        experiment_id: the deploy event id of the deployment that served it, which
            assigned its cohort (None: not known).
        decision: 1 or 0, the output at the version's decision threshold (None: the version
            has no threshold, or the output is no number).

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
    inputs: Mapping[str, JSONValue] | None = None
    labels: LabelSpace | None = None
    entity: Mapping[str, str] | None = None
    statuses: Mapping[str, str] | None = None
    request_data: Mapping[str, JSONValue] | None = None
    experiment_id: int | None = None
    decision: int | None = None

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
    """What :meth:`~tether.serving.PredictionLog.delete_older_than` deleted."""

    predictions: int
    feedback: int


def prediction_row(
    prediction: Prediction, redaction: Redaction
) -> tuple[Params, Mapping[str, JSONValue]]:
    """The row of ``prediction`` and its feature vector, both redacted by ``redaction``.

    Raises:
        TypeError, ValueError: a value cannot be stored (JSON cannot hold it).
    """
    features = prediction.features
    inputs = prediction.inputs
    if inputs is None:
        inputs = {
            "features": features,
            "unit_id": prediction.unit_id,
            "event_time": _optional_micros(prediction.event_time),
        }
    entity: Mapping[str, JSONValue] | None = prediction.entity
    request, statuses = prediction.request_data, prediction.statuses
    if redaction.active:
        features = redaction.features(features)
        entity = None if entity is None else redaction.features(entity)
        request = None if request is None else redaction.features(request)
        statuses = None if statuses is None else redaction.statuses(statuses)
    labels = prediction.labels
    event_us = _optional_micros(prediction.event_time)
    time_us = to_micros(prediction.time)
    row: Params = {
        "instance_id": prediction.instance_id,
        "model": prediction.model,
        "version": prediction.version,
        # Keyed by the redaction's salt: the digest of an instance that holds personal
        # values cannot be matched by hashing guesses without it.
        "input_digest": redaction.digest(inputs)[:INPUT_DIGEST_CHARS],
        "role": prediction.role,
        "request_id": prediction.request_id,
        "time_us": time_us,
        "event_time_us": event_us,
        "window_us": time_us if event_us is None else event_us,
        "unit_id": redaction.unit_id(prediction.unit_id),
        "cohort": prediction.cohort,
        "features": dump_json(features),
        "output": dump_json(prediction.output),
        "score": sql.score_of(prediction.output),
        "latency_ms": float(prediction.latency_ms),
        "labels": None if labels is None else labels.json,
        "entity": None if entity is None else dump_json(entity),
        "request_data": None if request is None else dump_json(request),
        "statuses": None if statuses is None else dump_json(statuses),
        "experiment_id": prediction.experiment_id,
        "decision": None if prediction.decision is None else int(prediction.decision),
        "sample_key": typed.sample_key(prediction.instance_id),
    }
    return row, features


def _optional_micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)
