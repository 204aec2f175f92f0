"""``POST /v1/predict``: score one or many instances.

A thin layer: the body is parsed into :class:`~tether.serving.InstanceRequest` objects and
handed to the router, whose answer is returned as it is. Feature validation (missing, extra,
non-numeric, NaN) happens in the router, against the feature lists of the models it serves,
and comes back as a 422 naming the field.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from tether.server._errors import ErrorBody
from tether.server._state import ServerState
from tether.server._types import Identifier, Scalar, UtcTime
from tether.serving import InstanceRequest, PredictResult


class Instance(BaseModel):
    """One instance to score."""

    model_config = ConfigDict(extra="forbid")

    instance_id: Identifier | None = Field(
        None, description="Your id for the instance (e.g. a transaction id); feedback joins "
        "on it. A UUID is generated when absent."
    )  # fmt: skip
    unit_id: Identifier | None = Field(
        None, description="The unit the experiment is sticky on (e.g. a customer id). Without "
        "it the champion answers."
    )  # fmt: skip
    event_time: UtcTime | None = Field(
        None, description="When the scored event happened, ISO-8601 with a timezone (default: "
        "now). Online features are computed as of this time."
    )  # fmt: skip
    entity: dict[Identifier, Identifier] | None = Field(
        None, description="Entity keys, e.g. {\"customer_id\": \"c1\"}: the online feature "
        "store computes the features it defines for them."
    )  # fmt: skip
    features: dict[Identifier, Scalar] = Field(
        default_factory=dict, description="Raw feature values (finite numbers), and request "
        "columns for the online store's transformations."
    )  # fmt: skip


class PredictRequest(BaseModel):
    """A batch of instances (at most ``serving.max_instances``)."""

    model_config = ConfigDict(extra="forbid")

    instances: list[Instance] = Field(min_length=1)


class InstancePrediction(BaseModel):
    """The answer for one instance."""

    instance_id: str
    prediction: JsonValue = Field(
        description="The probability of the positive class (binary classifiers), else the "
        "model's prediction."
    )
    model_version: str
    cohort: Literal["champion", "challenger"]
    fallback: bool = Field(
        description="True when the challenger's cohort was answered by the champion."
    )


class PredictResponse(BaseModel):
    """The answers, in the order of the instances."""

    request_id: str
    model: str
    predictions: list[InstancePrediction]


_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "The body is not JSON."),
        (413, "The body or the batch is too large."),
        (422, "An instance is invalid; the body names the field."),
        (503, "No model is loaded yet, or the online feature store is unreachable."),
    ]
}


def predict_router(state: ServerState) -> APIRouter:
    """The predict endpoint, serving with ``state.router``."""
    router = APIRouter(tags=["predictions"])

    @router.post("/v1/predict", response_model=PredictResponse, responses=_ERRORS)
    def predict(body: PredictRequest) -> JSONResponse:
        """Score the instances with the champion, the challenger (for its sticky share of
        units) and, off the request path, the shadows."""
        result = state.router.predict([_instance_request(i) for i in body.instances])
        return JSONResponse(_response_body(result), headers={"X-Request-ID": result.request_id})

    return router


def _instance_request(instance: Instance) -> InstanceRequest:
    return InstanceRequest(
        features=instance.features,
        entity=instance.entity,
        instance_id=instance.instance_id,
        unit_id=instance.unit_id,
        event_time=instance.event_time,
    )


def _response_body(result: PredictResult) -> dict[str, object]:
    # Built by hand and returned as a response: re-validating it with pydantic would cost
    # more than the model call for a single instance.
    return {
        "request_id": result.request_id,
        "model": result.model,
        "predictions": [
            {
                "instance_id": answer.instance_id,
                "prediction": answer.output,
                "model_version": answer.version,
                "cohort": answer.cohort,
                "fallback": answer.fallback,
            }
            for answer in result.results
        ],
    }
