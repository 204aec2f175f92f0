"""Start-up: the CLI and the server import only what a command needs (MLflow takes seconds).

Every check is on ``sys.modules`` of a fresh interpreter, never on time: what is imported is
what the start-up costs (``python -X importtime`` shows the seconds; docs/decisions.md has
the measured numbers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pandas", "numpy", "mlflow", "sklearn", "duckdb", "pyarrow", "fastapi")
"""What ``tether --help`` must not import: together they took 1.5-2.1 s of its start-up."""

_LOADED = (
    "import json, sys\n"
    "print(json.dumps(sorted({{m.partition('.')[0] for m in sys.modules}} & {names!r})))"
)


def _loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """The top-level packages of ``names`` that running ``code`` imported."""
    script = f"{code}\n{_LOADED.format(names=set(names))}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import tether.cli",
        "import tether.features",
        "from tether.lineage import project_views",
        "import tether; tether.load_settings",
        "import tether.lineage",
        "import tether.registry",
        "import tether.project",
        "import tether.serving",
    ],
)
def test_importing_does_not_import_mlflow(statement: str) -> None:
    assert _loaded_after(statement, ("mlflow",)) == []


def test_importing_the_server_imports_no_mlflow_until_a_model_is_loaded() -> None:
    assert _loaded_after("import tether.server", ("mlflow",)) == []


def test_the_lineage_names_load_from_their_modules() -> None:
    code = "import tether.lineage as l\nprint(l.audit.__module__, l.TrainResult.__module__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tether.lineage._audit", "tether.lineage._train"]


def _run_cli(args: list[str]) -> str:
    return (
        "import sys\nfrom tether.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass"
    )


def test_help_imports_no_heavy_library() -> None:
    assert _loaded_after(_run_cli(["--help"]), HEAVY) == []


def test_every_command_module_imports_no_heavy_library_at_its_top() -> None:
    # The commands register when main runs; importing every module must stay as light.
    code = "from tether.cli import _demo, _features, _models, _project, _serve"
    assert _loaded_after(code, (*HEAVY, "uvicorn")) == []


def test_models_status_reads_the_event_log_without_mlflow(tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_text(
        '[project]\nname = "p"\nmodel_name = "m"\n[train]\nentry_point = "train:train"\n'
        'label = "y"\n'
    )
    code = _run_cli(["-C", str(tmp_path), "models", "status", "--json"])
    assert _loaded_after(code, ("mlflow",)) == []
    assert (tmp_path / ".tether" / "tether.db").is_file()  # it did read the (new) event log
