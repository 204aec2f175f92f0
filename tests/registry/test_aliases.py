"""Registry transitions on a real MLflow registry, with the event log as the authority."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest

from tether.config import load_settings
from tether.errors import (
    FeatureVersionMismatchError,
    IntegrityError,
    RegistryError,
    TransitionError,
    UnknownVersionError,
)
from tether.lineage import train_project
from tether.registry._aliases import ModelAliases
from tether.registry._events import Event, EventLog
from tether.serving import RegistryDeploymentSource, load_version
from tether.serving._loading import _check_feature_version

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, make_fraud_project: Callable[[Path], Path]
) -> Path:
    """A project with three registered versions."""
    directory = make_fraud_project(tmp_path_factory.mktemp("registry") / "p")
    for max_iter in ("10", "11", "12"):
        train_project(load_settings(directory).with_params({"max_iter": max_iter}))
    return directory


@pytest.fixture
def aliases(project: Path, tmp_path: Path) -> ModelAliases:
    """A fresh event log (so each test starts with no aliases) over the shared registry."""
    settings = load_settings(project)
    log = EventLog(f"sqlite:///{tmp_path / 'events.db'}")
    copy_registrations(EventLog(settings.store.url), log, settings.model_name)
    model = ModelAliases(log, settings.stores.tracking_uri, settings.model_name)
    model.sync()
    return model


def copy_registrations(source: EventLog, target: EventLog, model: str) -> None:
    """Give a fresh event log the ``register`` events (the manifest digests) of ``source``."""
    for event in source.events(model):
        if event.action == "register":
            target.append(model, "register", actor=event.actor, reason=event.reason,
                          after={}, details=event.details)  # fmt: skip


def _transitions(model: ModelAliases) -> list[Event]:
    """The model's events but the ``register`` events the fixture copied in."""
    return [e for e in model.log.events(model.model) if e.action != "register"]


def _mlflow_aliases(model: ModelAliases) -> dict[str, str]:
    client = mlflow.MlflowClient(tracking_uri=model.tracking_uri)
    return {a: str(v) for a, v in client.get_registered_model(model.model).aliases.items()}


def test_deploy_promote_rollback_and_retire_keep_mlflow_in_step(aliases: ModelAliases) -> None:
    aliases.deploy("1", "champion", actor="ana", reason="first model")
    deployed = aliases.deploy("2", "challenger", traffic=0.1, actor="ana", reason="retrained")
    aliases.deploy("3", "shadow", actor="ana", reason="try it on real traffic")
    status = aliases.status()
    assert dict(status.aliases) == {"champion": "1", "challenger": "2", "shadow-3": "3"}
    assert status.challenger_share == 0.1
    assert status.experiment_id == str(deployed.id)
    assert _mlflow_aliases(aliases) == dict(status.aliases)

    promoted = aliases.promote(actor="loop", reason="won", evidence={"p_value": 0.01})
    assert promoted.details["evidence"] == {"p_value": 0.01}
    assert aliases.log.latest_state(aliases.model) == {
        "champion": "2", "previous-champion": "1", "shadow-3": "3",
    }  # fmt: skip
    rolled = aliases.rollback(actor="ana", reason="precision fell")
    assert rolled.after["champion"] == "1"
    assert rolled.details["demoted"] == "2"
    aliases.retire("3", actor="ana", reason="done")
    assert _mlflow_aliases(aliases) == {"champion": "1"}

    events = _transitions(aliases)
    assert [e.action for e in events] == [
        "deploy", "deploy", "deploy", "promote", "rollback", "retire",
    ]  # fmt: skip
    client = mlflow.MlflowClient(tracking_uri=aliases.tracking_uri)
    tag = client.get_model_version(aliases.model, "3").tags["tether.last_transition"]
    assert '"action": "retire"' in tag


def test_transitions_the_state_does_not_allow_are_refused(aliases: ModelAliases) -> None:
    with pytest.raises(TransitionError, match="no challenger"):
        aliases.promote(actor="a", reason="r")
    aliases.deploy("1", "champion", actor="a", reason="r")
    with pytest.raises(TransitionError, match="has a champion"):
        aliases.deploy("2", "champion", actor="a", reason="r")
    with pytest.raises(TransitionError, match="is the champion"):
        aliases.retire("1", actor="a", reason="r")
    with pytest.raises(TransitionError, match="no previous champion"):
        aliases.rollback(actor="a", reason="r")
    with pytest.raises(UnknownVersionError, match="/99"):
        aliases.deploy("99", "shadow", actor="a", reason="r")


