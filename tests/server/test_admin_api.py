"""/v1/admin: bearer-token auth, transitions with an immediate reload, registry errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from server_cases import TOKEN, MemoryRegistry, one, running_app

from tether.errors import RegistryError

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WHO = {"actor": "ana", "reason": "retrained on May"}


def test_without_a_configured_token_admin_is_disabled(tmp_path: Path) -> None:
    with running_app(tmp_path) as client:
        for path in ["/v1/admin/status"]:
            response = client.get(path, headers=AUTH)
            assert response.status_code == 403
            assert "TETHER_ADMIN_TOKEN" in response.json()["message"]
        response = client.post("/v1/admin/promote", json=WHO, headers=AUTH)
        assert response.status_code == 403


def test_a_missing_or_wrong_token_is_401(tmp_path: Path) -> None:
    with running_app(tmp_path, admin_token=TOKEN) as client:
        missing = client.get("/v1/admin/status")
        wrong = client.get("/v1/admin/status", headers={"Authorization": "Bearer nope"})
        basic = client.get("/v1/admin/status", headers={"Authorization": f"Basic {TOKEN}"})
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthorized"


def test_deploy_promote_rollback_reload_at_once(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    with running_app(tmp_path, registry, admin_token=TOKEN, reload_interval_s=3600) as client:
        deploy = {**WHO, "version": "2", "role": "challenger", "traffic": 1.0}
        response = client.post("/v1/admin/deploy", json=deploy, headers=AUTH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["result"]["after"] == {"champion": "1", "challenger": "2"}
        assert body["result"]["time"] == "2024-05-01T00:00:00+00:00"
        assert body["reload"] == {"outcome": "reloaded", "event_id": 2, "error": ""}
        [answer] = client.post("/v1/predict", json=one(unit_id="c1")).json()["predictions"]
        assert (answer["model_version"], answer["cohort"]) == ("2", "challenger")

        promoted = client.post("/v1/admin/promote", json=WHO, headers=AUTH)
        assert promoted.json()["reload"]["outcome"] == "reloaded"
        [answer] = client.post("/v1/predict", json=one(unit_id="c1")).json()["predictions"]
        assert (answer["model_version"], answer["cohort"]) == ("2", "champion")

        rolled = client.post("/v1/admin/rollback", json=WHO, headers=AUTH)
        assert rolled.status_code == 200
        [answer] = client.post("/v1/predict", json=one()).json()["predictions"]
        assert answer["model_version"] == "1"

        status = client.get("/v1/admin/status", headers=AUTH).json()
    assert status["registry"]["aliases"]["champion"] == "1"
    assert status["serving"]["champion"] == "1" and status["serving"]["event_id"] == 4
    assert [event["actor"] for event in registry.log] == ["ana"] * 3


def test_shadow_deploy_and_retire(tmp_path: Path) -> None:
    with running_app(tmp_path, admin_token=TOKEN) as client:
        deploy = {**WHO, "version": "3", "role": "shadow"}
        assert client.post("/v1/admin/deploy", json=deploy, headers=AUTH).status_code == 200
        assert client.get("/v1/admin/status", headers=AUTH).json()["serving"]["shadows"] == ["3"]
        retire = {**WHO, "version": "3"}
        assert client.post("/v1/admin/retire", json=retire, headers=AUTH).status_code == 200
        assert client.get("/v1/admin/status", headers=AUTH).json()["serving"]["shadows"] == []


def test_registry_refusals_map_to_4xx(tmp_path: Path) -> None:
    with running_app(tmp_path, admin_token=TOKEN) as client:
        conflict = client.post("/v1/admin/promote", json=WHO, headers=AUTH)
        unknown = client.post(
            "/v1/admin/deploy", json={**WHO, "version": "9", "role": "shadow"}, headers=AUTH
        )
        invalid = client.post(
            "/v1/admin/deploy", json={**WHO, "version": "2", "role": "king"}, headers=AUTH
        )
        traffic = client.post(
            "/v1/admin/deploy",
            json={**WHO, "version": "2", "role": "challenger", "traffic": 1.5},
            headers=AUTH,
        )
    assert (conflict.status_code, conflict.json()["error"]) == (409, "transition")
    assert "no challenger to promote" in conflict.json()["message"]
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_version")
    assert (invalid.status_code, invalid.json()["field"]) == (422, "role")
    assert (traffic.status_code, traffic.json()["field"]) == (422, "traffic")


class QuotaError(RegistryError):
    """A registry refusal the server does not know."""


class QuotaRegistry(MemoryRegistry):
    def promote(self, *, actor: str, reason: str) -> Mapping[str, object]:
        raise QuotaError("too many promotions today")


def test_extra_error_statuses_extend_the_mapping(tmp_path: Path) -> None:
    registry = QuotaRegistry()
    with running_app(tmp_path, registry, admin_token=TOKEN) as client:
        default = client.post("/v1/admin/promote", json=WHO, headers=AUTH)
    with running_app(
        tmp_path / "2", QuotaRegistry(), admin_token=TOKEN, error_statuses={QuotaError: 429}
    ) as client:
        extended = client.post("/v1/admin/promote", json=WHO, headers=AUTH)
    assert (default.status_code, default.json()["error"]) == (400, "quota")
    assert (extended.status_code, extended.json()["message"]) == (429, "too many promotions today")
