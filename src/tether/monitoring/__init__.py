"""Monitoring: labelled and estimated performance of deployed models (issue 10, section 5).

Realized metrics from the confusion cells and score table of a window
(:func:`realized_from_counts`, :func:`realized`), business metrics over the cells
(:class:`BusinessMetric`), maturity of labels and performance alerts
(:class:`MaturityRule`, :class:`PerformanceRule`), and confidence-based performance
estimation before labels arrive (:class:`Calibration`, :func:`estimate`,
:func:`concept_drift_gap`).
"""

from tether.monitoring._business import BusinessMetric, business_metrics
from tether.monitoring._estimate import (
    GAP_MESSAGE,
    Calibration,
    EstimatedPerformance,
    GapSignal,
    compare_with_realized,
    concept_drift_gap,
    estimate,
    estimate_from_table,
)
from tether.monitoring._performance import (
    CellAggregate,
    ConfusionCells,
    MetricValue,
    RealizedPerformance,
    ReliabilityBin,
    ScoreTable,
    confusion_cells,
    labelled_rows,
    realized,
    realized_from_counts,
    roc_auc_delong,
    wilson_interval,
)
from tether.monitoring._performance_config import PerformanceConfig
from tether.monitoring._performance_rules import (
    LabelStatus,
    MaturityRule,
    PerformanceRule,
    RuleOutcome,
)

__all__ = [
    "GAP_MESSAGE",
    "BusinessMetric",
    "Calibration",
    "CellAggregate",
    "ConfusionCells",
    "EstimatedPerformance",
    "GapSignal",
    "LabelStatus",
    "MaturityRule",
    "MetricValue",
    "PerformanceConfig",
    "PerformanceRule",
    "RealizedPerformance",
    "ReliabilityBin",
    "RuleOutcome",
    "ScoreTable",
    "business_metrics",
    "compare_with_realized",
    "concept_drift_gap",
    "confusion_cells",
    "estimate",
    "estimate_from_table",
    "labelled_rows",
    "realized",
    "realized_from_counts",
    "roc_auc_delong",
    "wilson_interval",
]
