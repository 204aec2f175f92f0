"""Typed, validated, frozen settings read from a project's ``tether.toml``.

This is the only module that reads ``TETHER_*`` environment variables. Every other
module receives a :class:`Settings` object. An unknown key, a missing key or a value of
the wrong type is a :class:`~tether.errors.ConfigError` naming the key and what was
expected, raised before any work starts.

A minimal ``tether.toml``::

    [project]
    name = "fraud"
    model_name = "fraud-detector"

    [datasets]
    events = "data/events.parquet"

    [train]
    entry_point = "train:train"
    label = "is_fraud"
    seed = 42

    [train.params]
    max_iter = 200

Credentials never need to be written in the file: every URI value (``[tracking] uri`` and
``artifact_uri``, ``[storage] snapshots``, ``[features] online``, ``[store] url``) may
hold ``${NAME}`` references, replaced by the environment variable ``NAME`` when the settings
are read (``"postgresql://tether:${TETHER_PG_PASSWORD}@db/tether"``).
:func:`check_no_literal_credentials` refuses a file that holds a password in plain text,
before ``tether train`` archives it with the code.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tether import _toml as toml
from tether._config_loop import LOOP_KEYS, loop_settings
from tether._config_loop import LoopSettings as LoopSettings
from tether._config_monitoring import MONITORED_METRICS as MONITORED_METRICS
from tether._config_monitoring import MONITORING_KEYS, monitoring_settings
from tether._config_monitoring import MonitoringSettings as MonitoringSettings
from tether._config_train import DEFAULT_SEED as DEFAULT_SEED
from tether._config_train import DEFAULT_THREADS as DEFAULT_THREADS
from tether._config_train import DEFAULT_THRESHOLD as DEFAULT_THRESHOLD
from tether._config_train import THRESHOLD_KEYS as THRESHOLD_KEYS
from tether._config_train import THRESHOLD_RULES as THRESHOLD_RULES
from tether._config_train import ParamValue as ParamValue
from tether._config_train import ThresholdSettings as ThresholdSettings
from tether._config_train import TrainSettings as TrainSettings
from tether._config_train import parse_like, train_settings

# Re-exported: tether.config is where the file's name, its URI keys and the credential check
# are known from.
from tether._toml import CONFIG_FILE as CONFIG_FILE
from tether._toml import RETIRED_STORE_KEYS as RETIRED_STORE_KEYS
from tether._toml import URI_KEYS as URI_KEYS
from tether._toml import check_no_literal_credentials as check_no_literal_credentials
from tether._uris import mask_uri
from tether.errors import ConfigError

STATE_DIR = ".tether"
STORE_FILE = "tether.db"
"""The SQLite file under ``.tether/`` of tether's own tables when ``[store] url`` is unset."""
TRACKING_URI_ENV = "TETHER_TRACKING_URI"
ADMIN_TOKEN_ENV = "TETHER_ADMIN_TOKEN"
PREDICT_TOKEN_ENV = "TETHER_PREDICT_TOKEN"
FEEDBACK_TOKEN_ENV = "TETHER_FEEDBACK_TOKEN"
METRICS_TOKEN_ENV = "TETHER_METRICS_TOKEN"
DASHBOARD_TOKEN_ENV = "TETHER_DASHBOARD_TOKEN"
"""Optional bearer tokens of the server's scopes; a scope without one is open."""
DEFAULT_BODY_TIMEOUT_S = 10.0
"""Seconds a client has to send a whole request body: a megabyte (the default body limit)
at 1 Mbit/s takes 8 s; a client that sends less than it declared is answered 408."""
DEFAULT_MAX_CONNECTIONS = 1000
"""Concurrent connections per server process (uvicorn's ``limit_concurrency``; beyond it
uvicorn answers 503): far above what a replica serves (it scores 64 in flight at about
5,000 requests/s), low enough that idle connections cannot exhaust the process's files."""
REDACTION_SALT_ENV = "TETHER_REDACTION_SALT"
PROJECT_ENV = "TETHER_PROJECT"
"""The project folder a server worker process serves (set by ``tether serve`` for its workers)."""
DEFAULT_TRACKING_TIMEOUT_S = 15
"""Seconds tether and MLflow wait for the tracking store to connect or answer one request.
MLflow's own default (120 s, 7 retries with backoff) kept a server on a dead store starting
for minutes; a healthy store answers in milliseconds."""
DEFAULT_TRACKING_RETRIES = 2
"""Retries after a failed tracking request (with exponential backoff: 1 s, 2 s): a store that
restarts is waited for, a dead one is reported within about (retries + 1) x timeout."""
MLFLOW_TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
MLFLOW_RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
MLFLOW_BACKOFF_ENV = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"

