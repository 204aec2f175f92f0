"""The HTTP surface beyond one endpoint: times, content types, tokens, timeouts, bounded parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from server_cases import ROW, TOKEN, one, running_app

from tether.config import settings_from_mapping
from tether.errors import ConfigError

JSON = {"content-type": "application/json"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00"]
)
def test_a_feedback_time_outside_the_stores_range_is_422_naming_field_and_range(
    tmp_path: Path, moment: str
) -> None:
    with running_app(tmp_path) as client:
        assert client.post("/v1/predict", json=one(instance_id="tx-1")).status_code == 200
        body = {"instance_id": "tx-1", "label": 1, "time": moment}
        response = client.post("/v1/feedback", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "time"
        assert "1678-01-01T00:00:00Z (inclusive) to 2262-01-01T00:00:00Z" in response.text


# Security 2: an over-long batch is refused while it is decoded, before objects are built.
def test_333326_empty_instances_are_413_without_decoding_the_rest(tmp_path: Path) -> None:
    with running_app(tmp_path, max_instances=5) as client:
        flood = b'{"instances": [' + b",".join([b"{}"] * 333_326) + b"]}"
        assert len(flood) < 1_000_000
        response = client.post("/v1/predict", content=flood, headers=JSON)
        assert response.status_code == 413, response.text
        assert "more than 5 instances" in response.json()["message"]
        # Past the sixth instance the body is not even JSON: had the server decoded it (or
        # built an object per instance), the answer would be a 400 or a 422, not a 413.
        truncated = b'{"instances": [' + b"{}," * 6 + b"not JSON at all"
        response = client.post("/v1/predict", content=truncated, headers=JSON)
        assert response.status_code == 413, response.text
        # A key the request does not take stops the decoding too: its value is never read.
        response = client.post("/v1/predict", content=b'{"extra": [not JSON', headers=JSON)
        assert response.status_code == 422, response.text
        assert "extra: Extra inputs are not permitted" in response.json()["problems"]
        # A batch within the limit is decoded and answered as before.
        batch = {"instances": [{"features": ROW}] * 5}
        assert client.post("/v1/predict", json=batch).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"{", b'{"instances": [{}] ', b'{"instances": [] } x', b'{"a" 1}', b"{,}",
     b'{"instances": [{"features": {"a": 1' + b"0" * 5000 + b"}}]}"],
)  # fmt: skip
def test_malformed_json_is_still_400(tmp_path: Path, body: bytes) -> None:
    with running_app(tmp_path) as client:
        response = client.post("/v1/predict", content=body, headers=JSON)
    assert response.status_code == 400, response.text


# Security 11: a body that is not declared as JSON is a 415 naming the expected type.
@pytest.mark.parametrize("path", ["/v1/predict", "/v1/feedback", "/v1/admin/deploy"])
def test_a_body_not_declared_as_json_is_415(tmp_path: Path, path: str) -> None:
    with running_app(tmp_path, admin_token=TOKEN) as client:
        response = client.post(
            path, content=b'{"instances": []}', headers={"content-type": "text/plain", **AUTH}
        )
    assert response.status_code == 415, response.text
    assert response.json()["error"] == "unsupported_media_type"
    assert "'text/plain'" in response.json()["message"]
    assert "'application/json'" in response.json()["message"]


def test_json_with_a_charset_or_a_json_suffix_is_accepted(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        for content_type in ["application/json; charset=utf-8", "application/vnd.x+json"]:
            response = client.post(
                "/v1/predict", content=json.dumps(one()), headers={"content-type": content_type}
            )
            assert response.status_code == 200, (content_type, response.text)


# Security 8: optional bearer tokens per scope, from the environment only.
PREDICT, FEEDBACK, METRICS = "predict-token", "feedback-token", "metrics-token"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_each_scope_answers_only_its_token_with_401_and_a_bearer_challenge(
    tmp_path: Path,
) -> None:
    tokens = {"predict_token": PREDICT, "feedback_token": FEEDBACK, "metrics_token": METRICS}
    with running_app(tmp_path, admin_token=TOKEN, **tokens) as client:
        for method, path, body, token in [
            ("POST", "/v1/predict", one(instance_id="tx-1"), PREDICT),
            ("POST", "/v1/feedback", {"instance_id": "tx-1", "label": 1}, FEEDBACK),
            ("GET", "/metrics", None, METRICS),
            ("GET", "/openapi.json", None, PREDICT),
            ("GET", "/docs", None, METRICS),
        ]:
            for headers in [{}, _bearer("wrong"), {"Authorization": f"Basic {token}"}]:
                refused = client.request(method, path, json=body, headers=headers)
                assert refused.status_code == 401, (path, headers, refused.text)
                assert refused.headers["www-authenticate"] == "Bearer"
                assert refused.json()["error"] == "unauthorized"
            if path.startswith("/v1/feedback"):  # the predict token cannot set a label first
                stolen = client.request(method, path, json=body, headers=_bearer(PREDICT))
                assert stolen.status_code == 401
            answered = client.request(method, path, json=body, headers=_bearer(token))
            assert answered.status_code in {200, 201}, (path, answered.text)
        assert client.get("/openapi.json", headers=AUTH).status_code == 200  # the admin token
        assert client.get("/healthz").status_code == 200  # probes need no token
        assert client.get("/readyz").status_code == 200


def test_without_tokens_every_scope_stays_open(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        assert client.post("/v1/predict", json=one()).status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200


def test_the_schema_documents_the_tokens_of_the_guarded_scopes(tmp_path: Path) -> None:
    with running_app(tmp_path, predict_token=PREDICT) as client:
        schema = client.get("/openapi.json", headers=_bearer(PREDICT)).json()
    predict = schema["paths"]["/v1/predict"]["post"]
    assert predict["security"] == [{"predict_token": []}]
    assert "401" in predict["responses"]
    assert "401" not in schema["paths"]["/v1/feedback"]["post"]["responses"]


def test_tokens_come_from_the_environment_never_from_tether_toml(tmp_path: Path) -> None:
    raw = {"project": {"name": "p"}, "train": {"entry_point": "t:t", "label": "y"}}
    environ = {"TETHER_PREDICT_TOKEN": "p", "TETHER_FEEDBACK_TOKEN": "f",
               "TETHER_METRICS_TOKEN": "m", "TETHER_ADMIN_TOKEN": "a"}  # fmt: skip
    serving = settings_from_mapping(raw, tmp_path, environ).serving
    assert (serving.predict_token, serving.feedback_token, serving.metrics_token,
            serving.admin_token) == ("p", "f", "m", "a")  # fmt: skip
    literal = {**raw, "serving": {"predict_token": "in-the-repository"}}
    with pytest.raises(ConfigError, match=r"Unknown key serving\.predict_token"):
        settings_from_mapping(literal, tmp_path, {})
