"""Two projects train in one process through their own MLflow clients, sharing no MLflow state.

The oracle is MLflow's own client, on each project's tracking store: every run, its model and
its registered version are where tether says, and MLflow's process-global state (the active
run, the global tracking URI) is what it was before, as a long-lived loop needs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException

from tether import Project, load_settings

pytestmark = pytest.mark.slow


def test_two_projects_train_in_one_process_without_mlflow_global_state(
    tmp_path: Path, make_fraud_project: Callable[[Path], Path]
) -> None:
    before = mlflow.get_tracking_uri()
    folders = [make_fraud_project(tmp_path / name) for name in ("a", "b")]
    results = []
    for folder in folders:
        with Project.open(folder) as project:
            results.append(project.train({"max_iter": "5"}))
    assert mlflow.active_run() is None
    assert mlflow.get_tracking_uri() == before
    for folder, result in zip(folders, results, strict=True):
        with Project.open(folder) as project:
            own = mlflow.MlflowClient(project.tracking_uri, registry_uri=project.tracking_uri)
        run = own.get_run(result.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params["max_iter"] == "5"
        assert run.data.metrics["roc_auc"] == result.record.metrics["roc_auc"]
        [output] = run.outputs.model_outputs
        assert result.record.model.uri == f"models:/{output.model_id}"
        assert own.get_logged_model(output.model_id).status == LoggedModelStatus.READY
        version = own.get_model_version(result.model_name, result.model_version)
        assert (version.run_id, version.source) == (result.run_id, result.record.model.uri)
        logged = {i.dataset.name for i in run.inputs.dataset_inputs}
        assert logged == {d.name for d in (*result.record.datasets, result.record.evaluation)}
    other = mlflow.MlflowClient(load_settings(folders[1]).stores.tracking_uri)
    with pytest.raises(MlflowException):
        other.get_run(results[0].run_id)  # a's run is in a's store only
