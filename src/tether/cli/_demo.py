"""``tether demo``: the story end to end on embedded defaults, in about a minute; ``tether demo
--loop``: six months replayed through the server with the closed loop on."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tether.cli import _render
from tether.cli._app import EXIT_FAILED_CHECK, app
from tether.cli._dashboard import write_report
from tether.cli._project import (
    new_project_report,
    reproduction_report,
    scenario_for,
    training_report,
)
from tether.config import CONFIG_FILE
from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether._clock import ReplayClock
    from tether.examples.fraud.loop_demo import DemoOutcome

DEMO_DIR = Path("tether-demo")
REPORT_FILE = "report.html"
"""Written at the end in the project's state folder (``.tether/``, which git ignores: a file
beside ``tether.toml`` would make the next training's work tree dirty)."""
DEMO_TRANSACTIONS = 100_000
"""Enough for the story; small enough that the whole demo takes about a minute."""


@app.command("demo")
def demo_command(
    directory: Path = typer.Option(DEMO_DIR, "--dir", help="Where to create the demo project."),
    transactions: int | None = typer.Option(
        None,
        show_default=False,
        help="Transactions to generate (default 100,000; with --loop 400,000).",
    ),
    loop: bool = typer.Option(
        False, "--loop", help="Replay six months through the server with the loop ticking daily."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="The loop's replay at 100,000 payments (implies --loop)."
    ),
) -> _render.Report:
    """Generate the fraud scenario, train version 1, reproduce it and print its audit; with
    --loop, replay six months of it through the real server with the closed loop on."""
    from tether.examples import init_project

    if loop or quick:
        return loop_demo(directory, transactions, quick)
    transactions = DEMO_TRANSACTIONS if transactions is None else transactions
    from tether.dashboard import Dashboard
    from tether.lineage import render_markdown
    from tether.project import Project

    # Each chapter is printed as soon as it is done, so the story unfolds as it runs; under
    # --json the chapters' data are gathered into one document instead.
    chapters: dict[str, _render.Report] = {}

    def chapter(name: str, heading: str, report: _render.Report) -> None:
        chapters[name] = report
        _render.show_part(_render.Report(report.data, [heading, *report.view], report.warnings))

    if (directory / CONFIG_FILE).exists():
        reused = {"directory": str(directory.resolve()), "reused": True}
        chapter("project", "1. A project from the bundled fraud example",
                _render.Report(reused, [f"   reusing {directory.resolve()}"]))  # fmt: skip
    else:
        with _render.steps("generating the scenario") as progress:
            made = init_project(directory, scenario_for(transactions), progress=progress)
        chapter("project", "1. A project from the bundled fraud example", new_project_report(made))
    with Project.open(directory) as project:
        with _render.steps("training") as progress:
            result = project.train(progress=progress)
        chapter(
            "training",
            "2. A training run: code, data and configuration versioned together",
            training_report(result),
        )
        with _render.steps("reproducing") as progress:
            reproduction = project.reproduce(result.run_id, progress=progress)
        chapter(
            "reproduction",
            "3. Reproduce it from the record alone",
            reproduction_report(reproduction),
        )
        document = render_markdown(project.audit(f"{result.model_name}/{result.model_version}"))
        chapter("audit", "4. The audit", _render.Report({"markdown": document}, [document]))
        out = project.settings.state_dir / REPORT_FILE
        written = write_report(Dashboard(project).report(), out, result.model_name)
    chapter("report", "5. The dashboard's report, to open in a browser", _render.Report(*written))
    data = {name: report.data for name, report in chapters.items()}
    failed = 0 if reproduction.reproduced else EXIT_FAILED_CHECK
    return _render.Report(data, exit_code=failed)


