"""Reading a JSON request body with bounded work: the content type, then a bounded decoder.

A body of one megabyte can hold 333,326 empty instances; decoding it whole and building a
validated object per instance took 2.4 s of the event loop before the batch limit refused
it, and two such clients stalled every other request. :func:`decode_bounded` decodes the top
level itself and the array it is told to bound one element at a time (each element by the
standard library's C scanner), and stops at the first element past the limit: refusing such
a body costs the decoding of ``max_items + 1`` elements, not of the body. A top-level key the
request type does not take stops the decoding too (its value is never read), since the
request is refused for it anyway. The validation that follows sees at most ``max_items``
elements, and the caller runs both in a worker thread, off the event loop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from email.message import Message
from typing import Any

from tether.errors import TooManyItemsError, UnsupportedMediaTypeError

JSON_MEDIA_TYPE = "application/json"
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def check_json_content_type(content_type: str | None) -> None:
    """Refuse a body declared as anything but JSON (``application/json``, ``*/*+json``).

    A body without a Content-Type is read as JSON, as FastAPI reads it.

    Raises:
        UnsupportedMediaTypeError: naming the type seen and the one expected.
    """
    if not content_type:
        return
    header = Message()
    header["content-type"] = content_type
    subtype = header.get_content_subtype()
    if header.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    ):
        return
    raise UnsupportedMediaTypeError(
        f"The request body is declared as {content_type!r}; this endpoint takes "
        f"{JSON_MEDIA_TYPE!r}. Send the JSON body with Content-Type: {JSON_MEDIA_TYPE}."
    )


def decode_bounded(body: bytes, key: str, max_items: int, keys: Collection[str]) -> Any:
    """``json.loads(body)``, except that the array at top-level ``key`` may hold at most
    ``max_items`` elements, and decoding stops at the first top-level key not in ``keys``.

    Raises:
        TooManyItemsError: the array holds more than ``max_items`` elements.
        json.JSONDecodeError: the body is not JSON (the message and position say why).
        ValueError: a number the standard library refuses (an integer over 4,300 digits).
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    start = _skip(text, 0)
    if text.startswith("[", start):
        return []  # not an object, so refused by validation: its elements are not worth reading
    if not text.startswith("{", start):
        return json.loads(text)  # a scalar: refused by validation
    result: dict[str, Any] = {}
    position = _skip(text, start + 1)
    if text.startswith("}", position):
        return _end(text, position + 1, result)
    while True:
        name, position = _string(text, position)
        position = _expect(text, _skip(text, position), ":")
        if name not in keys:
            result[name] = None  # refused for being there: its value is not worth reading
            return result
        position = _skip(text, position)
        if name == key and text.startswith("[", position):
            result[name], position = _bounded_array(text, position, key, max_items)
        else:
            result[name], position = _DECODER.raw_decode(text, position)
        position = _skip(text, position)
        if text.startswith("}", position):
            return _end(text, position + 1, result)
        position = _skip(text, _expect(text, position, ","))


def _bounded_array(text: str, position: int, key: str, max_items: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    position = _skip(text, position + 1)
    if text.startswith("]", position):
        return items, position + 1
    while True:
        if len(items) == max_items:
            raise TooManyItemsError(key, max_items)
        item, position = _DECODER.raw_decode(text, position)
        items.append(item)
        position = _skip(text, position)
        if text.startswith("]", position):
            return items, position + 1
        position = _skip(text, _expect(text, position, ","))


def _string(text: str, position: int) -> tuple[str, int]:
    if not text.startswith('"', position):
        raise json.JSONDecodeError(
            "Expecting property name enclosed in double quotes", text, position
        )
    name, end = _DECODER.raw_decode(text, position)
    return name, end


def _expect(text: str, position: int, delimiter: str) -> int:
    if not text.startswith(delimiter, position):
        raise json.JSONDecodeError(f"Expecting {delimiter!r} delimiter", text, position)
    return position + 1


def _skip(text: str, position: int) -> int:
    match = _WHITESPACE.match(text, position)
    return match.end() if match else position


def _end(text: str, position: int, result: dict[str, Any]) -> dict[str, Any]:
    if _skip(text, position) != len(text):
        raise json.JSONDecodeError("Extra data", text, _skip(text, position))
    return result
