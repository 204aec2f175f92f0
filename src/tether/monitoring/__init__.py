"""Monitoring: reference profiles, drift, data quality, performance, experiments, diagnosis.

A :class:`Profile` summarises a frame (a model's training features and score, or a window
of served traffic) once; drift and quality checks compare a current profile with the
reference one, bin for bin, and never see raw rows beyond the profiles' bounded samples.

>>> from tether.monitoring import compare, drift_report, profile_frame
>>> reference = profile_frame(training, score="score")  # doctest: +SKIP
>>> current = profile_frame(window, score="score", reference=reference)  # doctest: +SKIP
>>> compare(reference, current).drifted  # doctest: +SKIP
('amount',)
>>> drift_report(training, window, score="score").multivariate.auc  # doctest: +SKIP
0.51
"""

from tether.monitoring._analysis import (
    ChunkReport,
    FramesReport,
    compare_files,
    compare_frames,
)
from tether.monitoring._business import (
    BusinessMetric,
    business_metrics,
)
from tether.monitoring._drift import (
    compare,
    drift_report,
)
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
from tether.monitoring._frames import (
    read_frame,
)
from tether.monitoring._multivariate import (
    DOMAIN_AUC,
    DOMAIN_SAMPLE_SIZE,
    MultivariateDrift,
    domain_classifier,
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
from tether.monitoring._performance_config import (
    PerformanceConfig,
)
from tether.monitoring._performance_log import (
    cells_from_frame,
    score_table_from_sample,
)
from tether.monitoring._performance_rules import (
    LabelStatus,
    MaturityRule,
    PerformanceRule,
    RuleOutcome,
)
from tether.monitoring._profile import (
    FORMAT_VERSION,
    MAX_CATEGORIES,
    SAMPLE_SIZE,
    CategoricalSummary,
    NumericSummary,
    Profile,
    Summary,
)
from tether.monitoring._profiling import (
    profile_frame,
)
from tether.monitoring._quality import (
    QualityCheck,
    QualityFinding,
    QualityThresholds,
    check_quality,
)
from tether.monitoring._report import (
    CATEGORICAL_EFFECT,
    DATASET_SHARE,
    KS_SAMPLE_SIZE,
    NUMERIC_EFFECT,
    P_VALUE,
    PSI_DRIFT,
    PSI_WARN,
    DriftReport,
    DriftThresholds,
    FeatureDrift,
)
from tether.monitoring._statistics import (
    CHI2_MIN_EXPECTED,
    KS_EXACT_MAX_ROWS,
    PSI_EPSILON,
    chi2_homogeneity,
    ks_test,
    psi,
    wasserstein,
)

__all__ = [
    "CATEGORICAL_EFFECT",
    "CHI2_MIN_EXPECTED",
    "DATASET_SHARE",
    "DOMAIN_AUC",
    "DOMAIN_SAMPLE_SIZE",
    "FORMAT_VERSION",
    "GAP_MESSAGE",
    "KS_EXACT_MAX_ROWS",
    "KS_SAMPLE_SIZE",
    "MAX_CATEGORIES",
    "NUMERIC_EFFECT",
    "PSI_DRIFT",
    "PSI_EPSILON",
    "PSI_WARN",
    "P_VALUE",
    "SAMPLE_SIZE",
    "BusinessMetric",
    "Calibration",
    "CategoricalSummary",
    "CellAggregate",
    "ChunkReport",
    "ConfusionCells",
    "DriftReport",
    "DriftThresholds",
    "EstimatedPerformance",
    "FeatureDrift",
    "FramesReport",
    "GapSignal",
    "LabelStatus",
    "MaturityRule",
    "MetricValue",
    "MultivariateDrift",
    "NumericSummary",
    "PerformanceConfig",
    "PerformanceRule",
    "Profile",
    "QualityCheck",
    "QualityFinding",
    "QualityThresholds",
    "RealizedPerformance",
    "ReliabilityBin",
    "RuleOutcome",
    "ScoreTable",
    "Summary",
    "business_metrics",
    "cells_from_frame",
    "check_quality",
    "chi2_homogeneity",
    "compare",
    "compare_files",
    "compare_frames",
    "compare_with_realized",
    "concept_drift_gap",
    "confusion_cells",
    "domain_classifier",
    "drift_report",
    "estimate",
    "estimate_from_table",
    "ks_test",
    "labelled_rows",
    "profile_frame",
    "psi",
    "read_frame",
    "realized",
    "realized_from_counts",
    "roc_auc_delong",
    "score_table_from_sample",
    "wasserstein",
    "wilson_interval",
]
