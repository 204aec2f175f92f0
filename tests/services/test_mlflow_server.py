"""Training against a real ``mlflow server`` whose backend store is this machine's PostgreSQL."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from subprocess_servers import free_port, running_server
from tether.config import load_settings
from tether.lineage import reproduce, train_project

pytestmark = [pytest.mark.slow, pytest.mark.services]


@contextlib.contextmanager
def _scratch_database(admin_url: str) -> Iterator[str]:
    name = f"tether_mlflow_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _mlflow_server(backend_url: str, artifacts: Path) -> Iterator[str]:
    port = free_port()
    backend = backend_url.replace("postgresql://", "postgresql+psycopg://", 1)
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", backend,
        "--artifacts-destination", str(artifacts),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with running_server(command, f"{url}/health", name="mlflow server", stdout=subprocess.DEVNULL):
        yield url


def test_training_against_an_mlflow_server_on_postgresql(
    fraud_project: Path, postgres_url: str, tmp_path: Path
) -> None:
    with _scratch_database(postgres_url) as backend, _mlflow_server(backend, tmp_path) as url:
        toml = fraud_project / "tether.toml"
        toml.write_text(toml.read_text() + f'\n[tracking]\nuri = "{url}"\n')
        subprocess.run(["git", "commit", "-qam", "track on the server"], cwd=fraud_project,
                       check=True)  # fmt: skip
        settings = load_settings(fraud_project)
        result = train_project(settings)
        assert result.model_version == "1"

        with psycopg.connect(backend) as conn:
            row = conn.execute(
                "SELECT run_uuid FROM runs WHERE run_uuid = %s", (result.run_id,)
            ).fetchone()
        assert row is not None, "the run is in the server's PostgreSQL backend store"

        report = reproduce(settings.stores, f"fraud-detector/{result.model_version}")
        assert report.reproduced, report.reason
