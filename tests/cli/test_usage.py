"""Usage errors are a user's mistake (exit 2, typer's message), never an internal error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import tether

RunCli = Callable[[list[str]], tuple[int, str, str]]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["features", "get"], "Missing argument 'KEY...'"),
        (["features", "list", "--jsn"], "No such option: --jsn"),
        (["features", "lst"], "No such command 'lst'"),
        (["models", "deploy", "1", "--as", "champion"], "Missing option '--reason'"),
        (["reproduce", "x", "--tolerance", "-1"], "Invalid value for '--tolerance'"),
    ],
)
def test_a_usage_error_exits_2_with_typers_message(
    args: list[str], expected: str, run_cli: RunCli
) -> None:
    code, _, err = run_cli(args)
    assert code == 2
    assert expected in err
    assert "internal error" not in err and "Traceback" not in err
    assert "--help" in err  # where to look next


def test_version_prints_the_package_version(run_cli: RunCli) -> None:
    code, out, _ = run_cli(["--version"])
    assert code == 0
    assert out.strip() == f"tether {tether.__version__}"


def test_debug_only_adds_the_traceback(tmp_path: Path, run_cli: RunCli) -> None:
    args = ["-C", str(tmp_path), "reproduce", "not-a-run"]
    code, _, err = run_cli(args)
    debug_code, _, debug_err = run_cli(["--debug", *args])
    assert code == debug_code == 2
    assert "Traceback" not in err
    assert "Traceback (most recent call last)" in debug_err
    assert err.strip().splitlines()[-1] in debug_err  # the same one-paragraph message


def test_debug_keeps_the_exit_code_of_a_usage_error(run_cli: RunCli) -> None:
    code, _, err = run_cli(["--debug", "features", "get"])
    assert code == 2
    assert "Missing argument" in err


def _tether(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "SHELL": "/bin/bash"}
    command = [sys.executable, "-m", "tether", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def test_show_completion_prints_a_bash_completion_script(tmp_path: Path) -> None:
    done = _tether(["--show-completion"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "complete " in done.stdout and "_TETHER_COMPLETE" in done.stdout


def test_install_completion_writes_only_under_home(tmp_path: Path) -> None:
    done = _tether(["--install-completion"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "_TETHER_COMPLETE" in (tmp_path / ".bash_completions" / "tether.sh").read_text()


def test_completion_completes_a_command_name(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "_TETHER_COMPLETE": "complete_bash",
        "COMP_WORDS": "tether feat",
        "COMP_CWORD": "1",
    }
    code = "import sys; sys.argv[0] = 'tether'; from tether.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "features" in done.stdout.split()


def _commands() -> list[tuple[list[str], object]]:
    import typer.main

    from tether.cli._app import _register_commands, app

    _register_commands()
    found: list[tuple[list[str], object]] = []

    def walk(command: object, path: list[str]) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():  # a group's
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_an_option_that_says_its_default_in_words_shows_no_other(run_cli: RunCli) -> None:
    # An option whose real default comes from tether.toml (or another option) is declared as
    # 0 or "" and says its default in its help; "[default: 0]" beside that misleads.
    commands = _commands()
    assert {"serve", "demo"} <= {path[0] for path, _ in commands if path}
    for path, command in commands:
        for param in getattr(command, "params", []):
            said = "(default" in (getattr(param, "help", None) or "")
            shown = getattr(param, "show_default", None) and param.default not in ("", None)
            assert not (said and shown), (path, param.name)
        code, out, _ = run_cli([*path, "--help"])
        assert code == 0 and "[default: ]" not in " ".join(out.split()), path
