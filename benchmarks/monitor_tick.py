"""One monitor tick a simulated day: what ``Monitor.run`` costs as the loop's log grows.

The closed loop (issue 11) replays six months of the 400,000-payment fraud world and calls
``Monitor.run(model)`` once per simulated day on a replay clock. This benchmark builds that
log day by day on SQLite: ``--per-day`` predictions a day (2,000 by default, the 400k world's
traffic) with the fraud scenario's 14 features written by tether's own writer
(:class:`PredictionLog`), a score and the logged decision; each outcome posted as feedback at
its own label time (fraud in 3-45 days, honest at the close of the 30-60 day dispute window,
with its ``amount`` for the business metrics), inserted in one transaction a day (the rows
``record_feedback`` writes). Features drift slowly over the months, so the drift statistics
do real work. With ``--experiment`` a challenger (version 2, 10% of the traffic, under its
deploy event's experiment id) and a shadow (version 3, on every request) serve from day 150.

At each checkpoint (``--at``, default days 30, 90 and 180) it runs ``--ticks`` consecutive
daily ticks, each after that day's traffic, and prints each tick's seconds, the median of all
but the first (the first tick of a fresh monitor starts with nothing stored) and the first.

    .venv/bin/python benchmarks/monitor_tick.py
    .venv/bin/python benchmarks/monitor_tick.py --experiment
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from tether._clock import ReplayClock
from tether.config import MonitoringSettings
from tether.monitoring import Calibration, Monitor, MonitorPolicy, MonitorResults, profile_frame
from tether.monitoring._window import ModelReference
from tether.registry import EventLog
from tether.serving import LogAggregates, Prediction, PredictionLog

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = "fraud"
NUMERIC = ("amount", "amount_mean_7d", "amount_max_30d", "tx_count_1h", "tx_count_24h",
           "device_tx_count_30d", "merchant_risk", "distance_km", "hour", "account_age_days",
           "amount_ratio", "velocity_10m")  # fmt: skip
CATEGORICAL = ("country", "channel")
COUNTRIES = np.array(["FR", "DE", "ES", "IT", "NL", "BE"])
CHANNELS = np.array(["web", "app", "pos"])
THRESHOLD = 0.7
BUSINESS = {"missed_fraud_loss": "fn.amount", "false_alarm_cost": "5 * fp.count",
            "net_value": "tp.amount - 5 * fp.count"}  # fmt: skip
"""The fraud project's ``[monitoring.business]``."""
FEEDBACK = (
    "INSERT INTO tether_feedback (instance_id, label, business, time_us, revision, reason, "
    "label_value, received_us) VALUES (?, ?, ?, ?, 1, NULL, ?, ?)"
)
VALUES = "INSERT INTO tether_feedback_values (instance_id, name, value) VALUES (?, ?, ?)"
EXPERIMENT_DAY = 150


def _features(rng: np.random.Generator, n: int, day: float) -> pd.DataFrame:
    """The fraud scenario's inputs, drifting slowly: the mean of every numeric one rises 0.1%
    a day, the share of the app channel by a point a month."""
    frame = pd.DataFrame({
        name: np.round(rng.lognormal(2.0 + 0.001 * day, 1.0, n), 3) for name in NUMERIC
    })  # fmt: skip
    frame["country"] = rng.choice(COUNTRIES, n)
    app = min(0.3 + day / 3000, 0.6)
    frame["channel"] = rng.choice(CHANNELS, n, p=[0.7 - app, app, 0.3])
    return frame


