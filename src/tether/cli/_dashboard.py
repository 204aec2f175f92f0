"""``tether dashboard`` (the dashboard alone, on uvicorn) and ``tether report`` (one HTML file).

``tether serve`` serves the same pages at ``/dashboard`` beside the prediction API; ``tether
dashboard`` is for a machine that only looks: it loads no model and takes no prediction.
"""

from __future__ import annotations

import html
from pathlib import Path

import typer

from tether.cli import _render
from tether.cli._app import State, app
from tether.cli._serve import check_port_free, server_log_config
from tether.config import load_settings
from tether.errors import ProjectError

DEFAULT_PORT = 8050
"""The dashboard's own port: beside the prediction server's 8000, not on it."""
DEFAULT_REPORT = Path("report.html")
"""Where ``tether report`` writes, and the name ``tether audit --format html`` links."""


@app.command("dashboard")
def dashboard_command(
    ctx: typer.Context,
    host: str = typer.Option(
        "", help="Address to bind (default: [serving] host, 127.0.0.1).", show_default=False
    ),
    port: int = typer.Option(DEFAULT_PORT, min=1, max=65535, help="Port."),
) -> None:
    """Serve the dashboard (models, timeline, drift, experiments, lineage) read-only."""
    import uvicorn

    from tether.dashboard import Dashboard
    from tether.project import Project
    from tether.server import create_dashboard_app

    state: State = ctx.obj
    settings = load_settings(state.project)
    host = host or settings.serving.host
    check_port_free(host, port)
    with Project.open(settings) as project:
        application = create_dashboard_app(Dashboard(project), settings.serving.dashboard_token)
        typer.echo(f"dashboard: http://{host}:{port}/dashboard/", err=True)
        uvicorn.run(application, host=host, port=port, log_config=server_log_config(),
                    log_level="info")  # fmt: skip


@app.command("report")
def report_command(
    ctx: typer.Context,
    model: str = typer.Option(
        "", "--model", "-m", help="The model (default: the project's).", show_default=False
    ),
    out: Path = typer.Option(DEFAULT_REPORT, "--out", "-o", help="The file to write."),
) -> _render.Report:
    """Write the dashboard's views of a model as one self-contained HTML file (opens offline)."""
    from tether.dashboard import Dashboard
    from tether.project import Project

    state: State = ctx.obj
    with Project.open(state.project) as project:
        name = model or project.settings.model_name
        document = Dashboard(project).report(name)
    return _render.Report(*write_report(document, out, name))


def link_report(audit_html: str, model: str, folder: Path) -> str:
    """``tether audit --format html`` with a last section linking the model's report in the
    audit's ``folder``, which ``tether report`` writes (5 MB: linked, not embedded)."""
    target = folder / DEFAULT_REPORT
    link = (
        "<h2>Monitoring, experiments and the loop</h2><p>The dashboard's views of "
        f'{html.escape(model)} are linked here as <a href="{DEFAULT_REPORT}">{DEFAULT_REPORT}'
        "</a>, once written beside this file: from the project's folder, run <code>tether "
        f"report --model {html.escape(model)} --out {html.escape(str(target))}</code>.</p>"
    )
    return audit_html.replace("</body>", link + "</body>", 1)


def write_report(document: str, out: Path, model: str) -> tuple[dict[str, object], list[str]]:
    """Write ``document`` to ``out``; the command's data and its line.

    Raises:
        ProjectError: the file cannot be written.
    """
    try:
        out.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise ProjectError(
            f"Cannot write the report to {out}: {exc.strerror or exc}. Name a file in a folder "
            "that exists and that you can write (--out)."
        ) from exc
    size = out.stat().st_size
    data: dict[str, object] = {"model": model, "output": str(out), "bytes": size}
    return data, [f"report of {model} written to {out} ({size / 1e6:.1f} MB; opens offline)"]
