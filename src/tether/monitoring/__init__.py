"""Monitoring: reference profiles, drift, data quality, performance, experiments, diagnosis.

A :class:`Profile` summarises a frame (a model's training features and score, or a window
of served traffic) once; drift and quality checks compare a current profile with the
reference one, bin for bin, and never see raw rows beyond the profiles' bounded samples.

>>> from tether.monitoring import profile_frame
>>> reference = profile_frame(training, score="score")  # doctest: +SKIP
>>> current = profile_frame(window, reference=reference)  # doctest: +SKIP
"""

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

__all__ = [
    "FORMAT_VERSION",
    "MAX_CATEGORIES",
    "SAMPLE_SIZE",
    "CategoricalSummary",
    "NumericSummary",
    "Profile",
    "QualityCheck",
    "QualityFinding",
    "QualityThresholds",
    "Summary",
    "check_quality",
    "profile_frame",
]
