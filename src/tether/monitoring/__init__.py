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
from tether.monitoring._evidence import (
    DayEvidence,
    DiagnosisInput,
    QualityEvidence,
    RegistryChange,
    RegistryChangeKind,
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
    "CUSUM_THRESHOLD",
    "DATASET_SHARE",
    "DOMAIN_AUC",
    "DOMAIN_SAMPLE_SIZE",
    "FORMAT_VERSION",
    "KS_EXACT_MAX_ROWS",
    "KS_SAMPLE_SIZE",
    "MAX_CATEGORIES",
    "NUMERIC_EFFECT",
    "PSI_DRIFT",
    "PSI_EPSILON",
    "PSI_WARN",
    "P_VALUE",
    "SAMPLE_SIZE",
    "CategoricalSummary",
    "ChangeFinding",
    "ChangePolicy",
    "DailySeries",
    "DayEvidence",
    "Diagnosis",
    "DiagnosisAction",
    "DiagnosisInput",
    "DiagnosisPolicy",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "MultivariateDrift",
    "NumericSummary",
    "Profile",
    "QualityEvidence",
    "RegistryChange",
    "RegistryChangeKind",
    "SeriesShape",
    "Summary",
    "chi2_homogeneity",
    "compare",
    "detect_change",
    "diagnose",
    "domain_classifier",
    "drift_report",
    "ks_test",
    "profile_frame",
    "psi",
    "wasserstein",
]
