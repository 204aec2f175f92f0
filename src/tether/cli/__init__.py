"""The command-line front: ``tether ...``. The only place in tether that prints."""

from tether.cli._app import app, main

__all__ = ["app", "main"]
