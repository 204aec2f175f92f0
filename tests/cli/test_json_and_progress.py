"""One --json for the whole CLI, one renderer, and progress on stderr that --json silences."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import tether.cli
from tether.cli._app import hoist_json

RunCli = Callable[[list[str]], tuple[int, str, str]]
CLI_DIR = Path(tether.cli.__file__).parent


def _build_args(project: Path, tmp_path: Path, rows: int) -> list[str]:
    """``features build`` of the project's last ``rows`` events into ``tmp_path/t.pq``."""
    events = pd.read_parquet(project / "data" / "events.parquet")
    events[["customer_id", "event_time", "amount"]].tail(rows).to_parquet(tmp_path / "spine.pq")
    spine, out = str(tmp_path / "spine.pq"), str(tmp_path / "t.pq")
    return ["-C", str(project), "features", "build", "--spine", spine, "--out", out]


def test_json_after_the_command_is_the_global_option() -> None:
    assert hoist_json(["models", "status", "--json"]) == ["--json", "models", "status"]
    assert hoist_json(["-C", "p", "features", "get", "a", "--json"]) == [
        "--json", "-C", "p", "features", "get", "a",
    ]  # fmt: skip
    assert hoist_json(["features", "list"]) == ["features", "list"]
    # After "--", "--json" is an argument, as every option is.
    assert hoist_json(["features", "get", "--", "--json"]) == ["features", "get", "--", "--json"]


def test_no_command_has_its_own_json_option_or_prints_json_itself() -> None:
    for path in sorted(CLI_DIR.glob("*.py")):
        if path.name in {"_render.py", "_app.py"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                names = [a.arg for a in node.args.args + node.args.kwonlyargs]
                assert "json" not in names, f"{path.name}: {node.name} takes its own json"
            if isinstance(node, ast.Attribute) and node.attr in {"as_json", "json_enabled"}:
                raise AssertionError(f"{path.name}:{node.lineno} chooses the output mode")
            if isinstance(node, ast.Constant) and node.value == "--json":
                raise AssertionError(f"{path.name}:{node.lineno} declares --json")


def test_the_global_json_and_the_habit_print_the_same_document(
    feature_project: Path, run_cli: RunCli
) -> None:
    project = ["-C", str(feature_project)]
    code, before, _ = run_cli(["--json", *project, "features", "list"])
    assert code == 0
    code, after, _ = run_cli([*project, "features", "list", "--json"])
    assert code == 0
    assert json.loads(before) == json.loads(after)
    assert [f["feature"] for f in json.loads(before)["features"]] == ["n_1d", "mean_7d", "ratio"]
    code, text, _ = run_cli([*project, "features", "list"])
    assert code == 0
    assert text.startswith("feature definitions version ")


def test_build_and_materialize_show_steps_and_rows_on_stderr(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    cli = ["-C", str(feature_project), "features"]
    code, out, err = run_cli(_build_args(feature_project, tmp_path, 20))
    assert code == 0, err
    assert "building the training set: reading the spine..." in err
    assert "building the training set: computing view customer... 20 rows" in err
    assert out.startswith("20 rows with 3 features written to")

    code, out, err = run_cli([*cli, "materialize"])
    assert code == 0, err
    assert "materializing: reading view customer..." in err
    assert "materializing: storing view customer... 400 of 400 rows" in err


def test_json_output_is_pure_json_and_progress_is_quiet(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    cli = ["-C", str(feature_project), "features"]
    code, out, err = run_cli([*_build_args(feature_project, tmp_path, 5), "--json"])
    assert code == 0, err
    assert json.loads(out) == {"rows": 5, "features": 3, "out": str(tmp_path / "t.pq")}
    assert err == ""
    code, out, err = run_cli(["--json", *cli, "materialize"])
    assert code == 0, err
    assert json.loads(out)["rows"] == 400
    assert err == ""


def test_a_failed_check_prints_its_json_and_its_error_and_exits_1(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    cli = ["-C", str(feature_project), "features"]
    assert run_cli(_build_args(feature_project, tmp_path, 10))[0] == 0
    served = pd.read_parquet(tmp_path / "t.pq").rename(columns={"event_time": "request_time"})
    served["n_1d"] = served["n_1d"] + 1  # every served vector is off by one
    served.to_parquet(tmp_path / "served.parquet")
    code, out, err = run_cli(["--json", *cli, "skew", "--served", str(tmp_path / "served.parquet")])
    assert code == 1
    report = {f["feature"]: f for f in json.loads(out)["features"]}
    assert report["n_1d"]["mismatch_rate"] == pytest.approx(1.0)
    assert err.startswith("error: skew above the bound")
