"""``tether monitor`` on a trained, deployed project whose prediction log the test fills."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tether.config import load_settings
from tether.project import Project
from tether.serving import Prediction, PredictionLog

RunCli = Callable[[list[str]], tuple[int, str, str]]
FEATURES = ["n_1d", "mean_7d", "ratio", "amount"]
NOW = datetime.now(UTC)


def _deployed(project: Path) -> str:
    with Project.open(project) as opened:
        result = opened.train()
        opened.aliases.deploy(result.model_version, "champion", actor="test", reason="v1")
        return str(result.model_version)


def _log(project: Path, version: str, *, shift: float) -> None:
    """A day of served payments, ``amount`` scaled by ``shift``, each labelled."""
    rng = np.random.default_rng(5)
    with PredictionLog(load_settings(project).store.url) as log:
        for n in range(300):
            time = NOW - timedelta(hours=23, minutes=-4 * n)
            amount = float(rng.gamma(2.0, 30.0)) * shift
            features = {"n_1d": float(rng.integers(0, 4)), "mean_7d": float(rng.gamma(2.0, 30.0)),
                        "ratio": 1.0, "amount": amount}  # fmt: skip
            score = 1.0 / (1.0 + np.exp(-(amount - 80.0) / 10.0))
            log.record(Prediction(
                request_id=f"r{n}", instance_id=f"tx-{n}", time=time, model="tiny",
                version=version, role="champion", features=features, output=float(score),
                latency_ms=1.0, event_time=time, decision=int(score >= 0.5),
            ))  # fmt: skip
        log.flush()


def test_monitor_reports_drift_against_the_versions_reference_and_stores_the_run(
    feature_project: Path, run_cli: RunCli
) -> None:
    version = _deployed(feature_project)
    _log(feature_project, version, shift=3.0)
    code, out, err = run_cli(["-C", str(feature_project), "monitor", "--window", "2d", "--json"])
    assert code == 0, err
    report = json.loads(out)
    (group,) = report["groups"]
    assert (group["version"], group["role"], group["predictions"]) == (version, "champion", 300)
    features = {f["name"]: f for f in group["drift"]["features"]}
    assert set(features) == set(FEATURES)
    assert features["amount"]["drifted"]
    assert report["diagnosis"]["action"] in {"rollback", "fix_data", "retrain", "wait"}
    assert "drift" in {alert["kind"] for alert in report["alerts"]}
    with Project.open(feature_project) as project:
        (run,) = project.monitor_results.runs("tiny")
        assert run.run_id == report["run_id"]
    code, out, err = run_cli(["-C", str(feature_project), "monitor", "--window", "2d"])
    assert code == 0, err
    assert f"version {version} (champion)" in out and "diagnosis:" in out
    assert "alert(s):" in out and "amount" in out  # each alert listed once
    # The audit of the version shows what the monitor found, run by run.
    code, out, err = run_cli(["-C", str(feature_project), "audit", "tiny@champion", "--json"])
    assert code == 0, err
    entries = json.loads(out)["monitoring"]
    assert [e["run_id"] for e in entries] == [report["run_id"] + 1, report["run_id"]]
    assert entries[0]["version"] == version and "drifted" in entries[0]["drift"]
    code, out, err = run_cli(["-C", str(feature_project), "audit", "tiny@champion"])
    assert "## Monitoring (latest runs of tether monitor)" in out


@pytest.mark.parametrize("window", ["0d", "7 days", "1w", "1000000d"])
def test_a_window_that_is_not_hours_or_days_is_a_usage_error(
    feature_project: Path, run_cli: RunCli, window: str
) -> None:
    code, _, err = run_cli(["-C", str(feature_project), "monitor", "--window", window])
    assert code == 2
    assert "--window" in err


def test_a_deployed_model_with_no_traffic_has_nothing_to_monitor(
    feature_project: Path, run_cli: RunCli
) -> None:
    _deployed(feature_project)
    code, out, err = run_cli(["-C", str(feature_project), "monitor"])
    assert code == 0, err
    assert "No predictions in the window" in out


def test_a_model_never_deployed_is_named_not_monitored(
    feature_project: Path, run_cli: RunCli
) -> None:
    _deployed(feature_project)
    code, out, err = run_cli(["-C", str(feature_project), "monitor", "--model", "nope"])
    assert code != 0 and not out
    assert "No model 'nope'" in err and "'tiny'" in err
