"""``POST /v1/predict``: score one or many instances.

A thin layer: the body is parsed into :class:`~tether.serving.InstanceRequest` objects and
handed to the router, whose answer is returned as it is. Feature validation (missing, extra,
non-numeric, NaN) happens in the router, against the feature lists of the models it serves,
and comes back as a 422 naming the field.

The body is decoded and validated here, not by FastAPI, for two reasons: a batch longer than
``serving.max_instances`` is refused while decoding it (``_body.py``), before an object is
built for each instance, and the decoding and validation run in a worker thread with the
scoring, so that no body, however crafted, holds the event loop that every other request
needs. The schema of the body is still published (:func:`request_type`).

Each prediction carries its ``decision`` (1 or 0 at the answering version's own threshold,
null when it has none) next to the score; the prediction log records the same value.

With ``"explain": true`` each prediction also carries, per feature the answering model took,
its value and its status (``value``, ``empty``, ``stale``, ``unknown_entity`` from the online
store, ``request`` when the client sent it): exactly what the prediction log records.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    ValidationError,
    create_model,
)
from starlette.concurrency import run_in_threadpool

from tether._names import Cohort
from tether.errors import BatchTooLargeError, TooManyItemsError
from tether.server._body import JSON_MEDIA_TYPE, check_json_content_type, decode_bounded
from tether.server._errors import ErrorBody
from tether.server._state import ServerState
from tether.server._types import Identifier, Scalar, UtcTime
from tether.serving import SERVED_STATUSES, InstanceRequest, PredictResult


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
        default_factory=dict, description="Raw feature values (finite numbers, or null for no "
        "value: NaN to the model), and request columns for the online store's "
        "transformations. Every feature of the served champion and challenger must be here "
        "or come from the entity's online features (else 422); without an entity, a feature "
        "no served model takes is refused (422)."
    )  # fmt: skip


class PredictRequest(BaseModel):
    """A batch of instances (at most ``serving.max_instances``)."""

    model_config = ConfigDict(extra="forbid")

    instances: list[Instance] = Field(min_length=1)
    explain: StrictBool = Field(
        False, description="True: each prediction also carries the value and the status of "
        "every feature its model took (`features`)."
    )  # fmt: skip


class ExplainedFeature(BaseModel):
    """One feature of an explained prediction: the value the model received, and its status."""

    value: float | None = Field(description="null: no value (NaN to the model).")
    status: str = Field(
        description="value: computed from events; empty: no event in the window; stale: the "
        "newest event is older than the view's TTL; unknown_entity: the store has no event of "
        "the entity; request: sent by the client in `features`.",
        json_schema_extra={"enum": list(SERVED_STATUSES)},
    )


class InstancePrediction(BaseModel):
    """The answer for one instance."""

    instance_id: str
    prediction: JsonValue = Field(
        description="The probability of the positive class (binary classifiers), else the "
        "model's prediction."
    )
    decision: Literal[0, 1] | None = Field(
        description="1 when the prediction is at or above the answering version's decision "
        "threshold (chosen at training by [train.threshold]), else 0; null when that version "
        "recorded no threshold (a regressor, or trained before tether chose thresholds)."
    )
    model_version: str
    cohort: Cohort
    fallback: bool = Field(
        description="True when the challenger's cohort was answered by the champion."
    )
    features: dict[str, ExplainedFeature] | None = Field(
        None, description="Only with `explain: true`: each feature the answering model took, "
        "with its value and status, as the prediction log records them."
    )  # fmt: skip


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


def request_type(max_instances: int) -> type[PredictRequest]:
    """:class:`PredictRequest` with the batch limit of this server, stated in its schema."""
    batch = Field(
        min_length=1,
        max_length=max_instances,
        description=f"1 to {max_instances} instances (serving.max_instances; more is a 413).",
    )
    model: type[PredictRequest] = create_model(
        "PredictRequest",
        __base__=PredictRequest,
        __doc__=PredictRequest.__doc__,
        instances=(list[Instance], batch),
    )
    return model


def predict_router(state: ServerState) -> APIRouter:
    """The predict endpoint, serving with ``state.router``."""
    router = APIRouter(tags=["predictions"])
    body_type = request_type(state.settings.max_instances)
    body_schema = {"$ref": "#/components/schemas/PredictRequest"}
    request_body = {"required": True, "content": {JSON_MEDIA_TYPE: {"schema": body_schema}}}

    @router.post(
        "/v1/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": request_body},
    )
    async def predict(request: Request) -> JSONResponse:
        """Score the instances with the champion, the challenger (for its sticky share of
        units) and, off the request path, the shadows."""
        check_json_content_type(request.headers.get("content-type"))
        body = await request.body()
        return await run_in_threadpool(_predict, state, body_type, body)

    return router


def _predict(state: ServerState, body_type: type[PredictRequest], body: bytes) -> JSONResponse:
    parsed = _parse(body_type, body, state.settings.max_instances)
    result = state.router.predict([_instance_request(i) for i in parsed.instances])
    answer = _response_body(result, explain=parsed.explain)
    return JSONResponse(answer, headers={"X-Request-ID": result.request_id})


def _parse(body_type: type[PredictRequest], body: bytes, max_instances: int) -> PredictRequest:
    """The validated body; the errors FastAPI would raise for it (400, 422), and 413."""
    decoded = decode_body(body, "instances", max_instances, body_type.model_fields)
    try:
        return body_type.model_validate(decoded)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from exc


def decode_body(body: bytes, key: str, max_items: int, keys: Collection[str]) -> Any:
    """The body decoded with at most ``max_items`` in the array at ``key`` (see
    :func:`decode_bounded`); the errors FastAPI would raise for it (400, 422), and 413."""
    try:
        return decode_bounded(body, key, max_items, keys)
    except TooManyItemsError as exc:
        raise BatchTooLargeError(str(exc)) from exc
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                 "input": {}, "ctx": {"error": exc.msg}}  # fmt: skip
        raise RequestValidationError([error]) from exc
    except ValueError as exc:  # not UTF-8, or an integer past the standard library's limit
        raise HTTPException(400, f"There was an error parsing the body ({exc})") from exc


def _instance_request(instance: Instance) -> InstanceRequest:
    return InstanceRequest(
        features=instance.features,
        entity=instance.entity,
        instance_id=instance.instance_id,
        unit_id=instance.unit_id,
        event_time=instance.event_time,
    )


def _response_body(result: PredictResult, *, explain: bool) -> dict[str, object]:
    # Built by hand and returned as a response: re-validating it with pydantic would cost
    # more than the model call for a single instance.
    predictions: list[dict[str, object]] = [
        {
            "instance_id": answer.instance_id,
            "prediction": answer.output,
            "decision": answer.decision,
            "model_version": answer.version,
            "cohort": answer.cohort,
            "fallback": answer.fallback,
        }
        for answer in result.results
    ]
    if explain:
        for prediction, answer in zip(predictions, result.results, strict=True):
            prediction["features"] = {
                name: {"value": value, "status": answer.statuses[name]}
                for name, value in answer.features.items()
            }
    return {"request_id": result.request_id, "model": result.model, "predictions": predictions}
