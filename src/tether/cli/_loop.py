"""``tether loop status|history|pause|resume``: the closed loop's state, read and switched.

Thin over :class:`tether.loop.LoopStore` in the project's database (``[store] url``).
"""

from __future__ import annotations

from typing import Any

import typer

from tether.cli import _render
from tether.cli._app import app, open_project
from tether.loop import LoopStore

loop_app = typer.Typer(help="The closed loop: its state per model, its history, pause/resume.")
app.add_typer(loop_app, name="loop")


def _store(ctx: typer.Context) -> LoopStore:
    return LoopStore(open_project(ctx).store_url)


@loop_app.command("status")
def status_command(ctx: typer.Context) -> _render.Report:
    """Each model's phase, since when, its candidate, and who holds the lease."""
    with _store(ctx) as store:
        states, lease = store.states(), store.lease()
    data: dict[str, Any] = {
        "models": [state.to_dict() for state in states],
        "lease": None
        if lease is None
        else {
            "holder": lease.holder,
            "expires": lease.expires.isoformat(),
            "paused": lease.paused,
            "pause_reason": lease.pause_reason,
        },
    }
    view: list[_render.Block] = [
        _render.Table(state.model, state.to_dict()) for state in states
    ] or ["the loop has not ticked yet"]
    if data["lease"] is not None:
        view.append(_render.Table("lease", data["lease"]))
    return _render.Report(data, view)


@loop_app.command("history")
def history_command(
    ctx: typer.Context,
    model: str = typer.Option("", help="Only this model (default: every model)."),
    limit: int = typer.Option(50, min=1, max=10_000, help="How many events, newest first."),
) -> _render.Report:
    """The loop's steps with their evidence, newest first."""
    with _store(ctx) as store:
        events = store.history(model or None, limit=limit)
    data = {"events": [event.to_dict() for event in events]}
    lines: list[_render.Block] = [
        f"{e.time.isoformat()}  {e.model}  {e.phase:<10}  {e.step}" for e in events
    ] or ["no loop events"]
    return _render.Report(data, lines)


@loop_app.command("pause")
def pause_command(
    ctx: typer.Context, reason: str = typer.Option("", help="Why (shown by loop status).")
) -> _render.Report:
    """Stop the loop acting until ``tether loop resume`` (persisted in the database)."""
    with _store(ctx) as store:
        store.set_paused(True, reason)
    return _render.Report({"paused": True, "reason": reason}, ["loop paused"])


@loop_app.command("resume")
def resume_command(
    ctx: typer.Context, reason: str = typer.Option("", help="Why (recorded).")
) -> _render.Report:
    """Let the loop act again."""
    with _store(ctx) as store:
        store.set_paused(False, reason)
    return _render.Report({"paused": False, "reason": reason}, ["loop resumed"])
