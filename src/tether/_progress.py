"""The progress callback that long work (train, reproduce, materialize, build) reports to.

Domain code calls it at each step, with the rows done (and the total) where it knows them;
the CLI turns the calls into a progress line on stderr, and anything else may ignore them.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called at each step of long work: ``progress("view customer", 20_000, 400_000)``."""

    def __call__(self, step: str, done: int | None = None, total: int | None = None) -> None:
        """Report ``step`` (and ``done`` of ``total`` rows, when known)."""


def no_progress(step: str, done: int | None = None, total: int | None = None) -> None:
    """The default callback: reports nothing."""
