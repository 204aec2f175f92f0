"""Training from feature definitions: ctx.training_set, recorded and reproduced."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tether.config import load_settings
from tether.lineage import reproduce, train_project


@pytest.mark.slow
def test_a_training_set_is_recorded_with_its_definitions_and_reproduces(
    feature_project: Path,
) -> None:
    project = feature_project
    settings = load_settings(project)
    result = train_project(settings)
    record = result.record
    assert len(record.feature_version) == 64
    assert {d.name for d in record.datasets} == {"events", "training_set"}
    assert record.features["definitions"] == "features:FEATURE_VIEWS"

    # Change the definitions and commit: the old run still rebuilds its own features.
    features_py = project / "features.py"
    features_py.write_text(features_py.read_text().replace('window="7d"', 'window="3d"'))
    subprocess.run(["git", "commit", "-qam", "shorter window"], cwd=project, check=True)
    report = reproduce(settings.stores, result.run_id)
    assert report.reproduced, report.reason

    changed = train_project(load_settings(project))
    assert changed.record.feature_version != record.feature_version
