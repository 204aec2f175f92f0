"""tether.toml validation: every mistake names the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.config import TRACKING_URI_ENV, load_settings, locate_stores, settings_from_mapping
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
