"""``tether loop status|history|pause|resume`` on a fresh project's database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tether.cli import main


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return (code if isinstance(code, int) else 0), capsys.readouterr().out


def test_pause_is_shown_by_status_and_resume_clears_it(
    fraud_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["-C", str(fraud_project)]
    code, _ = _run(capsys, [*where, "loop", "pause", "--reason", "incident review"])
    assert code == 0
    code, out = _run(capsys, [*where, "--json", "loop", "status"])
    assert code == 0
    lease = json.loads(out)["lease"]
    assert lease["paused"] is True and lease["pause_reason"] == "incident review"
    _run(capsys, [*where, "loop", "resume"])
    _, out = _run(capsys, [*where, "--json", "loop", "status"])
    assert json.loads(out)["lease"]["paused"] is False


def test_history_of_a_loop_that_never_ran_is_empty(
    fraud_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, ["-C", str(fraud_project), "--json", "loop", "history"])
    assert code == 0 and json.loads(out) == {"events": []}


def test_once_ticks_and_reports_its_steps_and_a_bad_interval_names_the_option(
    fraud_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["-C", str(fraud_project)]
    # No champion is deployed: a tick has no model to act on, and says so.
    code, out = _run(capsys, [*where, "--json", "loop", "--once"])
    assert code == 0
    (tick,) = json.loads(out)["ticks"]
    assert tick["acted"] is True and tick["steps"] == [] and tick["dry_run"] is False
    code, out = _run(capsys, [*where, "loop", "--once", "--dry-run"])
    assert code == 0 and "tick (dry run: recorded, nothing done)" in out
    with pytest.raises(SystemExit) as exited:
        main([*where, "loop", "--interval", "soon"])
    assert exited.value.code == 2
    assert "--interval 'soon'" in capsys.readouterr().err
