"""Schemathesis fuzzes every operation of the app's OpenAPI schema: no input is a 5xx, every
answer conforms to the schema, and every request the schema allows is accepted.

Every fuzzing test is derandomized (its examples are a pure function of the test), so that
`make test` cannot flake.

The app runs with an online store and an admin token (sent with every case), so the fuzzer
reaches the feature lookup and the admin operations, not only the auth refusal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode
from server_cases import TOKEN, MemoryRegistry, MemoryStore, running_app, settings_for, store_url

from tether.server import create_app
from tether.serving._predlog import PredictionLog

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fuzzed_app(tmp_path: Path) -> FastAPI:
    """An app whose lifespan schemathesis runs (it starts it once per app object)."""
    settings = settings_for(tmp_path, admin_token=TOKEN, predict_token=TOKEN, feedback_token=TOKEN)
    registry = MemoryRegistry()
    return create_app(
        settings,
        source=registry,
        predictions=PredictionLog(store_url(tmp_path)),
        features=MemoryStore({"c1": {"b": 0.5, "c": -1.0}}),
        admin=registry,
    )


CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
"""No 5xx, and every answer is one the schema announces: its status, type and body."""


@pytest.mark.parametrize(
    ("mode", "checks"),
    [(GenerationMode.POSITIVE, CONFORMANCE), (GenerationMode.NEGATIVE, CONFORMANCE)],
)
def test_no_request_is_a_server_error_or_a_schema_mismatch(
    fuzzed_app: FastAPI, mode: GenerationMode, checks: list[Any]
) -> None:
    # schemathesis.pytest.from_fixture reads a private pytest attribute that pytest 9 removed,
    # so the cases are drawn from each operation's strategy inside one test instead.
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app, headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    # derandomize: the examples are a pure function of the test, so a run cannot flake
    # (a failure is reproduced by running the test again).
    @given(case=st.one_of([operation.as_strategy(mode) for operation in operations]))
    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=AUTH, checks=checks)

    conforms()


def test_the_schema_documents_every_resource(fuzzed_app: FastAPI) -> None:
    paths = set(fuzzed_app.openapi()["paths"])
    assert {"/v1/predict", "/v1/feedback", "/v1/admin/deploy", "/v1/admin/status",
            "/healthz", "/readyz"} <= paths  # fmt: skip


finite = st.floats(allow_nan=False, allow_infinity=False)
text = st.text(min_size=1, max_size=30)
instances = st.fixed_dictionaries(
    {"features": st.fixed_dictionaries({"a": finite, "b": finite, "c": finite})},
    optional={
        "instance_id": text,
        "unit_id": text,
        "event_time": st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
        "entity": st.dictionaries(text, text, min_size=1, max_size=2),
    },
)


# Features near the float limit overflow the regression's dot product, as they should.
@pytest.mark.filterwarnings("ignore:overflow encountered in matmul:RuntimeWarning")
def test_well_formed_predictions_are_answered_or_refused_never_5xx(tmp_path: Path) -> None:
    store = MemoryStore({"c1": {"b": 0.5, "c": -1.0}})
    with running_app(tmp_path, store=store, max_instances=8) as client:

        @given(batch=st.lists(instances, min_size=1, max_size=10))
        @settings(max_examples=150, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def answered(batch: list[dict[str, object]]) -> None:
            response = client.post("/v1/predict", json={"instances": batch})
            assert response.status_code in {200, 413, 422}, response.text
            if response.status_code == 200:
                predictions = response.json()["predictions"]
                assert len(predictions) == len(batch)
                # Features near the float limit can make the model's output NaN, which the
                # server answers as null (JSON has no NaN): a model's answer, not an error.
                assert all(
                    p["prediction"] is None or 0.0 <= p["prediction"] <= 1.0 for p in predictions
                )

        answered()


def test_the_schema_states_the_limits_the_server_enforces(tmp_path: Path) -> None:
    with running_app(tmp_path, max_instances=7) as client:
        schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert components["PredictRequest"]["properties"]["instances"]["maxItems"] == 7
    instance = components["Instance"]
    assert instance["properties"]["instance_id"]["anyOf"][0]["pattern"] == "^[^\\u0000]*$"
    assert instance["properties"]["instance_id"]["anyOf"][0]["maxLength"] == 200
    by_entity, raw = instance["anyOf"]
    assert by_entity["required"] == ["entity"]
    assert raw["properties"]["features"]["required"] == ["a", "b", "c"]
    assert raw["properties"]["features"]["additionalProperties"] is False
    assert "1678-01-01T00:00:00Z (inclusive)" in json.dumps(instance["properties"]["event_time"])
    for path in ("/v1/predict", "/v1/feedback", "/v1/admin/deploy"):
        assert {"400", "408", "413", "415", "422"} <= set(
            schema["paths"][path]["post"]["responses"]
        )
