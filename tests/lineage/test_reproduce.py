"""Reproduce's verdicts: environment, tolerance, tampered models, projects outside git."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tether.config import load_settings
from tether.errors import IntegrityError, ProjectError, TrackingError
from tether.lineage import TrainResult, reproduce, train_project
from tether.lineage import _reproduce as reproduce_module
from tether.lineage._environment import capture_environment


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, make_fraud_project: Callable[[Path], Path]
) -> tuple[Path, TrainResult]:
    project = make_fraud_project(tmp_path_factory.mktemp("repro") / "p")
    settings = load_settings(project).with_params({"max_iter": "40"})
    return project, train_project(settings)


def test_a_different_environment_is_a_warning_by_default_and_fails_when_strict(
    trained: tuple[Path, TrainResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, result = trained
    real = capture_environment()
    packages = {**real.packages, "scikit-learn": "0.0.1"}
    monkeypatch.setattr(
        reproduce_module,
        "capture_environment",
        lambda: dataclasses.replace(real, packages=packages),
    )
    stores = load_settings(project).stores
    relaxed = reproduce(stores, result.run_id)
    assert relaxed.reproduced
    assert [d.item for d in relaxed.environment_differences] == ["scikit-learn"]

    strict = reproduce(stores, result.run_id, strict_env=True)
    assert not strict.reproduced
    assert strict.reason.startswith("the environment differs")
    assert "scikit-learn" in strict.reason


def test_a_tampered_model_file_is_refused_before_it_is_loaded(
    trained: tuple[Path, TrainResult], tmp_path: Path
) -> None:
    project, result = trained
    model_files = list((project / ".tether" / "artifacts").rglob("model.pkl"))
    assert len(model_files) == 1
    model_file = model_files[0]
    backup = tmp_path / "model.pkl"
    shutil.copyfile(model_file, backup)
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    try:
        with pytest.raises(IntegrityError) as excinfo:
            reproduce(load_settings(project).stores, result.run_id)
        assert result.record.model.sha256 in str(excinfo.value)
        assert "refusing to load" in str(excinfo.value)
    finally:
        shutil.copyfile(backup, model_file)


def test_unknown_references_are_named(trained: tuple[Path, TrainResult]) -> None:
    project, _ = trained
    stores = load_settings(project).stores
    with pytest.raises(TrackingError, match="fraud-detector/99"):
        reproduce(stores, "fraud-detector/99")
    with pytest.raises(TrackingError, match="0" * 32):
        reproduce(stores, "0" * 32)


@pytest.mark.slow
def test_a_project_outside_git_trains_only_when_allowed_and_reproduces(
    fraud_project: Path,
) -> None:
    project = fraud_project
    shutil.rmtree(project / ".git")
    settings = load_settings(project).with_params({"max_iter": "20"})
    with pytest.raises(ProjectError, match="not in a git repository"):
        train_project(settings)
    result = train_project(settings, allow_dirty=True)
    assert result.record.code.commit == ""
    (project / "train.py").write_text("def train(ctx):\n    raise RuntimeError\n")
    report = reproduce(settings.stores, result.run_id)
    assert report.reproduced, report.reason
