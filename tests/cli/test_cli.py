"""The CLI: JSON output, exit codes, and one-paragraph errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

RunCli = Callable[[list[str]], tuple[int, str, str]]


@pytest.mark.slow
def test_train_reproduce_and_audit_from_the_command_line(
    fraud_project: Path, run_cli: RunCli
) -> None:
    project = str(fraud_project)
    code, out, _ = run_cli(["-C", project, "train", "--param", "max_iter=30", "--json"])
    assert code == 0
    trained = json.loads(out)
    assert trained["version"] == "1"
    assert set(trained["datasets"]) == {"events", "labels", "training_set", "evaluation"}

    code, out, _ = run_cli(["-C", project, "reproduce", "fraud-detector/1", "--json"])
    assert code == 0
    assert json.loads(out)["reproduced"] is True

    target = fraud_project / "audit.html"
    code, _, _ = run_cli(
        ["-C", project, "audit", trained["run_id"], "--format", "html", "-o", str(target)]
    )
    assert code == 0
    assert trained["run_id"] in target.read_text()
    assert '<a href="report.html">' in target.read_text()  # the dashboard's report, linked

    missing = fraud_project / "no-such-folder" / "audit.md"
    code, _, err = run_cli(["-C", project, "audit", "fraud-detector/1", "-o", str(missing)])
    assert code == 2, err  # a user's mistake, not an internal error (was 70)
    assert f"Cannot write the audit to {missing}" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train"], "No tether.toml"),
        (["reproduce", "not-a-run"], "expected a run id"),
        (["audit", "x", "--format", "pdf"], "expected one of md, json, html"),
    ],
)
def test_user_mistakes_get_a_message_and_exit_2(
    args: list[str], expected: str, tmp_path: Path, run_cli: RunCli
) -> None:
    code, _, err = run_cli(["-C", str(tmp_path), *args])
    assert code == 2
    assert expected in err
    assert "Traceback" not in err


def test_an_unknown_param_is_refused_before_training(fraud_project: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli(["-C", str(fraud_project), "train", "--param", "max_itr=3"])
    assert code == 2
    assert "max_itr" in err and "max_iter" in err


def test_a_dirty_tree_is_refused_unless_allowed(fraud_project: Path, run_cli: RunCli) -> None:
    (fraud_project / "train.py").write_text("# edited\n")
    code, _, err = run_cli(["-C", str(fraud_project), "train"])
    assert code == 2
    assert "uncommitted changes" in err and "--allow-dirty" in err
    assert "uncommitted changes (train.py)" in err  # the whole name, not "rain.py"


def test_an_entry_point_that_raises_is_named(fraud_project: Path, run_cli: RunCli) -> None:
    (fraud_project / "train.py").write_text("def train(ctx):\n    raise ValueError('boom')\n")
    code, _, err = run_cli(["-C", str(fraud_project), "train", "--allow-dirty"])
    assert code == 2
    assert "'train:train' raised ValueError: boom" in err


def test_a_missing_data_file_names_the_dataset(fraud_project: Path, run_cli: RunCli) -> None:
    (fraud_project / "data" / "labels.parquet").unlink()
    code, _, err = run_cli(["-C", str(fraud_project), "train"])
    assert code == 2
    assert "Dataset 'labels'" in err


def test_an_unknown_alias_is_reported(fraud_project: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli(["-C", str(fraud_project), "audit", "fraud-detector@champion"])
    assert code == 2
    assert "fraud-detector@champion" in err


def test_an_unreachable_tracking_server_is_named(
    fraud_project: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    code, _, err = run_cli(["-C", str(fraud_project), "audit", "fraud-detector/1"])
    assert code == 2
    assert "http://127.0.0.1:9" in err


def test_python_dash_m_tether_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tether", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "reproduce" in done.stdout


@pytest.mark.slow
def test_the_demo_runs_the_whole_story_and_reproduces_it(run_cli: RunCli, tmp_path: Path) -> None:
    # `make demo` runs this with 100,000 payments; a smaller scenario tells the same story.
    code, out, err = run_cli(["demo", "--dir", str(tmp_path / "demo"), "--transactions", "20000"])
    assert code == 0, err
    assert "fraud-detector/1" in out
    assert "REPRODUCED: " in out and "NOT REPRODUCED" not in out
    assert "## Metrics (held-out evaluation)" in out
    # Its report: nothing is deployed, so the lineage is the newest version's, not missing.
    report = (tmp_path / "demo" / ".tether" / "report.html").read_text(encoding="utf-8")
    assert "Lineage of the newest version (no champion is deployed), version 1" in report


def test_demo_help_shows_the_real_defaults_and_quick_alone_means_the_loop(
    run_cli: RunCli, tmp_path: Path
) -> None:
    code, out, _ = run_cli(["demo", "--help"])
    text = " ".join(out.split())  # the help wraps at the terminal's width
    assert code == 0
    assert "[default: 0]" not in text
    assert "(implies --loop)" in text
    # --quick without --loop is the loop's demo (its own check, before any world is made).
    code, _, err = run_cli(["demo", "--quick", "--transactions", "500", "--dir", str(tmp_path)])
    assert code == 2
    assert "--transactions 500: expected at least 20000 with --loop" in err
