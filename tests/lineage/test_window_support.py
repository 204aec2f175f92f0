"""An entry point that ignores ctx.window: it trains manually, and says it has no support."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from tether import ReplayClock
from tether.lineage import SnapshotStore, TrainWindow
from tether.project import Project


def test_an_entry_point_without_the_declaration_trains_but_is_not_window_supported(
    feature_project: Path,
) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with Project.open(feature_project, clock=ReplayClock(now)) as project:
        assert not project.window_supported()
        assert project.feature_reach() == timedelta(days=7)  # the longest of 1d and 7d
        result = project.train(allow_dirty=True)
        window = TrainWindow.from_dict(dict(result.record.window))
        assert window.whole and window.cutoff == now
        assert result.record.dataset("training_set").rows == 400  # nothing cut: no known_time


def test_a_window_cuts_the_training_set_of_any_project(feature_project: Path) -> None:
    now = datetime(2026, 4, 1, tzinfo=UTC)
    incident = (datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))
    start, end = datetime(2026, 1, 8, tzinfo=UTC), datetime(2026, 1, 22, tzinfo=UTC)
    window = TrainWindow(start, end, now, (incident,))
    with Project.open(feature_project, clock=ReplayClock(now)) as project:
        # The tiny project's monitoring default outcome window is 60 days: end + 60 <= cutoff.
        result = project.train(window=window, allow_dirty=True)
        store = SnapshotStore(project.settings.stores.snapshot_uri)
        recorded = result.record.dataset("training_set")
        frame = pd.read_parquet(io.BytesIO(store.read_bytes(recorded.digest)))
    times = frame["event_time"]
    assert len(frame) == recorded.rows > 0
    assert bool(((times >= start) & (times < end)).all())
    assert not bool(((times >= incident[0]) & (times < incident[1])).any())
