"""``tether init``, ``train``, ``reproduce`` and ``audit``: one project's training record."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tether.cli import _render
from tether.cli._app import EXIT_FAILED_CHECK, State, app, open_project
from tether.config import locate_stores
from tether.errors import ConfigError, ProjectError

if TYPE_CHECKING:
    from tether.examples import NewProject, ScenarioConfig
    from tether.lineage import AuditReport, ReproduceReport, TrainResult
    from tether.project import Project

# Every domain package is imported inside the command that needs it: pandas alone takes about
# 0.4 s and MLflow 2.3 s, which `tether --help` and `tether init --help` must not pay.

DEFAULT_INIT_TRANSACTIONS = 250_000
"""Enough for a month-by-month story in a minute; the full scenario is 1,000,000."""


def scenario_for(transactions: int, seed: int = 7) -> ScenarioConfig:
    """The scenario at ``transactions``, keeping its calibrated ~100 payments per customer."""
    from tether.examples import ScenarioConfig

    return ScenarioConfig(
        n_transactions=transactions, n_customers=max(100, transactions // 100), seed=seed
    )


@app.command("init")
def init_command(
    directory: Path = typer.Argument(..., help="The folder to create the project in."),
    transactions: int = typer.Option(
        DEFAULT_INIT_TRANSACTIONS, help="Transactions to generate (1,000,000 = full scale)."
    ),
    seed: int = typer.Option(7, help="Seed of the generated world."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a ready project from the bundled fraud example, with generated data."""
    from tether.examples import init_project

    if transactions < 1000:
        raise ConfigError(f"--transactions must be at least 1000, got {transactions}.")
    made = init_project(directory, scenario_for(transactions, seed))
    show_new_project(made, json)


def show_new_project(made: NewProject, as_json: bool) -> None:
    """Print what ``init`` made."""
    data = {
        "directory": str(made.directory),
        "files": list(made.files),
        "events": str(made.data.events),
        "labels": str(made.data.labels),
        "commit": made.commit
        or (
            "not committed: the folder is inside an existing git repository. Commit it "
            f"(git add {made.directory} && git commit) before `tether train`, or run "
            "`tether init` outside any repository to get a repository of its own."
        ),
    }
    if as_json:
        _render.as_json(data)
    else:
        _render.key_values("New project", data)


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {pair!r}: expected KEY=VALUE, e.g. --param max_iter=100.")
        params[key.strip()] = value.strip()
    return params


@app.command("train")
def train_command(
    ctx: typer.Context,
    param: list[str] = typer.Option([], "--param", "-p", help="Override a param: KEY=VALUE."),
    allow_dirty: bool = typer.Option(
        False, "--allow-dirty", help="Train with uncommitted changes, recording the patch."
    ),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Train the project, versioning code, data and configuration together."""
    params = _parse_params(param)
    project = open_project(ctx)
    with _render.steps("training", json) as progress:
        result = project.train(params, allow_dirty=allow_dirty, progress=progress)
    show_training(result, json)


def _open_if_configured(project_dir: Path) -> Project | None:
    """The project, or None when its ``tether.toml`` is gone or broken (reproduce, audit)."""
    from tether.project import Project

    try:
        return Project.open(project_dir)
    except ConfigError:
        return None  # the run's own record still stands: the tracking store's tags are trusted


def show_training(result: TrainResult, as_json: bool) -> None:
    """Print a training result."""
    record = result.record
    data: dict[str, Any] = {
        "run_id": result.run_id,
        "model": result.model_name,
        "version": result.model_version,
        "metrics": dict(record.metrics),
        "model_sha256": record.model.sha256,
        "datasets": {d.name: f"sha256:{d.digest}" for d in (*record.datasets, record.evaluation)},
        "commit": record.code.commit,
        "dirty": record.code.dirty,
    }
    if as_json:
        _render.as_json(data)
        return
    rows: dict[str, object] = {
        "run": result.run_id,
        "registered": f"{result.model_name}/{result.model_version}",
        "commit": record.code.commit + (" + recorded patch" if record.code.dirty else ""),
        "model sha256": record.model.sha256,
    }
    rows.update({f"data {k}": v for k, v in data["datasets"].items()})
    rows.update({f"metric {k}": f"{v:.4f}" for k, v in sorted(record.metrics.items())})
    _render.key_values("Training run", rows)


@app.command("reproduce")
def reproduce_command(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="RUN_ID, MODEL@ALIAS or MODEL/VERSION."),
    strict_env: bool = typer.Option(
        False, "--strict-env", help="Fail when the environment differs at all."
    ),
    tolerance: float = typer.Option(
        0.0, "--tolerance", min=0.0, help="Largest absolute prediction difference allowed."
    ),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rebuild a recorded run from its record alone and verify the result is identical."""
    from tether.lineage import reproduce

    state: State = ctx.obj
    project = _open_if_configured(state.project)
    with _render.steps("reproducing", json) as progress:
        if project is None:
            stores = locate_stores(state.project)
            report = reproduce(stores, ref, strict_env=strict_env, tolerance=tolerance,
                               progress=progress)  # fmt: skip
        else:
            with project:
                report = project.reproduce(
                    ref, strict_env=strict_env, tolerance=tolerance, progress=progress
                )
    show_reproduction(report, json)
    if not report.reproduced:
        raise typer.Exit(EXIT_FAILED_CHECK)


def show_reproduction(report: ReproduceReport, as_json: bool) -> None:
    """Print a reproduce verdict, the reason first."""
    if as_json:
        data = dataclasses.asdict(report)
        data["environment_differences"] = [str(d) for d in report.environment_differences]
        _render.as_json(data)
        return
    verdict = "REPRODUCED" if report.reproduced else "NOT REPRODUCED"
    _render.text(f"{verdict}: {report.reason}")
    for difference in report.environment_differences:
        _render.warning(f"environment differs: {difference}")
    _render.key_values(
        f"Reproduction of run {report.run_id}",
        {
            "rows compared": report.rows_compared,
            "largest absolute difference": report.max_abs_difference,
            "tolerance": report.tolerance,
            "model file byte-identical": report.model_bytes_identical,
            "recorded model sha256": report.recorded_model_sha256,
            "new model sha256": report.new_model_sha256 or "-",
            "evaluation data identical": report.evaluation_identical,
        },
    )


def _audit_with_history(project_dir: Path, ref: str) -> AuditReport:
    """The audit, with the registry's history when the project's config is readable."""
    from tether.lineage import audit

    project = _open_if_configured(project_dir)
    if project is None:
        return audit(locate_stores(project_dir), ref)
    with project:
        return project.audit(ref)


AUDIT_FORMATS = ("md", "json", "html")


@app.command("audit")
def audit_command(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="RUN_ID, MODEL@ALIAS or MODEL/VERSION."),
    format: str = typer.Option("md", "--format", "-f", help="md, json or html."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """Report which data, code, configuration and environment trained a model."""
    if format not in AUDIT_FORMATS:
        raise ConfigError(f"--format {format!r}: expected one of md, json, html.")
    from tether.lineage import render_html, render_json, render_markdown

    render = {"md": render_markdown, "json": render_json, "html": render_html}[format]
    state: State = ctx.obj
    document = render(_audit_with_history(state.project, ref))
    if output is None:
        _render.text(document)
    else:
        try:
            output.write_text(document, encoding="utf-8")
        except OSError as exc:
            raise ProjectError(
                f"Cannot write the audit to {output}: {exc.strerror or exc}. Name a file in a "
                "folder that exists and that you can write, or omit -o to print it."
            ) from exc
        _render.text(f"audit written to {output}")
