"""A windowed run on the fraud project: the cut at the cut-off, the record, reproduce, audit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tether import ReplayClock
from tether.errors import ImmatureWindowError
from tether.lineage import TrainResult, TrainWindow, choose_window, render_markdown, reproduce
from tether.project import Project

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OUTCOME_DAYS = 60


@pytest.fixture(scope="module")
def project(
    make_fraud_project: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    directory = make_fraud_project(tmp_path_factory.mktemp("window") / "project")
    with Project.open(directory, clock=ReplayClock(NOW)) as opened:
        yield opened


@pytest.fixture(scope="module")
def window(project: Project) -> TrainWindow:
    return choose_window(
        NOW, days=60, outcome_window_days=OUTCOME_DAYS,
        incidents=[(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))],
        reach=project.feature_reach(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def windowed(project: Project, window: TrainWindow) -> TrainResult:
    return project.train(window=window)


def test_the_fraud_example_declares_window_support_and_its_reach(project: Project) -> None:
    assert project.window_supported()
    assert project.feature_reach() == timedelta(days=30)


@pytest.mark.slow
def test_a_windowed_run_reads_only_labels_known_by_the_cutoff(
    project: Project, windowed: TrainResult
) -> None:
    labels = pd.read_parquet(project.settings.project_dir / "data" / "labels.parquet")
    later = int((labels["label_time"] > pd.Timestamp(NOW)).sum())
    assert later > 0  # the world has labels that arrive after the cut-off
    recorded = windowed.record.dataset("labels")
    assert recorded.rows == len(labels) - later
    assert recorded.time_ranges["label_time"][1] <= NOW.isoformat()


@pytest.mark.slow
def test_a_windowed_run_trains_inside_its_window_outside_the_incident(
    windowed: TrainResult, window: TrainWindow
) -> None:
    low, high = windowed.record.dataset("training_set").time_ranges["event_time"]
    assert window.start.isoformat() <= low and high < window.end.isoformat()
    assert windowed.record.train_window == window
    assert window.excluded == (
        (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    )


@pytest.mark.slow
def test_a_windowed_run_logs_its_window_to_mlflow_and_audit(
    project: Project, windowed: TrainResult, window: TrainWindow
) -> None:
    client = mlflow.MlflowClient(tracking_uri=project.tracking_uri)
    run = client.get_run(windowed.run_id)
    assert run.data.params["tether.window.start"] == window.start.isoformat()
    assert run.data.params["tether.window.cutoff"] == NOW.isoformat()
    assert run.data.tags["tether.window.excluded"] == window.to_dict()["excluded"]
    text = render_markdown(project.audit(windowed.run_id))
    assert window.describe() in text


@pytest.mark.slow
@pytest.mark.slow
def test_a_window_whose_end_an_incident_reaches_still_holds_out_its_last_payments(
    project: Project,
) -> None:
    # The window is 1 February to 2 April; an incident on 20 March reaches 30 days on (the
    # features' windows), so the window's last 13 days, more than its last fifth, are gone.
    incident = (datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC))
    window = choose_window(NOW, days=60, outcome_window_days=OUTCOME_DAYS, incidents=[incident],
                           reach=project.feature_reach())  # fmt: skip
    assert incident[0] < window.end - (window.end - window.start) / 5  # before the last fifth
    result = project.train(window=window)
    assert 0.5 < result.record.metrics["roc_auc"] <= 1.0  # held-out payments were scored


def test_reproduce_of_a_windowed_run_is_identical(project: Project, windowed: TrainResult) -> None:
    report = reproduce(project.settings.stores, windowed.run_id)
    assert report.reproduced, report.reason
    assert report.max_abs_difference == 0.0
    assert report.model_bytes_identical


def test_the_naive_window_is_refused_before_any_run(project: Project) -> None:
    naive = TrainWindow(NOW - timedelta(days=30), NOW, NOW)
    with pytest.raises(ImmatureWindowError, match="outcome window"):
        project.train(window=naive)


@pytest.mark.slow
def test_a_plain_run_gets_the_whole_data_as_known_at_the_clock(project: Project) -> None:
    plain = project.train()
    window = TrainWindow.from_dict(dict(plain.record.window))
    assert window.whole and window.cutoff == NOW
    assert plain.record.train_window is None
    low, _ = plain.record.evaluation.time_ranges.get("event_time", ("", ""))
    assert plain.record.dataset("training_set").rows > 0
    assert low == ""  # the evaluation frame holds features and the label only


def test_the_register_event_is_stamped_on_the_projects_clock(
    project: Project, windowed: TrainResult
) -> None:
    # The demo counts a month's retrains by the register events inside it: a wall-clock stamp
    # put every loop training outside the replay's months.
    registered = [
        event
        for event in project.events.events(windowed.model_name)
        if event.action == "register" and event.details.get("version") == windowed.model_version
    ]
    assert [event.time for event in registered] == [NOW]
    assert registered[0].wall_time is not None and registered[0].wall_time != NOW
