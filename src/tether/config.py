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
from tether._config_monitoring import MONITORED_METRICS as MONITORED_METRICS
from tether._config_monitoring import MONITORING_KEYS, monitoring_settings
from tether._config_monitoring import MonitoringSettings as MonitoringSettings

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
DEFAULT_SEED = 0
DEFAULT_THREADS = 1
"""Native thread pools (OpenMP, BLAS) used while training: a fixed count, because a
histogram built by another number of threads can sum in another order."""
TRACKING_URI_ENV = "TETHER_TRACKING_URI"
ADMIN_TOKEN_ENV = "TETHER_ADMIN_TOKEN"
PREDICT_TOKEN_ENV = "TETHER_PREDICT_TOKEN"
FEEDBACK_TOKEN_ENV = "TETHER_FEEDBACK_TOKEN"
METRICS_TOKEN_ENV = "TETHER_METRICS_TOKEN"
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
ParamValue = bool | int | float | str
"""The type of one training parameter: scalars only, so that MLflow logs them exactly."""
DEFAULT_THRESHOLD = 0.5
"""The decision threshold of a binary classifier when ``[train.threshold]`` is absent: the
threshold scikit-learn's ``predict`` applies to ``predict_proba``, so a run without a rule
decides (and is evaluated) as before."""
THRESHOLD_RULES = ("fixed", "precision", "recall")
"""``[train.threshold] rule``: how a run chooses its threshold on its held-out frame."""
_THRESHOLD_KEYS = {"fixed": "value", "precision": "target", "recall": "target"}

_SECTIONS: Mapping[str, frozenset[str]] = {
    "project": frozenset({"name", "model_name"}),
    "datasets": frozenset(),  # free-form: dataset name -> path
    "train": frozenset({"entry_point", "label", "seed", "threads", "params", "threshold"}),
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
}


@dataclass(frozen=True)
class ThresholdSettings:
    """How a run chooses its decision threshold on the held-out frame (``[train.threshold]``).

    - ``rule = "recall"``, ``target = 0.85``: the highest threshold whose decisions still
      catch ``target`` of the held-out positives (the fraud example's rule);
    - ``rule = "precision"``, ``target = 0.9``: the lowest threshold whose precision on the
      held-out frame is at least ``target``;
    - ``rule = "fixed"``, ``value = 0.3``: that threshold.

    Without the table the rule is ``fixed`` at :data:`DEFAULT_THRESHOLD` (0.5). A score at
    or above the threshold is decided positive (1).
    """

    rule: str = "fixed"
    target: float | None = None
    value: float = DEFAULT_THRESHOLD


@dataclass(frozen=True)
class TrainSettings:
    """How the project trains: its entry point, label column, seed and parameters."""

    entry_point: str
    label: str
    seed: int = DEFAULT_SEED
    threads: int = DEFAULT_THREADS
    params: Mapping[str, ParamValue] = field(default_factory=lambda: MappingProxyType({}))
    threshold: ThresholdSettings = field(default_factory=ThresholdSettings)

    @property
    def module_name(self) -> str:
        """The module part of ``entry_point`` (``train`` in ``train:train``)."""
        return self.entry_point.partition(":")[0]

    @property
    def function_name(self) -> str:
        """The function part of ``entry_point`` (the second ``train`` in ``train:train``)."""
        return self.entry_point.partition(":")[2]


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
            params[key] = _parse_like(key, text, params[key])
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
        train=_train(toml.table(raw, "train", required=True)),
        stores=_stores(raw, project_dir, environ),
        serving=_serving(toml.table(raw, "serving"), environ),
        features=_features(toml.table(raw, "features"), environ),
        store=_store(toml.table(raw, "store"), project_dir, environ),
        monitoring=monitoring_settings(toml.table(raw, "monitoring"), environ),
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


def _train(table: Mapping[str, Any]) -> TrainSettings:
    entry_point = toml.string(table, "train.entry_point", required=True)
    module, _, function = entry_point.partition(":")
    if not module.isidentifier() or not function.isidentifier():
        raise ConfigError(
            f"train.entry_point in {CONFIG_FILE} is {entry_point!r}; expected "
            "'module:function', e.g. 'train:train' for def train(ctx) in train.py."
        )
    seed = table.get("seed", DEFAULT_SEED)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(
            f"train.seed in {CONFIG_FILE} must be an integer in [0, 2**32), got {seed!r}."
        )
    threads = table.get("threads", DEFAULT_THREADS)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(
            f"train.threads in {CONFIG_FILE} must be a positive integer, got {threads!r}."
        )
    params = toml.table(table, "params")
    for key, value in params.items():
        if not isinstance(value, bool | int | float | str):
            raise ConfigError(
                f"train.params.{key} in {CONFIG_FILE} is {value!r}; parameters must be "
                "scalars (boolean, integer, float or string)."
            )
    return TrainSettings(
        entry_point=entry_point,
        label=toml.string(table, "train.label", required=True),
        seed=seed,
        threads=threads,
        params=MappingProxyType(dict(params)),
        threshold=_threshold(toml.table(table, "threshold")),
    )


def _threshold(table: Mapping[str, Any]) -> ThresholdSettings:
    """``[train.threshold]``: a rule and the one number it takes, nothing else."""
    if not table:
        return ThresholdSettings()
    rule = table.get("rule")
    if rule not in THRESHOLD_RULES:
        raise ConfigError(
            f"train.threshold.rule in {CONFIG_FILE} is {rule!r}; expected one of "
            f'{", ".join(repr(r) for r in THRESHOLD_RULES)} (e.g. rule = "recall" with '
            "target = 0.85)."
        )
    wanted = _THRESHOLD_KEYS[rule]
    for key in table:
        if key not in {"rule", wanted}:
            raise ConfigError(
                f"train.threshold.{key} in {CONFIG_FILE} does not apply to rule = {rule!r}, "
                f"which takes only train.threshold.{wanted}."
            )
    if wanted not in table:
        raise ConfigError(
            f"train.threshold.{wanted} is missing in {CONFIG_FILE}: rule = {rule!r} needs it "
            f"(a number in {'[0, 1]' if rule == 'fixed' else '(0, 1]'})."
        )
    number = table[wanted]
    numeric = isinstance(number, int | float) and not isinstance(number, bool)
    # A fixed threshold of 0 decides everything positive (allowed); a target of 0 is no rule.
    if not numeric or not (0 <= number <= 1) or (rule != "fixed" and number == 0):
        interval = "[0, 1]" if rule == "fixed" else "(0, 1]"
        raise ConfigError(
            f"train.threshold.{wanted} in {CONFIG_FILE} must be a number in {interval}, got "
            f"{number!r}."
        )
    if rule == "fixed":
        return ThresholdSettings(rule=rule, value=float(number))
    return ThresholdSettings(rule=rule, target=float(number))


def _parse_like(key: str, text: str, default: ParamValue) -> ParamValue:
    """Parse ``text`` as the type of ``default`` (the value in tether.toml)."""
    expected = type(default).__name__
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered not in {"true", "false", "1", "0"}:
                raise ValueError(text)
            return lowered in {"true", "1"}
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError as exc:
        raise ConfigError(
            f"--param {key}={text}: expected a value of type {expected} (like the default "
            f"{default!r} in [train.params]), got {text!r}."
        ) from exc
    return text
