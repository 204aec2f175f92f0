"""Every line the monitor draws, in one policy built from a project's ``[monitoring]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tether.config import MonitoringSettings
from tether.monitoring._business import BusinessMetric, business_metrics
from tether.monitoring._diagnose import DiagnosisPolicy
from tether.monitoring._experiment_decision import ExperimentPolicy
from tether.monitoring._performance_rules import MaturityRule, PerformanceRule
from tether.monitoring._quality import QualityThresholds
from tether.monitoring._report import DriftThresholds

DEFAULT_HISTORY_DAYS = 28
"""Days of daily evidence the diagnosis weighs: enough for a trend to show against noise."""
DEFAULT_RULE = "precision below 0.80"
"""The mission's alert: the fraud model's precision fell from 94% to 71% unwatched."""


@dataclass(frozen=True)
class MonitorPolicy:
    """Every line the monitor draws, built from ``[monitoring]`` by :meth:`from_settings`."""

    window: timedelta = timedelta(days=7)
    history_days: int = DEFAULT_HISTORY_DAYS
    drift: DriftThresholds = field(default_factory=DriftThresholds)
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    rule: PerformanceRule = field(default_factory=lambda: PerformanceRule.parse(DEFAULT_RULE))
    maturity: MaturityRule = field(default_factory=MaturityRule)
    business: tuple[BusinessMetric, ...] = ()
    diagnosis: DiagnosisPolicy = field(default_factory=DiagnosisPolicy)
    experiment: ExperimentPolicy = field(
        default_factory=lambda: ExperimentPolicy(metric="precision")
    )
    sample_size: int = 20_000
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: MonitoringSettings) -> MonitorPolicy:
        """The policy of a project's ``[monitoring]`` table."""
        return cls(
            window=timedelta(days=settings.window_days),
            # A day's realized metric is judged once its outcomes are in: the history reaches
            # past the outcome window, or it would hold no judged day when outcomes take 60.
            history_days=DEFAULT_HISTORY_DAYS + settings.outcome_window_days,
            drift=DriftThresholds(
                psi_drift=settings.psi_drift,
                psi_warn=settings.psi_warn,
                psi_noise=settings.psi_noise,
                p_value=settings.p_value,
                numeric_effect=settings.effect_floor,
                categorical_effect=settings.categorical_effect_floor,
                dataset_share=settings.drifted_share,
                domain_auc=settings.domain_auc,
            ),
            rule=PerformanceRule(
                settings.metric,
                "below",
                settings.metric_floor,
                settings.min_label_completeness,
                settings.min_labelled,
            ),
            maturity=MaturityRule(settings.outcome_window_days),
            business=business_metrics(settings.business),
            quality=QualityThresholds(
                null_rate_increase=settings.null_rate_increase,
                out_of_range_share=settings.out_of_range_share,
                unseen_share=settings.unseen_share,
            ),
            diagnosis=DiagnosisPolicy(
                drift_share=settings.drifted_share,
                min_label_completeness=settings.min_label_completeness,
                min_new_labelled_rows=settings.min_new_labelled,
            ),
            experiment=ExperimentPolicy(
                # The business value per prediction when the project names one, else precision.
                metric="net_value" if "net_value" in settings.business else "precision",
                alpha=settings.alpha,
                min_samples=settings.experiment_min_samples,
                max_days=float(settings.experiment_max_days),
            ),
            sample_size=settings.sample_size,
        )

    @property
    def business_fields(self) -> tuple[str, ...]:
        """The business values the metrics read from feedback (``amount`` in ``fn.amount``)."""
        fields = {name for metric in self.business for _, name in metric.names if name}
        fields.discard("count")
        return tuple(sorted(fields))