def test_racing_challengers_leave_exactly_one(aliases: ModelAliases) -> None:
    aliases.deploy("1", "champion", actor="a", reason="r")
    outcomes: list[str] = []

    def deploy(version: str) -> None:
        try:
            aliases.deploy(version, "challenger", actor="a", reason="race")
            outcomes.append(f"won {version}")
        except TransitionError:
            outcomes.append("refused")

    threads = [threading.Thread(target=deploy, args=(v,)) for v in ("2", "3", "2", "3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("refused") == 3
    assert len(_transitions(aliases)) == 2


def test_sync_repairs_mlflow_aliases_from_the_event_log(aliases: ModelAliases) -> None:
    aliases.deploy("1", "champion", actor="a", reason="r")
    client = mlflow.MlflowClient(tracking_uri=aliases.tracking_uri)
    client.set_registered_model_alias(aliases.model, "champion", "3")
    client.set_registered_model_alias(aliases.model, "stray", "2")
    changes = aliases.sync()
    assert changes == ["deleted stray", "champion -> 1"]
    assert _mlflow_aliases(aliases) == {"champion": "1"}


def test_the_deployment_source_loads_verified_models(aliases: ModelAliases) -> None:
    aliases.deploy("1", "champion", actor="a", reason="r")
    aliases.deploy("2", "challenger", traffic=0.2, actor="a", reason="r")
    source = RegistryDeploymentSource(aliases)
    deployment = source.load()
    assert deployment.champion.version == "1"
    assert deployment.challenger is not None and deployment.challenger.version == "2"
    assert deployment.challenger_share == 0.2
    assert "amount" in deployment.champion.features
    assert source.latest_event_id() == deployment.event_id == _transitions(aliases)[-1].id
    assert [e.action for e in _transitions(aliases)] == ["deploy", "deploy"]


def test_a_tampered_model_file_is_refused_naming_both_digests(project: Path) -> None:
    settings = load_settings(project)
    events = EventLog(settings.store.url)
    served = load_version(settings.stores.tracking_uri, settings.model_name, "2", events=events)
    files = sorted((project / ".tether" / "artifacts").rglob("model.pkl"))
    target = next(f for f in files if _sha(f) == served.sha256)
    original = target.read_bytes()
    target.write_bytes(original + b"#")
    try:
        with pytest.raises(IntegrityError) as excinfo:
            load_version(settings.stores.tracking_uri, settings.model_name, "2", events=events)
        message = str(excinfo.value)
        assert "fraud-detector/2" in message and served.sha256 in message
    finally:
        target.write_bytes(original)


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_feature_version_mismatch_is_refused_or_warned(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(FeatureVersionMismatchError, match="trained on feature definitions"):
        _check_feature_version("m", "1", "a" * 64, "b" * 64, "refuse")
    _check_feature_version("m", "1", "a" * 64, "b" * 64, "warn")
    assert "serving.feature_mismatch = 'warn'" in caplog.text
    _check_feature_version("m", "1", "a" * 64, "a" * 64, "refuse")


def test_versions_are_canonical_and_the_champion_cannot_also_be_the_challenger(
    aliases: ModelAliases,
) -> None:
    aliases.deploy("0001", "champion", actor="a", reason="r")
    assert aliases.status().aliases == {"champion": "1"}
    for spelling in ("01", "1", " 1"):
        with pytest.raises(TransitionError, match=r"fraud-detector/1 is the champion"):
            aliases.deploy(spelling, "challenger", actor="a", reason="r")
        with pytest.raises(TransitionError, match=r"fraud-detector/1 is the champion"):
            aliases.deploy(spelling, "shadow", actor="a", reason="r")
    for bad in ("\u0661", "1.0", "0", "-1", "", "\uff11"):
        with pytest.raises(RegistryError, match="ASCII digits"):
            aliases.deploy(bad, "challenger", actor="a", reason="r")
    aliases.deploy("02", "challenger", actor="a", reason="r")
    assert aliases.status().aliases == {"champion": "1", "challenger": "2"}
    aliases.retire("002", actor="a", reason="r")
    assert aliases.status().aliases == {"champion": "1"}


def test_a_version_holds_one_serving_role(aliases: ModelAliases) -> None:
    aliases.deploy("1", "champion", actor="a", reason="r")
    aliases.deploy("2", "shadow", actor="a", reason="r")
    with pytest.raises(TransitionError, match=r"already deployed as shadow-2.*retire") as refused:
        aliases.deploy("2", "challenger", actor="a", reason="r")
    assert "one serving role at a time" in str(refused.value)
    aliases.deploy("3", "challenger", actor="a", reason="r")
    with pytest.raises(TransitionError, match="already deployed as challenger"):
        aliases.deploy("3", "shadow", actor="a", reason="r")
    with pytest.raises(TransitionError, match="already deployed as shadow-2"):
        aliases.deploy("2", "shadow", actor="a", reason="r")
    assert aliases.status().aliases == {"champion": "1", "shadow-2": "2", "challenger": "3"}


def test_the_last_transition_tag_is_set_only_on_versions_the_event_changed(
    aliases: ModelAliases,
) -> None:
    first = aliases.deploy("1", "champion", actor="a", reason="first")
    third = aliases.deploy("3", "shadow", actor="a", reason="shadow three")
    client = mlflow.MlflowClient(tracking_uri=aliases.tracking_uri)

    def tagged(version: str) -> int:
        tags = client.get_model_version(aliases.model, version).tags
        return int(json.loads(tags["tether.last_transition"])["event"])

    assert tagged("1") == first.id
    assert tagged("3") == third.id
    assert not third.aliases_stale and third.aliases_error == ""


def test_an_unknown_version_or_event_names_no_database_path(
    aliases: ModelAliases, project: Path
) -> None:
    with pytest.raises(UnknownVersionError) as unknown:
        aliases.deploy("99", "shadow", actor="a", reason="r")
    with pytest.raises(RegistryError) as no_event:
        aliases.log.event(10_000)
    for message in (str(unknown.value), str(no_event.value)):
        assert "sqlite" not in message and str(project) not in message and ".db" not in message
    assert "fraud-detector/99" in str(unknown.value)
    assert "no event 10000" in str(no_event.value)
