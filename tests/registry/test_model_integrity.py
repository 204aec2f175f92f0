"""The registry loader verifies a version's whole artifact folder before unpickling anything."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest

from model_attacks import ATTACKS, Payload, attacked, model_folder
from tether.cli import main
from tether.config import load_settings
from tether.errors import IntegrityError
from tether.lineage import train_project
from tether.lineage._artifacts import MANIFEST_SHA256_TAG, MANIFEST_TAG
from tether.registry import EventLog, registered_digest
from tether.serving import ServedModel, load_version

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, make_fraud_project: Callable[[Path], Path]
) -> Path:
    """A project with one version registered by ``tether train``."""
    directory = make_fraud_project(tmp_path_factory.mktemp("integrity") / "p")
    train_project(load_settings(directory).with_params({"max_iter": "10"}))
    return directory


def _load(project: Path, version: str = "1") -> ServedModel:
    settings = load_settings(project)
    events = EventLog(settings.store.url)
    try:
        return load_version(settings.stores.tracking_uri, settings.model_name, version,
                            events=events)  # fmt: skip
    finally:
        events.close()


def test_training_records_the_manifest_digest_in_tags_and_the_event_log(project: Path) -> None:
    settings = load_settings(project)
    client = mlflow.MlflowClient(tracking_uri=settings.stores.tracking_uri)
    version = client.get_model_version(settings.model_name, "1")
    run = client.get_run(version.run_id)
    manifest = json.loads(run.data.tags[MANIFEST_TAG])
    assert manifest["format_version"] == 1 and manifest["model_file"] == "model.pkl"
    assert {"MLmodel", "model.pkl"} <= set(manifest["files"])
    digest = run.data.tags[MANIFEST_SHA256_TAG]
    assert version.tags[MANIFEST_SHA256_TAG] == digest
    events = EventLog(settings.store.url)
    [register] = [e for e in events.events(settings.model_name) if e.action == "register"]
    assert register.details["version"] == "1" and register.after == {}
    assert registered_digest(events, settings.model_name, "1") == digest


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_tampered_artifact_folder_is_refused_and_no_payload_runs(
    project: Path, attack: str, tmp_path: Path
) -> None:
    served = _load(project)
    marker = tmp_path / "payload-ran"
    folder = model_folder(project, served.sha256)
    with attacked(folder, attack, marker), pytest.raises(IntegrityError) as refused:
        _load(project)
    message = str(refused.value)
    assert "fraud-detector/1" in message
    assert "refusing to load" in message.lower()
    if attack in ("changed_mlmodel", "changed_model_file"):
        changed = "MLmodel" if attack == "changed_mlmodel" else "model.pkl"
        assert changed in message and message.count("sha256") >= 1
    else:
        assert "added" in message and ".pkl" in message
    assert not marker.exists(), "the payload ran"
    _load(project)  # restored: it loads again


def test_digests_that_disagree_are_refused(project: Path) -> None:
    settings = load_settings(project)
    client = mlflow.MlflowClient(tracking_uri=settings.stores.tracking_uri)
    version = client.get_model_version(settings.model_name, "1")
    original = version.tags[MANIFEST_SHA256_TAG]
    client.set_model_version_tag(settings.model_name, "1", MANIFEST_SHA256_TAG, "0" * 64)
    try:
        with pytest.raises(IntegrityError, match="disagree") as refused:
            _load(project)
        assert original in str(refused.value) and "0" * 64 in str(refused.value)
    finally:
        client.set_model_version_tag(settings.model_name, "1", MANIFEST_SHA256_TAG, original)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return (code if isinstance(code, int) else 0), capsys.readouterr().out


def test_a_legacy_version_is_refused_until_a_person_trusts_it(
    fraud_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(fraud_project)
    train_project(settings.with_params({"max_iter": "10"}))
    # What a version registered before manifests looks like: no manifest tags, no event.
    client = mlflow.MlflowClient(tracking_uri=settings.stores.tracking_uri)
    run_id = client.get_model_version(settings.model_name, "1").run_id
    client.delete_tag(run_id, MANIFEST_TAG)
    client.delete_tag(run_id, MANIFEST_SHA256_TAG)
    client.delete_model_version_tag(settings.model_name, "1", MANIFEST_SHA256_TAG)
    (fraud_project / ".tether" / "tether.db").unlink()  # the one store: only the event log here

    with pytest.raises(IntegrityError, match="tether models verify 1 --trust"):
        _load(fraud_project)
    code, out = _cli(["-C", str(fraud_project), "models", "verify", "1"], capsys)
    assert code == 1 and "NOT VERIFIED" in out and "--trust" in out

    trust = ["-C", str(fraud_project), "models", "verify", "01", "--trust",
             "--reason", "checked the files by hand", "--actor", "ana", "--json"]  # fmt: skip
    code, out = _cli(trust, capsys)
    assert code == 0, out
    report = json.loads(out)
    assert report["verified"] and report["version"] == "1"
    events = EventLog(settings.store.url)
    [trusted] = [e for e in events.events(settings.model_name) if e.action == "trust"]
    assert (trusted.id, trusted.actor, trusted.reason) == (
        report["event"],
        "ana",
        "checked the files by hand",
    )
    assert trusted.details["manifest_sha256"] == report["manifest_sha256"]
    assert _load(fraud_project).version == "1"
    code, out = _cli(["-C", str(fraud_project), "models", "verify", "1"], capsys)
    assert code == 0 and out.startswith("VERIFIED")


def test_what_mlflows_own_loader_adds_is_accepted_and_nothing_else_under_its_name(
    project: Path, tmp_path: Path
) -> None:
    settings = load_settings(project)
    served = _load(project)
    folder = model_folder(project, served.sha256)
    added = folder / "registered_model_meta"
    # What MLflow 3.17's loader writes into a local store's model folder when it loads
    # models:/NAME/VERSION (seen after `mlflow models serve` in benchmarks/serving.py).
    added.write_text(f"model_name: {settings.model_name}\nmodel_version: '1'\n")
    try:
        assert added.is_file()
        assert _load(project).sha256 == served.sha256
        marker = tmp_path / "payload-ran"
        added.write_bytes(pickle.dumps(Payload(marker)))  # the same name, other bytes
        with pytest.raises(IntegrityError, match="added"):
            _load(project)
        assert not marker.exists()
    finally:
        added.unlink(missing_ok=True)
