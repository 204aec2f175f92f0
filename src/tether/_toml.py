"""Reading the values of ``tether.toml``: typed reads that name the key at fault, the
``${NAME}`` references of URI values, and the refusal of a credential written in the file.

:mod:`tether.config` builds the settings with these; every error is a
:class:`~tether.errors.ConfigError` naming the key and what was expected.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tether._uris import REFERENCE, credentials_in, is_reference
from tether.errors import ConfigError

CONFIG_FILE = "tether.toml"
RETIRED_STORE_KEYS = ("serving.predictions_uri", "serving.events_uri")
"""Keys of the two-file store, refused with the name of ``[store] url``."""

URI_KEYS = (
    "tracking.uri",
    "tracking.artifact_uri",
    "storage.snapshots",
    "features.online",
    "store.url",
    "monitoring.webhook_url",
)
"""The keys of ``tether.toml`` whose values are URIs, and may hold ``${NAME}`` references."""


def uri(table: Mapping[str, Any], key: str, environ: Mapping[str, str]) -> str:
    """The URI at ``key`` with each ``${NAME}`` replaced by the environment variable NAME."""
    value = string(table, key)

    def variable(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in environ:
            raise ConfigError(
                f"{key} in {CONFIG_FILE} refers to ${{{name}}}, which is not set in the "
                f"environment; export {name} (e.g. a store's password, a webhook's token) "
                "before running tether."
            )
        return environ[name]

    return REFERENCE.sub(variable, value)


def check_no_literal_credentials(project_dir: Path | str = ".") -> None:
    """Refuse a ``tether.toml`` that holds a password or token in plain text.

    ``tether train`` archives the project's files with every run, where anyone who can read
    the tracking store can read them. A credential belongs in the environment: a ``${NAME}``
    reference in the URI (or ``TETHER_TRACKING_URI`` for the tracking store).

    Raises:
        ConfigError: naming each key that holds a literal credential, and the fix.
    """
    path = Path(project_dir).resolve() / CONFIG_FILE
    if not path.is_file():
        return
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc
    # The retired keys too: a file that still has them must not be archived with a secret.
    keys = (*URI_KEYS, *RETIRED_STORE_KEYS)
    found = [key for key in keys if _holds_literal_credential(raw_value(raw, key))]
    if found:
        raise ConfigError(
            f"{path} holds a password or token in plain text in {', '.join(found)}; "
            "tether train would archive it with the run's code. Put it in an environment "
            'variable and refer to it in the URI, e.g. "postgresql://tether:'
            '${TETHER_PG_PASSWORD}@db/tether", then commit the file without the secret.'
        )


def raw_value(raw: Mapping[str, Any], key: str) -> object:
    section, _, name = key.partition(".")
    table = raw.get(section)
    return table.get(name) if isinstance(table, Mapping) else None


def _holds_literal_credential(value: object) -> bool:
    if not isinstance(value, str):
        return False
    # A credential made only of ${NAME} references comes from the environment.
    return any(secret and not is_reference(secret) for secret in credentials_in(value))


def positive_int(table: Mapping[str, Any], key: str, default: int) -> int:
    """The positive integer at ``key`` (``section.name``), else ``default``."""
    value = table.get(key.rpartition(".")[2], default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} in {CONFIG_FILE} must be a positive integer, got {value!r}.")
    return value


def positive_seconds(table: Mapping[str, Any], key: str, default: float) -> float:
    """The positive number of seconds at ``key`` (``section.name``), else ``default``."""
    return positive_number(table, key, default, unit=" of seconds")


def positive_number(table: Mapping[str, Any], key: str, default: float, *, unit: str = "") -> float:
    """The positive number at ``key`` (``section.name``), else ``default``."""
    value = table.get(key.rpartition(".")[2], default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{key} in {CONFIG_FILE} must be a positive number{unit}, got {value!r}.")
    return float(value)


def fraction(table: Mapping[str, Any], key: str, default: float) -> float:
    """The number in [0, 1] at ``key`` (``section.name``), else ``default``."""
    value = table.get(key.rpartition(".")[2], default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{key} in {CONFIG_FILE} must be a number in [0, 1], got {value!r}.")
    return float(value)


def strings(table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key.rpartition(".")[2], [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key} in {CONFIG_FILE} must be a list of column names, got {value!r}.")
    return tuple(value)


def table(raw: Mapping[str, Any], name: str, *, required: bool = False) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        if required:
            raise ConfigError(f"{CONFIG_FILE} has no [{name}] table, which is required.")
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} in {CONFIG_FILE} must be a table, got {value!r}.")
    return value


def string(table: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = table.get(key.rpartition(".")[2])
    if value is None:
        if required:
            raise ConfigError(f"{CONFIG_FILE} has no {key}, which is required (a string).")
        return ""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} in {CONFIG_FILE} must be a non-empty string, got {value!r}.")
    return value
