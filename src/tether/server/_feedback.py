"""``POST /v1/feedback``: the outcome of a scored instance, arriving later.

201 when the feedback is stored, 200 when the same feedback was already stored (a retry is
safe) or when a correction replaced the label (``"correction": true`` with a ``reason``; the
earlier label stays in the log's history), 404 when no prediction of the instance is logged
(yet: with several replicas, retry after the log's flush interval), 409 when different
feedback was already recorded (and this is no correction) or a correction finds nothing to
correct, 422 when the label is not one the instance's model can have (the body names
``label`` and the accepted values) or a correction has no reason.

**The batch form** ``{"feedback": [{...}, ...]}`` takes up to ``serving.max_instances``
items (the predict batch's limit: a replay posts the labels of a batch it scored; more is a
413 before any item is read) and answers each item in order, in ``results``, with its
``status``: ``created``, ``duplicate``, ``corrected`` (stored, or already stored), or
``not_found``, ``conflict``, ``invalid`` (refused, with the reason; an invalid item names its
field, e.g. ``feedback[3].label``, and what it takes). The items are stored in one database
transaction; a refused item writes nothing and does not stop the others. Status codes: 201
when every item was created, 200 when every item is stored but some were already (duplicates
or corrections, as the single form's 200), and **207 Multi-Status** when any item was refused:
the request as a whole neither succeeded nor failed, and a client must read ``results``
(WebDAV's meaning of 207, RFC 4918; a 4xx would tell a client that nothing was stored, which
is false for the items answered ``created``). A database failure is a 503 or 500 for the
whole batch, and then nothing of it was stored: every item answered ``created`` is stored.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from tether.server._body import JSON_MEDIA_TYPE, check_json_content_type
from tether.server._errors import ErrorBody, error_response
from tether.server._predict import decode_body
from tether.server._state import ServerState
from tether.server._types import FiniteScalar, Identifier, Text, UtcTime
from tether.serving import FeedbackItem, FeedbackOutcome, InvalidFeedbackError

_BATCH_KEY = "feedback"

_MESSAGES = {
    "created": "Feedback for instance {id!r} recorded.",
    "duplicate": "The same feedback for instance {id!r} was already recorded.",
    "corrected": "The feedback for instance {id!r} was corrected; the earlier label is kept "
    "in its history.",
}


class Feedback(BaseModel):
    """The label and business outcome of one instance, or a correction of them."""

    model_config = ConfigDict(extra="forbid")

    instance_id: Identifier = Field(description="The instance id the prediction was served with.")
    label: FiniteScalar = Field(
        description="The true outcome, e.g. 1 for fraud: one of a classifier's classes, or a "
        "finite number for a regressor."
    )
    business: dict[Identifier, FiniteScalar] = Field(
        default_factory=dict, description='Business outcomes, e.g. {"loss": 120.0}.'
    )
    time: UtcTime | None = Field(None, description="When the outcome became known (default: now).")
    correction: bool = Field(
        False, description="Replace the instance's recorded feedback (e.g. a chargeback was "
        "reversed); needs a reason. The earlier label is kept in the history."
    )  # fmt: skip
    reason: Text | None = Field(None, description="Why the feedback is corrected.")


class FeedbackBatch(BaseModel):
    """Many feedbacks at once (at most ``serving.max_instances``), each answered on its own."""

    model_config = ConfigDict(extra="forbid")

    feedback: list[Feedback] = Field(
        min_length=1, description="The items, each as the single form; more than "
        "serving.max_instances is a 413."
    )  # fmt: skip


class BatchItemResult(BaseModel):
    """What was done with one item of a batch."""

    index: int = Field(description="The item's position in `feedback`.")
    instance_id: str | None = Field(description="null when the item had no valid instance_id.")
    status: Literal["created", "duplicate", "corrected", "not_found", "conflict", "invalid"]
    message: str
    field: str | None = Field(None, description="Only for `invalid`: the field at fault.")
    expected: str | None = Field(None, description="Only for `invalid`: what the field takes.")


class FeedbackBatchResponse(BaseModel):
    """One result per item, in order, and how many items got each status."""

    results: list[BatchItemResult]
    counts: dict[str, int]


class FeedbackResponse(BaseModel):
    """What was done with the feedback."""

    instance_id: str
    status: Literal["created", "duplicate", "corrected"]
    message: str


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "model": FeedbackResponse,
        "description": "The same feedback was already recorded, or a correction was recorded "
        "(a batch: every item is stored, some were already: a FeedbackBatchResponse).",
    },
    207: {
        "model": FeedbackBatchResponse,
        "description": "A batch in which some item was refused; each item's result says what "
        "was done with it (the items answered created are stored).",
    },
    413: {"model": ErrorBody, "description": "A batch of more than serving.max_instances."},
    **{
        status: {"model": ErrorBody, "description": description}
        for status, description in [
            (404, "No prediction of this instance is logged."),
            (409, "Different feedback is already recorded, or there is nothing to correct."),
            (422, "The feedback is invalid (e.g. a label the model cannot have); the body "
             "names the field and the accepted values."),
        ]
    },
}  # fmt: skip


def feedback_router(state: ServerState) -> APIRouter:
    """The feedback endpoint, writing to ``state.predictions``."""
    router = APIRouter(tags=["feedback"])
    schemas = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in (Feedback, FeedbackBatch)]
    request_body = {"required": True, "content": {JSON_MEDIA_TYPE: {"schema": {"oneOf": schemas}}}}

    @router.post(
        "/v1/feedback",
        status_code=201,
        response_model=FeedbackResponse,
        responses=_RESPONSES,
        openapi_extra={"requestBody": request_body},
    )
    async def record_feedback(request: Request) -> JSONResponse:
        """Record the outcome of a scored instance (once; a retry returns 200), or correct it;
        or many at once: ``{"feedback": [...]}``, each item answered on its own."""
        check_json_content_type(request.headers.get("content-type"))
        body = await request.body()
        return await run_in_threadpool(_record, state, body)

    return router


def _record(state: ServerState, body: bytes) -> JSONResponse:
    keys = {*Feedback.model_fields, _BATCH_KEY}
    decoded = decode_body(body, _BATCH_KEY, state.settings.max_instances, keys)
    if isinstance(decoded, dict) and _BATCH_KEY in decoded:
        return _record_batch(state, decoded)
    try:
        single = Feedback.model_validate(decoded)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from exc
    return _record_one(state, single)


def _record_one(state: ServerState, body: Feedback) -> JSONResponse:
    try:
        status = state.predictions.record_feedback(
            body.instance_id,
            body.label,
            dict(body.business),
            time=body.time,
            correction=body.correction,
            reason=body.reason,
        )
    except InvalidFeedbackError as exc:
        return error_response(
            422, "invalid_feedback", str(exc), field=exc.field, expected=exc.expected
        )
    message = _MESSAGES[status].format(id=body.instance_id)
    content = {"instance_id": body.instance_id, "status": status, "message": message}
    return JSONResponse(content, status_code=201 if status == "created" else 200)


class _Envelope(BaseModel):
    """The batch form's top level, its items left unread: each is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    feedback: list[Any] = Field(min_length=1)


