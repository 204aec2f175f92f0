"""The ``[loop]`` table of ``tether.toml``: the closed loop's policy, typed and validated (part
of :mod:`tether.config`, which re-exports it).

Every limit the controller obeys is here: how often it ticks, how much data a retrain reads,
the cool-down between retrains, how many requests a shadow must see and how well it must agree,
the challenger's traffic share and its ceiling, the lease, and the pause and dry-run switches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether import _toml as toml
from tether._toml import CONFIG_FILE
from tether.errors import ConfigError

LOOP_KEYS: frozenset[str] = frozenset(
    {
        "interval_s",
        "training_days",
        "cooldown_days",
        "shadow_requests",
        "shadow_min_agreement",
        "challenger_share",
        "max_challenger_share",
        "paused",
        "dry_run",
        "lease_seconds",
        "gate_average_precision_margin",
        "gate_min_precision",
    }
)
"""The keys ``[loop]`` takes."""


@dataclass(frozen=True)
class LoopSettings:
    """The loop's policy (``[loop]``).

    ``training_days`` (60) is the length of a retrain's window, which ends where labels have
    matured (``[monitoring] outcome_window_days`` before the tick). ``cooldown_days`` is the
    least time between two retrains of one model, so one drift does not start a retrain a day.
    A candidate serves as shadow until it has seen ``shadow_requests`` requests and agrees with
    the champion's decisions on at least ``shadow_min_agreement`` of them; then as challenger on
    ``challenger_share`` of traffic, never above ``max_challenger_share``. ``lease_seconds``
    bounds how long a dead controller blocks another: a tick must finish within it (a long
    training renews it). ``paused`` and ``dry_run`` are the switches; ``tether loop pause``
    persists a pause in the database, which wins over this file's ``paused = false``.
    ``gate_average_precision_margin`` and ``gate_min_precision`` are the offline gate's
    (:class:`tether.loop.GateSettings`; without a floor, ``[monitoring] metric_floor`` when the
    monitored metric is precision).
    """

    interval_s: float = 3600.0
    training_days: int = 60
    cooldown_days: int = 7
    shadow_requests: int = 1000
    shadow_min_agreement: float = 0.9
    challenger_share: float = 0.1
    max_challenger_share: float = 0.5
    paused: bool = False
    dry_run: bool = False
    lease_seconds: float = 1800.0
    gate_average_precision_margin: float = 0.0
    gate_min_precision: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.challenger_share <= self.max_challenger_share <= 1.0:
            raise ConfigError(
                f"loop.challenger_share = {self.challenger_share} in {CONFIG_FILE} must be in "
                f"(0, loop.max_challenger_share = {self.max_challenger_share}], and "
                "max_challenger_share at most 1."
            )


def _flag(table: Mapping[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"loop.{key} in {CONFIG_FILE} must be true or false, got {value!r}.")
    return value


def loop_settings(table: Mapping[str, Any]) -> LoopSettings:
    """The ``[loop]`` table validated, with defaults for absent keys.

    Raises:
        ConfigError: a value of the wrong type or out of range, naming the key.
    """
    defaults = LoopSettings()
    return LoopSettings(
        interval_s=toml.positive_seconds(table, "loop.interval_s", defaults.interval_s),
        training_days=toml.positive_int(table, "loop.training_days", defaults.training_days),
        cooldown_days=toml.positive_int(table, "loop.cooldown_days", defaults.cooldown_days),
        shadow_requests=toml.positive_int(table, "loop.shadow_requests", defaults.shadow_requests),
        shadow_min_agreement=toml.fraction(
            table, "loop.shadow_min_agreement", defaults.shadow_min_agreement
        ),
        challenger_share=toml.fraction(table, "loop.challenger_share", defaults.challenger_share),
        max_challenger_share=toml.fraction(
            table, "loop.max_challenger_share", defaults.max_challenger_share
        ),
        paused=_flag(table, "paused", defaults.paused),
        dry_run=_flag(table, "dry_run", defaults.dry_run),
        lease_seconds=toml.positive_seconds(table, "loop.lease_seconds", defaults.lease_seconds),
        gate_average_precision_margin=toml.fraction(
            table, "loop.gate_average_precision_margin", defaults.gate_average_precision_margin
        ),
        gate_min_precision=(
            toml.fraction(table, "loop.gate_min_precision", 0.0)
            if "gate_min_precision" in table
            else None
        ),
    )
