"""``tether models ...`` and the audit's registry history, from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tether.config import load_settings
from tether.lineage import train_project

RunCli = Callable[[list[str]], tuple[int, str, str]]


@pytest.mark.slow
def test_deploy_promote_rollback_and_the_audit_tells_the_story(
    fraud_project: Path, run_cli: RunCli
) -> None:
    for max_iter in ("10", "11"):
        train_project(load_settings(fraud_project).with_params({"max_iter": max_iter}))
    cli = ["-C", str(fraud_project), "models"]
    steps = [
        ["deploy", "1", "--as", "champion", "--reason", "first model"],
        ["deploy", "2", "--as", "challenger", "--traffic", "0.1", "--reason", "retrained"],
        ["promote", "--reason", "won the experiment"],
        ["rollback", "--reason", "precision fell after the promotion"],
    ]
    for step in steps:
        code, _, err = run_cli([*cli, *step, "--actor", "ana", "--json"])
        assert code == 0, err
    code, out, _ = run_cli([*cli, "status", "--json"])
    status = json.loads(out)
    assert status["aliases"] == {"champion": "1"}
    assert len(status["recent"]) == 4

    code, out, _ = run_cli(["-C", str(fraud_project), "audit", "fraud-detector/2"])
    assert code == 0
    assert "won the experiment" in out and "precision fell after the promotion" in out

    # The aliases come from the event log, now and over time (new user 4).
    code, out, _ = run_cli(["-C", str(fraud_project), "audit", "fraud-detector/1", "-f", "json"])
    report = json.loads(out)
    assert report["aliases"] == {"champion": "1"}
    assert [v["aliases"] for v in report["versions"]] == [["champion"]]
    changes = [h["change"] for h in report["history"]]
    assert "champion=1" in changes and "champion=2, previous-champion=1" in changes
    code, out, _ = run_cli(["-C", str(fraud_project), "audit", "fraud-detector/1"])
    assert "| registered fraud-detector/1 |" in out and "| champion |" in out
    assert "no alias" not in out

    code, _, err = run_cli([*cli, "rollback", "--reason", "again"])
    assert code == 2
    assert "no previous champion" in err
