"""The monitor reads a running experiment and a shadow from the log: the challenger's
decision from its daily looks since its deploy event, and the shadow's agreement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tether._clock import ReplayClock
from tether.errors import TrackingError
from tether.monitoring import Monitor, MonitorPolicy, MonitorResults
from tether.monitoring._experiment_decision import ExperimentPolicy
from tether.monitoring._experiment_window import SettledLooks, experiment
from tether.monitoring._window import Group, ModelReference
from tether.registry import EventLog
from tether.serving import LogAggregates, Prediction, PredictionLog

T0 = datetime(2026, 5, 1, tzinfo=UTC)
MODEL = "fraud"
DAYS = 8


def _fill(url: str, events: EventLog, clock: ReplayClock) -> int:
    """Version 1 champion, version 2 challenger on cohort B (a third of the units), version 3
    shadow on every request, all under the challenger's deploy event; labels a day later."""
    events.append(MODEL, "deploy", actor="test", reason="v1", after={"champion": "1"})
    deploy = events.append(MODEL, "deploy", actor="test", reason="try v2",
                           after={"champion": "1", "challenger": "2", "shadow": "3"})  # fmt: skip
    rng = np.random.default_rng(11)
    with PredictionLog(url, flush_interval=3600.0) as log:
        feedback = []
        for n in range(DAYS * 60):
            time = T0 + timedelta(minutes=24 * n)
            x = float(rng.normal())
            cohort = "B" if n % 3 == 0 else "A"
            served = ("2", "challenger") if cohort == "B" else ("1", "champion")
            truth = int(rng.random() < 1.0 / (1.0 + np.exp(-2.0 * x)))
            for version, role, score in (
                (*served, 1.0 / (1.0 + np.exp(-2.0 * x))),
                ("3", "shadow", 1.0 / (1.0 + np.exp(-1.8 * x - 0.1))),
            ):
                assert log.record(Prediction(
                    request_id=f"r{n}", instance_id=f"i{n}", time=time, model=MODEL,
                    version=version, role=role, features={"x": x}, output=float(score),
                    latency_ms=1.0, cohort=cohort, unit_id=f"u{n}", event_time=time,
                    experiment_id=deploy.id, decision=int(score >= 0.6),
                ))  # fmt: skip
            feedback.append((f"i{n}", truth, time + timedelta(days=1)))
        log.flush()
        for instance, label, known in feedback:
            log.record_feedback(instance, label, {"amount": 10.0}, time=known, received=known)
    return deploy.id


@pytest.fixture(scope="module")
def report(module_database_url: str) -> Iterator[object]:
    url = module_database_url
    clock = ReplayClock(T0)
    events = EventLog(url, clock=clock)
    experiment_id = _fill(url, events, clock)
    clock.set(T0 + timedelta(days=DAYS))

    def references(model: str, version: str) -> ModelReference:
        raise TrackingError(f"{model}/{version} has no reference")

    experiment = ExperimentPolicy(metric="precision", min_samples=50)
    policy = MonitorPolicy(window=timedelta(days=DAYS), experiment=experiment)
    with LogAggregates(url) as log, MonitorResults(url) as results:
        monitor = Monitor(log=log, results=results, events=events, references=references,
                          clock=clock, policy=policy)  # fmt: skip
        yield monitor.run(MODEL), experiment_id
    events.close()


def test_the_experiment_is_decided_from_its_looks_since_the_deploy(report: object) -> None:
    found, experiment_id = report  # type: ignore[misc]
    assert [(g.group.version, g.group.role) for g in found.groups] == [
        ("1", "champion"), ("2", "challenger"), ("3", "shadow")
    ]  # fmt: skip
    decision = found.experiment
    assert decision is not None
    assert decision.action in {"promote", "keep_champion", "continue"}
    assert decision.reason
    assert found.to_dict()["experiment"]["action"] == decision.action
    # Every group was judged without drift: none has a reference, and each says why.
    assert all("no reference" in g.missing for g in found.groups)
    assert experiment_id == 2


def test_the_shadow_is_compared_with_the_champion_on_the_same_requests(report: object) -> None:
    found, _ = report  # type: ignore[misc]
    shadow = found.shadows["3"]
    assert shadow.pairs == DAYS * 60 * 2 // 3  # the champion's requests: cohort A
    assert shadow.pearson > 0.95
    assert shadow.agreement is not None and shadow.agreement.rate > 0.85


def test_linear_business_metrics_become_values_per_prediction() -> None:
    from tether.monitoring._business import business_metrics
    from tether.monitoring._experiment_window import linear_values

    metrics = business_metrics({
        "net_value": "tp.amount - 5 * fp.count",  # a sum over rows: each row's value
        "ratio": "fn.amount / tp.count",  # not linear: no value per prediction
        "shifted": "3 + fp.count",  # a constant is no sum over rows
    })  # fmt: skip
    assert linear_values(metrics) == {"net_value": {"tp.amount": 1.0, "fp.count": -5.0}}


class _CountingLog:
    """A log reader that counts its confusion scans (one per look read)."""

    def __init__(self, log: LogAggregates) -> None:
        self.log, self.scans = log, 0

    def confusion(self, *args: object, **kwargs: object) -> object:
        self.scans += 1
        return self.log.confusion(*args, **kwargs)  # type: ignore[arg-type]


def test_settled_looks_are_read_once_and_decide_the_same(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'looks.db'}"
    clock = ReplayClock(T0)
    events = EventLog(url, clock=clock)
    experiment_id = _fill(url, events, clock)
    started = events.event(experiment_id).time
    arms = (Group("1", "champion"), Group("2", "challenger"))
    policy = ExperimentPolicy(metric="precision", min_samples=50)
    settled: SettledLooks = {}
    with LogAggregates(url) as aggregates:
        counting = _CountingLog(aggregates)

        def decide_at(day: int, cache: SettledLooks | None) -> object:
            return experiment(counting, MODEL, arms, experiment_id, started,  # type: ignore[arg-type]
                              started + timedelta(days=day), policy=policy, business=(),
                              values={}, settled=cache)  # fmt: skip

        for day in (6, 7, 8):
            before = counting.scans
            cached = decide_at(day, settled)
            # Day 6 reads its 6 looks; each later day only its last two (yesterday's was
            # read at its own end, before it had settled, and today's is not final).
            assert counting.scans - before == (6 if day == 6 else 2)
            assert cached == decide_at(day, None)
    events.close()
    assert sorted(end for *_, end in settled) == [started + timedelta(days=d) for d in range(1, 8)]
