"""``tether demo``: the story end to end on embedded defaults, in about a minute."""

from __future__ import annotations

from pathlib import Path

import typer

from tether.cli import _render
from tether.cli._app import EXIT_FAILED_CHECK, app
from tether.cli._project import (
    scenario_for,
    show_new_project,
    show_reproduction,
    show_training,
)
from tether.config import CONFIG_FILE

DEMO_DIR = Path("tether-demo")
DEMO_TRANSACTIONS = 100_000
"""Enough for the story; small enough that the whole demo takes about a minute."""


@app.command("demo")
def demo_command(
    directory: Path = typer.Option(DEMO_DIR, "--dir", help="Where to create the demo project."),
    transactions: int = typer.Option(DEMO_TRANSACTIONS, help="Transactions to generate."),
) -> None:
    """Generate the fraud scenario, train version 1, reproduce it and print its audit."""
    from tether.examples import init_project
    from tether.lineage import render_markdown
    from tether.project import Project

    _render.text("1. A project from the bundled fraud example")
    if (directory / CONFIG_FILE).exists():
        _render.text(f"   reusing {directory.resolve()}")
    else:
        with _render.steps("generating the scenario", False):
            made = init_project(directory, scenario_for(transactions))
        show_new_project(made, False)
    with Project.open(directory) as project:
        _render.text("2. A training run: code, data and configuration versioned together")
        with _render.steps("training", False) as progress:
            result = project.train(progress=progress)
        show_training(result, False)
        _render.text("3. Reproduce it from the record alone")
        with _render.steps("reproducing", False) as progress:
            report = project.reproduce(result.run_id, progress=progress)
        show_reproduction(report, False)
        _render.text("4. The audit")
        _render.text(render_markdown(project.audit(f"{result.model_name}/{result.model_version}")))
    if not report.reproduced:
        raise typer.Exit(EXIT_FAILED_CHECK)