def _score(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    risk = np.log(frame["merchant_risk"].to_numpy()) - 2.0 + rng.normal(0, 1.0, len(frame))
    scores: np.ndarray = 1.0 / (1.0 + np.exp(-(risk - 3.0)))
    return scores


def _reference(version: str, rng: np.random.Generator) -> ModelReference:
    frame = _features(rng, 20_000, 0.0)
    frame["score"] = _score(frame, rng)
    labels = (rng.random(len(frame)) < frame["score"].to_numpy()).astype(int)
    profile = profile_frame(frame, [*NUMERIC, *CATEGORICAL], score="score", seed=0)
    calibration = Calibration.fit(frame["score"].to_numpy(), labels)
    return ModelReference(version, profile, calibration, THRESHOLD)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


class World:
    """The log, its pending outcomes and the event log, filled one day at a time."""

    def __init__(self, db: Path, per_day: int, experiment: bool) -> None:
        self.url = f"sqlite:///{db}"
        self.db = db
        self.per_day = per_day
        self.experiment = experiment
        self.rng = np.random.default_rng(42)
        self.pending: list[tuple[datetime, str, int, float]] = []
        self.clock = ReplayClock(T0)
        self.events = EventLog(self.url, clock=self.clock)
        self.events.append(MODEL, "deploy", actor="bench", reason="v1", after={"champion": "1"})
        self.experiment_id: int | None = None

    def day(self, day: int) -> None:
        """Serve day ``day`` and post the outcomes known by its end."""
        start = T0 + timedelta(days=day)
        if self.experiment and day == EXPERIMENT_DAY:
            self.clock.set(start)
            event = self.events.append(MODEL, "deploy", actor="bench", reason="challenger",
                                       after={"champion": "1", "challenger": "2",
                                              "shadow": "3"})  # fmt: skip
            self.experiment_id = event.id
        frame = _features(self.rng, self.per_day, float(day))
        scores = _score(frame, self.rng)
        fraud = self.rng.random(self.per_day) < scores**2
        offsets = np.sort(self.rng.random(self.per_day)) * 86_400
        with PredictionLog(self.url, flush_interval=3600.0, capacity=3 * self.per_day) as log:
            for i, row in enumerate(frame.to_dict("records")):
                moment = start + timedelta(seconds=float(offsets[i]))
                instance = f"p{day}-{i}"
                serving = [("1", "champion")]
                if self.experiment_id is not None:
                    serving = [("2", "challenger") if i % 10 == 0 else ("1", "champion"),
                               ("3", "shadow")]  # fmt: skip
                for version, role in serving:
                    score = float(scores[i]) if version != "3" else float(scores[i]) ** 1.1
                    assert log.record(Prediction(
                        request_id=instance, instance_id=instance, time=moment, model=MODEL,
                        version=version, role=role, output=score, latency_ms=1.0,
                        features=row, event_time=moment, decision=int(score >= THRESHOLD),
                        experiment_id=self.experiment_id if role != "shadow" else None,
                    ))  # fmt: skip
                delay = self.rng.uniform(3, 45) if fraud[i] else self.rng.uniform(30, 60)
                self.pending.append((moment + timedelta(days=delay), instance, int(fraud[i]),
                                     float(row["amount"])))  # fmt: skip
            log.flush()
        self._post(start + timedelta(days=1))

    def _post(self, until: datetime) -> None:
        due = [item for item in self.pending if item[0] < until]
        self.pending = [item for item in self.pending if item[0] >= until]
        connection = sqlite3.connect(self.db)
        with connection:
            connection.executemany(FEEDBACK, [
                (instance, str(label), f'{{"amount": {amount}}}', _micros(known), float(label),
                 _micros(known)) for known, instance, label, amount in due
            ])  # fmt: skip
            connection.executemany(VALUES, [(i, "amount", a) for _, i, _, a in due])
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=2_000)
    parser.add_argument("--at", type=int, nargs="+", default=[30, 90, 180])
    parser.add_argument("--ticks", type=int, default=4)
    parser.add_argument("--experiment", action="store_true")
    parser.add_argument("--db", type=Path, default=Path("/tmp/tether-monitor-tick.db"))
    args = parser.parse_args()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    world = World(args.db, args.per_day, args.experiment)
    rng = np.random.default_rng(7)
    references = {version: _reference(version, rng) for version in ("1", "2", "3")}
    settings = MonitoringSettings(outcome_window_days=60, business=BUSINESS)
    last = max(args.at) + args.ticks
    ticks = {day + k for day in args.at for k in range(args.ticks)}
    with LogAggregates(world.url) as log, MonitorResults(world.url) as results:
        policy = MonitorPolicy.from_settings(settings)
        monitor = Monitor(log=log, results=results, events=world.events,
                          references=lambda model, version: references[version],
                          clock=world.clock, policy=policy)  # fmt: skip
        loading = 0.0
        seconds: dict[int, float] = {}
        for day in range(last):
            began = time.perf_counter()
            world.day(day)
            loading += time.perf_counter() - began
            if day + 1 not in ticks:
                continue
            world.clock.set(T0 + timedelta(days=day + 1))
            began = time.perf_counter()
            report = monitor.run(MODEL)
            seconds[day + 1] = time.perf_counter() - began
            groups = ", ".join(f"{g.group.version}/{g.group.role}" for g in report.groups)
            print(f"day {day + 1}: tick {seconds[day + 1]:.2f} s ({groups}; "
                  f"{len(report.days)} days of evidence; action {report.diagnosis.action}); "
                  f"log built in {loading:.0f} s so far", flush=True)  # fmt: skip
    for day in args.at:
        found = [seconds[day + k] for k in range(args.ticks)]
        warm = statistics.median(found[1:]) if len(found) > 1 else found[0]
        print(f"at day {day}: first tick {found[0]:.2f} s, median of the next {warm:.2f} s")
    world.events.close()


if __name__ == "__main__":
    main()
