"""Running the CLI in-process, as a user would from a shell."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tether.cli import main

RunCli = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run ``tether ARGS...``; return its exit code, stdout and stderr."""

    def run(args: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main(args)
        captured = capsys.readouterr()
        code = exited.value.code
        return (code if isinstance(code, int) else 0), captured.out, captured.err

    return run
