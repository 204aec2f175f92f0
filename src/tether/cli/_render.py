"""Printing: every command returns data; this module turns it into text or JSON.

Everything is printed verbatim. tether's messages quote TOML sections (``[serving]``), lists
(``['customer_id']``) and the user's own values, which Rich would read as markup (style tags,
``:emoji:`` codes) and drop, so both consoles interpret nothing, and the only styles (the
red ``error:``) are applied to :class:`~rich.text.Text` spans, never parsed from strings.
Errors, warnings and tracebacks pass through :func:`tether._uris.mask_uri`, because a
library's exception text can quote a URI with its password.
"""

from __future__ import annotations

import json
import traceback as _traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from tether._uris import mask_uri

out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


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
    table = Table(title=Text(title), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(Text(key), Text(str(value)))
    out.print(table)


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a table with a header row; cells are printed verbatim."""
    shown = Table(*(Column(header=Text(column)) for column in columns))
    for row in rows:
        shown.add_row(*(Text(cell) for cell in row))
    out.print(shown)


def text(message: str) -> None:
    """Print plain text."""
    out.print(Text(message))


@contextmanager
def steps(title: str, quiet: bool) -> Iterator[Any]:
    """A spinner whose label follows the progress callbacks of domain functions."""
    if quiet:
        yield lambda _step: None
        return
    with err.status(Text(f"{title}...")) as status:

        def update(step: str) -> None:
            status.update(Text(f"{title}: {step}..."))

        yield update
