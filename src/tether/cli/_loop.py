"""``tether loop [--once] [--interval 1h] [--dry-run]`` and ``tether loop status|history|pause|
resume``: the closed loop run, and its state read and switched.

Thin over :meth:`tether.project.Project.loop` and :class:`tether.loop.LoopStore` in the
project's database (``[store] url``).
"""

from __future__ import annotations

import re
import signal
import threading
from typing import TYPE_CHECKING, Any

import typer

from tether.cli import _render
from tether.cli._app import app, open_project
from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether.loop import LoopStore, TickResult

# The loop's package (and through it MLflow and scikit-learn) is imported inside the commands:
# `tether --help` must not pay for it.
loop_app = typer.Typer(
    help="The closed loop: tick it (--once, or every --interval), its state, its history, "
    "pause/resume.",
    invoke_without_command=True,
)
app.add_typer(loop_app, name="loop")


def _store(ctx: typer.Context) -> LoopStore:
    from tether.loop import LoopStore

    return LoopStore(open_project(ctx).store_url)


@loop_app.callback(invoke_without_command=True)
def run_command(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One tick, then exit (for cron)."),
    interval: str = typer.Option(
        "", help="Time between ticks, e.g. 30m, 1h or 1d (default: [loop] interval_s)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Record what each tick would do; change nothing."
    ),
) -> _render.Report | None:
    """Tick the loop: monitor each deployed model and act by the policy in [loop]."""
    if ctx.invoked_subcommand is not None:
        return None
    project = open_project(ctx)
    seconds = project.settings.loop.interval_s
    if interval:
        seconds = _interval(interval)
    controller = project.loop(dry_run=dry_run or None)
    stop = threading.Event()
    if not once:
        # SIGTERM (a pod's shutdown) ends the loop between ticks, never inside one.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ticks: list[TickResult] = []
    while True:
        ticks.append(controller.tick())
        _render.show_part(_tick_report(ticks[-1]))
        if once or stop.wait(seconds):
            break
    return _render.Report({"ticks": [_tick_data(t) for t in ticks]}, [])


_INTERVAL = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _interval(text: str) -> float:
    """``--interval``: a whole number of seconds, minutes, hours or days (``90s``, ``1h``)."""
    match = _INTERVAL.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(f"--interval {text!r}: expected a duration such as 30m, 1h or 1d.")
    return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _tick_data(tick: TickResult) -> dict[str, Any]:
    return {
        "acted": tick.acted,
        "dry_run": tick.dry_run,
        "holder": tick.holder,
        "reason": tick.reason,
        "steps": [{"model": model, "step": step} for model, step in tick.steps],
    }


def _tick_report(tick: TickResult) -> _render.Report:
    steps = ", ".join(f"{model}: {step}" for model, step in tick.steps) or "no model to act on"
    said = "tick (dry run: recorded, nothing done)" if tick.dry_run else "tick"
    line = f"{said}: {steps}" if tick.acted else f"tick skipped: {tick.reason}"
    return _render.Report(_tick_data(tick), [line])


@loop_app.command("status")
def status_command(ctx: typer.Context) -> _render.Report:
    """Each model's phase, since when, its candidate, and who holds the lease."""
    with _store(ctx) as store:
        states, lease, newest = store.states(), store.lease(), store.history(None, limit=1)
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
    view: list[_render.Block] = [_render.Table(state.model, state.to_dict()) for state in states]
    if not states:
        last = (f"the last tick, {newest[0].time.isoformat()}: {newest[0].model} "
                f"{newest[0].step}") if newest else "the loop has not ticked yet"  # fmt: skip
        view.append(f"every model is idle, nothing trained, deployed or held ({last})")
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
        f"{e.time.isoformat()}  {e.model}  {e.phase:<10}  {e.step}  {e.summary()}" for e in events
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
