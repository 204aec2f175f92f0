"""The replay driver end to end on a small fraud world: the real server over HTTP on 127.0.0.1,
every replayed payment logged once, every label due posted once, on the replay's clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tether import ReplayClock, WallClock
from tether.errors import ConfigError
from tether.examples.fraud.replay import PHASES, replay
from tether.project import Project
from tether.server import create_app

pytestmark = pytest.mark.slow
START = dt.date(2026, 2, 1)
END = dt.date(2026, 2, 15)


def deployed(folder: Path) -> None:
    project = Project.open(folder)
    try:
        project.train()
        project.aliases.deploy("1", "champion", actor="test", reason="replay test")
    finally:
        project.close()


def replayed(folder: Path, hook: Callable[[dt.date], None] | None = None) -> tuple[Any, ...]:
    events = pd.read_parquet(folder / "data" / "events.parquet")
    labels = pd.read_parquet(folder / "data" / "labels.parquet")
    clock = ReplayClock(dt.datetime.combine(START, dt.time(), tzinfo=dt.UTC))
    project = Project.open(folder, clock=clock)
    try:
        result = replay(project, events, labels, create_app=create_app, start=START, end=END,
                        on_day_end=hook, batch_size=300)  # fmt: skip
        log = project.predictions.query(
            dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
        )
    finally:
        project.close()
    return result, log, events, labels


def test_a_week_replayed_logs_each_payment_once_and_posts_each_label_due(
    tmp_path: Path, make_fraud_project: Any
) -> None:
    folder = make_fraud_project(tmp_path / "fraud")
    deployed(folder)
    days: list[dt.date] = []
    result, log, events, labels = replayed(folder, days.append)

    begin = pd.Timestamp(START, tz="UTC")
    end = pd.Timestamp(END, tz="UTC")
    first = events.sort_values("ingested_time").drop_duplicates("event_id")
    payments = first[(first["event_time"] >= begin) & (first["event_time"] < end)]
    due = labels[
        labels["event_id"].isin(payments["event_id"])
        & (labels["label_time"] >= begin) & (labels["label_time"] < end)
    ]  # fmt: skip
    assert len(payments) > 1_000 and len(due) >= 3  # chargebacks come 3-45 days late

    assert days == [START + dt.timedelta(days=i) for i in range(14)]
    assert (result.days, result.predictions, result.feedbacks) == (14, len(payments), len(due))
    assert result.requests >= 14
    assert set(result.seconds) == set(PHASES)
    assert sorted(log["instance_id"]) == sorted(payments["event_id"])
    labelled = log[log["label"].notna()]
    assert sorted(labelled["instance_id"]) == sorted(due["event_id"])
    truth = due.set_index("event_id")["is_fraud"]
    assert (
        labelled.set_index("instance_id")["label"]
        == truth.reindex(labelled["instance_id"]).to_numpy()
    ).all()
    # Served on the replay's clock, within the day of the payment (not the wall's 2026-12).
    served = pd.to_datetime(log["served_time"] if "served_time" in log else log["time"], utc=True)
    assert served.min() >= begin and served.max() <= end


def test_the_replay_needs_a_replay_clock() -> None:
    class Wall:  # the clock is checked before anything else of the project is read
        clock = WallClock()

    with pytest.raises(ConfigError, match="expected a ReplayClock"):
        replay(Wall(), pd.DataFrame(), pd.DataFrame(), create_app=create_app,  # type: ignore[arg-type]
               start=START, end=END)  # fmt: skip
