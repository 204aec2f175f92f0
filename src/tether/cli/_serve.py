"""``tether serve``: the prediction server of the project, on uvicorn."""

from __future__ import annotations

import os
import shutil

import typer
import uvicorn

from tether.cli._app import State, app
from tether.config import PROJECT_ENV, load_settings

METRICS_DIR = "metrics"


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("", help="Address to bind (default: [serving] host, 127.0.0.1)."),
    port: int = typer.Option(0, help="Port (default: [serving] port, 8000)."),
    workers: int = typer.Option(0, help="uvicorn worker processes (default: [serving] workers)."),
) -> None:
    """Serve predictions: champion, sticky challenger, shadows, feedback, admin, metrics."""
    from tether.server._project import create_project_app  # imports MLflow: only to serve

    state: State = ctx.obj
    settings = load_settings(state.project)
    serving = settings.serving
    host, port, workers = host or serving.host, port or serving.port, workers or serving.workers
    if workers == 1:
        uvicorn.run(
            create_project_app(settings),
            host=host,
            port=port,
            log_level="warning",
            limit_concurrency=serving.max_connections,
        )
        return
    # Several workers: each process builds its own app from the project folder, follows the
    # event log for alias changes, and writes its metrics to one folder that /metrics sums.
    metrics = settings.state_dir / METRICS_DIR
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    os.environ[PROJECT_ENV] = str(settings.project_dir)
    uvicorn.run(
        "tether.server._project:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        limit_concurrency=serving.max_connections,
    )
