"""The diagnosis on the fraud scenario, end to end: the bundled project's January model
serving a simulated world into a real prediction log (SQLite), judged by :class:`Monitor` on
a replayed clock, against the reference and calibration its training run records.

One world (60,000 payments, 600 customers, ``drift=1``, the cents incident on 10 February)
serves three stories, each in a log of its own holding only the days its monitor reads:

1. **gradual drift**: the model serves from 1 March; on 1 September (history 184 days; the
   outcome window of 60 days leaves the days to early July labelled) the realized precision
   falls by a trend (measured: -0.0024 a day, 0.91 to 0.61 over 127 labelled days; CUSUM
   2.72, BIC trend 8.7 below constant), 66% of the features drifted over the last week, and
   3,705 new labelled rows: **retrain**, with the concept-drift gap (realized 0.40 below
   CBPE's estimate) in the reasons;
2. **the cents incident**: the day after it, the incident day's quality check shows the unit
   shift on ``amount`` (median 96x the reference's, near x100) and ``amount_to_mean_30d``,
   with a one-day break in the score's PSI (7.1 against ~0.06): **fix_data**, not retrain,
   whether the monitor's window is that day or the week to it;
3. **a bad deploy**: version 2, a repackaging of the same model whose scores come out
   inverted, becomes champion on 14 May at noon; two days later the score's PSI has stepped
   from 0.20 to 8.0 on the deploy's day: **rollback**, naming the deploy.

Measured on the shared 2-core machine (pytest --durations): the world (simulation, feature
store, training) 4-8 s; the first story 13-30 s (some 46,000 predictions logged, then a run of
184 daily evidences); each of the others 1-4 s; the module 36-44 s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fraud_served import MODEL, Served, serve_scenario, write_log

from tether._clock import ReplayClock
from tether.errors import TrackingError
from tether.examples.fraud import ScenarioConfig
from tether.monitoring import MonitorResults
from tether.monitoring._monitor import ModelReport, Monitor, _one_version_a_day
from tether.monitoring._monitor_policy import MonitorPolicy
from tether.monitoring._window import ModelReference
from tether.registry import EventLog
from tether.serving import LogAggregates

INCIDENT = dt.date(2026, 2, 10)
SCENARIO = ScenarioConfig(n_transactions=60_000, n_customers=600, incident_day=INCIDENT)
FIRST_DEPLOY = datetime(2026, 2, 1, tzinfo=UTC)
"""Version 1 becomes champion: after its January training, before any story's log."""
DEPLOY_AT = datetime(2026, 5, 14, 12, tzinfo=UTC)
"""The bad deploy: version 2 becomes champion at noon."""
Versions = Callable[[pd.Timestamp], tuple[str, Callable[[float], float]]]


def _same(score: float) -> float:
    return score


def _inverted(score: float) -> float:
    return 1.0 - score


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return serve_scenario(tmp_path_factory.mktemp("world"), SCENARIO)


def _run(
    url: str,
    served: Served,
    now: datetime,
    policy: MonitorPolicy,
    deploys: list[tuple[datetime, str]],
) -> ModelReport:
    """One monitor run over ``url`` at ``now``, the event log holding ``deploys`` at their
    times (version, champion from then)."""
    clock = ReplayClock(deploys[0][0])
    events = EventLog(url, clock=clock)
    before: dict[str, str] = {}
    # A log shared by several runs has its deploys already (the event log is in its file).
    for time, version in [] if events.events(model=MODEL) else deploys:
        clock.set(time)
        events.append(MODEL, "deploy", actor="test", reason=f"version {version}",
                      before=before, after={"champion": version})  # fmt: skip
        before = {"champion": version}
    clock.set(now)

    def references(model: str, version: str) -> ModelReference:
        # Version 2 is version 1 repackaged: the same model, reference and calibration.
        if version not in {"1", "2"}:
            raise TrackingError(f"version {version} of {model} has no reference")
        return served.reference

    try:
        with LogAggregates(url) as log, MonitorResults(url) as results:
            monitor = Monitor(log=log, results=results, events=events, references=references,
                              clock=clock, policy=policy)  # fmt: skip
            return monitor.run(MODEL)
    finally:
        events.close()


