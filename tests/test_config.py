"""tether.toml validation: every mistake names the key and what was expected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tether._uris import mask_uri
from tether.config import (
    TRACKING_URI_ENV,
    check_no_literal_credentials,
    load_settings,
    locate_stores,
    settings_from_mapping,
)
from tether.errors import ConfigError

VALID = {
    "project": {"name": "fraud", "model_name": "fraud-detector"},
    "datasets": {"events": "data/events.parquet"},
    "train": {
        "entry_point": "train:train",
        "label": "is_fraud",
        "seed": 3,
        "params": {"max_iter": 10, "rate": 0.1, "early": True, "loss": "log"},
    },
}


def _settings(raw: dict[str, object], environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return settings_from_mapping(raw, Path("/p"), environ or {})


def test_defaults_put_all_state_under_the_project_state_folder() -> None:
    settings = _settings(VALID)
    assert settings.stores.tracking_uri == "sqlite:////p/.tether/mlflow.db"
    assert settings.stores.snapshot_uri == "/p/.tether/snapshots"
    assert settings.datasets["events"] == Path("/p/data/events.parquet")
    assert settings.train.threads == 1


def test_the_tracking_variable_overrides_the_file() -> None:
    settings = _settings(VALID, {TRACKING_URI_ENV: "http://127.0.0.1:5000"})
    assert settings.stores.tracking_uri == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({**VALID, "trian": {}}, "[trian]"),
        ({**VALID, "project": {"name": "x", "modelname": "y"}}, "project.modelname"),
        ({k: v for k, v in VALID.items() if k != "train"}, "[train]"),
        ({**VALID, "train": {"label": "y"}}, "train.entry_point"),
        ({**VALID, "train": {**VALID["train"], "entry_point": "train.py"}}, "module:function"),
        ({**VALID, "train": {**VALID["train"], "seed": -1}}, "train.seed"),
        ({**VALID, "train": {**VALID["train"], "params": {"a": [1]}}}, "train.params.a"),
    ],
)
def test_a_wrong_config_names_the_key(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        _settings(raw)


def test_params_are_overridden_with_the_type_of_their_default() -> None:
    settings = _settings(VALID).with_params(
        {"max_iter": "20", "rate": "0.5", "early": "false", "loss": "hinge"}
    )
    assert dict(settings.train.params) == {
        "max_iter": 20,
        "rate": 0.5,
        "early": False,
        "loss": "hinge",
    }


def test_an_unknown_param_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"max_itr.*early, loss, max_iter, rate"):
        _settings(VALID).with_params({"max_itr": "3"})


def test_a_param_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected a value of type int"):
        _settings(VALID).with_params({"max_iter": "many"})


def test_a_missing_config_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tether init"):
        load_settings(tmp_path)


def test_invalid_toml_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "tether.toml").write_text("[project\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path)


def test_stores_are_found_without_a_config_file(tmp_path: Path) -> None:
    stores = locate_stores(tmp_path)
    assert stores.snapshot_uri == str(tmp_path.resolve() / ".tether" / "snapshots")


URI_TABLES = {
    "tracking": {"uri": "postgresql+psycopg://tether:${PG_PW}@db/mlflow",
                 "artifact_uri": "s3://${BUCKET}/artifacts"},
    "storage": {"snapshots": "s3://${BUCKET}/snapshots"},
    "features": {"online": "redis://:${REDIS_PW}@cache:6379/0"},
    "store": {"url": "postgresql://tether:${PG_PW}@db/tether"},
}  # fmt: skip
URI_ENVIRON = {"PG_PW": "s3cr3t", "BUCKET": "models", "REDIS_PW": "r3dis"}


def test_every_uri_takes_its_credentials_from_environment_references() -> None:
    settings = _settings({**VALID, **URI_TABLES}, URI_ENVIRON)
    assert settings.stores.tracking_uri == "postgresql+psycopg://tether:s3cr3t@db/mlflow"
    assert settings.stores.artifact_uri == "s3://models/artifacts"
    assert settings.stores.snapshot_uri == "s3://models/snapshots"
    assert settings.features.online == "redis://:r3dis@cache:6379/0"
    assert settings.store.url == "postgresql://tether:s3cr3t@db/tether"


def test_a_reference_to_an_unset_variable_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"store.url .*\$\{PG_PW\}.*export PG_PW"):
        _settings({**VALID, "store": URI_TABLES["store"]})


def test_tracking_timeout_and_retries_are_read_and_validated() -> None:
    stores = _settings({**VALID, "tracking": {"timeout_s": 3, "retries": 0}}).stores
    assert (stores.timeout_s, stores.retries) == (3, 0)
    defaults = _settings(VALID).stores
    assert (defaults.timeout_s, defaults.retries) == (15, 2)
    for bad in ({"timeout_s": 0}, {"timeout_s": 1.5}, {"retries": -1}, {"retries": True}):
        key = next(iter(bad))
        with pytest.raises(ConfigError, match=f"tracking.{key}"):
            _settings({**VALID, "tracking": bad})


def test_loading_settings_hands_the_tracking_limits_to_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")  # the user's own choice
    (tmp_path / "tether.toml").write_text(
        '[project]\nname = "p"\n[train]\nentry_point = "train:train"\nlabel = "y"\n'
        "[tracking]\ntimeout_s = 4\n"
    )
    load_settings(tmp_path)
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "4"  # set in tether.toml: it wins
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "5"  # not in the file: the user's


def test_the_serving_access_log_is_on_unless_turned_off() -> None:
    assert _settings(VALID).serving.access_log is True
    off = _settings({**VALID, "serving": {"access_log": False}})
    assert off.serving.access_log is False
    with pytest.raises(ConfigError, match=r"serving\.access_log"):
        _settings({**VALID, "serving": {"access_log": "no"}})


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('[tracking]\nuri = "postgresql://tether:s3cr3t@db/mlflow"', "tracking.uri"),
        ('[serving]\npredictions_uri = "postgresql://t:s3cr3t@db/p"', "serving.predictions_uri"),
        ('[serving]\nevents_uri = "postgresql://db/e?password=s3cr3t"', "serving.events_uri"),
        ('[store]\nurl = "postgresql://t:s3cr3t@db/tether"', "store.url"),
        ('[features]\nonline = "redis://:s3cr3t@cache:6379/0"', "features.online"),
        ('[tracking]\nartifact_uri = "https://tok3n@store/a"', "tracking.artifact_uri"),
        ('[storage]\nsnapshots = "ftp://u:s3cr3t@host/snap"', "storage.snapshots"),
    ],
)
def test_a_literal_password_in_the_config_is_refused_with_the_fix(
    tmp_path: Path, table: str, key: str
) -> None:
    (tmp_path / "tether.toml").write_text(f'[project]\nname = "p"\n{table}\n')
    with pytest.raises(ConfigError, match=rf"{key}.*\$\{{TETHER_PG_PASSWORD\}}") as refused:
        check_no_literal_credentials(tmp_path)
    assert "s3cr3t" not in str(refused.value) and "tok3n" not in str(refused.value)
    # What the CLI prints (masked) still shows the fix's syntax.
    assert "${TETHER_PG_PASSWORD}" in mask_uri(str(refused.value))


def test_environment_references_and_user_names_alone_are_not_literal_passwords(
    tmp_path: Path,
) -> None:
    (tmp_path / "tether.toml").write_text(
        '[project]\nname = "p"\n'
        '[tracking]\nuri = "postgresql://tether:${PG_PW}@db/mlflow"\n'
        '[store]\nurl = "postgresql://postgres@127.0.0.1/test"\n'
        '[serving]\nevents_uri = "postgresql://db/e?password=${PG_PW}"\n'
        '[features]\nonline = "redis://:${REDIS_PW}@cache:6379/0"\n'
    )
    check_no_literal_credentials(tmp_path)  # nothing to refuse


def test_the_store_is_one_sqlite_file_under_the_state_folder_by_default(tmp_path: Path) -> None:
    settings = settings_from_mapping(VALID, tmp_path, {})
    assert settings.store.url == f"sqlite:///{tmp_path / '.tether' / 'tether.db'}"


@pytest.mark.parametrize("key", ["predictions_uri", "events_uri"])
def test_the_two_retired_store_keys_are_refused_naming_the_new_one(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"serving\.{key} .*no longer read.*\[store\] url"):
        _settings({**VALID, "serving": {key: "sqlite:///x.db"}})


def test_a_store_url_of_another_database_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"store\.url .*redis.*expected sqlite:///PATH or"):
        _settings({**VALID, "store": {"url": "redis://cache:6379/0"}})


def test_monitoring_thresholds_are_read_with_their_defaults_and_business_metrics() -> None:
    assert _settings(VALID).monitoring.psi_drift == 0.2
    monitoring = {
        "psi_drift": 0.25,
        "window_days": 14,
        "metric": "recall",
        "webhook_url": "https://hooks.example/t/${HOOK_TOKEN}",
        "business": {"net_value": "tp.amount - 5 * fp.count"},
    }
    settings = _settings({**VALID, "monitoring": monitoring}, {"HOOK_TOKEN": "abc"})
    assert settings.monitoring.psi_drift == 0.25 and settings.monitoring.window_days == 14
    assert settings.monitoring.metric == "recall"
    assert settings.monitoring.webhook_url == "https://hooks.example/t/abc"
    assert dict(settings.monitoring.business) == {"net_value": "tp.amount - 5 * fp.count"}


@pytest.mark.parametrize(
    ("monitoring", "named"),
    [
        ({"psi_drift": 2}, "monitoring.psi_drift .* must be a number in"),
        ({"window_days": 0}, "monitoring.window_days .* must be a positive integer"),
        ({"metric": "accuracy"}, "monitoring.metric .* expected one of precision"),
        ({"webhook_retries": -1}, "monitoring.webhook_retries"),
        ({"business": {"net": 3}}, "monitoring.business.net"),
        ({"psi_dirft": 0.2}, "monitoring.psi_dirft"),
    ],
)
def test_a_wrong_monitoring_value_names_its_key(monitoring: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        _settings({**VALID, "monitoring": monitoring})
