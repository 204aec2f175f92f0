"""``tether demo``: the story end to end on embedded defaults, in about a minute."""

from __future__ import annotations

from pathlib import Path

import typer

from tether.cli import _render
from tether.cli._app import EXIT_FAILED_CHECK, app
from tether.cli._project import (
    new_project_report,
    reproduction_report,
    scenario_for,
    training_report,
)
from tether.config import CONFIG_FILE

DEMO_DIR = Path("tether-demo")
DEMO_TRANSACTIONS = 100_000
"""Enough for the story; small enough that the whole demo takes about a minute."""


@app.command("demo")
def demo_command(
    directory: Path = typer.Option(DEMO_DIR, "--dir", help="Where to create the demo project."),
    transactions: int = typer.Option(DEMO_TRANSACTIONS, help="Transactions to generate."),
) -> _render.Report:
    """Generate the fraud scenario, train version 1, reproduce it and print its audit."""
    from tether.examples import init_project
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
    data = {name: report.data for name, report in chapters.items()}
    failed = 0 if reproduction.reproduced else EXIT_FAILED_CHECK
    return _render.Report(data, exit_code=failed)
