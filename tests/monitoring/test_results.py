"""The monitoring tables: one contract over SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tether.errors import MonitoringError
from tether.monitoring._results import MonitorResults, NewAlert, SeriesPoint

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def results(database_url: str) -> Iterator[MonitorResults]:
    with MonitorResults(database_url) as results:
        yield results


def _run(results: MonitorResults, day: int, precision: float, alerts: int = 0) -> int:
    start = START + timedelta(days=day)
    run, _ = results.record_run(
        model="fraud",
        window=(start, start + timedelta(days=7)),
        time=start + timedelta(days=7),
        wall_time=datetime.now(UTC),
        action="wait",
        report={"day": day},
        points=[
            SeriesPoint("1", "performance", "precision", precision, 300, lower=0.8, upper=0.9),
            SeriesPoint("1", "drift", "amount", 0.05, 10_000, role="champion"),
            SeriesPoint("1", "drift", "tx_count_7d", math.nan, 0),
        ],
        alerts=[NewAlert("performance", "precision", f"low {i}") for i in range(alerts)],
        delivery="none",
    )
    return run.run_id


def test_runs_points_and_alerts_read_back_in_order(results: MonitorResults) -> None:
    first = _run(results, 0, 0.91)
    second = _run(results, 1, 0.84, alerts=2)
    assert second == first + 1
    runs = results.runs("fraud")
    assert [run.run_id for run in runs] == [second, first]
    assert runs[0].report == {"day": 1}
    assert runs[0].window_end - runs[0].window_start == timedelta(days=7)
    series = results.series("fraud", "performance", "precision")
    assert [p.point.value for p in series] == [0.91, 0.84]
    assert series[0].point.lower == 0.8 and series[0].point.n == 300
    drift = results.series("fraud", "drift", "tx_count_7d")
    assert [p.point.value for p in drift] == [None, None]  # NaN is stored as no value
    alerts = results.alerts("fraud")
    assert [a.message for a in alerts] == ["low 1", "low 0"]
    assert {a.run_id for a in alerts} == {second}
    assert alerts[0].delivery == "none" and alerts[0].attempts == 0


def test_delivery_state_is_written_back(results: MonitorResults) -> None:
    _run(results, 0, 0.7, alerts=1)
    (alert,) = results.alerts("fraud")
    results.mark_delivery(alert.alert_id, "failed", attempts=4, error="HTTP 503")
    (stored,) = results.alerts("fraud")
    assert (stored.delivery, stored.attempts, stored.last_error) == ("failed", 4, "HTTP 503")


def test_a_run_is_stored_whole_or_not_at_all(results: MonitorResults) -> None:
    duplicate = SeriesPoint("1", "drift", "amount", 0.1, 10)
    with pytest.raises(MonitoringError):
        results.record_run(
            model="fraud",
            window=(START, START + timedelta(days=1)),
            time=START,
            wall_time=START,
            action="wait",
            report={},
            points=[duplicate, duplicate],  # the same key twice
            alerts=[NewAlert("drift", "amount", "drifted")],
            delivery="none",
        )
    assert results.runs() == [] and results.alerts() == []


def test_concurrent_runs_get_distinct_ids(results: MonitorResults) -> None:
    ids: list[int] = []

    def work(day: int) -> None:
        ids.append(_run(results, day, 0.9))

    threads = [threading.Thread(target=work, args=(day,)) for day in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ids) == list(range(min(ids), min(ids) + 6))


def test_latest_points_are_those_of_each_models_latest_run(results: MonitorResults) -> None:
    _run(results, 0, 0.91)
    latest = _run(results, 1, 0.84)
    points = results.latest_points(["performance", "drift"])
    assert {p.run_id for p in points} == {latest}
    assert sorted((p.point.kind, p.point.name) for p in points) == [
        ("drift", "amount"), ("drift", "tx_count_7d"), ("performance", "precision")
    ]  # fmt: skip
    assert results.latest_points(["experiment"]) == []
