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

Performance, labelled and estimated: :func:`realized_from_counts` (and :func:`realized` on a
DataFrame) turns a window's confusion cells and score table into precision, recall, F1, ROC
AUC and calibration with intervals; :class:`BusinessMetric` evaluates the config's business
metrics over the cells; :class:`MaturityRule` and :class:`PerformanceRule` decide which labels
count and when an alert fires; :class:`Calibration` and :func:`estimate` estimate the metrics
of an unlabelled window (CBPE), and :func:`concept_drift_gap` reports a realized metric below
its estimate.
"""

from tether.monitoring._alerts import AlertSender, WebhookSettings, raise_alert
from tether.monitoring._analysis import ChunkReport, FramesReport, compare_files, compare_frames
from tether.monitoring._arms import arm_metrics, arms_by
from tether.monitoring._business import BusinessMetric, business_metrics
from tether.monitoring._changepoint import (
    CUSUM_THRESHOLD,
    ChangeFinding,
    ChangePolicy,
    DailySeries,
    SeriesShape,
    detect_change,
)
from tether.monitoring._diagnose import Diagnosis, DiagnosisAction, DiagnosisPolicy, diagnose
from tether.monitoring._drift import compare, drift_report
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
from tether.monitoring._evidence import (
    DayEvidence,
    DiagnosisInput,
    QualityEvidence,
    RegistryChange,
    RegistryChangeKind,
)
from tether.monitoring._experiment_decision import (
    EXPERIMENT_ALPHA,
    EXPERIMENT_MAX_DAYS,
    EXPERIMENT_METRIC,
    EXPERIMENT_MIN_SAMPLES,
    DecisionCode,
    ExperimentDecision,
    ExperimentLook,
    ExperimentPolicy,
    decide,
    decision_path,
)
from tether.monitoring._experiments import (
    CONFIDENCE,
    ArmAggregate,
    ArmDifference,
    FixedHorizonTest,
    MeanMoments,
    ProportionCounts,
    arm_difference,
    difference_variance,
    fixed_horizon_test,
    required_sample_size,
    wilson_interval,
)
from tether.monitoring._frames import read_frame
from tether.monitoring._monitor import Monitor
from tether.monitoring._monitor_policy import MonitorPolicy
from tether.monitoring._monitor_report import GroupReport, ModelReport
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
)
from tether.monitoring._performance_config import PerformanceConfig
from tether.monitoring._performance_log import cells_from_frame, score_table_from_sample
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
from tether.monitoring._profiling import profile_frame
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
from tether.monitoring._results import (
    NO_MONITOR_RUN,
    AlertRecord,
    DayRecord,
    MonitorResults,
    MonitorRun,
    NewAlert,
    SeriesPoint,
    StoredPoint,
)
from tether.monitoring._sequential import MIXING_SD, AlwaysValidPath, always_valid_path, effective_n
from tether.monitoring._shadow import (
    SHADOW_TOP_K,
    DecisionAgreement,
    ShadowComparison,
    compare_shadow,
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
from tether.monitoring._training_reference import reference_calibration, reference_profiler
from tether.monitoring._window import Group, ModelReference

__all__ = [
    "CATEGORICAL_EFFECT",
    "CHI2_MIN_EXPECTED",
    "CONFIDENCE",
    "CUSUM_THRESHOLD",
    "DATASET_SHARE",
    "DOMAIN_AUC",
    "DOMAIN_SAMPLE_SIZE",
    "EXPERIMENT_ALPHA",
    "EXPERIMENT_MAX_DAYS",
    "EXPERIMENT_METRIC",
    "EXPERIMENT_MIN_SAMPLES",
    "FORMAT_VERSION",
    "GAP_MESSAGE",
    "KS_EXACT_MAX_ROWS",
    "KS_SAMPLE_SIZE",
    "MAX_CATEGORIES",
    "MIXING_SD",
    "NO_MONITOR_RUN",
    "NUMERIC_EFFECT",
    "PSI_DRIFT",
    "PSI_EPSILON",
    "PSI_WARN",
    "P_VALUE",
    "SAMPLE_SIZE",
    "SHADOW_TOP_K",
    "AlertRecord",
    "AlertSender",
    "AlwaysValidPath",
    "ArmAggregate",
    "ArmDifference",
    "BusinessMetric",
    "Calibration",
    "CategoricalSummary",
    "CellAggregate",
    "ChangeFinding",
    "ChangePolicy",
    "ChunkReport",
    "ConfusionCells",
    "DailySeries",
    "DayEvidence",
    "DayRecord",
    "DecisionAgreement",
    "DecisionCode",
    "Diagnosis",
    "DiagnosisAction",
    "DiagnosisInput",
    "DiagnosisPolicy",
    "DriftReport",
    "DriftThresholds",
    "EstimatedPerformance",
    "ExperimentDecision",
    "ExperimentLook",
    "ExperimentPolicy",
    "FeatureDrift",
    "FixedHorizonTest",
    "FramesReport",
    "GapSignal",
    "Group",
    "GroupReport",
    "LabelStatus",
    "MaturityRule",
    "MeanMoments",
    "MetricValue",
    "ModelReference",
    "ModelReport",
    "Monitor",
    "MonitorPolicy",
    "MonitorResults",
    "MonitorRun",
    "MultivariateDrift",
    "NewAlert",
    "NumericSummary",
    "PerformanceConfig",
    "PerformanceRule",
    "Profile",
    "ProportionCounts",
    "QualityCheck",
    "QualityEvidence",
    "QualityFinding",
    "QualityThresholds",
    "RealizedPerformance",
    "RegistryChange",
    "RegistryChangeKind",
    "ReliabilityBin",
    "RuleOutcome",
    "ScoreTable",
    "SeriesPoint",
    "SeriesShape",
    "ShadowComparison",
    "StoredPoint",
    "Summary",
    "WebhookSettings",
    "always_valid_path",
    "arm_difference",
    "arm_metrics",
    "arms_by",
    "business_metrics",
    "cells_from_frame",
    "check_quality",
    "chi2_homogeneity",
    "compare",
    "compare_files",
    "compare_frames",
    "compare_shadow",
    "compare_with_realized",
    "concept_drift_gap",
    "confusion_cells",
    "decide",
    "decision_path",
    "detect_change",
    "diagnose",
    "difference_variance",
    "domain_classifier",
    "drift_report",
    "effective_n",
    "estimate",
    "estimate_from_table",
    "fixed_horizon_test",
    "ks_test",
    "labelled_rows",
    "profile_frame",
    "psi",
    "raise_alert",
    "read_frame",
    "realized",
    "realized_from_counts",
    "reference_calibration",
    "reference_profiler",
    "required_sample_size",
    "roc_auc_delong",
    "score_table_from_sample",
    "wasserstein",
    "wilson_interval",
]
