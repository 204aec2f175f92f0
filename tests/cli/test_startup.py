"""The CLI starts without MLflow: only the commands that need it import it (seconds)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "import tether.cli",
        "import tether.features",
        "from tether.lineage import feature_store, online_backend, project_views",
        "import tether; tether.load_settings",
    ],
)
def test_importing_does_not_import_mlflow(statement: str) -> None:
    loaded = "print(sorted(m for m in sys.modules if m.startswith('mlflow')))"
    code = f"{statement}\nimport sys\n{loaded}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_lineage_names_still_load_on_first_use() -> None:
    code = "import tether\nprint(tether.audit.__module__, tether.TrainResult.__module__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tether.lineage._audit", "tether.lineage._train"]