def loop_demo(directory: Path, transactions: int | None, quick: bool) -> _render.Report:
    """``tether demo --loop``: the month table of version 1 alone beside the loop on."""
    from tether.examples.fraud.loop_demo import (
        DEMO_TRANSACTIONS,
        QUICK_TRANSACTIONS,
        run,
        scenario,
    )

    if (directory / CONFIG_FILE).exists():
        raise ConfigError(
            f"--dir {directory} already holds a project; the loop's story starts from a new "
            f"world: remove it (rm -r {directory}) or pass another --dir."
        )
    default = QUICK_TRANSACTIONS if quick else DEMO_TRANSACTIONS
    count = default if transactions is None else transactions
    if count < 20_000:
        raise ConfigError(f"--transactions {count}: expected at least 20000 with --loop.")
    from tether.dashboard import Dashboard
    from tether.project import Project
    from tether.server import create_app

    def open_project(folder: Path, clock: ReplayClock) -> Project:
        return Project.open(folder, clock=clock)

    # Six months of daily ticks raise some 1,500 alerts: each is stored and counted in the
    # table, and a warning line apiece on stderr would bury the progress bars.
    alerts = logging.getLogger("tether.monitoring")
    level = alerts.level
    alerts.setLevel(logging.ERROR)
    try:
        with _render.steps("demo --loop") as progress:
            outcome = run(directory, scenario(count), open_project=open_project,
                          create_app=create_app, progress=progress)  # fmt: skip
    finally:
        alerts.setLevel(level)
    report = demo_report(outcome)
    with Project.open(directory) as project:
        data, lines = write_report(Dashboard(project).report(),
                                   project.settings.state_dir / REPORT_FILE,
                                   project.settings.model_name)  # fmt: skip
    return _render.Report({**report.data, "report": data}, [*report.view, *lines])


QUALITY_COLUMNS = ("month", "precision v1", "precision loop", "recall v1", "recall loop", "served")
ACTION_COLUMNS = ("month", "value v1", "value loop", "alerts", "retrains", "promoted", "rollbacks")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _loop_end_lines(end: Mapping[str, str]) -> list[_render.Block]:
    if not end:
        return []
    candidate = f" (candidate version {end['candidate']})" if end["candidate"] else ""
    return [
        f"At the end the loop was in phase {end['phase']} since {end['since']}{candidate}; "
        f"its last step, {end['step']}: {end['evidence']}"
    ]


def demo_report(outcome: DemoOutcome) -> _render.Report:
    """The month table, the totals, the counts and where the time went."""
    from tether.examples.fraud.story import totals

    # Two grids, not one of twelve columns: each fits an 80-column terminal unwrapped.
    quality = [
        (
            month.month,
            _share(month.off.precision),
            _share(month.on.precision),
            _share(month.off.recall),
            _share(month.on.recall),
            ",".join(month.versions) or "-",
        )
        for month in outcome.months
    ]
    actions = [
        (
            month.month,
            _money(month.off.value),
            _money(month.on.value),
            str(month.alerts),
            str(month.retrains),
            str(month.promotions),
            str(month.rollbacks),
        )
        for month in outcome.months
    ]
    value = totals(outcome.months)
    summary = {
        "project": str(outcome.project.directory) if outcome.project else "-",
        "version 1": outcome.version_1,
        "value, loop off": _money(value["loop_off"]),
        "value, loop on": _money(value["loop_on"]),
        **{name: f"{count:,}" for name, count in outcome.counts.items()},
        **{f"seconds {name}": f"{s:.1f}" for name, s in outcome.seconds.items()},
    }
    view: list[_render.Block] = [
        # One paragraph: the terminal wraps it at its own width.
        "Version 1 alone (loop off) beside the loop on, month by month, on the same payments; "
        "precision and recall at each serving version's own threshold, value = the project's "
        "net_value (fraud caught minus $5 per false alarm).",
        _render.Grid(QUALITY_COLUMNS, quality),
        _render.Grid(ACTION_COLUMNS, actions),
        _render.Table("The run", summary),
        *_loop_end_lines(outcome.loop_end),
        "Next: `tether loop history` and `tether audit fraud-detector@champion` in "
        f"{outcome.project.directory if outcome.project else 'the project'} tell why.",
    ]
    return _render.Report(outcome.to_dict(), view)
