"""Cheap ticks: a monitor that reuses the stored evidence of closed days reports exactly what
one that recomputes every day reports, tick after tick, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tether._clock import ReplayClock
from tether._storage import dump_json
from tether.monitoring import Calibration, MonitorResults, profile_frame
from tether.monitoring import _monitor as monitor_module
from tether.monitoring._monitor import Monitor, MonitorPolicy
from tether.monitoring._monitor_days import DayDrift, shifts_from_days_before
from tether.monitoring._monitor_report import ModelReport
from tether.monitoring._performance_rules import MaturityRule, PerformanceRule
from tether.monitoring._quality import QualityThresholds, Scale, unit_shift
from tether.monitoring._report import DriftThresholds
from tether.monitoring._results import DayRecord
from tether.monitoring._window import Group, ModelReference, confusion, daily_confusion
from tether.registry import EventLog
from tether.serving import LogAggregates, Prediction, PredictionLog

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MODEL = "fraud"
THRESHOLD = 0.7
DAYS = 16
DEPLOY_DAY = 6
"""Version 2 replaces version 1 as champion at noon: that day is split between the two."""
BROKEN_DAY = 11
"""``x2`` is missing on this day's every row: a one-day quality finding."""
PER_DAY = 120


def _score(x1: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-2.0 * x1))


