"""Printing: every command returns a :class:`Report`; this module prints it as text or JSON.

One output mode per process, set by the global ``--json`` (:func:`set_json`): a command never
asks which one is on. With ``--json``, stdout holds exactly one JSON document, the report's
``data``, and progress is silent; without it, the report's ``view`` (plain lines and
two-column tables) goes to stdout. Warnings and failures go to stderr in both modes, so a
script reading the JSON still sees them, and the report's exit code ends the process.

Everything is printed verbatim. tether's messages quote TOML sections (``[serving]``), lists
(``['customer_id']``) and the user's own values, which Rich would read as markup (style tags,
``:emoji:`` codes) and drop, so both consoles interpret nothing, and the only styles (the
red ``error:``) are applied to :class:`~rich.text.Text` spans, never parsed from strings.
Errors, warnings and tracebacks pass through :func:`tether._uris.mask_uri`, because a
library's exception text can quote a URI with its password.

Progress (:func:`steps`) is a live line on a terminal (spinner, step, and a bar with the
rows done where the work knows them) and one line per step otherwise, so that a log of a
piped or scheduled run still says what ran.
"""

from __future__ import annotations

import json
import traceback as _traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich import progress as live
from rich.console import Console
from rich.table import Column
from rich.table import Table as RichTable
from rich.text import Text

from tether._progress import Progress, no_progress
from tether._uris import mask_uri

out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
_mode = {"json": False}  # set once per invocation by the app's global options


@dataclass(frozen=True)
class Table:
    """A two-column table for a person: a title and ``key: value`` rows."""

    title: str
    rows: Mapping[str, object]


@dataclass(frozen=True)
class Grid:
    """A table with a header row: ``columns``, then one sequence of cells per row."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]


Block = str | Table | Grid
"""One piece of a command's view: a plain line (or paragraph), a two-column table, a grid."""


@dataclass(frozen=True)
class Report:
    """What a command returns: its data, how a person reads it, and how it ends.

    ``data`` is what ``--json`` prints (JSON-able; dates and paths print as strings);
    ``view`` is printed in order without ``--json``; ``warnings`` and ``errors`` go to
    stderr in both modes; ``exit_code`` is the process's (1 for a check that ran and
    failed, see ``cli/_app.py``).
    """

    data: Mapping[str, Any]
    view: Sequence[Block] = ()
    warnings: Sequence[str] = ()
    errors: Sequence[str] = ()
    exit_code: int = 0


def set_json(enabled: bool) -> None:
    """Choose the output mode of this invocation (the global ``--json``)."""
    _mode["json"] = enabled


def json_enabled() -> bool:
    """Whether this invocation prints JSON."""
    return _mode["json"]


def show(report: Report) -> int:
    """Print ``report`` in the invocation's mode; return its exit code."""
    if json_enabled():
        as_json(report.data)
    else:
        _view(report.view)
    for message in report.warnings:
        warning(message)
    for message in report.errors:
        error(message)
    return report.exit_code


def show_part(report: Report) -> None:
    """Print a part of a command's output as soon as it is done (a chapter of the demo).

    Its view and warnings; nothing on stdout under ``--json``, where the report the command
    returns at the end carries the data of every part.
    """
    if not json_enabled():
        _view(report.view)
    for message in report.warnings:
        warning(message)


def _view(blocks: Sequence[Block]) -> None:
    for block in blocks:
        if isinstance(block, Table):
            key_values(block.title, block.rows)
        elif isinstance(block, Grid):
            _grid(block)
        else:
            text(block)


def error(message: str) -> None:
    """Print an error paragraph on stderr."""
    err.print(Text.assemble(("error:", "bold red"), " ", mask_uri(message)))


def warning(message: str) -> None:
    """Print a warning line on stderr."""
    err.print(Text.assemble(("warning:", "yellow"), " ", mask_uri(message)))


def traceback(exc: BaseException) -> None:
    """Print the traceback of ``exc`` (with ``--debug``) on stderr, as Python would."""
    err.print(Text(mask_uri("".join(_traceback.format_exception(exc))).rstrip("\n")))


def as_json(data: Mapping[str, Any]) -> None:
    """Print ``data`` as indented JSON on stdout (nothing else goes there with --json)."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def key_values(title: str, rows: Mapping[str, object]) -> None:
    """Print a two-column table."""
    table = RichTable(title=Text(title), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(Text(key), Text(str(value)))
    out.print(table)


def _grid(grid: Grid) -> None:
    """Print a table with a header row; cells are printed verbatim."""
    # Folded, not cut: an instance id or a time is no use as "instance_…" in a narrow terminal.
    shown = RichTable(*(Column(header=Text(column), overflow="fold") for column in grid.columns))
    for row in grid.rows:
        shown.add_row(*(Text(cell) for cell in row))
    out.print(shown)


def text(message: str) -> None:
    """Print plain text."""
    out.print(Text(message))


def metrics_line(metrics: Mapping[str, float]) -> str:
    """``eval_rows=1317 precision=0.8123 threshold=5.14e-05``: metrics on one line, by name;
    a count without decimals, 4 decimals otherwise, and a tiny value in 3 significant digits
    (a threshold of 0.00005 is no ``0.0000``).

    >>> metrics_line({"roc_auc": 0.93121, "eval_rows": 1317.0, "threshold": 5.1432e-05})
    'eval_rows=1317 roc_auc=0.9312 threshold=5.14e-05'
    """
    return " ".join(f"{name}={_metric(value)}" for name, value in sorted(metrics.items()))


def _metric(value: float) -> str:
    if float(value).is_integer() and abs(value) > 1:  # a count; 1.0 is a rate
        return f"{value:.0f}"
    return f"{value:.4f}" if value == 0 or abs(value) >= 0.001 else f"{value:.3g}"


def _rows(done: int | None, total: int | None) -> str:
    if done is None:
        return ""
    return f" {done:,} of {total:,} rows" if total is not None else f" {done:,} rows"


@contextmanager
def steps(title: str, quiet: bool | None = None) -> Iterator[Progress]:
    """Progress on stderr that follows the callbacks of domain functions.

    Quiet under ``--json`` (or when ``quiet`` says so): stdout then holds only the JSON, and
    stderr only warnings and errors.
    """
    if json_enabled() if quiet is None else quiet:
        yield no_progress
        return
    if not err.is_terminal:

        def line(step: str, done: int | None = None, total: int | None = None) -> None:
            err.print(Text(f"{title}: {step}...{_rows(done, total)}"))

        yield line
        return
    columns = (
        live.SpinnerColumn(),
        live.TextColumn("{task.description}", markup=False),
        live.BarColumn(),
        live.TaskProgressColumn(),
    )
    with live.Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(f"{title}...", total=None)

        def update(step: str, done: int | None = None, total: int | None = None) -> None:
            label = f"{title}: {step}...{_rows(done, total)}"
            progress.update(task, description=label, completed=done or 0, total=total)

        yield update