_SECTIONS: Mapping[str, frozenset[str]] = {
    "project": frozenset({"name", "model_name"}),
    "datasets": frozenset(),  # free-form: dataset name -> path
    "train": frozenset(
        {"entry_point", "label", "seed", "threads", "params", "threshold", "window"}
    ),
    "tracking": frozenset({"uri", "artifact_uri", "timeout_s", "retries"}),
    "storage": frozenset({"snapshots"}),
    "store": frozenset({"url"}),
    "features": frozenset(
        {"definitions", "engine", "online", "naive_timestamps", "max_skew_rate", "skew_tolerance"}
    ),
    "serving": frozenset(
        {
            "host",
            "port",
            "workers",
            "challenger_timeout_ms",
            "shadow_queue_size",
            "max_instances",
            "max_body_bytes",
            "reload_interval_s",
            "feature_mismatch",
            "hash_columns",
            "drop_columns",
            "retention_days",
            "access_log",
            "body_timeout_s",
            "max_connections",
        }
    ),
    "monitoring": MONITORING_KEYS,
    "loop": LOOP_KEYS,
}


@dataclass(frozen=True)
class Stores:
    """Where a project's state lives: tracking, artifacts and data snapshots.

    ``timeout_s`` and ``retries`` bound every wait on the tracking store (``[tracking]
    timeout_s`` and ``retries``): a connection or a request that takes longer fails, and
    is retried ``retries`` times before tether reports the store unreachable.
    """

    tracking_uri: str
    artifact_uri: str
    snapshot_uri: str
    timeout_s: int = DEFAULT_TRACKING_TIMEOUT_S
    retries: int = DEFAULT_TRACKING_RETRIES


@dataclass(frozen=True)
class StoreSettings:
    """The one database of every table tether owns (``[store] url``).

    Registry events, predictions and feedback (and, later, monitoring results and the loop's
    state) live together, so a prediction can be joined to the event that deployed the model
    that made it: a SQLite file ``.tether/tether.db`` by default, or one PostgreSQL database
    (``postgresql://...``).
    """

    url: str


@dataclass(frozen=True)
class FeatureSettings:
    """The project's feature store (``[features]``); absent when ``definitions`` is empty.

    ``definitions`` is ``module:attribute`` in the project folder, naming a list of
    ``FeatureView`` objects; ``online`` is ``sqlite`` (a file under ``.tether/``) or a
    ``redis://`` URL.
    """

    definitions: str = ""
    engine: str = "duckdb"
    online: str = "sqlite"
    naive_timestamps: str = "reject"
    max_skew_rate: float = 0.0
    skew_tolerance: float = 1e-9


