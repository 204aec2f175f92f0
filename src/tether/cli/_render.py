"""Printing: every command returns data; this module turns it into text or JSON."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from tether._uris import mask_uri

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """Print an error paragraph on stderr (credentials in it masked: a last line of defence)."""
    err.print(f"[bold red]error:[/] {mask_uri(message)}", markup=True)


def warning(message: str) -> None:
    """Print a warning line on stderr."""
    err.print(f"[yellow]warning:[/] {mask_uri(message)}", markup=True)


def traceback_of(exc: BaseException) -> None:
    """Print ``exc``'s traceback on stderr (``--debug``), credentials masked."""
    lines = traceback.format_exception(exc)
    print(mask_uri("".join(lines)), end="", file=sys.stderr, flush=True)


def as_json(data: Mapping[str, Any]) -> None:
    """Print ``data`` as indented JSON on stdout (nothing else goes there with --json)."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def key_values(title: str, rows: Mapping[str, object]) -> None:
    """Print a two-column table."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, str(value))
    out.print(table)


def text(message: str) -> None:
    """Print plain text (no markup interpretation)."""
    out.print(message, markup=False)


@contextmanager
def steps(title: str, quiet: bool) -> Iterator[Any]:
    """A spinner whose label follows the progress callbacks of domain functions."""
    if quiet:
        yield lambda _step: None
        return
    with err.status(f"{title}...") as status:

        def update(step: str) -> None:
            status.update(f"{title}: {step}...")

        yield update