def _frame(rng: np.random.Generator, n: int, day: int) -> pd.DataFrame:
    frame = pd.DataFrame({
        "x1": rng.normal(0.1 * day, 1.0, n),
        "x2": rng.normal(0.0, 1.0, n),
        "channel": rng.choice(["web", "app", "pos"], n, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip
    if day == BROKEN_DAY:
        frame["x2"] = np.nan
    return frame


def _reference(rng: np.random.Generator, version: str) -> ModelReference:
    frame = _frame(rng, 3_000, 0)
    frame["score"] = _score(frame["x1"].to_numpy())
    labels = (rng.random(len(frame)) < frame["score"]).astype(int)
    profile = profile_frame(frame, ["x1", "x2", "channel"], score="score", seed=0)
    calibration = Calibration.fit(frame["score"].to_numpy(), labels.to_numpy())
    return ModelReference(version, profile, calibration, THRESHOLD)


def _fill(url: str, rng: np.random.Generator) -> None:
    """Sixteen days of traffic whose outcomes arrive 1 to 6 days later: the realized metric of
    a day keeps changing while its drift does not."""
    with PredictionLog(url, flush_interval=3600.0) as log:
        feedback: list[tuple[str, int, datetime]] = []
        for day in range(DAYS):
            frame = _frame(rng, PER_DAY, day)
            scores = _score(frame["x1"].to_numpy())
            for i, row in enumerate(frame.itertuples(index=False)):
                time = T0 + timedelta(days=day, minutes=11 * i)
                version = "2" if time >= T0 + timedelta(days=DEPLOY_DAY, hours=12) else "1"
                instance = f"d{day}-{i}"
                x2 = None if np.isnan(row.x2) else row.x2
                assert log.record(Prediction(
                    request_id=instance, instance_id=instance, time=time, model=MODEL,
                    version=version, role="champion", output=float(scores[i]), latency_ms=1.0,
                    features={"x1": row.x1, "x2": x2, "channel": row.channel},
                    event_time=time, decision=int(scores[i] >= THRESHOLD),
                ))  # fmt: skip
                delay = timedelta(days=int(rng.integers(1, 7)), minutes=int(rng.integers(0, 60)))
                feedback.append((instance, int(rng.random() < scores[i]), time + delay))
        log.flush()
        for instance, label, known in feedback:
            log.record_feedback(instance, label, {}, time=known, received=known)


@pytest.fixture(scope="module")
def world(module_database_url: str) -> Iterator[tuple[str, dict[str, ModelReference]]]:
    rng = np.random.default_rng(11)
    references = {version: _reference(rng, version) for version in ("1", "2")}
    _fill(module_database_url, rng)
    yield module_database_url, references


POLICY = MonitorPolicy(
    window=timedelta(days=4),
    history_days=DAYS,
    rule=PerformanceRule("precision", "below", 0.95, 0.5, 20),
    maturity=MaturityRule(outcome_window_days=3),
    sample_size=1_000,
)

MonitorFactory = Callable[..., Monitor]


@pytest.fixture
def monitors(
    world: tuple[str, dict[str, ModelReference]], tmp_path: Path
) -> Iterator[MonitorFactory]:
    """Monitors over the module's log, each with its own clock and results store (a fresh
    SQLite file), or one given: ``make(results, reuse_days=..., policy=...)``."""
    url, references = world
    opened: list[MonitorResults | LogAggregates | EventLog] = []

    def make(results: MonitorResults | None = None, **options: object) -> Monitor:
        clock = ReplayClock(T0)
        if results is None:
            results = MonitorResults(f"sqlite:///{tmp_path / f'results{len(opened)}.db'}")
            opened.append(results)
        log, events = LogAggregates(url), EventLog(url, clock=clock)
        opened.extend([log, events])
        policy = options.pop("policy", POLICY)
        assert isinstance(policy, MonitorPolicy)
        return Monitor(log=log, results=results, events=events, clock=clock, policy=policy,
                       references=lambda model, version: references[version],
                       reuse_days=bool(options.pop("reuse_days", True)))  # fmt: skip

    yield make
    for resource in opened:
        resource.close()


def _tick(monitor: Monitor, when: datetime) -> ModelReport:
    clock = monitor._clock
    assert isinstance(clock, ReplayClock)
    clock.set(when)
    return monitor.run(MODEL)


def _same(cached: ModelReport, fresh: ModelReport) -> None:
    """Field for field: the stored JSON form and every dataclass field (NaN where NaN)."""
    assert dump_json(cached.to_dict() | {"run_id": None}, canonical=True) == dump_json(
        fresh.to_dict() | {"run_id": None}, canonical=True
    )
    assert repr(dataclasses.replace(cached, run_id=None)) == repr(
        dataclasses.replace(fresh, run_id=None)
    )


TICKS = [T0 + timedelta(days=day) for day in range(4, DAYS + 1)] + [
    T0 + timedelta(days=DAYS, hours=5)  # a tick inside a day: its part-day is never stored
]


def test_a_monitor_reusing_closed_days_reports_what_recomputing_every_day_reports(
    monitors: MonitorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[tuple[str, datetime, bool]] = []
    real = monitor_module.day_drift

    def counting(*args: object) -> object:
        group, day = args[2], args[4]
        assert isinstance(group, Group) and isinstance(day, tuple)
        computed.append((group.version, day[0], day[1] - day[0] == timedelta(days=1)))
        return real(*args)  # type: ignore[arg-type]

    cached, fresh = monitors(), monitors(reuse_days=False)
    for when in TICKS:
        expected = _tick(fresh, when)
        monkeypatch.setattr(monitor_module, "day_drift", counting)
        found = _tick(cached, when)
        monkeypatch.setattr(monitor_module, "day_drift", real)
        _same(found, expected)
    # Each closed day of each version was computed once in all the ticks (the deploy day once
    # per version: it is the new version's once the next day shows it serving on).
    whole = [(version, first) for version, first, full in computed if full]
    assert len(whole) == len(set(whole)) == DAYS + 1
    assert len(expected.days) == DAYS  # the whole history, both versions, the broken day
    broken = T0 + timedelta(days=BROKEN_DAY)
    (stored,) = [d for d in cached._results.days(MODEL, broken, broken + timedelta(days=1))]
    assert ("null_rate", "x2") in {
        (f.check, f.feature) for f in DayDrift.from_dict(stored.evidence).quality
    }


def test_a_closed_day_that_gains_rows_is_computed_again(
    monitors: MonitorFactory, world: tuple[str, dict[str, ModelReference]]
) -> None:
    url, _ = world
    cached = monitors()
    _tick(cached, T0 + timedelta(days=DAYS - 2))
    late = T0 + timedelta(days=3, hours=23)  # a late prediction of a day already stored
    with PredictionLog(url, flush_interval=3600.0) as log:
        assert log.record(Prediction(
            request_id="late", instance_id="late", time=late, model=MODEL, version="1",
            role="champion", output=0.9, latency_ms=1.0, event_time=late, decision=1,
            features={"x1": 9.0, "x2": 0.0, "channel": "web"},
        ))  # fmt: skip
    try:
        when = T0 + timedelta(days=DAYS - 1)
        _same(_tick(cached, when), _tick(monitors(reuse_days=False), when))
    finally:
        _delete_late(url)


def _delete_late(url: str) -> None:
    from tether._storage import open_database
    from tether.errors import ServingError

    database = open_database(url, error=ServingError, purpose="test cleanup")
    with database.write() as transaction:
        for table in ("tether_predictions", "tether_features_1"):
            transaction.execute(f"DELETE FROM {table} WHERE instance_id = 'late'")
    database.dispose()


def test_another_policy_never_reuses_the_days_another_stored(
    monitors: MonitorFactory, tmp_path: Path
) -> None:
    with MonitorResults(f"sqlite:///{tmp_path / 'shared.db'}") as shared:
        when = T0 + timedelta(days=DAYS)
        _tick(monitors(shared), when)
        strict = dataclasses.replace(POLICY, drift=DriftThresholds(psi_drift=0.01, psi_warn=0.005))
        found = _tick(monitors(shared, policy=strict), when)
        expected = _tick(monitors(reuse_days=False, policy=strict), when)
        _same(found, expected)
        # Two versions under two policies: four bases, side by side in one store.
        assert len({day.basis for day in shared.days(MODEL, T0, when)}) == 4


def test_one_scan_of_the_days_counts_each_day_as_a_scan_of_that_day_alone(
    world: tuple[str, dict[str, ModelReference]],
) -> None:
    url, _ = world
    now = T0 + timedelta(days=DAYS - 1, hours=7)
    with LogAggregates(url) as log:
        daily = daily_confusion(log, MODEL, "champion", (T0, now), known_by=now)
        served = log.counts(T0, now, model=MODEL, by=("version",), bucket="day")
        assert len(served) == DAYS + 1  # the deploy day counts for both versions
        for version, start in zip(served["version"], served["day"], strict=True):
            first = pd.Timestamp(start).to_pydatetime()
            day = (first, min(first + timedelta(days=1), now))
            cells = confusion(log, MODEL, Group(str(version), "champion"), day, known_by=now,
                              business=())  # fmt: skip
            assert daily.get((str(version), first), None) == (cells if cells.labelled else None)
        assert len(daily) == DAYS  # the last day's outcomes are not known yet


def test_stored_days_read_back_as_written(database_url: str) -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    record = DayRecord("3", day, "abc", 120, {"score_psi": float("nan"), "quality": []})
    with MonitorResults(database_url) as results:
        results.record_run(model="m", window=(day, day), time=day, wall_time=day, action="wait",
                           report={}, points=[], alerts=[], delivery="none",
                           days=[record])  # fmt: skip
        again = dataclasses.replace(record, predictions=121, evidence={"quality": []})
        results.record_run(model="m", window=(day, day), time=day, wall_time=day, action="wait",
                           report={}, points=[], alerts=[], delivery="none",
                           days=[again])  # fmt: skip
        (stored,) = results.days("m", day, day + timedelta(days=1))
    assert stored == again  # a recomputed day replaces its old evidence


def test_a_version_5_sqlite_log_gains_the_window_index_its_narrow_windows_read(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'v5.db'}"
    with PredictionLog(url, flush_interval=3600.0) as log:
        assert log.record(Prediction(
            request_id="a", instance_id="a", time=T0, model=MODEL, version="1",
            role="champion", output=0.5, latency_ms=1.0, features={"x1": 1.0},
        ))  # fmt: skip
    database = sqlite3.connect(tmp_path / "v5.db")
    with database:  # the log as version 5 left it: no window index on SQLite
        database.execute("DROP INDEX tether_features_1_window")
        database.execute(
            "UPDATE tether_schema_version SET version = 5 WHERE component = 'predictions'"
        )
    with LogAggregates(url) as log:
        assert log.counts(T0, T0 + timedelta(days=1), model=MODEL)["predictions"].sum() == 1
    indexes = database.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tether_features_1'"
    ).fetchall()
    database.close()
    assert ("tether_features_1_window",) in indexes


def _drift_of(scales: dict[str, Scale]) -> DayDrift:
    return DayDrift(0.0, 0.0, 0.0, (), scales)


def test_a_day_in_cents_is_a_unit_shift_from_the_days_before_though_not_from_the_reference() -> (
    None
):
    # Amounts rising 2% a day for a month (60% above the reference's median by then), 300
    # payments a day, then one day delivered in cents: x100 from the week before, x160 from
    # the reference (beyond a unit's tolerance), so only the comparison with the days finds it.
    rng = np.random.default_rng(4)
    limits = QualityThresholds()
    reference = rng.lognormal(3.7, 0.9, 5_000)
    days = []
    for index in range(30):
        amounts = rng.lognormal(3.7, 0.9, 300) * 1.02 ** (index + 1)
        if index == 25:
            amounts *= 100
        day = date(2026, 5, 1) + timedelta(days=index)
        scale = Scale.of(amounts)
        assert scale is not None
        days.append((day, _drift_of({"amount": scale})))
    found = shifts_from_days_before(days, limits)
    assert [(q.day, q.check, q.feature) for q in found] == [
        (date(2026, 5, 26), "unit_shift", "amount")
    ]
    assert "over the 7 days before" in found[0].message and "near x100" in found[0].message
    incident = days[25][1].scales["amount"]
    from_reference = Scale.of(reference)
    assert from_reference is not None
    assert unit_shift("amount", from_reference, incident, limits) is None


def test_a_unit_shift_needs_three_days_before_it_with_a_scale() -> None:
    one = Scale(50.0, (0.3, 0.5, 2.0, 4.0))
    cents = Scale(5_000.0, (0.3, 0.5, 2.0, 4.0))
    scales: list[dict[str, Scale]] = [{"amount": one}, {}, {"amount": one}, {"amount": cents}]
    days = [(date(2026, 5, 1 + i), _drift_of(seen)) for i, seen in enumerate(scales)]
    assert shifts_from_days_before(days, QualityThresholds()) == []
    days.insert(0, (date(2026, 4, 30), _drift_of({"amount": one})))
    assert [q.day for q in shifts_from_days_before(days, QualityThresholds())] == [date(2026, 5, 4)]


def test_a_day_drift_keeps_its_scales_through_its_stored_form() -> None:
    drift = _drift_of({"amount": Scale(62.35, (0.294, 0.516, 1.975, 4.178))})
    assert DayDrift.from_dict(json.loads(dump_json(drift.to_dict()))) == drift
