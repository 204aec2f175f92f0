"""The published schema states what the server enforces: every limit and every status.

A client (or a fuzzer such as schemathesis) that follows ``/openapi.json`` must not meet a
refusal the schema does not announce. Limits that JSON Schema can state are in the request
types (lengths, batch size, NUL-free text); the features the served models take change with
the deployment, so the schema is rebuilt when it changes and an instance states them: either
an ``entity`` (the online store computes what it can, and refuses what it must), or
``features`` with every feature the champion and the challenger take, each a number (or
null where the models take missing values), and no other. What JSON Schema cannot state
(a time range, whether the store knows an entity) is in the fields' descriptions. Every
operation that takes a body documents the statuses the body limits give
(:data:`BODY_RESPONSES`), and a guarded one its 401.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from tether.server._errors import ErrorBody
from tether.serving import Deployment, FeatureSpec

_REF_TEMPLATE = "#/components/schemas/{model}"
BODY_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "The body is not JSON, or its Content-Length is malformed."),
        (408, "The body did not arrive within serving.body_timeout_s; the connection is closed."),
        (413, "The body is larger than serving.max_body_bytes."),
        (415, "The body is not declared as application/json."),
        (422, "The body is invalid; the error names the field."),
    ]
}
"""The statuses of the body limits, for every operation that takes a body."""


def publish_schemas(
    app: FastAPI,
    models: Sequence[type[BaseModel]],
    deployment: Callable[[], Deployment | None],
) -> None:
    """Add ``models``' schemas to the components of ``app``'s schema, and the features of the
    current ``deployment()`` to the ``Instance`` schema (rebuilt when they change).

    For the bodies an endpoint reads itself (``/v1/predict``): FastAPI documents only the
    models it parses.
    """
    built_for: list[FeatureSpec | None] = [None]

    def openapi() -> dict[str, Any]:
        current = deployment()
        spec = FeatureSpec.of(current) if current is not None else None
        if app.openapi_schema is None or spec != built_for[0]:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                published = model.model_json_schema(ref_template=_REF_TEMPLATE)
                components.update(published.pop("$defs", {}))
                components[model.__name__] = published
            if spec is not None and "Instance" in components:
                components["Instance"]["anyOf"] = _instance_sources(spec)
            app.openapi_schema, built_for[0] = schema, spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def _instance_sources(spec: FeatureSpec) -> list[dict[str, Any]]:
    """Where an instance's features come from: an entity, or every one of them raw."""
    nullable = {"type": ["number", "null"], "description": "null: no value (NaN to the model)."}
    number = {"type": "number", "description": "A served model cannot take missing values."}
    raw = {
        "type": "object",
        "properties": {
            name: nullable if name in spec.nullable else number
            for name in spec.required + spec.optional
        },
        "required": list(spec.required),
        "additionalProperties": False,
    }
    return [
        {"required": ["entity"], "properties": {"entity": {"type": "object", "minProperties": 1}}},
        {"required": ["features"], "properties": {"features": raw}},
    ]