@dataclass(frozen=True)
class ServingSettings:
    """The prediction server and its safety limits (``[serving]``); its log is in ``[store]``."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    challenger_timeout_ms: int = 200
    shadow_queue_size: int = 1000
    max_instances: int = 1000
    max_body_bytes: int = 1_000_000
    reload_interval_s: float = 5.0
    feature_mismatch: str = "refuse"
    hash_columns: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()
    retention_days: int = 90
    access_log: bool = True
    admin_token: str = ""
    redaction_salt: str = ""
    predict_token: str = ""
    feedback_token: str = ""
    metrics_token: str = ""
    dashboard_token: str = ""
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS


@dataclass(frozen=True)
class Settings:
    """Everything tether knows about one project, resolved to absolute locations."""

    project_dir: Path
    name: str
    model_name: str
    datasets: Mapping[str, Path]
    train: TrainSettings
    stores: Stores
    serving: ServingSettings
    features: FeatureSettings
    store: StoreSettings
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    loop: LoopSettings = field(default_factory=LoopSettings)

    @property
    def state_dir(self) -> Path:
        """The folder that holds all of tether's local state for this project."""
        return self.project_dir / STATE_DIR

    def with_params(self, overrides: Mapping[str, str]) -> Settings:
        """Return settings whose training params are overridden by ``KEY=VALUE`` strings.

        A key that ``[train.params]`` does not define is refused: a typo must not train
        a model with a silently ignored setting. Each value is parsed as the type of the
        value it replaces.
        """
        params = dict(self.train.params)
        for key, text in overrides.items():
            if key not in params:
                known = ", ".join(sorted(params)) or "(none)"
                raise ConfigError(
                    f"Unknown parameter {key!r} in --param {key}={text}. The parameters "
                    f"defined in [train.params] of {CONFIG_FILE} are: {known}. Add it "
                    "there first if the entry point reads it."
                )
            params[key] = parse_like(key, text, params[key])
        train = replace(self.train, params=MappingProxyType(params))
        return replace(self, train=train)


def load_settings(project_dir: Path | str = ".") -> Settings:
    """Read and validate ``tether.toml`` in ``project_dir``.

    Example::

        settings = load_settings("my-project")
        settings.train.params["max_iter"]
    """
    root = Path(project_dir).resolve()
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"No {CONFIG_FILE} in {root}. Run tether in a project folder, or create one "
            "with `tether init DIR`."
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc
    settings = settings_from_mapping(raw, root, os.environ)
    _export_tracking_limits(toml.table(raw, "tracking"), settings.stores)
    return settings


def settings_from_mapping(
    raw: Mapping[str, Any], project_dir: Path, environ: Mapping[str, str]
) -> Settings:
    """Validate a parsed ``tether.toml`` and resolve it against ``project_dir``."""
    _check_keys(raw)
    project = toml.table(raw, "project", required=True)
    name = toml.string(project, "project.name", required=True)
    return Settings(
        project_dir=project_dir,
        name=name,
        model_name=toml.string(project, "project.model_name") or name,
        datasets=_datasets(toml.table(raw, "datasets"), project_dir),
        train=train_settings(toml.table(raw, "train", required=True)),
        stores=_stores(raw, project_dir, environ),
        serving=_serving(toml.table(raw, "serving"), environ),
        features=_features(toml.table(raw, "features"), environ),
        store=_store(toml.table(raw, "store"), project_dir, environ),
        monitoring=monitoring_settings(toml.table(raw, "monitoring"), environ),
        loop=loop_settings(toml.table(raw, "loop")),
    )


def project_from_environment() -> Path:
    """The project folder named by ``TETHER_PROJECT`` (server workers), else the current one."""
    return Path(os.environ.get(PROJECT_ENV) or ".").resolve()


def locate_stores(project_dir: Path | str = ".") -> Stores:
    """The stores of a project, even when its ``tether.toml`` is gone.

    ``tether reproduce`` and ``tether audit`` must work after the project's config has
    been changed or deleted; they need only to know where the records are. Without a
    ``tether.toml`` the embedded defaults under ``.tether/`` apply.
    """
    root = Path(project_dir).resolve()
    path = root / CONFIG_FILE
    raw: Mapping[str, Any] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc
    stores = _stores(raw, root, os.environ)
    _export_tracking_limits(toml.table(raw, "tracking"), stores)
    return stores


