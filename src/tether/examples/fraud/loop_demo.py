"""``tether demo``'s story: six months of the fraud world with the loop on, beside version 1 alone.

1. generate the world (with the one-day cents incident and, days later, the pipeline's fix),
   train and register version 1 on January, deploy it as champion;
2. replay March to August through the real server, day by day: each day's events pushed
   to the online store, its payments scored in batched ``POST /v1/predict`` requests, each
   label posted in batched ``POST /v1/feedback`` at its own ``label_time``, the log flushed at
   the day's end and the loop ticked once; the replay drives the clock of the server, of
   monitoring and of the loop, so the same seed gives the same story;
3. after the replay, the outcomes still due arrive (a month table needs every label);
4. the month table: version 1 alone (scored offline on the same payments) beside the loop on.

Nothing here decides anything: the loop (:mod:`tether.loop`) does, over monitoring's verdicts.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tether._clock import ReplayClock
from tether._progress import Progress, no_progress
from tether.examples._scaffold import NewProject, init_project
from tether.examples.fraud import story
from tether.examples.fraud.simulate import ScenarioConfig

REPLAY_START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
"""Version 1 learns January with the labels known on 1 March (chargebacks come within 45 days,
so January's fraud is nearly all known; a payment still without a label counts as honest, by
the example's label rule); the loop takes over from then, six months to the world's end."""
INCIDENT_DAY = dt.date(2026, 5, 13)
"""The day the pipeline delivers amounts in cents: mid-May, once the loop has work in hand."""
DEMO_TRANSACTIONS = 400_000
"""The smallest world where an honest promotion is possible: some 1,000 flagged payments a
month (at 100,000 a month holds 230-360, too few to tell 88% from 80% precision)."""
QUICK_TRANSACTIONS = 100_000


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo did and found."""

    project: NewProject | None
    version_1: str
    months: list[story.Month]
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "version_1": self.version_1,
            "months": [month.to_dict() for month in self.months],
            "value": dict(story.totals(self.months)),
            "counts": dict(self.counts),
            "seconds": {name: round(value, 2) for name, value in self.seconds.items()},
        }


def scenario(transactions: int, seed: int = 7) -> ScenarioConfig:
    """The demo's world: the bundled scenario with the cents incident switched on."""
    return ScenarioConfig(
        n_transactions=transactions,
        n_customers=max(100, transactions // 100),
        seed=seed,
        incident_day=INCIDENT_DAY,
    )


Timer = Callable[[str], None]


def _timer(seconds: dict[str, float]) -> Timer:
    last = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - last[0]
        last[0] = now

    return lap


def run(
    directory: Path,
    config: ScenarioConfig,
    *,
    progress: Progress = no_progress,
) -> DemoOutcome:
    """Play the story in ``directory`` (a new folder) and return the month table.

    ``progress`` hears each step, its name prefixed by the stage (``replay: 2026-03-04``)."""
    from tether.examples.fraud.replay import replay
    from tether.monitoring import MonitorPolicy
    from tether.project import Project
    from tether.server import create_app

    def progress_for(stage: str) -> Progress:
        def report(step: str, done: int | None = None, total: int | None = None) -> None:
            progress(f"{stage}: {step}", done, total)

        return report

    seconds: dict[str, float] = {}
    lap = _timer(seconds)
    made = init_project(directory, config, progress=progress_for("generating the world"))
    events = pd.read_parquet(made.data.events)
    labels = pd.read_parquet(made.data.labels)
    lap("generate")
    clock = ReplayClock(REPLAY_START)
    with Project.open(directory, clock=clock) as project:
        model = project.settings.model_name
        trained = project.train(progress=progress_for("training version 1"))
        version_1 = trained.model_version
        project.aliases.deploy(
            version_1, "champion", actor="demo", reason="version 1, trained on January"
        )
        lap("version 1")
        controller = project.loop()
        ticks = [0]

        def tick(day: dt.date) -> None:
            controller.tick()
            ticks[0] += 1

        stats = replay(
            project, events, labels, create_app=create_app, start=REPLAY_START.date(),
            end=config.end.date(), on_day_end=tick, progress=progress_for("replay"),
        )  # fmt: skip
        lap("replay")
        bounds = story.month_starts(REPLAY_START, config.end)
        off = story.counterfactual(project, version_1, events, labels, REPLAY_START, config.end)
        on_cells, on_versions = story.loop_on(project, bounds)
        policy = MonitorPolicy.from_settings(project.settings.monitoring)
        metric = next((m for m in policy.business if m.name == "net_value"), None)
        months = story.month_table(
            bounds=bounds, off_frame=off, on_cells=on_cells, on_versions=on_versions,
            events=project.events.events(model),
            alert_times=[a.time for a in project.monitor_results.alerts(model, limit=100_000)],
            metric=metric,
        )  # fmt: skip
        lap("table")
    counts = {
        "days": stats.days, "requests": stats.requests, "predictions": stats.predictions,
        "feedbacks": stats.feedbacks, "pushed": stats.pushed, "ticks": ticks[0],
    }  # fmt: skip
    seconds.update({f"replay {name}": value for name, value in stats.seconds.items()})
    return DemoOutcome(made, version_1, months, counts, seconds)
