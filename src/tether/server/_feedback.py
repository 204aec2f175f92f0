"""``POST /v1/feedback``: the outcome of a scored instance, arriving later.

201 when the feedback is stored, 200 when the same feedback was already stored (a retry is
safe) or when a correction replaced the label (``"correction": true`` with a ``reason``; the
earlier label stays in the log's history), 404 when no prediction of the instance is logged
(yet: with several replicas, retry after the log's flush interval), 409 when different
feedback was already recorded (and this is no correction) or a correction finds nothing to
correct, 422 when the label is not one the instance's model can have (the body names
``label`` and the accepted values) or a correction has no reason.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tether.server._errors import ErrorBody, error_response
from tether.server._state import ServerState
from tether.server._types import FiniteScalar, Identifier, Text, UtcTime
from tether.serving import InvalidFeedbackError

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


class FeedbackResponse(BaseModel):
    """What was done with the feedback."""

    instance_id: str
    status: Literal["created", "duplicate", "corrected"]
    message: str


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "model": FeedbackResponse,
        "description": "The same feedback was already recorded, or a correction was recorded.",
    },
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

    @router.post(
        "/v1/feedback", status_code=201, response_model=FeedbackResponse, responses=_RESPONSES
    )
    def record_feedback(body: Feedback) -> JSONResponse:
        """Record the outcome of a scored instance (once; a retry returns 200), or correct it."""
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

    return router
