"""The monitor over a real prediction log: drift, quality, labels, realized and estimated
performance, the diagnosis, stored and alerted, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tether._clock import ReplayClock
from tether.errors import TrackingError
from tether.monitoring import Calibration, MonitorResults, profile_frame
from tether.monitoring._experiment_decision import ExperimentPolicy
from tether.monitoring._monitor import Monitor
from tether.monitoring._monitor_policy import MonitorPolicy
from tether.monitoring._performance_rules import MaturityRule, PerformanceRule
from tether.monitoring._window import ModelReference
from tether.registry import EventLog
from tether.serving import LogAggregates, Prediction, PredictionLog

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MODEL = "fraud"
THRESHOLD = 0.7
DAYS = 20
SHIFT_DAY = 12
PER_DAY = 150


def _score(x1: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-2.0 * x1))


def _frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    x1 = rng.normal(shift, 1.0, n)
    return pd.DataFrame({
        "x1": x1,
        "x2": rng.normal(0.0, 1.0, n),
        "channel": rng.choice(["web", "app", "pos"], n, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip


def _reference(rng: np.random.Generator) -> ModelReference:
    frame = _frame(rng, 4_000, 0.0)
    frame["score"] = _score(frame["x1"].to_numpy())
    labels = (rng.random(len(frame)) < frame["score"]).astype(int)
    profile = profile_frame(frame, ["x1", "x2", "channel"], score="score", seed=0)
    calibration = Calibration.fit(frame["score"].to_numpy(), labels.to_numpy())
    return ModelReference("1", profile, calibration, THRESHOLD)


def _fill(url: str, rng: np.random.Generator) -> None:
    """Version 1 serves as champion for 20 days; from day 12 ``x1`` shifts by 1.5 (the
    score with it); every outcome is known a day after the payment."""
    with PredictionLog(url, flush_interval=3600.0) as log:
        feedback: list[tuple[str, int, float, datetime]] = []
        for day in range(DAYS):
            frame = _frame(rng, PER_DAY, 1.5 if day >= SHIFT_DAY else 0.0)
            scores = _score(frame["x1"].to_numpy())
            for i, row in enumerate(frame.itertuples(index=False)):
                time = T0 + timedelta(days=day, minutes=9 * i)
                instance = f"d{day}-{i}"
                assert log.record(Prediction(
                    request_id=instance, instance_id=instance, time=time, model=MODEL,
                    version="1", role="champion", output=float(scores[i]), latency_ms=1.0,
                    features={"x1": row.x1, "x2": row.x2, "channel": row.channel},
                    event_time=time, experiment_id=1, decision=int(scores[i] >= THRESHOLD),
                ))  # fmt: skip
                label = int(rng.random() < scores[i])
                feedback.append((instance, label, float(100 + i), time + timedelta(days=1)))
        log.flush()
        for instance, label, amount, known in feedback:
            log.record_feedback(instance, label, {"amount": amount}, time=known, received=known)


@pytest.fixture(scope="module")
def world(module_database_url: str) -> Iterator[tuple[Monitor, MonitorResults, ReplayClock]]:
    """One log per database for the whole module: writing 3,000 predictions and their
    feedback is the slow part, and every test only reads it (each sets its own clock)."""
    yield from _world(module_database_url)


def _world(database_url: str) -> Iterator[tuple[Monitor, MonitorResults, ReplayClock]]:
    rng = np.random.default_rng(3)
    reference = _reference(rng)
    _fill(database_url, rng)

    def references(model: str, version: str) -> ModelReference:
        if version != "1":
            raise TrackingError(f"version {version} of {model} has no reference")
        return reference

    clock = ReplayClock(T0 + timedelta(days=DAYS))
    policy = MonitorPolicy(
        window=timedelta(days=5),
        history_days=DAYS,
        rule=PerformanceRule("precision", "below", 0.95, 0.9, 50),
        maturity=MaturityRule(outcome_window_days=2),
        sample_size=2_000,
    )
    events = EventLog(database_url, clock=clock)
    events.append(MODEL, "deploy", actor="test", reason="first", after={"champion": "1"})
    with LogAggregates(database_url) as log, MonitorResults(database_url) as results:
        yield Monitor(log=log, results=results, events=events, references=references,
                      clock=clock, policy=policy), results, clock  # fmt: skip
    events.close()


def test_a_shift_in_one_input_is_drift_and_the_run_is_stored_with_its_alerts(
    world: tuple[Monitor, MonitorResults, ReplayClock],
) -> None:
    monitor, results, _ = world
    report = monitor.run(MODEL)
    (champion,) = report.groups
    assert (champion.group.version, champion.group.role) == ("1", "champion")
    assert champion.predictions == 5 * PER_DAY
    assert champion.drift is not None
    assert champion.drift.drifted == ("x1",)  # x2 and channel did not move
    assert champion.drift.score is not None and champion.drift.score.drifted
    assert champion.drift.dataset_drift  # 1 of 3 features > 10%
    # Outcomes are known a day later: the window 2 days back is matured and labelled.
    assert champion.realized is not None and champion.realized.precision is not None
    assert champion.labels.label_completeness == pytest.approx(0.8, abs=0.02)  # 4 of 5 days
    assert champion.estimated is not None and champion.estimated.precision is not None
    stored = results.runs(MODEL)
    assert [run.run_id for run in stored] == [report.run_id]
    psi = {p.point.name: p.point for p in results.series(MODEL, "drift")}
    assert psi["x1"].flagged and not psi["x2"].flagged
    assert psi["x1"].value == pytest.approx(champion.drift.feature("x1").psi)
    kinds = {alert.kind for alert in results.alerts(MODEL)}
    assert "drift" in kinds


def test_the_matured_estimate_tracks_the_realized_precision_without_concept_drift(
    world: tuple[Monitor, MonitorResults, ReplayClock],
) -> None:
    monitor, _, _ = world
    (champion,) = monitor.run(MODEL).groups
    assert champion.realized is not None and champion.matured_estimate is not None
    realized, estimated = champion.realized.precision, champion.matured_estimate.precision
    assert realized is not None and estimated is not None
    assert abs(realized.value - estimated.value) < 0.08
    assert not any(gap.fired for gap in champion.gaps)  # labels follow the calibrated score


def test_daily_evidence_covers_the_history_and_sees_the_shift_day(
    world: tuple[Monitor, MonitorResults, ReplayClock],
) -> None:
    monitor, _, _ = world
    report = monitor.run(MODEL)
    assert len(report.days) == DAYS
    # One day is 150 rows: the score's PSI tells the days apart (a feature's verdict on so few
    # rows is noisy), and the drifted share is higher on average after the shift.
    before, after = report.days[: SHIFT_DAY - 1], report.days[SHIFT_DAY:]
    assert max(d.score_psi for d in before) < 0.2 < min(d.score_psi for d in after)
    assert np.mean([d.drifted_share for d in before]) < np.mean([d.drifted_share for d in after])
    assert report.diagnosis.action in {"rollback", "fix_data", "retrain", "wait"}
    assert report.diagnosis.reasons


def test_a_window_before_the_shift_raises_no_drift_alert(
    world: tuple[Monitor, MonitorResults, ReplayClock],
) -> None:
    monitor, results, _ = world
    # The same log judged as it stood on the shift's day (a clock never goes back: a new one).
    monitor._clock = ReplayClock(T0 + timedelta(days=SHIFT_DAY))
    report = monitor.run(MODEL)
    (champion,) = report.groups
    assert champion.drift is not None and champion.drift.drifted == ()
    (stored,) = [run for run in results.runs(MODEL) if run.run_id == report.run_id]
    assert not [a for a in results.alerts(MODEL) if a.kind == "drift" and a.run_id == stored.run_id]


def test_the_configs_defaults_are_the_monitoring_modules_own() -> None:
    """``[monitoring]``'s defaults (config.py, the README's table) and the defaults of the
    modules that draw each line are one set of numbers."""
    from tether.config import MonitoringSettings

    configured, own = MonitorPolicy.from_settings(MonitoringSettings()), MonitorPolicy()
    assert configured.drift == own.drift
    assert configured.rule == own.rule
    assert configured.maturity == own.maturity
    assert configured.sample_size == own.sample_size
    assert configured.window == own.window
    assert configured.diagnosis == own.diagnosis
    assert configured.quality == own.quality
    assert configured.experiment == ExperimentPolicy(metric="precision")
