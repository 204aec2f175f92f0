"""``tether audit`` shows what the closed loop decided about the audited run's versions, read
from the loop's own store, and says so when the loop never ran."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_reference import _project

from tether.lineage import render_json, render_markdown
from tether.loop import LoopState
from tether.project import Project

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_audit_lists_the_loop_decisions_about_its_version_in_text_and_json(
    tmp_path: Path,
) -> None:
    with Project.open(_project(tmp_path / "tiny")) as project:
        result = project.train()
        model, version = result.model_name, result.model_version
        before = project.audit(result.run_id)
        assert "none: the loop never ran on this project's store" in render_markdown(before)
        assert json.loads(render_json(before))["loop"] == {"ran": False, "decisions": []}

        store = project.loop_store
        gating = LoopState(model, "gating", T0, candidate=version, run_id=result.run_id)
        store.save(gating, step="train_done", time=T0, holder="h",
                   evidence={"cause": "performance decline", "version": version})  # fmt: skip
        store.record(model, step="wait", phase="idle", time=T0, holder="h")
        later = T0 + timedelta(days=9)
        idle = LoopState(model, "idle", later)
        discarded = {"reason": "shadow disagreed", "pairs": 500, "agreement": 0.912}
        store.save(
            idle, step="discard_done", time=later, holder="h", version=version, evidence=discarded
        )
        store.save(idle, step="train_done", time=later, holder="h", version="99")
        report = project.audit(result.run_id)

    text = render_markdown(report)
    assert "## Loop decisions" in text
    assert (
        f"| 1 | {T0.isoformat()} | train_done | {version} | gating | "
        f"cause performance decline; version {version} |"
    ) in text
    assert (
        f"| 3 | {later.isoformat()} | discard_done | {version} | idle | "
        "reason shadow disagreed; pairs 500; agreement 0.912 |"
    ) in text
    assert "| wait |" not in text and "| 99 |" not in text
    found = json.loads(render_json(report))["loop"]
    assert found["ran"] is True
    assert [(d["event_id"], d["step"]) for d in found["decisions"]] == [
        (1, "train_done"), (3, "discard_done")
    ]  # fmt: skip
    assert found["decisions"][1]["evidence"]["agreement"] == pytest.approx(0.912)
