"""``tether runs list``: the project's training runs, newest first, from its MLflow experiment."""

from __future__ import annotations

from typing import Any

import typer

from tether.cli import _render
from tether.cli._app import app, open_project

runs_app = typer.Typer(help="The project's training runs, as MLflow recorded them.")
app.add_typer(runs_app, name="runs")

DEFAULT_LIMIT = 20
SHORT_DIGEST = 12
"""Hex characters of a commit or data digest shown in text (JSON has them whole)."""


@runs_app.command("list")
def list_command(
    ctx: typer.Context,
    limit: int = typer.Option(DEFAULT_LIMIT, "--limit", min=1, help="The newest N runs."),
) -> _render.Report:
    """List runs: id, version registered, start time, metrics, params, commit, data digests."""
    from tether.registry import list_runs  # imports MLflow: only when the command runs

    settings = open_project(ctx).settings
    runs = [
        {
            "run_id": run.run_id,
            "name": run.name,
            "status": run.status,
            "start_time": run.start_time.isoformat(),
            "versions": list(run.versions),
            "metrics": dict(run.metrics),
            "params": dict(run.params),
            "commit": run.commit,
            "dirty": run.dirty,
            "datasets": dict(run.datasets),
        }
        for run in list_runs(settings, limit)
    ]
    view = [_run_text(run) for run in runs]
    empty = f"No runs yet in experiment {settings.name!r}; `tether train` records one."
    return _render.Report({"experiment": settings.name, "runs": runs}, view or [empty])


def _run_text(run: dict[str, Any]) -> str:
    """Three lines: when, which run, which version and commit; the metrics; params and data."""
    version = ", ".join(f"v{v}" for v in run["versions"]) or "not registered"
    commit = run["commit"][:SHORT_DIGEST] + (" + patch" if run["dirty"] else "")
    params = " ".join(f"{k}={v}" for k, v in sorted(run["params"].items()))
    data = " ".join(
        f"{name}={digest.removeprefix('sha256:')[:SHORT_DIGEST]}"
        for name, digest in sorted(run["datasets"].items())
    )
    return (
        f"{run['start_time'][:19]}  {run['run_id']}  {run['name']}  {version}  "
        f"{run['status']}  commit {commit}\n"
        f"    metrics: {_render.metrics_line(run['metrics']) or '-'}\n"
        f"    params: {params or '-'}\n"
        f"    data: {data or '-'}"
    )
