"""``tether demo``'s story: six months of the fraud world with the loop on, beside version 1 alone.

1. generate the world (with the one-day cents incident and, days later, the pipeline's fix),
   train and register version 1 on January, deploy it as champion;
2. replay March to August through the real server, day by day: each day's events pushed
   to the online store, its payments scored in batched ``POST /v1/predict`` requests, each
   label posted in batched ``POST /v1/feedback`` at its own ``label_time``, the log flushed at
   the day's end and the loop ticked once; the replay drives the clock of the server, of
   monitoring and of the loop, so the same seed gives the same story;
3. after the replay (and the loop's last tick), the outcomes still due arrive: a month table
   needs every label, and nothing decides on them any more;
4. the month table: version 1 alone (scored offline on the same payments) beside the loop on.

Nothing here decides anything: the loop (:mod:`tether.loop`) does, over monitoring's verdicts.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tether._clock import ReplayClock
from tether._progress import Progress, no_progress
from tether.examples._scaffold import NewProject, init_project
from tether.examples.fraud import story
from tether.examples.fraud.simulate import ScenarioConfig
from tether.loop import LOOP_ALERT_KIND

if TYPE_CHECKING:
    from tether.examples.fraud._replay_server import AppFactory

ProjectOpener = Callable[[Path, ReplayClock], Any]
"""``tether.project.Project.open`` (the project is to the right of ``examples`` in the order of
packages: the front hands it in, with the server's ``create_app``)."""

REPLAY_START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
"""Version 1 is trained on 1 April on January, the first month whose every outcome is known
then (honest payments are known at the close of their 30-60-day dispute window); the loop
takes over from then, for the six months to the world's end."""
WORLD_MONTHS = 9
"""January to September: the bundled world's eight months and one more, so the replay covers
six months after version 1's January has matured."""
VERSION_1_DAYS = 30
"""Version 1's window: the 30 matured days before its training (January)."""
INCIDENT_DAY = dt.date(2026, 5, 13)
"""The day the pipeline delivers amounts in cents: mid-May, once the loop has work in hand."""
INCIDENT_FIX_DAYS = 3
"""The pipeline's fix re-delivers the incident day's events, corrected, three days later."""
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
    loop_end: dict[str, str] = field(default_factory=dict)
    """The loop's phase, since when, its candidate, and its last step with that step's
    evidence in one line, when the replay ended."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "version_1": self.version_1,
            "loop_end": dict(self.loop_end),
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
        incident_fix_days=INCIDENT_FIX_DAYS,
        months=WORLD_MONTHS,
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
    open_project: ProjectOpener,
    create_app: AppFactory,
    progress: Progress = no_progress,
) -> DemoOutcome:
    """Play the story in ``directory`` (a new folder) and return the month table.

    ``progress`` hears each step, its name prefixed by the stage (``replay: 2026-03-04``)."""
    from tether.examples.fraud.replay import replay
    from tether.lineage import choose_window
    from tether.monitoring import MonitorPolicy

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
    with open_project(directory, clock) as project:
        model = project.settings.model_name
        window = choose_window(
            REPLAY_START, days=VERSION_1_DAYS,
            outcome_window_days=project.settings.monitoring.outcome_window_days,
        )  # fmt: skip
        trained = project.train(window=window, progress=progress_for("training version 1"))
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
        loop_end = _loop_end(project, model, clock.now())
        outstanding = outcomes_due_after(project, clock, events, labels, config.end)
        lap("outcomes due after the replay")
        bounds = story.month_starts(REPLAY_START, config.end)
        off = story.counterfactual(project, version_1, events, labels, REPLAY_START, config.end)
        on_cells, on_versions = story.loop_on(project, bounds)
        policy = MonitorPolicy.from_settings(project.settings.monitoring)
        metric = next((m for m in policy.business if m.name == "net_value"), None)
        months = story.month_table(
            bounds=bounds, off_frame=off, on_cells=on_cells, on_versions=on_versions,
            events=project.events.events(model),
            # The monitor's alerts: the loop's own (kind "loop") are its rollbacks, promotions
            # and discards, which the table counts in their own columns.
            alert_times=[a.time for a in project.monitor_results.alerts(model, limit=100_000)
                         if a.kind != LOOP_ALERT_KIND],
            metric=metric, first_version=version_1,
        )  # fmt: skip
        lap("table")
    counts = {
        "days": stats.days, "requests": stats.requests, "predictions": stats.predictions,
        "feedbacks": stats.feedbacks, "pushed": stats.pushed, "ticks": ticks[0],
        "outcomes after the replay": outstanding,
    }  # fmt: skip
    seconds.update({f"replay {name}": value for name, value in stats.seconds.items()})
    return DemoOutcome(made, version_1, months, counts, seconds, loop_end)


def _loop_end(project: Any, model: str, now: dt.datetime) -> dict[str, str]:
    """Where the loop stood when the replay ended, and its last step's evidence: what says,
    for one, that an experiment was still short of evidence when the six months ran out."""
    state = project.loop_store.state(model, now)
    last = next(iter(project.loop_store.history(model, limit=1)), None)
    return {
        "phase": state.phase,
        "since": f"{state.since:%Y-%m-%d}",
        "candidate": state.candidate,
        "step": last.step if last else "",
        "evidence": last.summary() if last else "",
    }


def outcomes_due_after(
    project: Any, clock: ReplayClock, events: pd.DataFrame, labels: pd.DataFrame,
    end: dt.datetime,
) -> int:  # fmt: skip
    """Record the outcomes of replayed payments that arrive after ``end``, at their own times
    (the clock moved past the last of them first); the number recorded."""
    from tether.serving import FeedbackItem

    due = labels[labels["label_time"] >= end]
    amounts = story.newest_versions(events)
    due = due.merge(amounts[["event_id", "amount"]], on="event_id", how="inner")
    if due.empty:
        return 0
    clock.set(due["label_time"].max().to_pydatetime() + dt.timedelta(seconds=1))
    items = [
        FeedbackItem(
            row["event_id"],
            int(row["is_fraud"]),
            {"amount": float(row["amount"])},
            time=row["label_time"].to_pydatetime(),
        )
        for row in due.to_dict("records")
    ]
    recorded = 0
    for start in range(0, len(items), OUTCOME_BATCH):
        outcomes = project.predictions.record_feedback_batch(items[start : start + OUTCOME_BATCH])
        recorded += sum(1 for outcome in outcomes if outcome.status == "created")
    return recorded


OUTCOME_BATCH = 5_000
