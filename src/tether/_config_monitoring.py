"""The ``[monitoring]`` table of ``tether.toml``: what ``tether monitor`` judges and where it
draws its lines, typed and validated (part of :mod:`tether.config`, which re-exports it).

``MonitorPolicy.from_settings`` (``tether.monitoring``) builds each module's frozen thresholds
from :class:`MonitoringSettings`; a test holds these defaults equal to those modules' own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tether import _toml as toml
from tether._toml import CONFIG_FILE
from tether.errors import ConfigError

MONITORING_KEYS: frozenset[str] = frozenset(
    {
        "window_days",
        "psi_drift",
        "psi_warn",
        "psi_noise",
        "p_value",
        "effect_floor",
        "categorical_effect_floor",
        "drifted_share",
        "domain_auc",
        "sample_size",
        "max_categories",
        "metric",
        "metric_floor",
        "min_label_completeness",
        "min_labelled",
        "outcome_window_days",
        "alpha",
        "experiment_min_samples",
        "experiment_max_days",
        "null_rate_increase",
        "out_of_range_share",
        "unseen_share",
        "min_new_labelled",
        "webhook_url",
        "webhook_timeout_s",
        "webhook_retries",
        "business",
    }
)
"""The keys ``[monitoring]`` takes (``business`` is a table of the user's own names)."""


@dataclass(frozen=True)
class MonitoringSettings:
    """What ``tether monitor`` watches and where it draws its lines (``[monitoring]``).

    Drift: a feature drifted when its PSI exceeds ``psi_drift``, or when its two-sample test
    (Kolmogorov-Smirnov, chi-square) has p below ``p_value`` and its effect size exceeds
    ``effect_floor`` (numeric: Wasserstein distance over the reference's spread) or
    ``categorical_effect_floor``; the data set drifted when more than ``drifted_share`` of the
    features did; ``domain_auc`` is the multivariate check's line. Performance: an alert when
    ``metric`` falls below ``metric_floor`` on a window whose label completeness is at least
    ``min_label_completeness`` with ``min_labelled`` labelled rows; a prediction's outcome is
    known once its label arrived or ``outcome_window_days`` passed. ``business`` names money
    metrics as expressions over the confusion cells (``"tp.amount - 5 * fp.count"``).
    ``alpha`` is the champion-challenger test's false-promotion rate; an experiment decides
    once each arm has ``experiment_min_samples`` labelled rows, and keeps the champion after
    ``experiment_max_days``. Data quality: a null rate up by ``null_rate_increase``, more than
    ``out_of_range_share`` of values outside the reference's range, more than
    ``unseen_share`` of rows in unseen categories. The diagnosis retrains only with
    ``min_new_labelled`` new labelled rows. Alerts go to the log
    and, when set, to ``webhook_url`` (a JSON POST, retried ``webhook_retries`` times).
    """

    window_days: int = 7
    psi_drift: float = 0.2
    psi_warn: float = 0.1
    psi_noise: float = 0.001
    p_value: float = 0.05
    effect_floor: float = 0.1
    categorical_effect_floor: float = 0.1
    drifted_share: float = 0.1
    domain_auc: float = 0.6
    sample_size: int = 20_000
    max_categories: int = 50
    metric: str = "precision"
    metric_floor: float = 0.8
    min_label_completeness: float = 0.9
    min_labelled: int = 200
    outcome_window_days: int = 60
    alpha: float = 0.05
    experiment_min_samples: int = 1000
    experiment_max_days: int = 60
    null_rate_increase: float = 0.05
    out_of_range_share: float = 0.01
    unseen_share: float = 0.05
    min_new_labelled: int = 2000
    webhook_url: str = ""
    webhook_timeout_s: float = 5.0
    webhook_retries: int = 3
    business: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


_MONITORING_FRACTIONS = (
    "psi_drift", "psi_warn", "psi_noise", "p_value", "drifted_share", "domain_auc", "metric_floor",
    "min_label_completeness", "alpha", "null_rate_increase", "out_of_range_share", "unseen_share",
)  # fmt: skip
_MONITORING_COUNTS = (
    "window_days", "sample_size", "max_categories", "min_labelled",
    "outcome_window_days", "experiment_min_samples", "experiment_max_days", "min_new_labelled",
)  # fmt: skip
MONITORED_METRICS = ("precision", "recall", "f1", "roc_auc")
"""The metrics ``[monitoring] metric`` may name."""


def monitoring_settings(table: Mapping[str, Any], environ: Mapping[str, str]) -> MonitoringSettings:
    defaults = MonitoringSettings()
    values: dict[str, Any] = {}
    for key in _MONITORING_FRACTIONS:
        values[key] = toml.fraction(table, f"monitoring.{key}", getattr(defaults, key))
    for key in _MONITORING_COUNTS:
        values[key] = toml.positive_int(table, f"monitoring.{key}", getattr(defaults, key))
    for key in ("effect_floor", "categorical_effect_floor"):
        values[key] = toml.positive_number(table, f"monitoring.{key}", getattr(defaults, key))
    retries = table.get("webhook_retries", defaults.webhook_retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(
            f"monitoring.webhook_retries in {CONFIG_FILE} must be an integer >= 0, got {retries!r}."
        )
    metric = toml.string(table, "monitoring.metric") or defaults.metric
    if metric not in MONITORED_METRICS:
        raise ConfigError(
            f"monitoring.metric in {CONFIG_FILE} is {metric!r}; expected one of "
            f"{', '.join(MONITORED_METRICS)}."
        )
    business = toml.table(table, "business")
    for name, expression in business.items():
        if not name.isidentifier() or not isinstance(expression, str) or not expression:
            raise ConfigError(
                f'monitoring.business.{name} in {CONFIG_FILE} must be a name = "expression" '
                'over the confusion cells, e.g. net_value = "tp.amount - 5 * fp.count"; '
                f"got {expression!r}."
            )
    return MonitoringSettings(
        metric=metric,
        webhook_url=toml.uri(table, "monitoring.webhook_url", environ),
        webhook_timeout_s=toml.positive_seconds(
            table, "monitoring.webhook_timeout_s", defaults.webhook_timeout_s
        ),
        webhook_retries=retries,
        business=MappingProxyType(dict(business)),
        **values,
    )
