"""The published schema states what the server enforces: every limit and every status.

A client (or a fuzzer such as schemathesis) that follows ``/openapi.json`` must not meet a
refusal the schema does not announce. Limits that JSON Schema can state are in the request
types (lengths, batch size, NUL-free text, finite numbers); the ones it cannot (a time range,
the features the served models take, which change with the deployment) are in the fields'
descriptions. Every operation that takes a body documents the statuses the body limits give
(:data:`BODY_RESPONSES`), and a guarded one its 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from tether.server._errors import ErrorBody

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


def publish_schemas(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Add ``models``' schemas to the components of ``app``'s schema.

    For the bodies an endpoint reads itself (``/v1/predict``): FastAPI documents only the
    models it parses.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
