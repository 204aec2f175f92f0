"""``tether train`` archives tether.toml with the code: it refuses one holding a password."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tether.config import load_settings
from tether.errors import ConfigError
from tether.lineage import train_project


def test_train_refuses_a_committed_config_with_a_literal_password(fraud_project: Path) -> None:
    toml = fraud_project / "tether.toml"
    toml.write_text(toml.read_text() + '\n[store]\nurl = "postgresql://tether:hunter2@db/tether"\n')
    subprocess.run(["git", "commit", "-qam", "a password"], cwd=fraud_project, check=True)
    with pytest.raises(ConfigError, match=r"store\.url.*\$\{TETHER_PG_PASSWORD\}") as no:
        train_project(load_settings(fraud_project))
    assert "hunter2" not in str(no.value)
    assert not list((fraud_project / ".tether").glob("artifacts/**/source.tar"))  # none archived
