"""Field types shared by the request bodies: text that every store can hold, scalars, times.

A client string reaches the prediction log and the registry, so it must be valid Unicode
without NUL (an unpaired surrogate cannot be encoded as UTF-8 and PostgreSQL refuses NUL):
refusing it here makes it a 422 naming the field, not a failure deep in a store. Likewise a
time must fit the stores' timestamps: pandas (the feature store's frames) holds nanoseconds
in 64 bits, 1677-09-21 to 2262-04-11, so a time outside :data:`EARLIEST_TIME` and
:data:`LATEST_TIME` is a 422, not an ``OutOfBoundsDatetime`` deep in a lookup.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

MAX_ID_CHARS = 200
MAX_TEXT_CHARS = 2000
EARLIEST_TIME = datetime(1678, 1, 1, tzinfo=UTC)
"""The earliest accepted time: whole years inside pandas' nanosecond range (from 1677-09-21),
so that a window reaching back from it still fits."""
LATEST_TIME = datetime(2262, 1, 1, tzinfo=UTC)
"""The first time refused: the last whole year inside pandas' range (to 2262-04-11)."""
TIME_RANGE = f"{EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} (inclusive) to {LATEST_TIME:%Y-%m-%dT%H:%M:%SZ}"
"""The accepted range of request times, as error messages and the schema state it."""


def _storable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"has an unpaired surrogate at character {exc.start}; expected valid Unicode text"
        ) from exc
    if "\x00" in text:
        raise ValueError("contains a NUL character; expected text without NUL")
    return text


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("expected an ISO-8601 time string such as 2024-05-01T12:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    try:
        moment = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        moment = None
    if moment is None or not EARLIEST_TIME <= moment < LATEST_TIME:
        raise ValueError(
            f"is {value.isoformat()}, outside the accepted range {TIME_RANGE} (what the "
            "feature store's timestamps can hold)"
        )
    return moment


_NO_NUL = Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})  # the schema states it too
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_CHARS),
    AfterValidator(_storable),
    _NO_NUL,
]
"""An id or a name: 1 to 200 characters of valid Unicode."""
Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS),
    AfterValidator(_storable),
    _NO_NUL,
]
"""Free text (a reason, a label): 1 to 2000 characters of valid Unicode."""
UtcTime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_text),
    AfterValidator(_utc),
    Field(description=f"An ISO-8601 time with a timezone, from {TIME_RANGE}."),
]
"""An ISO-8601 time with a timezone in :data:`TIME_RANGE`, converted to UTC."""


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and len(value) <= MAX_TEXT_CHARS:
        return _storable(value)
    raise ValueError(
        "expected a number, a string (at most 2000 characters), a boolean or null, got "
        f"a {type(value).__name__}"
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"is {value}; expected a finite number")
    return value


_SCALAR_SCHEMA = {"anyOf": [{"type": t} for t in ("number", "string", "boolean", "null")]}
Scalar = Annotated[Any, PlainValidator(_scalar), WithJsonSchema(_SCALAR_SCHEMA)]
"""A JSON scalar (numbers are checked for finiteness where they are used)."""
FiniteScalar = Annotated[
    Any, PlainValidator(lambda value: _finite(_scalar(value))), WithJsonSchema(_SCALAR_SCHEMA)
]
"""A JSON scalar whose numbers are finite (NaN and Infinity are refused)."""