def _export_tracking_limits(table: Mapping[str, Any], stores: Stores) -> None:
    """Hand the tracking limits to MLflow, which reads them from the environment only.

    MLflow has no per-client setting for its HTTP timeout and retries, so they are
    process-wide: a value set in tether.toml wins; otherwise a variable the user exported
    wins over tether's default.
    """
    limits = {
        MLFLOW_TIMEOUT_ENV: ("timeout_s", stores.timeout_s),
        MLFLOW_RETRIES_ENV: ("retries", stores.retries),
    }
    for variable, (key, value) in limits.items():
        if key in table:
            os.environ[variable] = str(value)
        else:
            os.environ.setdefault(variable, str(value))
    os.environ.setdefault(MLFLOW_BACKOFF_ENV, "1")  # 1 s, 2 s, 4 s...: MLflow's 2 doubles it


def _stores(raw: Mapping[str, Any], project_dir: Path, environ: Mapping[str, str]) -> Stores:
    state = project_dir / STATE_DIR
    tracking = toml.table(raw, "tracking")
    storage = toml.table(raw, "storage")
    tracking_uri = environ.get(TRACKING_URI_ENV) or toml.uri(tracking, "tracking.uri", environ)
    artifact_uri = toml.uri(tracking, "tracking.artifact_uri", environ)
    timeout = tracking.get("timeout_s", DEFAULT_TRACKING_TIMEOUT_S)
    retries = tracking.get("retries", DEFAULT_TRACKING_RETRIES)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise ConfigError(
            f"tracking.timeout_s in {CONFIG_FILE} must be a positive integer of seconds "
            f"(MLflow takes whole seconds), got {timeout!r}."
        )
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise ConfigError(
            f"tracking.retries in {CONFIG_FILE} must be an integer from 0 to 10, got {retries!r}."
        )
    return Stores(
        tracking_uri=tracking_uri or f"sqlite:///{state / 'mlflow.db'}",
        artifact_uri=artifact_uri or str(state / "artifacts"),
        snapshot_uri=toml.uri(storage, "storage.snapshots", environ) or str(state / "snapshots"),
        timeout_s=timeout,
        retries=retries,
    )


def _features(table: Mapping[str, Any], environ: Mapping[str, str]) -> FeatureSettings:
    defaults = FeatureSettings()
    definitions = toml.string(table, "features.definitions")
    if definitions and not all(p.isidentifier() for p in definitions.partition(":")[::2]):
        raise ConfigError(
            f"features.definitions in {CONFIG_FILE} is {definitions!r}; expected "
            "'module:attribute', e.g. 'features:FEATURE_VIEWS' for a list in features.py."
        )
    engine = toml.string(table, "features.engine") or defaults.engine
    online = toml.uri(table, "features.online", environ) or defaults.online
    naive = toml.string(table, "features.naive_timestamps") or defaults.naive_timestamps
    for key, value, allowed in (
        ("engine", engine, {"duckdb", "spark"}),
        ("naive_timestamps", naive, {"reject", "utc"}),
    ):
        if value not in allowed:
            raise ConfigError(
                f"features.{key} in {CONFIG_FILE} is {value!r}; expected one of "
                f"{', '.join(sorted(allowed))}."
            )
    if online != "sqlite" and not online.startswith(("redis://", "rediss://")):
        raise ConfigError(
            f"features.online in {CONFIG_FILE} is {mask_uri(online)!r}; expected 'sqlite' or a "
            "redis:// URL."
        )
    return FeatureSettings(
        definitions=definitions,
        engine=engine,
        online=online,
        naive_timestamps=naive,
        max_skew_rate=toml.fraction(table, "features.max_skew_rate", defaults.max_skew_rate),
        skew_tolerance=toml.fraction(table, "features.skew_tolerance", defaults.skew_tolerance),
    )


