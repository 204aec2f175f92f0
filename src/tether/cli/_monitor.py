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
from tether.errors import RegistryError

if TYPE_CHECKING:
    from tether.monitoring import GroupReport, MetricValue, ModelReport

_DURATION = re.compile(r"(\d+)([hd])")
MAX_WINDOW_DAYS = 3660
"""The longest window ``--window`` takes: ten years (a longer one is a typo, not a window)."""


def parse_window(text: str) -> timedelta | None:
    """``--window``: a number of hours or days (``36h``, ``7d``); empty for the configured one.

    Raises:
        typer.BadParameter: anything else (exit 2, naming the option).
    """
    if not text:
        return None
    match = _DURATION.fullmatch(text.strip())
    hours = int(match.group(1)) * (1 if match.group(2) == "h" else 24) if match else 0
    if not match or not 0 < hours <= MAX_WINDOW_DAYS * 24:
        raise typer.BadParameter(
            f"{text!r} is not a window: give hours or days, e.g. 36h or 7d (at most "
            f"{MAX_WINDOW_DAYS}d).",
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
    if not project.events.events(model=name, limit=1):
        raise RegistryError(
            f"No model {name!r} in the registry's event log: nothing was ever deployed under "
            f"that name. The project's model is {project.settings.model_name!r}; "
            "`tether models status` lists what is deployed."
        )
    with _render.steps(f"monitoring {name}") as progress:
        report = project.monitor().run(name, window=span, progress=progress)
    data = report.to_dict()
    # Each alert is logged once as it is stored (stderr), and listed in the view.
    return _render.Report(data, _view(report))


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
    if report.alerts:
        blocks.append(f"{len(report.alerts)} alert(s):")
        blocks.extend(f"  - {alert.message}" for alert in report.alerts)
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
        for name in ("precision", "recall", "roc_auc"):
            value = None if found is None else found.metric(name)
            if value is not None:
                rows[f"{title} {name}"] = _interval(value)
    for name, value in group.business.items():
        if value is not None:
            rows[name] = _interval(value)
    for gap in group.gaps:
        if gap.fired:
            rows[f"gap ({gap.metric})"] = gap.message
    start, end = (moment.strftime("%Y-%m-%d") for moment in group.matured_window)
    rows["matured window"] = f"{start} to {end}"
    if group.rule is not None:
        rows["alert rule"] = group.rule.message
    return rows


def _interval(value: MetricValue) -> str:
    return f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}] (n={value.n})"


def _num(value: float) -> str:
    return "-" if value != value else f"{value:.3g}"  # NaN: not computed


def _share(value: float) -> str:
    return "-" if value != value else f"{value:.0%}"
