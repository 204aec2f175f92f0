"""No credential leaves tether in text: a password in each store's URI, every error path.

Each store of a project gets a URI holding a password (through a ``${NAME}`` reference, as
the docs advise; the settings then hold the password itself), and every command that uses it
fails: stores on 127.0.0.1 ports nobody listens on. The CLI's output with and without
``--debug``, the server's log and its HTTP bodies are searched for the password.
The last test does the same against a working PostgreSQL tracking store, prediction log and
event log (trust authentication, so a password in the URI is accepted and ignored), with an
admin 404 and a Redis online store that refuses the password.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from subprocess_servers import free_port

pytestmark = pytest.mark.slow
PASSWORD = "Pw-" + uuid.uuid4().hex[:10]
TOKEN = "admin-token-for-tests"
LIMITS = "[tracking]\ntimeout_s = 1\nretries = 0\n"


def _tether(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEAK_PW": PASSWORD, "TETHER_ADMIN_TOKEN": TOKEN}
    command = [sys.executable, "-m", "tether", "-C", str(project), *args]
    # Bounded: a command that hangs on a dead store fails here instead of blocking the suite.
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _configure(project: Path, toml: str) -> None:
    """Add ``toml``'s tables to the project's config; a table it has already is extended."""
    path = project / "tether.toml"
    text = path.read_text()
    for table in toml.split("\n["):
        header, _, body = table.lstrip("[").partition("\n")
        header = header.removesuffix("]")
        if f"[{header}]\n" in text:
            text = text.replace(f"[{header}]\n", f"[{header}]\n{body}\n", 1)
        else:
            text += f"\n[{header}]\n{body}\n"
    path.write_text(text)


def _assert_no_password(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text, text[-3000:]


def _dead(scheme: str) -> str:
    return f"{scheme}://tether:${{LEAK_PW}}@127.0.0.1:{free_port()}"


CLI_CASES = {
    "postgresql tracking store": (
        f'[tracking]\nuri = "{_dead("postgresql+psycopg")}/mlflow"\ntimeout_s = 1\nretries = 0\n',
        [["audit", "fraud-detector/1"], ["reproduce", "fraud-detector/1"],
         ["models", "deploy", "1", "--as", "champion", "--reason", "r"]],
    ),
    "http tracking store": (
        f'[tracking]\nuri = "{_dead("http")}"\ntimeout_s = 1\nretries = 0\n',
        [["audit", "fraud-detector/1"], ["reproduce", "fraud-detector/1"],
         ["models", "deploy", "1", "--as", "champion", "--reason", "r"]],
    ),
    "event log": (
        LIMITS + f'[store]\nurl = "{_dead("postgresql")}/e"\n',
        [["models", "status"], ["models", "deploy", "1", "--as", "champion", "--reason", "r"]],
    ),
    "online store": (
        LIMITS + f'[features]\nonline = "redis://:${{LEAK_PW}}@127.0.0.1:{free_port()}/0"\n',
        [["features", "get", "customer_id=c1,device_id=d1", "--request", "amount=5",
          "--request", "category=grocery", "--request", "country=US"],
         ["features", "materialize"]],
    ),
    "snapshot and artifact stores": (
        f'[tracking]\nartifact_uri = "{_dead("ftp")}/artifacts"\ntimeout_s = 1\nretries = 0\n'
        f'[storage]\nsnapshots = "{_dead("ftp")}/snapshots"\n',
        [["train"]],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_errors_never_show_a_store_password(fraud_project: Path, case: str) -> None:
    toml, commands = CLI_CASES[case]
    _configure(fraud_project, toml)
    subprocess.run(["git", "commit", "-qam", case], cwd=fraud_project, check=True)
    for command in commands:
        for debug in ([], ["--debug"]):
            done = _tether(fraud_project, *debug, *command)
            _assert_no_password(done.stdout, done.stderr)
            assert done.returncode != 0, (command, done.stdout, done.stderr)
            if case != "snapshot and artifact stores":  # that error names no store at all
                assert "***" in done.stderr, (command, done.stderr)  # the store, masked
            if debug:
                assert "Traceback" in done.stderr


@contextlib.contextmanager
def _served(project: Path, log: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "LEAK_PW": PASSWORD, "TETHER_ADMIN_TOKEN": TOKEN}
    command = [sys.executable, "-m", "tether", "-C", str(project), "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base}/healthz", timeout=2)
                break
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


def _bodies(base: str) -> list[str]:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    deploy = {"version": "99", "role": "champion", "actor": "t", "reason": "r"}
    calls = [
        httpx.get(f"{base}/readyz", timeout=30),
        httpx.get(f"{base}/v1/admin/status", headers=admin, timeout=30),
        httpx.post(f"{base}/v1/admin/deploy", headers=admin, json=deploy, timeout=30),
        httpx.post(f"{base}/v1/predict", json={"instances": [{"entity": {"customer_id": "c1"}}]},
                   timeout=30),
        httpx.post(f"{base}/v1/feedback", json={"instance_id": "nope", "label": 1}, timeout=30),
    ]  # fmt: skip
    return [response.text for response in calls]


SERVER_CASES = {
    "tracking store": (f'[tracking]\nuri = "{_dead("http")}"\n' + LIMITS.partition("\n")[2],
                       "http://tether:***@127.0.0.1"),
    "prediction log": (LIMITS + f'[store]\nurl = "{_dead("postgresql")}/p"\n',
                       "tether:***@127.0.0.1"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SERVER_CASES))
def test_the_server_never_shows_a_dead_store_password(
    fraud_project: Path, tmp_path: Path, case: str
) -> None:
    toml, masked = SERVER_CASES[case]
    _configure(fraud_project, toml)
    log = tmp_path / "server.log"
    bodies: list[str] = []
    with contextlib.suppress(httpx.HTTPError), _served(fraud_project, log) as base:
        bodies = _bodies(base)
    _assert_no_password(*bodies, log.read_text())
    assert masked in log.read_text()  # the failure was logged, with the store masked


@pytest.mark.services
def test_no_password_anywhere_with_working_postgresql_stores(
    fraud_project: Path, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    name = f"tether_leak_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        # Trust authentication: the password is sent, ignored, and must never be shown.
        base_url = f"postgresql+psycopg://postgres:${{LEAK_PW}}@127.0.0.1:5432/{name}"
        _configure(
            fraud_project,
            f'[tracking]\nuri = "{base_url}"\n[store]\nurl = "{base_url}"\n',
        )
        subprocess.run(["git", "commit", "-qam", "pg"], cwd=fraud_project, check=True)
        trained = _tether(fraud_project, "train")
        assert trained.returncode == 0, trained.stderr
        deployed = _tether(fraud_project, "models", "deploy", "1", "--as", "champion",
                           "--reason", "first")  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        outputs = [trained.stdout, trained.stderr, deployed.stdout, deployed.stderr]
        failing = [["audit", "fraud-detector/99"], ["reproduce", "fraud-detector/99"],
                   ["models", "deploy", "99", "--as", "shadow", "--reason", "r"]]  # fmt: skip
        for debug in ([], ["--debug"]):
            for command in failing:
                done = _tether(fraud_project, *debug, *command)
                assert done.returncode != 0
                outputs += [done.stdout, done.stderr]
        _assert_no_password(*outputs)

        # A Redis that has no password refuses one: the online store's error path.
        redis = redis_url.replace("redis://", "redis://:${LEAK_PW}@", 1)
        _configure(fraud_project, f'[features]\nonline = "{redis}"\n')
        log = tmp_path / "server.log"
        with _served(fraud_project, log) as base:
            bodies = _bodies(base)
        assert '"error":"unknown_version"' in bodies[2], bodies[2]  # the admin 404
        _assert_no_password(*bodies, log.read_text())
        assert "***" in log.read_text() + "".join(bodies)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
