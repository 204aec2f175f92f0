"""The server on a real registry: a tampered champion is never served, a broken challenger is
dropped (degraded), and a transition that MLflow could not follow still reports success."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from model_attacks import ATTACKS, attacked, model_folder
from tether.cli import main
from tether.config import load_settings
from tether.lineage import SnapshotStore, TrainResult, train_project
from tether.project import Project
from tether.server import create_project_app

pytestmark = pytest.mark.slow
TOKEN = "an-integrity-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, make_fraud_project: Callable[[Path], Path]
) -> tuple[Path, list[TrainResult]]:
    """Versions 1 (champion) and 2 (challenger, all traffic) of one project."""
    project = make_fraud_project(tmp_path_factory.mktemp("served-integrity") / "p")
    settings = load_settings(project)
    results = [train_project(settings.with_params({"max_iter": m})) for m in ("10", "11")]
    aliases = Project.open(settings).aliases
    aliases.deploy("1", "champion", actor="test", reason="first")
    aliases.deploy("2", "challenger", traffic=1.0, actor="test", reason="try it")
    return project, results


@pytest.fixture
def client(
    trained: tuple[Path, list[TrainResult]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], TestClient]]:
    monkeypatch.setenv("TETHER_ADMIN_TOKEN", TOKEN)

    def start() -> TestClient:
        return TestClient(create_project_app(Project.open(trained[0])))

    yield start


def _instances(project: Path, result: TrainResult, count: int) -> dict[str, object]:
    store = SnapshotStore(load_settings(project).stores.snapshot_uri)
    frame = pd.read_parquet(io.BytesIO(store.read_bytes(result.record.evaluation.digest)))
    rows = frame.drop(columns=["is_fraud"]).dropna().head(count).to_dict(orient="records")
    return {"instances": [{"features": r, "unit_id": f"u{i}"} for i, r in enumerate(rows)]}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_tampered_champion_is_never_served(
    trained: tuple[Path, list[TrainResult]],
    client: Callable[[], TestClient],
    attack: str,
    tmp_path: Path,
) -> None:
    project, results = trained
    marker = tmp_path / "payload-ran"
    folder = model_folder(project, results[0].record.model.sha256)
    with attacked(folder, attack, marker), client() as http:
        ready = http.get("/readyz")
        predicted = http.post("/v1/predict", json=_instances(project, results[0], 1))
    assert ready.status_code == 503, ready.text
    assert ready.json()["status"] == "not_ready"
    assert predicted.status_code == 503
    assert not marker.exists(), "the payload ran"


def test_a_tampered_challenger_is_dropped_and_the_champion_serves(
    trained: tuple[Path, list[TrainResult]], client: Callable[[], TestClient], tmp_path: Path
) -> None:
    project, results = trained
    marker = tmp_path / "payload-ran"
    folder = model_folder(project, results[1].record.model.sha256)
    with attacked(folder, "redirect", marker), client() as http:
        ready = http.get("/readyz")
        predicted = http.post("/v1/predict", json=_instances(project, results[0], 20))
    assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
    detail = ready.json()["checks"]["deployment"]["detail"]
    assert "challenger fraud-detector/2 is not served" in detail and "evil.pkl" in detail
    assert {p["model_version"] for p in predicted.json()["predictions"]} == {"1"}
    assert not marker.exists(), "the payload ran"


def test_admin_refusals_name_the_version_and_no_store_location(
    trained: tuple[Path, list[TrainResult]], client: Callable[[], TestClient]
) -> None:
    project, _ = trained
    with client() as http:
        unknown = http.post(
            "/v1/admin/deploy", headers=AUTH,
            json={"version": "99", "role": "shadow", "actor": "ana", "reason": "r"},
        )  # fmt: skip
        same = http.post(
            "/v1/admin/deploy", headers=AUTH,
            json={"version": "01", "role": "challenger", "actor": "ana", "reason": "r"},
        )  # fmt: skip
    assert unknown.status_code == 404
    assert "fraud-detector/99" in unknown.text
    assert str(project) not in unknown.text and "sqlite" not in unknown.text
    assert same.status_code == 409 and "fraud-detector/1 is the champion" in same.text


def test_a_deleted_challenger_degrades_and_transitions_report_what_happened(
    trained: tuple[Path, list[TrainResult]],
    client: Callable[[], TestClient],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Security 5, last in this module: it deletes version 2."""
    project, results = trained
    settings = load_settings(project)
    mlflow.MlflowClient(tracking_uri=settings.stores.tracking_uri).delete_model_version(
        settings.model_name, "2"
    )
    with client() as http:  # a restart after the deletion
        ready = http.get("/readyz")
        predicted = http.post("/v1/predict", json=_instances(project, results[0], 20))
        assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
        assert "challenger fraud-detector/2" in ready.json()["checks"]["deployment"]["detail"]
        assert predicted.status_code == 200
        assert {p["model_version"] for p in predicted.json()["predictions"]} == {"1"}
        serving = http.get("/v1/admin/status", headers=AUTH).json()["serving"]
        assert serving["challenger"] is None and "fraud-detector/2" in serving["dropped"][0]

        # The event commits; MLflow cannot tag a deleted version: a 200 that says so.
        retired = http.post(
            "/v1/admin/retire", headers=AUTH,
            json={"version": "2", "actor": "ana", "reason": "its version was deleted"},
        )  # fmt: skip
        assert retired.status_code == 200, retired.text
        body = retired.json()
        assert body["aliases_stale"] is True and body["repair"] == "tether models sync"
        assert body["result"]["after"] == {"champion": "1"}
        assert http.get("/readyz").json()["status"] == "ready"
    assert Project.open(settings).aliases.status().aliases == {"champion": "1"}

    # The CLI says the same of a transition MLflow could not follow: done, and what to run.
    Project.open(settings).aliases.log.append(
        settings.model_name, "deploy", actor="t", reason="a deleted version, again",
        after={"champion": "1", "shadow-2": "2"},
    )  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        main(["-C", str(project), "models", "retire", "2", "--reason", "gone"])
    captured = capsys.readouterr()
    assert exited.value.code in (0, None), captured.err
    assert "error:" not in captured.out + captured.err
    assert "took effect" in captured.err and "tether models sync" in captured.err
