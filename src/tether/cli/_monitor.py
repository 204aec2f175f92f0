"""``tether monitor``: every monitoring statistic of the deployed models, stored and alerted.

For each model (the project's, or ``--model``), over the window ending now (``--window``, by
default ``[monitoring] window_days``): drift and data quality of each served version against
its own training reference, label completeness, realized performance on the matured window,
estimated performance (CBPE), the champion-challenger decision and shadow agreement, and the
diagnosis (rollback, fix the data, retrain, wait). The run is stored in the monitoring tables
(``tether audit`` and ``/metrics`` read it); alerts go to the log and the webhook.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import typer

from tether.cli import _render
from tether.cli._app import app, open_project

if TYPE_CHECKING:
    from tether.monitoring import GroupReport, ModelReport

_DURATION = re.compile(r"(\d+)([hd])")


def parse_window(text: str) -> timedelta | None:
    """``--window``: a number of hours or days (``36h``, ``7d``); empty for the configured one.

    Raises:
        typer.BadParameter: anything else (exit 2, naming the option).
    """
    if not text:
        return None
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter(
            f"{text!r} is not a window: give hours or days, e.g. 36h or 7d.",
            param_hint="'--window'",
        )
    unit = "hours" if match.group(2) == "h" else "days"
    return timedelta(**{unit: int(match.group(1))})


@app.command("monitor")
def monitor_command(
    ctx: typer.Context,
    window: str = typer.Option("", help="The window ending now: 36h, 7d (default: "
                               "[monitoring] window_days)."),
    model: str = typer.Option("", help="Only this registered model (default: the project's)."),
) -> _render.Report:  # fmt: skip
    """Monitor the deployed models: drift, quality, performance, experiments, diagnosis."""
    span = parse_window(window)
    project = open_project(ctx)
    name = model or project.settings.model_name
    with _render.steps(f"monitoring {name}") as progress:
        report = project.monitor().run(name, window=span, progress=progress)
    data = report.to_dict()
    return _render.Report(data, _view(report), warnings=[a.message for a in report.alerts])


def _view(report: ModelReport) -> list[_render.Block]:
    start, end = (moment.strftime("%Y-%m-%d %H:%M") for moment in report.window)
    blocks: list[_render.Block] = [f"{report.model}: {start} to {end} UTC (run {report.run_id})"]
    if not report.groups:
        blocks.append("No predictions in the window: nothing to monitor.")
    for group in report.groups:
        blocks.append(_render.Table(f"version {group.group.version} ({group.group.role})",
                                    _group_rows(group)))  # fmt: skip
        if group.drift is not None and group.drift.features:
            blocks.append(_render.Grid(
                ("feature", "psi", "test", "p", "effect", "verdict"),
                [(f.name, _num(f.psi), f.test, _num(f.p_value), _num(f.effect),
                  "drifted" if f.drifted else ("warning" if f.warning else "ok"))
                 for f in group.drift.features],
            ))  # fmt: skip
    if report.experiment is not None:
        blocks.append(f"experiment: {report.experiment.action} ({report.experiment.reason})")
    diagnosis = report.diagnosis
    blocks.append(f"diagnosis: {diagnosis.action} ({diagnosis.cause})")
    blocks.extend(f"  - {reason}" for reason in diagnosis.reasons)
    return blocks


def _group_rows(group: GroupReport) -> dict[str, Any]:
    rows: dict[str, Any] = {"predictions": group.predictions}
    if group.missing:
        rows["reference"] = group.missing
    completeness = group.labels.label_completeness
    rows["labels"] = f"{group.labels.labelled} ({_share(completeness)})"
    if group.drift is not None:
        rows["drift"] = group.drift.reason
    if group.quality:
        rows["quality"] = "; ".join(finding.message for finding in group.quality)
    for title, found in (("realized", group.realized), ("estimated", group.estimated)):
        value = None if found is None else found.metric("precision")
        if value is not None:
            rows[f"{title} precision"] = (
                f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}] (n={value.n})"
            )
    start, end = (moment.strftime("%Y-%m-%d") for moment in group.matured_window)
    rows["matured window"] = f"{start} to {end}"
    if group.rule is not None:
        rows["alert rule"] = group.rule.message
    return rows


def _num(value: float) -> str:
    return "-" if value != value else f"{value:.3g}"  # NaN: not computed


def _share(value: float) -> str:
    return "-" if value != value else f"{value:.0%}"
