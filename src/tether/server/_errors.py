"""The mapping from tether's errors to HTTP statuses, and the one shape of every error body.

Every error response is ``{"error": code, "message": text, "field": ..., "expected": ...}``:
``code`` is a stable snake-case name (``invalid_instance``), ``message`` names the thing, the
value seen and what was expected; ``field`` and ``expected`` are set when one field is at
fault. A client's mistake is always a 4xx: validation problems (422), malformed JSON (400),
bodies or batches too large (413), a body not declared as JSON (415), a body that does not
arrive in time (408), a missing or wrong token (401), unknown instances (404), conflicts
(409). A 5xx means the server or a store it needs failed (503 when it is worth retrying),
and is logged.

The status of an exception is found by walking its class's MRO through
:data:`DEFAULT_STATUSES` (plus the extra statuses given to ``create_app``), so a subclass
inherits its base's status unless it has its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from tether._uris import mask_uri
from tether.errors import (
    BatchTooLargeError,
    FeatureError,
    FeedbackConflictError,
    InvalidInstanceError,
    NotReadyError,
    PredictionLogFullError,
    RegistryError,
    ServingError,
    StoreUnavailableError,
    TetherError,
    TrackingError,
    TransitionError,
    UnknownInstanceError,
    UnknownVersionError,
    UnsupportedMediaTypeError,
)

DEFAULT_STATUSES: Mapping[type[Exception], int] = {
    UnsupportedMediaTypeError: 415,  # a body not declared as JSON
    InvalidInstanceError: 422,
    BatchTooLargeError: 413,
    NotReadyError: 503,  # no champion loaded yet: worth retrying once one is
    PredictionLogFullError: 503,  # a prediction that cannot be logged is never answered 200
    UnknownInstanceError: 404,  # feedback for an instance never predicted
    FeedbackConflictError: 409,  # feedback that contradicts what was recorded
    StoreUnavailableError: 503,
    FeatureError: 422,  # an unknown or missing entity key or request column
    TransitionError: 409,  # not allowed in the model's current state
    UnknownVersionError: 404,
    RegistryError: 400,
    TrackingError: 503,
    ServingError: 500,
    TetherError: 500,
}
"""HTTP status by error class; the nearest class in an exception's MRO decides."""

_STATUS_CODES = {status.value: status.name.lower() for status in HTTPStatus}
_LOGGER = logging.getLogger("tether.server")
_MAX_PROBLEMS = 10


class ApiError(Exception):
    """An HTTP-level refusal raised by an endpoint (auth, configuration), with its body."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    message: str
    field: str | None = None
    expected: str | None = None
    problems: list[str] | None = None


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSON error response in the one shape (see :class:`ErrorBody`)."""
    body = ErrorBody(error=code, message=message, **extra).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def status_of(exc: BaseException, statuses: Mapping[type[Exception], int]) -> int:
    """The HTTP status of ``exc``: that of the nearest class of its MRO in ``statuses``."""
    for cls in type(exc).__mro__:
        if cls in statuses:
            return statuses[cls]
    return 500


def error_code(exc: BaseException) -> str:
    """``InvalidInstanceError`` -> ``invalid_instance``."""
    name = type(exc).__name__.removesuffix("Error") or "error"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def install_error_handlers(app: FastAPI, statuses: Mapping[type[Exception], int]) -> None:
    """Register the handlers that give every error its status and body."""

    async def tether_error(request: Request, exc: Exception) -> JSONResponse:
        status = status_of(exc, statuses)
        log = _LOGGER.error if status >= 500 else _LOGGER.info
        log(
            "%s %s -> %d: %s", request.method, request.url.path, status, exc, exc_info=status >= 500
        )
        extra: dict[str, Any] = {}
        if isinstance(exc, InvalidInstanceError):
            extra = {"field": exc.field, "expected": exc.expected}
        # Masked here too: a library's text inside the message may quote a store's URI.
        return error_response(status, error_code(exc), mask_uri(str(exc)), **extra)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_response(exc.errors())

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = mask_uri(f"{request.method} {request.url.path}: {exc.detail}.")
        return error_response(exc.status_code, code, message, headers=exc.headers)

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, mask_uri(exc.message), headers=exc.headers)

    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # The process boundary: anything unforeseen is logged with its traceback here.
        _LOGGER.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(
            500, "internal", "The server failed on this request; the error is in its log."
        )

    app.add_exception_handler(TetherError, tether_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)


def _validation_response(errors: Sequence[Any]) -> JSONResponse:
    """400 for a body that is not JSON, else 422 naming each field at fault."""
    for error in errors:
        if error.get("type") == "json_invalid":
            position = error.get("loc", ("body", "?"))[-1]
            reason = error.get("ctx", {}).get("error", "JSON decode error")
            return error_response(
                400,
                "malformed_json",
                f"The request body is not valid JSON: {reason} at character {position}.",
                expected="a JSON object",
            )
    problems = [f"{field_name(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors]
    first = errors[0] if errors else {}
    return error_response(
        422,
        "invalid_request",
        "The request is invalid: " + "; ".join(problems[:_MAX_PROBLEMS]) + ".",
        field=field_name(first.get("loc", ())),
        expected=str(first.get("msg", "")) or None,
        problems=problems[:_MAX_PROBLEMS],
    )


def field_name(loc: Sequence[Any]) -> str:
    """``("body", "instances", 0, "features", "x")`` -> ``instances[0].features.x``."""
    text = ""
    for part in loc:
        if part == "body" and not text:
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            safe = str(part).encode("utf-8", "backslashreplace").decode("utf-8")
            text += f".{safe}" if text else safe
    return text or "body"
