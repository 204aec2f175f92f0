"""``tether runs list`` and ``tether models versions``, checked against MLflow's own client."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest

from tether.config import load_settings

RunCli = Callable[[list[str]], tuple[int, str, str]]
pytestmark = pytest.mark.slow


def test_runs_and_versions_say_what_was_trained_and_registered(
    fraud_project: Path, run_cli: RunCli
) -> None:
    project = ["-C", str(fraud_project)]
    code, out, err = run_cli([*project, "train", "--param", "max_iter=10"])
    assert code == 0, err
    for step in ("versioning code", "running the entry point", "registering the model"):
        assert f"training: {step}..." in err  # progress on stderr, one line per step
    code, out, err = run_cli([*project, "train", "--param", "max_iter=11", "--json"])
    assert code == 0, err
    second = json.loads(out)  # stdout is the JSON alone
    assert "training:" not in err  # and --json silences the progress

    code, out, err = run_cli([*project, "runs", "list", "--json"])
    assert code == 0, err
    listed = json.loads(out)["runs"]
    settings = load_settings(fraud_project)
    client = mlflow.MlflowClient(settings.stores.tracking_uri)
    experiment = client.get_experiment_by_name(settings.name)
    assert experiment is not None
    oracle = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    assert [r["run_id"] for r in listed] == [r.info.run_id for r in oracle]  # newest first
    newest = listed[0]
    assert newest["run_id"] == second["run_id"]
    assert newest["versions"] == ["2"] and listed[1]["versions"] == ["1"]
    assert newest["params"]["max_iter"] == "11"
    assert newest["metrics"] == pytest.approx(second["metrics"])
    assert newest["commit"] == second["commit"]
    assert newest["datasets"] == second["datasets"]  # the full sha256 of every input
    # A meaningful MLflow run name: the model, the version, the start of the run key.
    run_key = oracle[0].data.tags["tether.run_key"]
    assert newest["name"] == oracle[0].info.run_name == f"fraud-detector-v2-{run_key[:8]}"

    code, out, _ = run_cli([*project, "runs", "list", "--limit", "1"])
    assert code == 0
    assert second["run_id"] in out and listed[1]["run_id"] not in out
    assert "fraud-detector-v2-" in out and "max_iter=11" in out

    deploy = ["models", "deploy", "1", "--as", "champion", "--reason", "first"]
    assert run_cli([*project, *deploy])[0] == 0
    code, out, err = run_cli([*project, "models", "versions", "--json"])
    assert code == 0, err
    versions = json.loads(out)["versions"]
    assert [v["version"] for v in versions] == ["1", "2"]
    assert [v["aliases"] for v in versions] == [["champion"], []]
    assert [v["integrity"] for v in versions] == ["registered", "registered"]
    assert versions[1]["run_id"] == second["run_id"]
    assert versions[1]["metrics"] == pytest.approx(second["metrics"])
    code, out, _ = run_cli([*project, "models", "versions"])
    assert code == 0
    assert "champion" in out and "registered" in out
    assert all(column in out for column in ("version", "run", "integrity", "aliases", "metrics"))

    # The audit under --json: its own JSON document; with --format, that document wrapped.
    code, out, _ = run_cli([*project, "--json", "audit", "fraud-detector/1"])
    assert code == 0
    code, document, _ = run_cli([*project, "audit", "fraud-detector/1", "--format", "json"])
    assert code == 0
    assert json.loads(out) == json.loads(document)
    assert json.loads(out)["aliases"] == {"champion": "1"}
    code, out, _ = run_cli([*project, "audit", "fraud-detector/1", "-f", "html", "--json"])
    assert code == 0
    wrapped = json.loads(out)
    assert wrapped["format"] == "html" and versions[0]["run_id"] in wrapped["document"]
