"""``tether demo``: six months of the fraud world with the loop on, beside version 1 alone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tether.cli import _render
from tether.cli._app import app
from tether.config import CONFIG_FILE
from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether.examples.fraud.loop_demo import DemoOutcome

DEMO_DIR = Path("tether-demo")


@app.command("demo")
def demo_command(
    directory: Path = typer.Option(DEMO_DIR, "--dir", help="Where to create the demo project."),
    quick: bool = typer.Option(
        False, "--quick", help="100,000 payments: faster, too few flagged ones to promote."
    ),
    transactions: int = typer.Option(
        0, help="Payments to generate (default 400,000; 100,000 with --quick)."
    ),
) -> _render.Report:
    """Generate the fraud world, train version 1, and replay six months with the loop on."""
    from tether.examples.fraud.loop_demo import (
        DEMO_TRANSACTIONS,
        QUICK_TRANSACTIONS,
        run,
        scenario,
    )

    if (directory / CONFIG_FILE).exists():
        raise ConfigError(
            f"--dir {directory} already holds a demo project; the story starts from a new "
            f"world: remove it (rm -r {directory}) or pass another --dir."
        )
    count = transactions or (QUICK_TRANSACTIONS if quick else DEMO_TRANSACTIONS)
    if count < 20_000:
        raise ConfigError(f"--transactions {count}: expected at least 20000.")
    with _render.steps("demo") as progress:
        outcome = run(directory, scenario(count), progress=progress)
    return demo_report(outcome)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def demo_report(outcome: DemoOutcome) -> _render.Report:
    """The month table, the totals, the counts and where the time went."""
    from tether.examples.fraud.story import totals

    columns = ("month", "v1 precision", "v1 recall", "v1 value", "loop precision",
               "loop recall", "loop value", "versions", "alerts", "retrains", "promotions",
               "rollbacks")  # fmt: skip
    rows = [
        (
            month.month,
            _share(month.off.precision),
            _share(month.off.recall),
            _money(month.off.value),
            _share(month.on.precision),
            _share(month.on.recall),
            _money(month.on.value),
            ",".join(month.versions) or "-",
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
        "Version 1 alone (loop off) beside the loop on, month by month, on the same payments;",
        "precision and recall at each serving version's own threshold, value = the project's",
        "net_value (fraud caught minus $5 per false alarm).",
        _render.Grid(columns, rows),
        _render.Table("The run", summary),
        "Next: `tether loop history` and `tether audit fraud-detector@champion` in "
        f"{outcome.project.directory if outcome.project else 'the project'} tell why.",
    ]
    return _render.Report(outcome.to_dict(), view)
