"""``tether reproduce`` verifies the recorded model's whole artifact folder before loading it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest

from model_attacks import ATTACKS, attacked, model_folder
from tether.cli import main
from tether.config import load_settings
from tether.lineage import TrainResult, train_project
from tether.lineage._artifacts import MANIFEST_SHA256_TAG

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, make_fraud_project: Callable[[Path], Path]
) -> tuple[Path, TrainResult]:
    project = make_fraud_project(tmp_path_factory.mktemp("repro-integrity") / "p")
    return project, train_project(load_settings(project).with_params({"max_iter": "10"}))


def _reproduce(project: Path, capsys: pytest.CaptureFixture[str], ref: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(["-C", str(project), "reproduce", ref])
    code = exited.value.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 0), captured.out + captured.err


@pytest.mark.parametrize("attack", ATTACKS)
def test_reproduce_refuses_a_tampered_model_and_runs_no_payload(
    trained: tuple[Path, TrainResult],
    attack: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project, result = trained
    marker = tmp_path / "payload-ran"
    folder = model_folder(project, result.record.model.sha256)
    with attacked(folder, attack, marker):
        code, output = _reproduce(project, capsys, "fraud-detector/1")
    assert code == 2, output
    assert "REPRODUCED" not in output
    assert "fraud-detector/1" in output and "refusing to load" in output.lower()
    assert not marker.exists(), "the payload ran"


def test_reproduce_does_not_trust_the_record_alone(
    trained: tuple[Path, TrainResult], capsys: pytest.CaptureFixture[str]
) -> None:
    """A rewritten version tag (record.json untouched) is refused: the copies must agree."""
    project, result = trained
    settings = load_settings(project)
    client = mlflow.MlflowClient(tracking_uri=settings.stores.tracking_uri)
    original = client.get_model_version(settings.model_name, "1").tags[MANIFEST_SHA256_TAG]
    client.set_model_version_tag(settings.model_name, "1", MANIFEST_SHA256_TAG, "f" * 64)
    try:
        code, output = _reproduce(project, capsys, result.run_id)
    finally:
        client.set_model_version_tag(settings.model_name, "1", MANIFEST_SHA256_TAG, original)
    assert code == 2 and "disagree" in output and "REPRODUCED" not in output
    code, output = _reproduce(project, capsys, "fraud-detector/01")
    assert code == 0 and output.startswith("REPRODUCED"), output