def _served_between(served: Served, start: datetime, end: datetime) -> pd.DataFrame:
    frame = served.frame
    return frame[(frame["event_time"] >= start) & (frame["event_time"] < end)]


def _log(tmp_path: Path, served: Served, start: datetime, end: datetime, versions: Versions) -> str:
    url = f"sqlite:///{tmp_path / 'tether.db'}"
    frame = _served_between(served, start, end)
    write_log(url, frame, served.features, versions, _threshold(served))
    return url


def _threshold(served: Served) -> float:
    assert served.reference.threshold is not None
    return served.reference.threshold


def _version_one(_: pd.Timestamp) -> tuple[str, Callable[[float], float]]:
    return "1", _same


def test_the_world_is_the_one_the_stories_need(served: Served) -> None:
    """The January model as the project trains it: its threshold catches 85% of held-out
    fraud, and its precision at that threshold falls as the world drifts (the oracle the
    monitor's verdicts are checked against, computed here on every payment)."""
    frame = served.frame
    flagged = frame["score"] >= _threshold(served)
    month = frame["event_time"].dt.month
    precision = frame["is_fraud"][flagged].groupby(month[flagged]).mean()
    assert precision[3] > 0.85 > 0.7 > precision[7]  # measured 0.89 in March, 0.62 in July
    incident = frame["event_time"].dt.date == INCIDENT
    before = frame["event_time"].dt.date == INCIDENT - timedelta(days=1)
    ratio = frame.loc[incident, "amount"].median() / frame.loc[before, "amount"].median()
    assert 50 < ratio < 200  # the cents incident: amounts x100 that day


def test_gradual_drift_is_diagnosed_retrain(served: Served, tmp_path: Path) -> None:
    start, now = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    url = _log(tmp_path, served, start, now, _version_one)
    policy = MonitorPolicy(window=timedelta(days=14), history_days=184, sample_size=2_000)
    report = _run(url, served, now, policy, [(FIRST_DEPLOY, "1")])
    diagnosis = report.diagnosis
    assert (diagnosis.action, diagnosis.cause) == ("retrain", "gradual_decline"), diagnosis.reasons
    trend, drift, labels, *rest = diagnosis.reasons
    assert trend.startswith("realized precision: a gradual trend of -")
    assert drift.startswith("drift is broad:")
    assert "new labelled rows to learn from" in labels
    assert any("concept drift" in reason for reason in rest)
    series = diagnosis.evidence["series"]
    assert isinstance(series, dict) and series["realized"]["kind"] == "trend"
    assert series["realized"]["slope_per_day"] < 0
    assert not diagnosis.evidence["quality"]  # no breaking data-quality finding
    (champion,) = report.groups
    assert champion.drift is not None and champion.drift.dataset_drift
    assert len(report.days) == 184
    assert [a.name for a in report.alerts if a.kind == "diagnosis"] == ["retrain"]
    assert report.run_id > 0  # stored with its verdict


@pytest.fixture(scope="module")
def incident_log(served: Served, tmp_path_factory: pytest.TempPathFactory) -> str:
    """February to the day after the incident, served by version 1."""
    start, end = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 11, tzinfo=UTC)
    return _log(tmp_path_factory.mktemp("incident"), served, start, end, _version_one)


