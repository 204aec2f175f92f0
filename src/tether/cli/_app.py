"""The typer application, its global options, and the mapping of errors to exit codes.

Exit codes: 0 success; 1 a check that ran and failed (a run that did not reproduce);
2 a user's mistake or an unavailable dependency (every :class:`TetherError`), with a
one-paragraph message and no traceback unless ``--debug``; 70 a bug in tether.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import typer

from tether._uris import install_masking
from tether.cli import _render
from tether.errors import TetherError

EXIT_FAILED_CHECK = 1
EXIT_USER_ERROR = 2
EXIT_INTERNAL = 70

app = typer.Typer(
    name="tether",
    help="Keeps production models honest: reproducible training, audit, and more.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class State:
    """Global options, shared by every command through typer's context."""

    def __init__(self, project: Path, debug: bool) -> None:
        self.project = project
        self.debug = debug


@app.callback()
def _options(
    ctx: typer.Context,
    project: Path = typer.Option(
        Path("."), "--project", "-C", help="The project folder (holding tether.toml)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
) -> None:
    ctx.obj = State(project, debug)


def _register_commands() -> None:
    # Imported for their @app.command side effect, after `app` exists.
    from tether.cli import _demo, _features, _models, _project, _serve  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with its status code."""
    _register_commands()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_masking(logging.getLogger().handlers)  # libraries' log lines quote URIs too
    try:
        code = app(args, standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        _render.error("aborted")
        code = EXIT_USER_ERROR
    except TetherError as exc:
        if debug:
            _render.traceback_of(exc)  # masked: a raw traceback would quote store URIs
        _render.error(str(exc))
        code = EXIT_USER_ERROR
    except Exception as exc:  # noqa: BLE001 - the process boundary: a bug, reported as one
        if debug:
            _render.traceback_of(exc)
        _render.error(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug")
        code = EXIT_INTERNAL
    sys.exit(code if isinstance(code, int) else 0)
