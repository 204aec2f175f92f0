"""The whole story of issue 2 on a real project: init, train, reproduce, change, audit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tether.config import load_settings, locate_stores
from tether.errors import IntegrityError, SnapshotError
from tether.lineage import audit, render_json, render_markdown, reproduce, train_project


def _commit_all(project: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message],
        cwd=project,
        check=True,
    )


def _object_path(project: Path, digest: str) -> Path:
    return project / ".tether" / "snapshots" / "objects" / "sha256" / digest[:2] / digest[2:]


@pytest.mark.slow
def test_a_run_reproduces_after_code_data_and_config_change(fraud_project: Path) -> None:
    settings = load_settings(fraud_project)
    first = train_project(settings)

    # MLflow's own client finds what tether logged.
    client = mlflow.MlflowClient(tracking_uri=settings.stores.tracking_uri)
    run = client.get_run(first.run_id)
    assert run.data.params["max_iter"] == "200"
    assert run.data.params["tether.seed"] == "42"
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=fraud_project, capture_output=True, text=True
    ).stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == commit
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"events", "labels", "training_set", "evaluation"}
    events_digest = first.record.dataset("events").digest
    assert inputs["events"].dataset.digest == events_digest[:36]
    assert events_digest in inputs["events"].dataset.source
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "environment")}
    assert "environment/requirements.frozen.txt" in artifacts
    frozen = client.download_artifacts(first.run_id, "environment/requirements.frozen.txt")
    assert "scikit-learn==" in Path(frozen).read_text()
    version = client.get_model_version("fraud-detector", first.model_version)
    assert version.run_id == first.run_id

    report = reproduce(settings.stores, first.run_id)
    assert report.reproduced, report.reason
    assert report.max_abs_difference == 0.0
    assert report.model_bytes_identical

    # Change the code, the data and the config, and commit; move a file away too.
    train_py = fraud_project / "train.py"
    train_py.write_text(train_py.read_text().replace("max_iter", "max_iter") + "\n# v2\n")
    events = pd.read_parquet(fraud_project / "data" / "events.parquet")
    events.iloc[: len(events) // 2].to_parquet(fraud_project / "data" / "events.parquet")
    toml = fraud_project / "tether.toml"
    toml.write_text(toml.read_text().replace("max_iter = 200", "max_iter = 20"))
    (fraud_project / "features.py").rename(fraud_project / "features_v1_backup.py")
    _commit_all(fraud_project, "change code, data and config")

    again = reproduce(locate_stores(fraud_project), f"fraud-detector/{first.model_version}")
    assert again.reproduced, again.reason
    assert again.model_bytes_identical

    # Corrupt the events snapshot: reproduce names the dataset and its digest.
    corrupt = _object_path(fraud_project, events_digest)
    corrupt.chmod(0o644)
    corrupt.write_bytes(corrupt.read_bytes()[:-1] + b"\0")
    with pytest.raises(IntegrityError) as excinfo:
        reproduce(locate_stores(fraud_project), first.run_id)
    assert events_digest in str(excinfo.value)
    assert "events" in str(excinfo.value)

    corrupt.unlink()
    with pytest.raises(SnapshotError, match=events_digest):
        reproduce(locate_stores(fraud_project), first.run_id)


@pytest.mark.slow
def test_a_dirty_run_records_its_patch_and_reproduces(fraud_project: Path) -> None:
    train_py = fraud_project / "train.py"
    train_py.write_text(train_py.read_text() + "\n# an uncommitted edit\n")
    (fraud_project / "notes.py").write_text("UNTRACKED = True\n")
    result = train_project(load_settings(fraud_project), allow_dirty=True)
    assert result.record.code.dirty
    assert result.record.code.patch_sha256

    subprocess.run(["git", "checkout", "--", "train.py"], cwd=fraud_project, check=True)
    (fraud_project / "notes.py").unlink()
    report = reproduce(locate_stores(fraud_project), result.run_id)
    assert report.reproduced, report.reason


@pytest.mark.slow
def test_audit_names_data_code_config_and_registration(fraud_project: Path) -> None:
    settings = load_settings(fraud_project)
    result = train_project(settings)
    report = audit(settings.stores, f"fraud-detector/{result.model_version}")
    markdown = render_markdown(report)
    for expected in (
        result.record.dataset("events").digest,
        result.record.code.commit,
        "param max_iter",
        "scikit-learn",
        "roc_auc",
        f"registered fraud-detector/{result.model_version}",
    ):
        assert expected in markdown
    as_json = json.loads(render_json(report))
    assert as_json["record"]["run_id"] == result.run_id
    assert as_json["versions"][0]["version"] == result.model_version


@pytest.mark.slow
def test_reproduce_in_a_fresh_process_finds_the_model_file_byte_identical(
    fraud_project: Path,
) -> None:
    # Each command in its own process, as a user runs them. Unpickling the recorded model
    # before serializing the new one interned attribute names and changed which equal
    # strings the new pickle shared: its bytes differed although its content did not.
    def tether(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tether", "-C", str(fraud_project), *args],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    trained = json.loads(tether("--json", "train"))
    report = json.loads(tether("--json", "reproduce", trained["run_id"]))
    assert report["reproduced"] and report["max_abs_difference"] == 0.0
    assert report["model_bytes_identical"], (
        report["new_model_sha256"],
        report["recorded_model_sha256"],
    )
