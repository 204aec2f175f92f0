"""``POST /v1/feedback``: the outcome of a scored instance, arriving later.

201 when the feedback is stored, 200 when the same feedback was already stored (a retry is
safe), 404 when no prediction of the instance is logged (yet: with several replicas, retry
after the log's flush interval), 409 when different feedback was already recorded.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tether.server._errors import ErrorBody
from tether.server._state import ServerState
from tether.server._types import FiniteScalar, Identifier, UtcTime


class Feedback(BaseModel):
    """The label and business outcome of one instance."""

    model_config = ConfigDict(extra="forbid")

    instance_id: Identifier = Field(description="The instance id the prediction was served with.")
    label: FiniteScalar = Field(description="The true outcome, e.g. 1 for fraud.")
    business: dict[Identifier, FiniteScalar] = Field(
        default_factory=dict, description='Business outcomes, e.g. {"loss": 120.0}.'
    )
    time: UtcTime | None = Field(None, description="When the outcome became known (default: now).")


class FeedbackResponse(BaseModel):
    """What was done with the feedback."""

    instance_id: str
    status: Literal["created", "duplicate"]
    message: str


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"model": FeedbackResponse, "description": "The same feedback was already recorded."},
    **{
        status: {"model": ErrorBody, "description": description}
        for status, description in [
            (404, "No prediction of this instance is logged."),
            (409, "Different feedback is already recorded for this instance."),
            (422, "The feedback is invalid; the body names the field."),
        ]
    },
}


def feedback_router(state: ServerState) -> APIRouter:
    """The feedback endpoint, writing to ``state.predictions``."""
    router = APIRouter(tags=["feedback"])

    @router.post(
        "/v1/feedback", status_code=201, response_model=FeedbackResponse, responses=_RESPONSES
    )
    def record_feedback(body: Feedback) -> JSONResponse:
        """Record the outcome of a scored instance (once; a retry returns 200)."""
        status = state.predictions.record_feedback(
            body.instance_id, body.label, dict(body.business), time=body.time
        )
        message = (
            f"Feedback for instance {body.instance_id!r} recorded."
            if status == "created"
            else f"The same feedback for instance {body.instance_id!r} was already recorded."
        )
        content = {"instance_id": body.instance_id, "status": status, "message": message}
        return JSONResponse(content, status_code=201 if status == "created" else 200)

    return router
