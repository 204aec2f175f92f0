"""Request features: model inputs computed from the request alone, by both paths.

A payment processor knows the payment (its time, amount, category, country); everything a
model derives from those (the hour of day, a category code, "is it abroad") must be computed
by the feature store too, or a client computes it and skew is built in. A
:class:`RequestView` groups such features beside the :class:`FeatureView` objects of a
definitions list. It has no entity and no event source: its only inputs are the request's
columns (offline: the spine's columns) and the request's event time (offline: the spine's
timestamp column; online: the time the vector is computed at), which expressions address by
the view's ``time`` name (``"event_time"`` unless told).

A request view holds, in order (each may read the ones before it):

* :class:`RequestColumn`: a request column that is itself a model input, passed as sent
  (the payment's ``amount``);
* :class:`Encoding`: a categorical column as its position in a fixed vocabulary, with an
  explicit code for a value outside it (or a missing one), so that a code means the same in
  training and in serving and an unseen category is not an error;
* :class:`~tether.features.Transformation`: an expression over request columns, the time and
  earlier features of the view (``hour(event_time)``, ``number(country != 'US')``); every
  name that is neither the time nor an earlier feature is a request column, so ``request=``
  is not used here.

:func:`request_vectors` computes them, vectorised over a training set and on the one row of a
request: the same function, on the same :mod:`tether.features._evaluate` evaluator.

Why a group of its own rather than features inside a view (decided; Feast's
``RequestSource`` plus on-demand feature views are the same split): the hour of a payment is
no more the customer's than the device's, a view's features are computed per entity from its
events, and a group with no source needs no materialization, no online namespace and no TTL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from tether.errors import FeatureError
from tether.features._definitions import (
    DEFINITIONS_FORMAT,
    Transformation,
    check_name,
    definition_digest,
)
from tether.features._evaluate import Vector, evaluate, first_value, scalar_vector, time_vector
from tether.features._expressions import Scalar

__all__ = [
    "Encoding",
    "RequestColumn",
    "RequestFeature",
    "RequestView",
    "request_scalars",
    "request_vectors",
]


@dataclass(frozen=True)
class RequestColumn:
    """A request column that is itself a model input, as sent (e.g. the payment's amount).

    Offline the column is the spine's own, so the training set keeps it as it is.
    """

    name: str

    def __post_init__(self) -> None:
        check_name(self.name, "request column name")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The request column it reads: itself."""
        return (self.name,)

    def to_dict(self) -> dict[str, Any]:
        """Return the normalized form."""
        return {"kind": "request_column", "name": self.name}


@dataclass(frozen=True)
class Encoding:
    """A categorical request column as the position of its value in ``vocabulary``.

    A value outside the vocabulary, and a missing value, get ``unknown``. The vocabulary's
    order is the meaning of the codes, so it is part of the version.

    >>> Encoding("category_code", "category", vocabulary=["fuel", "grocery"]).code("grocery")
    1
    """

    name: str
    column: str
    vocabulary: Sequence[str]
    unknown: int = -1
    codes: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        what = f"feature {check_name(self.name, 'feature name')!r}"
        check_name(self.column, f"column of {what}")
        words = (self.vocabulary,) if isinstance(self.vocabulary, str) else self.vocabulary
        if not isinstance(words, Sequence) or not words:
            raise FeatureError(
                f"vocabulary of {what} is {self.vocabulary!r}: expected a non-empty list of strings"
            )
        words = tuple(words)
        if not all(isinstance(word, str) for word in words) or len(set(words)) != len(words):
            raise FeatureError(
                f"vocabulary of {what} is {list(words)!r}: expected distinct strings"
            )
        if isinstance(self.unknown, bool) or not isinstance(self.unknown, int):
            raise FeatureError(f"unknown of {what} is {self.unknown!r}: expected an integer")
        if 0 <= self.unknown < len(words):
            raise FeatureError(
                f"unknown of {what} is {self.unknown}, the code of {words[self.unknown]!r}: "
                "expected a code outside the vocabulary, such as -1"
            )
        object.__setattr__(self, "vocabulary", words)
        object.__setattr__(self, "codes", {word: code for code, word in enumerate(words)})

    @property
    def inputs(self) -> tuple[str, ...]:
        """The request column it reads."""
        return (self.column,)

    def code(self, value: object) -> int:
        """The code of one value: its position in the vocabulary, else ``unknown``."""
        return self.codes.get(value, self.unknown) if isinstance(value, str) else self.unknown

    def encode(self, values: Vector) -> Vector:
        """The codes of a column of strings (nulls get ``unknown``).

        Raises:
            FeatureError: the column holds numbers or booleans, which no vocabulary word is.
        """
        if values.kind not in ("string", "null"):
            raise FeatureError(
                f"request column {self.column!r} of feature {self.name!r} holds {values.kind} "
                "values: expected strings (the words of the vocabulary)"
            )
        # A dict lookup per value through pandas' map: the vocabulary is the oracle's dict.
        found = pd.Series(values.values, dtype=object).map(self.codes)
        known = found.fillna(self.unknown).to_numpy(dtype=np.float64)
        codes = np.where(values.null, float(self.unknown), known)
        return Vector("number", codes, np.zeros(len(codes), np.bool_))

    def to_dict(self) -> dict[str, Any]:
        """Return the normalized form."""
        return {
            "kind": "encoding",
            "name": self.name,
            "column": self.column,
            "vocabulary": list(self.vocabulary),
            "unknown": self.unknown,
        }


RequestFeature: TypeAlias = RequestColumn | Encoding | Transformation
"""A feature of a request view."""


@dataclass(frozen=True)
class RequestView:
    """Features computed from the request alone: its columns and its event time.

    ``time`` is the name by which expressions read the request's event time (offline the
    spine's timestamp column, online the request time), whatever the spine calls it.

    >>> payment = RequestView("payment", features=[
    ...     RequestColumn("amount"),
    ...     Transformation("hour_of_day", "hour(event_time)"),
    ...     Encoding("category_code", "category", vocabulary=["fuel", "grocery"]),
    ... ])
    >>> payment.request_columns
    ('amount', 'category')
    """

    name: str
    features: Sequence[RequestFeature]
    time: str = "event_time"

    def __post_init__(self) -> None:
        what = f"request view {check_name(self.name, 'request view name')!r}"
        check_name(self.time, f"time name of {what}")
        object.__setattr__(self, "features", tuple(self.features))
        if not self.features:
            raise FeatureError(f"features of {what} is empty: expected at least one feature")
        known: set[str] = set()
        for feature in self.features:
            if not isinstance(feature, RequestColumn | Encoding | Transformation):
                raise FeatureError(
                    f"features of {what} holds {feature!r}: expected RequestColumn, Encoding "
                    "or Transformation"
                )
            if feature.name in known or feature.name == self.time:
                raise FeatureError(f"feature name {feature.name!r} is used twice in {what}")
            if isinstance(feature, Transformation) and feature.request:
                raise FeatureError(
                    f"request= of feature {feature.name!r} of {what} is {list(feature.request)}: "
                    "leave it out; in a request view every name that is not a feature or the "
                    "time is a request column"
                )
            known.add(feature.name)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The output columns, in definition order."""
        return tuple(feature.name for feature in self.features)

    @property
    def passthrough(self) -> tuple[str, ...]:
        """The request columns that are features as they are (:class:`RequestColumn`)."""
        return tuple(f.name for f in self.features if isinstance(f, RequestColumn))

    @property
    def request_columns(self) -> tuple[str, ...]:
        """The request columns the features read, each once, in order of first use."""
        computed = {f.name for f in self.features if not isinstance(f, RequestColumn)}
        names = (name for feature in self.features for name in feature.inputs)
        return tuple(n for n in dict.fromkeys(names) if n not in computed and n != self.time)

    def to_dict(self) -> dict[str, Any]:
        """Return the normalized form."""
        return {
            "format": DEFINITIONS_FORMAT,
            "kind": "request_view",
            "name": self.name,
            "time": self.time,
            "features": [feature.to_dict() for feature in self.features],
        }

    @property
    def version(self) -> str:
        """The sha256 of the normalized definition."""
        return definition_digest(self.to_dict())


def request_vectors(
    view: RequestView, columns: Mapping[str, Vector], times: Vector, *, length: int
) -> dict[str, Vector]:
    """Compute every feature of ``view`` over ``length`` rows, in definition order.

    ``columns`` holds (at least) :attr:`RequestView.request_columns`; ``times`` the event
    time of each row. The offline path calls it on whole spine columns, the online path (via
    :func:`request_scalars`) on one request.

    Raises:
        FeatureError: a feature meets a value of the wrong kind (e.g. a number to encode).
    """
    known: dict[str, Vector] = {**columns, view.time: times}
    computed: dict[str, Vector] = {}
    for feature in view.features:
        if isinstance(feature, RequestColumn):
            value = columns[feature.name]
        elif isinstance(feature, Encoding):
            value = feature.encode(known[feature.column])
        else:
            value = evaluate(feature.parsed, known, length=length)
        computed[feature.name] = known[feature.name] = value
    return computed


def request_scalars(
    view: RequestView, request: Mapping[str, Scalar], at_us: int
) -> dict[str, Scalar]:
    """Compute every feature of ``view`` for one request at ``at_us`` (microseconds, UTC).

    ``request`` must hold every request column (the online store checks it first).
    """
    columns = {
        name: scalar_vector(request[name], what=f"request column {name!r}")
        for name in view.request_columns
    }
    times = time_vector(np.array([at_us], dtype=np.int64))
    vectors = request_vectors(view, columns, times, length=1)
    return {name: first_value(vector) for name, vector in vectors.items()}