def _record_batch(state: ServerState, decoded: dict[str, Any]) -> JSONResponse:
    try:
        items = _Envelope.model_validate(decoded).feedback
    except ValidationError as exc:  # an unknown top-level key, or `feedback` no list of items
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from exc
    results: list[dict[str, object] | None] = [None] * len(items)
    valid: list[tuple[int, FeedbackItem]] = []
    for index, item in enumerate(items):
        try:
            parsed = Feedback.model_validate(item)
        except ValidationError as exc:
            results[index] = _invalid(index, item, exc)
            continue
        valid.append((index, _item(parsed)))
    outcomes = state.predictions.record_feedback_batch([item for _, item in valid])
    for (index, _), outcome in zip(valid, outcomes, strict=True):
        results[index] = _result(index, outcome)
    answered = [result for result in results if result is not None]
    counts = Counter(str(result["status"]) for result in answered)
    return JSONResponse(
        {"results": answered, "counts": dict(sorted(counts.items()))},
        status_code=_batch_status(counts),
    )


def _batch_status(counts: Counter[str]) -> int:
    """201 all created, 200 all stored (some already), 207 some refused (module docstring)."""
    if set(counts) == {"created"}:
        return 201
    if set(counts) <= {"created", "duplicate", "corrected"}:
        return 200
    return 207


def _item(parsed: Feedback) -> FeedbackItem:
    return FeedbackItem(
        parsed.instance_id,
        parsed.label,
        dict(parsed.business),
        time=parsed.time,
        correction=parsed.correction,
        reason=parsed.reason,
    )


def _result(index: int, outcome: FeedbackOutcome) -> dict[str, object]:
    result: dict[str, object] = {
        "index": index,
        "instance_id": outcome.instance_id,
        "status": outcome.status,
        "message": outcome.message,
    }
    if outcome.status == "invalid":
        result["field"] = f"{_BATCH_KEY}[{index}].{outcome.field}"
        result["expected"] = outcome.expected
    return result


def _invalid(index: int, item: object, error: ValidationError) -> dict[str, object]:
    """An item refused by validation: the first error, naming its field."""
    first = error.errors()[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    instance_id = item.get("instance_id") if isinstance(item, dict) else None
    return {
        "index": index,
        "instance_id": instance_id if isinstance(instance_id, str) else None,
        "status": "invalid",
        "message": f"{_BATCH_KEY}[{index}]{where}: {first['msg']}.",
        "field": f"{_BATCH_KEY}[{index}]{where}",
        "expected": first["msg"],
    }
