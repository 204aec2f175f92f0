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

from tether.monitoring._arms import arm_metrics, arms_by
from tether.monitoring._drift import compare, drift_report
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
from tether.monitoring._multivariate import (
    DOMAIN_AUC,
    DOMAIN_SAMPLE_SIZE,
    MultivariateDrift,
    domain_classifier,
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

__all__ = [
    "CATEGORICAL_EFFECT",
    "CHI2_MIN_EXPECTED",
    "CONFIDENCE",
    "DATASET_SHARE",
    "DOMAIN_AUC",
    "DOMAIN_SAMPLE_SIZE",
    "EXPERIMENT_ALPHA",
    "EXPERIMENT_MAX_DAYS",
    "EXPERIMENT_METRIC",
    "EXPERIMENT_MIN_SAMPLES",
    "FORMAT_VERSION",
    "KS_EXACT_MAX_ROWS",
    "KS_SAMPLE_SIZE",
    "MAX_CATEGORIES",
    "MIXING_SD",
    "NUMERIC_EFFECT",
    "PSI_DRIFT",
    "PSI_EPSILON",
    "PSI_WARN",
    "P_VALUE",
    "SAMPLE_SIZE",
    "SHADOW_TOP_K",
    "AlwaysValidPath",
    "ArmAggregate",
    "ArmDifference",
    "CategoricalSummary",
    "DecisionAgreement",
    "DecisionCode",
    "DriftReport",
    "DriftThresholds",
    "ExperimentDecision",
    "ExperimentLook",
    "ExperimentPolicy",
    "FeatureDrift",
    "FixedHorizonTest",
    "MeanMoments",
    "MultivariateDrift",
    "NumericSummary",
    "Profile",
    "ProportionCounts",
    "ShadowComparison",
    "Summary",
    "always_valid_path",
    "arm_difference",
    "arm_metrics",
    "arms_by",
    "chi2_homogeneity",
    "compare",
    "compare_shadow",
    "decide",
    "decision_path",
    "difference_variance",
    "domain_classifier",
    "drift_report",
    "effective_n",
    "fixed_horizon_test",
    "ks_test",
    "profile_frame",
    "psi",
    "required_sample_size",
    "wasserstein",
    "wilson_interval",
]
