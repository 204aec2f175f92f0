"""``tether models deploy|promote|rollback|retire|status|sync|verify|versions``: the registry.

A transition reports what happened: the event log is the authority, so a transition whose
event committed took effect even when MLflow's aliases could not follow; it says so and
names ``tether models sync``, and exits 0.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

import typer

from tether.cli import _render
from tether.cli._app import EXIT_FAILED_CHECK, app, open_project

if TYPE_CHECKING:
    from tether.registry import AppliedEvent, ModelAliases

models_app = typer.Typer(help="Deploy, promote, roll back, retire, verify and list model versions.")
app.add_typer(models_app, name="models")

ACTOR_HELP = "Who is acting (default: the current user)."


def _aliases(ctx: typer.Context) -> ModelAliases:
    """The project's aliases, on its event log (MLflow is imported only if a command calls it)."""
    return open_project(ctx).aliases


def _event_report(event: AppliedEvent) -> _render.Report:
    data: dict[str, Any] = {
        "event": event.id,
        "action": event.action,
        "model": event.model,
        "actor": event.actor,
        "reason": event.reason,
        "before": dict(event.before),
        "after": dict(event.after),
        "time": event.time.isoformat(),
        "aliases_stale": event.aliases_stale,
    }
    warnings = []
    if event.aliases_stale:
        data["aliases_error"] = event.aliases_error
        warnings.append(
            f"the {event.action} took effect (event {event.id} is in the event log), but "
            f"MLflow's aliases could not follow: {event.aliases_error}. Run `tether models "
            "sync` to bring them in step."
        )
    title = f"{event.action} of {event.model} (event {event.id})"
    return _render.Report(data, [_render.Table(title, data)], warnings=warnings)


@models_app.command("deploy")
def deploy_command(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="The registered version to deploy."),
    role: str = typer.Option(..., "--as", help="shadow, challenger, or champion (first only)."),
    traffic: float = typer.Option(0.05, help="The challenger's share of units."),
    reason: str = typer.Option(..., help="Why: kept in the event log and the audit."),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> _render.Report:
    """Deploy a version as a shadow or a challenger (or the first champion)."""
    event = _aliases(ctx).deploy(
        version, role, traffic=traffic, actor=actor or getpass.getuser(), reason=reason
    )
    return _event_report(event)


@models_app.command("promote")
def promote_command(
    ctx: typer.Context,
    reason: str = typer.Option(..., help="Why: kept in the event log and the audit."),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> _render.Report:
    """Make the challenger the champion (the old champion is kept as previous-champion)."""
    return _event_report(_aliases(ctx).promote(actor=actor or getpass.getuser(), reason=reason))


@models_app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    reason: str = typer.Option(..., help="Why: kept in the event log and the audit."),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> _render.Report:
    """Put the previous champion back, in one step."""
    return _event_report(_aliases(ctx).rollback(actor=actor or getpass.getuser(), reason=reason))


@models_app.command("retire")
def retire_command(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="The version to take out of service."),
    reason: str = typer.Option(..., help="Why: kept in the event log and the audit."),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> _render.Report:
    """Remove a challenger or shadow version's aliases."""
    event = _aliases(ctx).retire(version, actor=actor or getpass.getuser(), reason=reason)
    return _event_report(event)


@models_app.command("status")
def status_command(ctx: typer.Context) -> _render.Report:
    """Show the aliases, the challenger's share and experiment, and recent transitions."""
    from tether.registry import MANIFEST_ACTIONS

    aliases = _aliases(ctx)
    status = aliases.status()
    transitions = [e for e in aliases.log.events(aliases.model) if e.action not in MANIFEST_ACTIONS]
    events = transitions[-10:]
    data: dict[str, Any] = {
        "model": status.model,
        "aliases": dict(status.aliases),
        "challenger_share": status.challenger_share,
        "experiment_id": status.experiment_id,
        "latest_event_id": status.latest_event_id,
        "recent": [
            f"{e.id} {e.time.isoformat()} {e.action} by {e.actor}: {e.reason}" for e in events
        ],
    }
    rows = {k: v for k, v in data.items() if k != "recent"}
    table = _render.Table(f"Serving state of {status.model}", rows)
    return _render.Report(data, [table, *data["recent"]])


@models_app.command("sync")
def sync_command(ctx: typer.Context) -> _render.Report:
    """Make MLflow's aliases equal the event log's (after a crash or a manual edit)."""
    changes = _aliases(ctx).sync()
    view = "\n".join(changes) if changes else "MLflow aliases already match the event log"
    return _render.Report({"changes": list(changes)}, [view])


@models_app.command("verify")
def verify_command(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="The registered version to verify."),
    trust: bool = typer.Option(
        False,
        "--trust",
        help="Record the manifest of the version's files as they are now (an event), so a "
        "version registered before manifests existed can be served.",
    ),
    reason: str = typer.Option("", help="Why you trust it (required with --trust)."),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> _render.Report:
    """Verify a version's files against the manifest recorded at registration.

    Exit 0 when they verify, 1 when they do not. With --trust, record them as they are now.
    """
    from tether.registry import verify_version

    aliases = _aliases(ctx)
    report = verify_version(
        aliases.log, aliases.tracking_uri, aliases.model, version, trust=trust,
        actor=actor or getpass.getuser(), reason=reason,
    )  # fmt: skip
    data: dict[str, Any] = {
        "model": report.model,
        "version": report.version,
        "verified": report.verified,
        "detail": report.detail,
        "manifest_sha256": report.manifest_sha256,
    }
    if report.trusted_event is not None:
        data["event"] = report.trusted_event
    verdict = "VERIFIED" if report.verified else "NOT VERIFIED"
    return _render.Report(
        data,
        [f"{verdict}: {report.model}/{report.version}: {report.detail}"],
        exit_code=0 if report.verified else EXIT_FAILED_CHECK,
    )


@models_app.command("versions")
def versions_command(ctx: typer.Context) -> _render.Report:
    """List the registered versions: run, time, aliases held, integrity state, metrics."""
    from tether.registry import list_versions

    project = open_project(ctx)
    versions = list_versions(project.settings, project.aliases.log)
    rows: list[dict[str, Any]] = [
        {
            "version": v.version,
            "run_id": v.run_id,
            "created": v.created.isoformat(),
            "aliases": list(v.aliases),
            "integrity": v.integrity,
            "metrics": dict(v.metrics),
        }
        for v in versions
    ]
    grid = _render.Grid(
        ("version", "registered", "run", "integrity", "aliases"),
        [
            (row["version"], row["created"][:16].replace("T", " "), row["run_id"],
             row["integrity"], ", ".join(row["aliases"]) or "-")
            for row in rows
        ],
    )  # fmt: skip
    # The metrics as lines under the table: a sixth column folded them into 12-character
    # pieces in an 80-column terminal; a line wraps at its spaces.
    metrics = [f"version {row['version']} metrics: {_render.metrics_line(row['metrics'])}"
               for row in rows]  # fmt: skip
    empty = f"{project.aliases.model} has no registered version yet; `tether train` registers one."
    view: list[_render.Block] = [grid, *metrics] if rows else [empty]
    return _render.Report({"model": project.aliases.model, "versions": rows}, view)
