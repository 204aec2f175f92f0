"""The loop's real ports over a small fraud project: a tick monitors the deployed champion and
records its step; a training carries its intent's tag and is found again after a crash; the
gate and the registry are reached through the project; `tether loop --once` ticks from the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tether import ReplayClock
from tether.loop import ProjectPorts
from tether.project import Project

NOW = datetime(2026, 6, 1, tzinfo=UTC)
MODEL = "fraud-detector"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(
    make_fraud_project: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    directory = make_fraud_project(tmp_path_factory.mktemp("ports") / "project")
    with Project.open(directory, clock=ReplayClock(NOW)) as opened:
        version = opened.train().model_version
        opened.aliases.deploy(version, "champion", actor="test", reason="the first version")
        yield opened


def test_a_tick_monitors_the_champion_and_records_its_step(project: Project) -> None:
    ports = ProjectPorts(project)
    assert ports.models() == [MODEL]
    result = project.loop().tick()
    assert result.acted, result.reason
    # No traffic was served: the diagnosis can only wait, and the loop records that it did.
    assert result.steps == ((MODEL, "wait"),)
    history = project.loop_store.history(MODEL, limit=10)
    assert [event.step for event in history][:1] == ["wait"]
    assert project.events.latest_state(MODEL) == {"champion": "1"}


def test_a_dry_run_tick_changes_nothing(project: Project) -> None:
    before = project.events.latest_state(MODEL)
    result = project.loop(dry_run=True).tick()
    assert result.acted
    assert project.events.latest_state(MODEL) == before


def test_a_training_is_found_by_its_intent_tag_and_only_by_it(project: Project) -> None:
    ports = ProjectPorts(project)
    window = ports.choose_window(NOW, days=30, incidents=[])
    trained = ports.train(MODEL, window, tag="intent-test-1")
    assert ports.find_trained(MODEL, "intent-test-1") == trained
    assert ports.find_trained(MODEL, "intent-never-started") is None
    # The gate reaches both versions through the project, each at its own threshold.
    verdict = ports.gate(MODEL, trained.version, "1")
    assert set(verdict.metrics) == {"candidate", "champion"}
    assert verdict.reason
