"""From a prediction request to feature vectors: validation, online lookup, assembly.

An instance names its features in one or both of two ways: ``features`` holds raw values
(e.g. the amount of the payment being scored), ``entity`` holds entity keys (e.g.
``{"customer_id": "c1"}``) from which a :class:`FeatureLookup` (the online feature store)
computes the rest as of the instance's ``event_time``. The raw values are also handed to the
lookup as request data, for the transformations that need them.

Validation is against the feature lists of the models being served
(:class:`FeatureSpec`): every feature the champion or the challenger takes must be present,
so that a request valid for one unit is valid for every unit whatever its cohort; a raw
feature that no served model (shadows included) takes is refused, unless the instance has an
entity, in which case it may be request data for the lookup (which refuses what it does not
take). Values a model receives must be finite numbers or null; a raw value that contradicts
the lookup's value for the same feature is refused rather than silently preferred, because
that is training-serving skew by construction. Every refusal is an
:class:`InvalidInstanceError` naming the field (``instances[3].features.amount``) and what
was expected; so is a lookup's refusal of an entity (an unknown or missing key column), which
names the instance's ``entity`` or ``features``, and of a raw event that lacks a column a
request feature is computed from (``instances[1].features.country``).

The vector a model receives maps each feature to a float, or to None where there is no value;
models receive None as NaN. A raw null means the same as the online store's null (the feature
definition's null policy for a new customer), for the features whose served models take
missing values (scikit-learn's ``allow_nan`` tag: histogram gradient boosting, a pipeline
that starts with an imputer); for a model that cannot take NaN, a raw null is refused (422)
rather than failing the model call (500).

Each feature of an assembled instance carries a *status* beside its value
(:data:`SERVED_STATUSES`): the online store's own (``value``, ``empty``, ``stale``,
``unknown_entity``; :class:`~tether.features.FeatureStatus`) for a value it computed, and
``request`` for a value the client sent in ``features``. A raw value equal to the store's for
the same feature keeps the store's status: the store computed it, the client only agreed.
The statuses are logged with the prediction, counted on ``/metrics`` and returned on request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeAlias

from sklearn.utils import get_tags

from tether.errors import (
    FeatureError,
    InvalidInstanceError,
    RequestColumnError,
    ServingError,
    StoreUnavailableError,
)
from tether.features import FeatureStatus
from tether.serving._deployment import Deployment

FeatureValue: TypeAlias = bool | int | float | str | None
"""A scalar a request or the online store may hold for one feature or request column."""
Vector: TypeAlias = dict[str, float | None]
"""The features of one instance as the models receive them (None: no value, NaN to models)."""
Statuses: TypeAlias = dict[str, str]
"""The status of each feature of a :data:`Vector`, one of :data:`SERVED_STATUSES`."""
REQUEST_STATUS: Final = "request"
"""The status of a value the client sent in ``features`` rather than the store computed."""
SERVED_STATUSES: Final = (*(status.value for status in FeatureStatus), REQUEST_STATUS)
"""Every status a served feature can have: the online store's, then ``request``. A fixed set,
so that the metrics labelled by it stay few."""
_STORE_STATUSES = frozenset(status.value for status in FeatureStatus)


@dataclass(frozen=True)
class FeatureRow:
    """What a :class:`FeatureLookup` computed for one entity: values and their statuses.

    ``statuses`` holds one of the online store's statuses (``FeatureStatus`` values) for each
    key of ``values``.
    """

    values: Mapping[str, FeatureValue]
    statuses: Mapping[str, str]


@dataclass(frozen=True)
class Assembled:
    """One validated instance: its feature vector and the status of each of its features."""

    vector: Vector
    statuses: Statuses


class FeatureLookup(Protocol):
    """Online features for entities at given times (the online feature store, in production).

    The server calls :meth:`lookup` once per request with every instance that has an entity;
    implementations adapt ``OnlineFeatureStore.get_online_features``.
    """

    def lookup(
        self,
        entities: Sequence[Mapping[str, str]],
        request_data: Sequence[Mapping[str, FeatureValue]],
        at: Sequence[datetime],
    ) -> list[FeatureRow]:
        """Return, per entity, every feature the store computes for it as of ``at`` (UTC),
        each with its status.

        The three sequences have one row per instance. Keys of the result rows that no
        model takes are ignored.

        Raises:
            StoreUnavailableError: the store cannot be reached.
            FeatureError: a key or request column is unknown or missing.
        """
        ...

    def ping(self) -> None:
        """Return if the store can be reached; readiness probes call it.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """
        ...


@dataclass(frozen=True)
class InstanceRequest:
    """One instance to score, as a client sends it.

    ``event_time`` must be timezone-aware (default: the time of the request).
    """

    features: Mapping[str, FeatureValue] = field(default_factory=dict)
    entity: Mapping[str, str] | None = None
    instance_id: str | None = None
    unit_id: str | None = None
    event_time: datetime | None = None


@dataclass(frozen=True)
class FeatureSpec:
    """The features a deployment's models take.

    ``required``: every feature of the champion and the challenger, in first-seen order.
    ``optional``: the features only shadows take (scored when present).
    ``nullable``: the features that may be null (every champion or challenger taking it
    takes missing values; a shadow's failure changes no response).
    """

    required: tuple[str, ...]
    optional: tuple[str, ...]
    nullable: frozenset[str] = frozenset()

    @classmethod
    def of(cls, deployment: Deployment) -> FeatureSpec:
        """The spec of ``deployment``."""
        served = [deployment.champion]
        if deployment.challenger is not None:
            served.append(deployment.challenger)
        required = tuple(dict.fromkeys(f for model in served for f in model.features))
        shadow = (f for model in deployment.shadows for f in model.features)
        optional = tuple(f for f in dict.fromkeys(shadow) if f not in required)
        strict = {f for model in served if not takes_missing(model.model) for f in model.features}
        nullable = frozenset(f for f in required + optional if f not in strict)
        return cls(required, optional, nullable)

    def takes(self, name: str) -> bool:
        """Whether some served model takes feature ``name``."""
        return name in self.required or name in self.optional


def takes_missing(model: Any) -> bool:
    """Whether a scikit-learn estimator takes NaN inputs (its ``allow_nan`` tag).

    A pipeline is asked about its first step (an imputer takes NaN; scikit-learn's own tag
    for a pipeline says what its last step takes). Anything that is not an estimator is
    assumed not to, so a null is refused rather than passed to a model that may fail on it.
    """
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        model = steps[0][1]
    try:
        return bool(get_tags(model).input_tags.allow_nan)
    except AttributeError:  # no __sklearn_tags__: not a scikit-learn estimator
        return False


def assemble(
    instances: Sequence[InstanceRequest],
    spec: FeatureSpec,
    lookup: FeatureLookup | None,
    now: datetime,
) -> list[Assembled]:
    """Validate ``instances`` and return their feature vectors and statuses, in order.

    Raises:
        InvalidInstanceError: see the module docstring.
        StoreUnavailableError, FeatureError: from the lookup.
        ServingError: the lookup returned something other than one row of numbers per
            entity (a wiring or definition problem, not the client's).
    """
    for position, instance in enumerate(instances):
        _check_raw(position, instance, spec)
    looked_up = _lookup(instances, lookup, now)
    return [
        _vector(position, instance, looked_up.get(position, _NOTHING), spec)
        for position, instance in enumerate(instances)
    ]


def request_data(
    raw: Mapping[str, FeatureValue], features: Mapping[str, object]
) -> dict[str, FeatureValue]:
    """The client's raw values that are not among a model's ``features``: request data for
    the online store's transformations (e.g. a raw country a comparison reads), which the
    prediction log keeps beside the features so that the skew audit can recompute them."""
    return {name: value for name, value in raw.items() if name not in features}


def _check_raw(position: int, instance: InstanceRequest, spec: FeatureSpec) -> None:
    where = f"instances[{position}].features"
    for name, value in instance.features.items():
        if not spec.takes(name):
            if instance.entity is not None:
                continue  # request data for the lookup, which refuses what it does not take
            raise InvalidInstanceError(
                f"{where} has the feature {name!r}, which no served model takes; expected only "
                f"{_names(spec.required + spec.optional)}.",
                field=f"{where}.{name}",
                expected=f"one of {_names(spec.required + spec.optional)}",
            )
        if value is None and name not in spec.nullable:
            raise InvalidInstanceError(
                f"{where}.{name} is null, but a served model that takes it cannot take missing "
                "values; expected a finite number.",
                field=f"{where}.{name}",
                expected="a finite number",
            )
        if value is not None and not _is_finite_number(value):
            raise InvalidInstanceError(
                f"{where}.{name} is {value!r}; expected a finite number or null (no value).",
                field=f"{where}.{name}",
                expected="a finite number or null",
            )
    if instance.entity is not None and not instance.entity:
        raise InvalidInstanceError(
            f"instances[{position}].entity is empty; expected entity key columns such as "
            '{"customer_id": "c1"}, or no entity at all.',
            field=f"instances[{position}].entity",
            expected="a non-empty object of entity key columns",
        )


def _lookup(
    instances: Sequence[InstanceRequest], lookup: FeatureLookup | None, now: datetime
) -> dict[int, FeatureRow]:
    positions = [i for i, instance in enumerate(instances) if instance.entity is not None]
    if not positions:
        return {}
    if lookup is None:
        raise InvalidInstanceError(
            f"instances[{positions[0]}].entity: this server has no online feature store, so "
            "it cannot look features up by entity; send every feature in `features` instead.",
            field=f"instances[{positions[0]}].entity",
            expected="no entity (all features in `features`)",
        )
    chosen = [instances[i] for i in positions]
    try:
        rows = _look_up(lookup, chosen, now)
    except StoreUnavailableError:
        raise
    except FeatureError as exc:
        raise _invalid_entity(exc, instances, positions, lookup, now) from exc
    if len(rows) != len(chosen):
        raise ServingError(
            f"The online feature lookup returned {len(rows)} rows for {len(chosen)} "
            "entities; expected one row per entity."
        )
    return dict(zip(positions, rows, strict=True))


def _look_up(
    lookup: FeatureLookup, chosen: Sequence[InstanceRequest], now: datetime
) -> list[FeatureRow]:
    return lookup.lookup(
        [dict(instance.entity or {}) for instance in chosen],
        [dict(instance.features) for instance in chosen],
        [instance.event_time or now for instance in chosen],
    )


def _invalid_entity(
    error: FeatureError,
    instances: Sequence[InstanceRequest],
    positions: Sequence[int],
    lookup: FeatureLookup,
    now: datetime,
) -> InvalidInstanceError:
    """The lookup's refusal, naming the first instance that it refuses on its own.

    The lookup's message counts rows of its own call, not the request's instances, so the
    instance at fault is found by asking again one instance at a time (only on this error
    path; a refused key fails before the store is read).
    """
    culprit, reason = positions[0], error
    for position in positions if len(positions) > 1 else ():
        try:
            _look_up(lookup, [instances[position]], now)
        except StoreUnavailableError:
            raise
        except FeatureError as exc:
            culprit, reason = position, exc
            break
    if isinstance(reason, RequestColumnError):  # a raw payment without its category
        where = f"instances[{culprit}].features.{reason.column}"
        return InvalidInstanceError(
            f"{where} is missing: {reason}.",
            field=where,
            expected=f"the request column {reason.column!r}, which a feature is computed from",
        )
    # A lookup refuses entity key columns, or the request columns its transformations need.
    part = "features" if "request" in str(reason).split(" ", 2)[:2] else "entity"
    return InvalidInstanceError(
        f"instances[{culprit}].{part}: {reason}.",
        field=f"instances[{culprit}].{part}",
        expected="the entity key columns and request columns the online store takes",
    )


def _vector(
    position: int,
    instance: InstanceRequest,
    looked_up: FeatureRow,
    spec: FeatureSpec,
) -> Assembled:
    where = f"instances[{position}].features"
    stored_values, stored_statuses = looked_up.values, looked_up.statuses
    if not _STORE_STATUSES.issuperset(stored_statuses.values()):
        culprit = next(n for n, s in stored_statuses.items() if s not in _STORE_STATUSES)
        raise _unknown_status(culprit, stored_statuses[culprit])
    vector: Vector = {}
    statuses: Statuses = {}
    missing: list[str] = []
    for name in spec.required + spec.optional:
        stored = name in stored_values
        sent = name in instance.features
        if stored and sent and _differs(stored_values[name], instance.features[name]):
            raise InvalidInstanceError(
                f"{where}.{name} is {instance.features[name]!r}, but the online store computes "
                f"{stored_values[name]!r} for the entity; send it in one place only (a feature "
                "the store computes must not be overridden).",
                field=f"{where}.{name}",
                expected="no value (it is computed from the entity)",
            )
        if sent:
            vector[name] = _optional_number(instance.features[name])
        elif stored:
            vector[name] = _stored_number(name, stored_values[name])
        elif name in spec.required:
            missing.append(name)
            continue
        else:
            continue
        status = stored_statuses.get(name) if stored else REQUEST_STATUS
        if status is None:
            raise _unknown_status(name, None)
        statuses[name] = status
    if missing:
        source = "`features` or the entity's online features" if instance.entity else "`features`"
        raise InvalidInstanceError(
            f"{where} lacks {_names(missing)}; the served models take {_names(spec.required)}, "
            f"each from {source}.",
            field=f"{where}.{missing[0]}",
            expected=f"a finite number or null for each of {_names(missing)}",
        )
    return Assembled(vector, statuses)


_NOTHING = FeatureRow({}, {})


def _unknown_status(name: str, status: object) -> ServingError:
    """A status outside the store's set is a wiring error (it would also add a label value
    to the metrics per request)."""
    seen = "no status" if status is None else f"the status {status!r}"
    return ServingError(
        f"The online feature lookup gave feature {name!r} {seen}; expected one of "
        f"{sorted(_STORE_STATUSES)}."
    )


def _stored_number(name: str, value: FeatureValue) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ServingError(
            f"The online store returned {value!r} for feature {name!r}; the served models "
            "take numbers. Check the feature definition against the model's training set."
        )
    number = float(value)
    return number if math.isfinite(number) else None


def _is_finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


def _differs(stored: FeatureValue, sent: FeatureValue) -> bool:
    if sent is None:
        return _stored_null(stored) is not None
    if stored is None or isinstance(stored, str):
        return True
    return float(stored) != _optional_number(sent)


def _stored_null(value: FeatureValue) -> FeatureValue:
    """A stored non-finite number is no value, as :func:`_stored_number` serves it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _optional_number(value: FeatureValue) -> float | None:
    """A raw value already checked by :func:`_check_raw`, as a float (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ServingError(f"Feature value {value!r} was not validated as a number.")
    return float(value)


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return f"[{shown}{', ...' if len(names) > 20 else ''}]"


def utc(moment: datetime, field_name: str) -> datetime:
    """``moment`` in UTC; an :class:`InvalidInstanceError` if it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInstanceError(
            f"{field_name} is the naive time {moment.isoformat()}; expected a UTC time such "
            "as 2024-05-01T12:00:00Z.",
            field=field_name,
            expected="an ISO-8601 time with a timezone",
        )
    return moment.astimezone(UTC)
