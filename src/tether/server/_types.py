"""Field types shared by the request bodies: text that every store can hold, scalars, times.

A client string reaches the prediction log and the registry, so it must be valid Unicode
without NUL (an unpaired surrogate cannot be encoded as UTF-8 and PostgreSQL refuses NUL):
refusing it here makes it a 422 naming the field, not a failure deep in a store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

MAX_ID_CHARS = 200
MAX_TEXT_CHARS = 2000


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
    return value.astimezone(UTC)


Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_storable)
]
"""An id or a name: 1 to 200 characters of valid Unicode."""
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_storable)
]
"""Free text (a reason, a label): 1 to 2000 characters of valid Unicode."""
UtcTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_utc)]
"""An ISO-8601 time with a timezone, converted to UTC."""


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
