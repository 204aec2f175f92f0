"""The composition root: each object built once (threads included), closed once, in one store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tether import Project
from tether.config import load_settings
from tether.errors import ProjectError, ServingError
from tether.serving import Prediction

TOML = (
    '[project]\nname = "p"\nmodel_name = "m"\n[train]\nentry_point = "train:train"\n'
    'label = "y"\n'
    # A tracking store nobody listens on: nothing below may reach it.
    '[tracking]\nuri = "http://127.0.0.1:9/"\ntimeout_s = 1\nretries = 0\n'
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "tether.toml").write_text(TOML)
    return tmp_path


def test_each_object_is_built_once_when_threads_ask_at_once(folder: Path) -> None:
    with Project.open(folder) as project, ThreadPoolExecutor(8) as pool:
        logs = list(pool.map(lambda _: project.events, range(32)))
        aliases = list(pool.map(lambda _: project.aliases, range(32)))
    assert all(log is logs[0] for log in logs)
    assert all(a is aliases[0] for a in aliases) and aliases[0].log is logs[0]


def test_opening_builds_nothing_and_status_never_reaches_mlflow(folder: Path) -> None:
    with Project.open(folder) as project:
        assert project._built == {}  # opening is cheap: everything waits for first use
        status = project.aliases.status()  # the event log is the authority: no tracking store
    assert (status.model, dict(status.aliases), status.latest_event_id) == ("m", {}, 0)


def test_the_event_log_and_the_prediction_log_share_the_one_store(folder: Path) -> None:
    with Project.open(load_settings(folder)) as project:
        assert project.store_url == f"sqlite:///{folder.resolve() / '.tether' / 'tether.db'}"
        event = project.events.append("m", "deploy", actor="a", reason="r", after={"x": "1"})
        project.predictions.record(
            Prediction(
                request_id="r", instance_id="i", time=datetime(2025, 1, 1, tzinfo=UTC),
                model="m", version="1", role="champion", features={"f": 1.0}, output=0.5,
                latency_ms=1.0,
            )
        )  # fmt: skip
        project.predictions.flush()
    with Project.open(folder) as again:
        assert [e.id for e in again.events.events("m")] == [event.id]
        frame = again.predictions.query(
            datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
        )
        assert list(frame["instance_id"]) == ["i"]


def test_close_closes_what_was_built_and_a_closed_project_builds_nothing(folder: Path) -> None:
    project = Project.open(folder)
    log = project.predictions
    project.close()
    project.close()  # twice: nothing more
    with pytest.raises(ServingError, match="closed"):
        log.record(
            Prediction(
                request_id="r", instance_id="i", time=datetime(2025, 1, 1, tzinfo=UTC),
                model="m", version="1", role="champion", features={}, output=0.5,
                latency_ms=1.0,
            )
        )  # fmt: skip
    with pytest.raises(ProjectError, match=r"closed.*event log.*Project\.open"):
        _ = project.events
