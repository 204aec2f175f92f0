"""``tether init``, ``train``, ``reproduce`` and ``audit``: one project's training record."""

from __future__ import annotations

import dataclasses
import json
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
) -> _render.Report:
    """Create a ready project from the bundled fraud example, with generated data."""
    from tether.examples import init_project

    if transactions < 1000:
        raise ConfigError(f"--transactions must be at least 1000, got {transactions}.")
    with _render.steps("generating the scenario") as progress:
        made = init_project(directory, scenario_for(transactions, seed), progress=progress)
    return new_project_report(made)


def new_project_report(made: NewProject) -> _render.Report:
    """What ``init`` made."""
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
    return _render.Report(data, [_render.Table("New project", data)])


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
) -> _render.Report:
    """Train the project, versioning code, data and configuration together."""
    params = _parse_params(param)
    project = open_project(ctx)
    with _render.steps("training") as progress:
        result = project.train(params, allow_dirty=allow_dirty, progress=progress)
    return training_report(result)


def _open_if_configured(project_dir: Path) -> Project | None:
    """The project, or None when its ``tether.toml`` is gone or broken (reproduce, audit)."""
    from tether.project import Project

    try:
        return Project.open(project_dir)
    except ConfigError:
        return None  # the run's own record still stands: the tracking store's tags are trusted


def training_report(result: TrainResult) -> _render.Report:
    """A training result."""
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
    rows: dict[str, object] = {
        "run": result.run_id,
        "registered": f"{result.model_name}/{result.model_version}",
        "commit": record.code.commit + (" + recorded patch" if record.code.dirty else ""),
        "model sha256": record.model.sha256,
    }
    rows.update({f"data {k}": v for k, v in data["datasets"].items()})
    rows.update({f"metric {k}": f"{v:.4f}" for k, v in sorted(record.metrics.items())})
    return _render.Report(data, [_render.Table("Training run", rows)])


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
) -> _render.Report:
    """Rebuild a recorded run from its record alone and verify the result is identical."""
    from tether.lineage import reproduce

    state: State = ctx.obj
    project = _open_if_configured(state.project)
    with _render.steps("reproducing") as progress:
        if project is None:
            stores = locate_stores(state.project)
            report = reproduce(stores, ref, strict_env=strict_env, tolerance=tolerance,
                               progress=progress)  # fmt: skip
        else:
            with project:
                report = project.reproduce(
                    ref, strict_env=strict_env, tolerance=tolerance, progress=progress
                )
    return reproduction_report(report)


def reproduction_report(report: ReproduceReport) -> _render.Report:
    """A reproduce verdict, the reason first; exit code 1 when it did not reproduce."""
    data = dataclasses.asdict(report)
    data["environment_differences"] = [str(d) for d in report.environment_differences]
    verdict = "REPRODUCED" if report.reproduced else "NOT REPRODUCED"
    table = _render.Table(
        f"Reproduction of run {report.run_id}",
        {
            "rows compared": report.rows_compared,
            "largest absolute difference": report.max_abs_difference,
            "tolerance": report.tolerance,
            "model file byte-identical": report.model_bytes_identical,
            "recorded model sha256": report.recorded_model_sha256,
            "new model sha256": report.new_model_sha256 or "-",
            "evaluation data identical": report.evaluation_identical,
            "reference profile identical": (
                "not checked" if report.reference_identical is None else report.reference_identical
            ),
        },
    )
    return _render.Report(
        data,
        [f"{verdict}: {report.reason}", table],
        warnings=[f"environment differs: {d}" for d in report.environment_differences],
        exit_code=0 if report.reproduced else EXIT_FAILED_CHECK,
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
    format: str = typer.Option(
        "", "--format", "-f", help="md, json or html (default: md; the audit's JSON with --json)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> _render.Report:
    """Report which data, code, configuration and environment trained a model.

    Without --format, the markdown report for a person and its JSON under --json; with
    --format, that document (under --json, inside {"format": ..., "document": ...}).
    """
    if format and format not in AUDIT_FORMATS:
        raise ConfigError(f"--format {format!r}: expected one of md, json, html.")
    from tether.lineage import render_html, render_json, render_markdown

    state: State = ctx.obj
    report = _audit_with_history(state.project, ref)
    if not format and output is None:
        return _render.Report(json.loads(render_json(report)), [render_markdown(report)])
    format = format or "md"
    render = {"md": render_markdown, "json": render_json, "html": render_html}[format]
    document = render(report)
    if format == "html":
        from tether.cli._dashboard import link_report

        folder = Path(".") if output is None else output.parent
        document = link_report(document, report.record.model_name, folder)
    if output is None:
        return _render.Report({"format": format, "document": document}, [document])
    try:
        output.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise ProjectError(
            f"Cannot write the audit to {output}: {exc.strerror or exc}. Name a file in a "
            "folder that exists and that you can write, or omit -o to print it."
        ) from exc
    written = {"format": format, "output": str(output)}
    return _render.Report(written, [f"audit written to {output}"])