@pytest.mark.parametrize("window_days", [1, 7])
def test_the_cents_incident_is_diagnosed_fix_data_not_retrain(
    served: Served, incident_log: str, window_days: int
) -> None:
    # The day after the incident: the day's window shows the shift in its median; a week's
    # window does not (one day in seven), and the day's own quality check finds it.
    now = datetime(2026, 2, 11, tzinfo=UTC)
    policy = MonitorPolicy(window=timedelta(days=window_days), history_days=10, sample_size=2_000)
    report = _run(incident_log, served, now, policy, [(FIRST_DEPLOY, "1")])
    diagnosis = report.diagnosis
    assert (diagnosis.action, diagnosis.cause) == ("fix_data", "data_break"), diagnosis.reasons
    amount = [r for r in diagnosis.reasons if "median of 'amount' " in r]
    assert len(amount) == 1 and amount[0].startswith(f"data break on {INCIDENT.isoformat()}")
    assert "near x100" in amount[0]
    assert any(f"one-day break in score_psi on {INCIDENT.isoformat()}" in r
               for r in diagnosis.reasons)  # fmt: skip
    quality = diagnosis.evidence["quality"]
    assert isinstance(quality, list)
    shifted = {(q["check"], q["feature"]) for q in quality}
    assert ("unit_shift", "amount") in shifted
    assert all(q["day"] == INCIDENT.isoformat() for q in quality)
    assert report.days[-1].day == INCIDENT and report.days[-1].score_psi > 1.0


def test_a_bad_deploy_is_diagnosed_rollback_naming_it(served: Served, tmp_path: Path) -> None:
    start, now = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 17, tzinfo=UTC)

    def versions(time: pd.Timestamp) -> tuple[str, Callable[[float], float]]:
        return ("2", _inverted) if time >= DEPLOY_AT else ("1", _same)

    url = _log(tmp_path, served, start, now, versions)
    policy = MonitorPolicy(history_days=14, sample_size=2_000)
    report = _run(url, served, now, policy, [(FIRST_DEPLOY, "1"), (DEPLOY_AT, "2")])
    diagnosis = report.diagnosis
    assert (diagnosis.action, diagnosis.cause) == ("rollback", "step_after_deploy"), (
        diagnosis.reasons
    )
    step = diagnosis.reasons[0]
    assert step.startswith("score_psi: a step from")
    assert f"deploy (champion 1 -> 2) by test on {DEPLOY_AT.date().isoformat()}" in step
    # One evidence a day: the deploy's day is version 2's, the first of its level.
    days = [day.day for day in report.days]
    assert days == sorted(set(days)) and DEPLOY_AT.date() in days
    split = next(day for day in report.days if day.day == DEPLOY_AT.date())
    assert split.score_psi > 1.0
    assert {group.group.version for group in report.groups} == {"1", "2"}


def test_a_good_deploy_at_the_same_time_is_no_rollback(served: Served, tmp_path: Path) -> None:
    """The control of the bad deploy: version 2 scores as version 1 did, so nothing steps at
    the deploy and the verdict is not rollback."""
    start, now = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 17, tzinfo=UTC)

    def versions(time: pd.Timestamp) -> tuple[str, Callable[[float], float]]:
        return ("2", _same) if time >= DEPLOY_AT else ("1", _same)

    url = _log(tmp_path, served, start, now, versions)
    policy = MonitorPolicy(history_days=14, sample_size=2_000)
    report = _run(url, served, now, policy, [(FIRST_DEPLOY, "1"), (DEPLOY_AT, "2")])
    assert report.diagnosis.action == "wait", report.diagnosis.reasons
    assert max(day.score_psi for day in report.days) < 0.5


def test_a_day_split_by_a_deploy_is_the_new_versions() -> None:
    day = pd.Timestamp("2026-05-14", tz="UTC")
    counts = pd.DataFrame({
        "version": ["1", "1", "2", "2", "3"],
        "role": ["champion"] * 5,
        "day": [day - pd.Timedelta(days=1), day, day, day + pd.Timedelta(days=1),
                day + pd.Timedelta(days=1)],
        "predictions": [200, 150, 50, 30, 170],
        "labelled": [0] * 5,
    })  # fmt: skip
    kept = _one_version_a_day(counts)
    # 14 May: version 2 continues on the 15th; the 15th (the last day, another deploy):
    # the version that served most of it.
    assert list(zip(kept["day"], kept["version"], strict=True)) == [
        (day - pd.Timedelta(days=1), "1"),
        (day, "2"),
        (day + pd.Timedelta(days=1), "3"),
    ]
