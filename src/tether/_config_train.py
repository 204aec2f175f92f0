"""The ``[train]`` table of ``tether.toml``: the entry point, label, seed, threads, the
parameters a run is given and how it chooses its decision threshold, typed and validated
(part of :mod:`tether.config`, which re-exports every name here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tether import _toml as toml
from tether._toml import CONFIG_FILE
from tether.errors import ConfigError

DEFAULT_SEED = 0
DEFAULT_THREADS = 1
"""Native thread pools (OpenMP, BLAS) used while training: a fixed count, because a
histogram built by another number of threads can sum in another order."""
ParamValue = bool | int | float | str
"""The type of one training parameter: scalars only, so that MLflow logs them exactly."""
DEFAULT_THRESHOLD = 0.5
"""The decision threshold of a binary classifier when ``[train.threshold]`` is absent: the
threshold scikit-learn's ``predict`` applies to ``predict_proba``, so a run without a rule
decides (and is evaluated) as before."""
THRESHOLD_RULES = ("fixed", "precision", "recall")
"""``[train.threshold] rule``: how a run chooses its threshold on its held-out frame."""
THRESHOLD_KEYS = {"fixed": "value", "precision": "target", "recall": "target"}


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
    known_time: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """``[train.window] known_time``: dataset name -> the column saying when each row became
    known (``labels = "label_time"``). ``ctx.dataset`` returns only rows known by the
    window's cut-off; datasets not named here are read whole."""

    @property
    def module_name(self) -> str:
        """The module part of ``entry_point`` (``train`` in ``train:train``)."""
        return self.entry_point.partition(":")[0]

    @property
    def function_name(self) -> str:
        """The function part of ``entry_point`` (the second ``train`` in ``train:train``)."""
        return self.entry_point.partition(":")[2]


def train_settings(table: Mapping[str, Any]) -> TrainSettings:
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
        known_time=_known_time(toml.table(table, "window")),
    )


def _known_time(table: Mapping[str, Any]) -> Mapping[str, str]:
    """``[train.window]``: only ``known_time``, a table of dataset name -> column name."""
    for key in table:
        if key != "known_time":
            raise ConfigError(
                f"train.window.{key} in {CONFIG_FILE} is not a key of [train.window]; expected "
                'only known_time = {labels = "label_time"}.'
            )
    known = toml.table(table, "known_time")
    for name, column in known.items():
        if not isinstance(column, str) or not column:
            raise ConfigError(
                f"train.window.known_time.{name} in {CONFIG_FILE} is {column!r}; expected the "
                "name of the dataset's column saying when each row became known."
            )
    return MappingProxyType(dict(known))


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
    wanted = THRESHOLD_KEYS[rule]
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


def parse_like(key: str, text: str, default: ParamValue) -> ParamValue:
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
