"""The typer application, its global options, and the mapping of errors to exit codes.

Exit codes: 0 success; 1 a check that ran and failed (a run that did not reproduce);
2 a user's mistake or an unavailable dependency (every :class:`TetherError`), with a
one-paragraph message and no traceback unless ``--debug``; 2 too for a usage error (an
unknown option, a missing argument), reported by typer in its own words; 70 a bug in
tether. ``--debug`` only adds the traceback: the exit code stays the same.

Output: a command returns a :class:`~tether.cli._render.Report` (its data and how a person
reads it), and :func:`_show`, the one result callback, prints it as text or, with the global
``--json``, as one JSON document on stdout. ``--json`` is one option of the whole CLI, and
may also be written after the command (``tether models status --json``, the habit of other
CLIs): :func:`main` moves it to the front, since click scopes an option to the command it
follows.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tether import __version__
from tether._uris import install_masking
from tether.cli import _render
from tether.errors import TetherError

if TYPE_CHECKING:
    from tether.project import Project

EXIT_FAILED_CHECK = 1
EXIT_USER_ERROR = 2
EXIT_INTERNAL = 70
PROG_NAME = "tether"
JSON_FLAG = "--json"


def _show(result: object, **_options: object) -> None:
    """Print what a command returned, and end with its exit code (the one result callback)."""
    if isinstance(result, _render.Report):
        code = _render.show(result)
        if code:
            raise typer.Exit(code)


app = typer.Typer(
    name=PROG_NAME,
    help="Keeps production models honest: reproducible training, audit, and more.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts quote TOML sections ("[serving] port") and lists; Rich markup would read
    # them as style tags and drop them, so help is printed as written.
    rich_markup_mode=None,
    result_callback=_show,
)


class State:
    """Global options, shared by every command through typer's context."""

    def __init__(self, project: Path, debug: bool) -> None:
        self.project = project
        self.debug = debug


def open_project(ctx: typer.Context) -> Project:
    """The project of ``--project`` (default: the current folder), closed when the command ends.

    Imported here, not at the top: a project's objects import pandas, DuckDB or MLflow when
    first used, and ``tether --help`` must not even import the module that builds them.
    """
    from tether.project import Project

    state: State = ctx.obj
    project = Project.open(state.project)
    ctx.call_on_close(project.close)
    return project


def _print_version(requested: bool) -> None:
    if requested:
        _render.text(f"{PROG_NAME} {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    project: Path = typer.Option(
        Path("."), "--project", "-C", help="The project folder (holding tether.toml)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    json: bool = typer.Option(
        False, JSON_FLAG, help="Print JSON on stdout (may also follow the command)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        expose_value=False,
        help="Print tether's version and exit.",
    ),
) -> None:
    ctx.obj = State(project, debug)
    _render.set_json(json)


def _register_commands() -> None:
    # Imported for their @app.command side effect, after `app` exists.
    from tether.cli import (  # noqa: F401
        _dashboard,
        _demo,
        _drift,
        _features,
        _loop,
        _models,
        _monitor,
        _predictions,
        _project,
        _runs,
        _serve,
    )


def hoist_json(args: list[str]) -> list[str]:
    """``--json`` anywhere before a ``--`` becomes the global option, first.

    >>> hoist_json(["models", "status", "--json"])
    ['--json', 'models', 'status']
    """
    end = args.index("--") if "--" in args else len(args)
    if JSON_FLAG not in args[:end]:
        return args
    return [JSON_FLAG, *(a for a in args[:end] if a != JSON_FLAG), *args[end:]]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with its status code.

    >>> main(["--version"])  # doctest: +SKIP
    tether 0.1.0
    """
    _register_commands()
    args = hoist_json(sys.argv[1:] if argv is None else argv)
    _render.set_json(False)  # until the global options say otherwise
    debug = "--debug" in args
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_masking(logging.getLogger().handlers)  # libraries' log lines quote URIs too
    try:
        # Standalone mode: typer itself reports usage errors (exit 2, with the usage line
        # and its own message), serves shell completion, and exits with a command's code.
        app(args, prog_name=PROG_NAME, standalone_mode=True)
    except TetherError as exc:
        _fail(exc, str(exc), debug)
        sys.exit(EXIT_USER_ERROR)
    except Exception as exc:  # noqa: BLE001 - the process boundary: a bug, reported as one
        hint = "the traceback is above" if debug else "rerun with --debug for the traceback"
        _fail(exc, f"internal error ({type(exc).__name__}: {exc}); {hint}", debug)
        sys.exit(EXIT_INTERNAL)


def _fail(exc: BaseException, message: str, debug: bool) -> None:
    if debug:
        _render.traceback(exc)
    _render.error(message)