def _store(
    table: Mapping[str, Any], project_dir: Path, environ: Mapping[str, str]
) -> StoreSettings:
    url = (
        toml.uri(table, "store.url", environ) or f"sqlite:///{project_dir / STATE_DIR / STORE_FILE}"
    )
    if not url.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
        raise ConfigError(
            f"store.url in {CONFIG_FILE} is {mask_uri(url)!r}; expected sqlite:///PATH or "
            "postgresql://USER@HOST/DATABASE (one database for every table tether owns)."
        )
    return StoreSettings(url=url)


def _serving(table: Mapping[str, Any], environ: Mapping[str, str]) -> ServingSettings:
    defaults = ServingSettings()
    values: dict[str, Any] = {}
    for key in ("port", "workers", "challenger_timeout_ms", "shadow_queue_size",
                "max_instances", "max_body_bytes", "retention_days",
                "max_connections"):  # fmt: skip
        values[key] = toml.positive_int(table, f"serving.{key}", getattr(defaults, key))
    for key in ("reload_interval_s", "body_timeout_s"):
        values[key] = toml.positive_seconds(table, f"serving.{key}", getattr(defaults, key))
    access_log = table.get("access_log", defaults.access_log)
    if not isinstance(access_log, bool):
        raise ConfigError(
            f"serving.access_log in {CONFIG_FILE} must be true or false, got {access_log!r}."
        )
    mismatch = toml.string(table, "serving.feature_mismatch") or defaults.feature_mismatch
    if mismatch not in {"refuse", "warn"}:
        raise ConfigError(
            f"serving.feature_mismatch in {CONFIG_FILE} is {mismatch!r}; expected 'refuse' "
            "or 'warn'."
        )
    return ServingSettings(
        host=toml.string(table, "serving.host") or defaults.host,
        feature_mismatch=mismatch,
        access_log=access_log,
        hash_columns=toml.strings(table, "serving.hash_columns"),
        drop_columns=toml.strings(table, "serving.drop_columns"),
        admin_token=environ.get(ADMIN_TOKEN_ENV, ""),
        redaction_salt=environ.get(REDACTION_SALT_ENV, ""),
        predict_token=environ.get(PREDICT_TOKEN_ENV, ""),
        feedback_token=environ.get(FEEDBACK_TOKEN_ENV, ""),
        metrics_token=environ.get(METRICS_TOKEN_ENV, ""),
        dashboard_token=environ.get(DASHBOARD_TOKEN_ENV, ""),
        **values,
    )


def _check_keys(raw: Mapping[str, Any]) -> None:
    for key in RETIRED_STORE_KEYS:
        if toml.raw_value(raw, key) is not None:
            raise ConfigError(
                f"{key} in {CONFIG_FILE} is no longer read: every table tether owns (registry "
                "events, predictions, feedback) now lives in one database, named by "
                '[store] url (e.g. url = "postgresql://tether:${TETHER_PG_PASSWORD}@db/tether"; '
                "default sqlite:///.tether/tether.db). Replace serving.predictions_uri and "
                "serving.events_uri by that one key; a project's two SQLite files under "
                ".tether/ are moved into it on first open."
            )
    for section, value in raw.items():
        if section not in _SECTIONS:
            known = ", ".join(f"[{s}]" for s in _SECTIONS)
            raise ConfigError(
                f"Unknown section [{section}] in {CONFIG_FILE}; expected one of {known}."
            )
        allowed = _SECTIONS[section]
        if not allowed or not isinstance(value, Mapping):
            continue
        for key in value:
            if key not in allowed:
                raise ConfigError(
                    f"Unknown key {section}.{key} in {CONFIG_FILE}; [{section}] takes "
                    f"{', '.join(sorted(allowed))}."
                )


def _datasets(table: Mapping[str, Any], project_dir: Path) -> Mapping[str, Path]:
    datasets: dict[str, Path] = {}
    for name in table:
        path = Path(toml.string(table, f"datasets.{name}"))
        datasets[name] = path if path.is_absolute() else project_dir / path
    return MappingProxyType(datasets)
