"""Drift: a current profile against its reference, per feature, for the score, and overall.

Per numeric feature (and the score):

- **PSI** over the reference's decile bins plus a missing-value bin (see
  :mod:`._profile`: inner edges are the reference's exact deciles, bins left-closed, the
  outer ones open): :func:`psi`. Bands, as usual: below 0.1 stable, 0.1-0.2 a warning,
  above 0.2 drifted.
- the two-sample **Kolmogorov-Smirnov** test (``scipy.stats.ks_2samp``, two-sided, method
  ``auto``) on the profiles' samples' non-null values, subsampled (seeded) to
  ``ks_sample_size`` rows per side when larger;
- the effect size: the **Wasserstein distance** between the same samples
  (``scipy.stats.wasserstein_distance``) divided by the reference's standard deviation
  (0 when both are 0; infinite when the reference is constant and the current is not).

Per categorical feature:

- PSI over the reference's categories, plus "other" (every other category, unseen ones
  included) and "missing";
- the **chi-square test of homogeneity** on the 2 x K table of the two frames' counts in
  those bins (``scipy.stats.chi2_contingency``, its default Yates correction when K = 2):
  not a goodness-of-fit test against the reference's shares, which treats them as exact and
  over-flags undrifted windows. Sparse cells are merged first: bins empty on both sides
  are dropped, bins whose smaller expected count is under 5 are pooled into one, and a
  pool still under 5 joins the smallest other bin; with fewer than two bins left there is no
  test (p = 1);
- the effect size: the **total variation distance** between the two frames' shares over
  the same bins (half the sum of absolute differences, in [0, 1]).

The verdict: a feature has drifted when its PSI is above ``psi_drift``, or its test's p-value
is below ``p_value`` **and** its effect size is above the floor (``numeric_effect`` or
``categorical_effect``): a window of a million rows makes every p-value tiny, the floor keeps
a tiny shift from being called drift. The dataset has drifted when the share of drifted
features (the score not counted) is above ``dataset_share``. Every verdict carries its reason.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from tether.errors import ConfigError, MonitoringError
from tether.monitoring._multivariate import DOMAIN_AUC, DOMAIN_SAMPLE_SIZE, MultivariateDrift
from tether.monitoring._multivariate import domain_classifier as _domain_classifier
from tether.monitoring._profile import SAMPLE_SIZE, CategoricalSummary, NumericSummary, Profile
from tether.monitoring._profiling import profile_frame
from tether.monitoring._statistics import PSI_EPSILON, chi2_homogeneity, psi

__all__ = [
    "CATEGORICAL_EFFECT",
    "DATASET_SHARE",
    "KS_SAMPLE_SIZE",
    "NUMERIC_EFFECT",
    "PSI_DRIFT",
    "PSI_WARN",
    "P_VALUE",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "compare",
    "drift_report",
]

PSI_DRIFT = 0.2
PSI_WARN = 0.1
P_VALUE = 0.05
NUMERIC_EFFECT = 0.1
"""Wasserstein distance / reference std: 0.1 is a mean shift of a tenth of a standard
deviation, about PSI 0.01 on deciles: below it, a shift is not worth an alert."""
CATEGORICAL_EFFECT = 0.1
"""Total variation distance: a tenth of the rows moved to other categories."""
DATASET_SHARE = 0.1
KS_SAMPLE_SIZE = SAMPLE_SIZE
"""Rows per side of the KS test and the Wasserstein distance (seeded subsamples of the
profiles' samples when larger): at 20,000 a KS test costs milliseconds."""

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DriftThresholds:
    """The thresholds of drift verdicts (``[monitoring]`` in tether.toml); see the module."""

    psi_drift: float = PSI_DRIFT
    psi_warn: float = PSI_WARN
    p_value: float = P_VALUE
    numeric_effect: float = NUMERIC_EFFECT
    categorical_effect: float = CATEGORICAL_EFFECT
    dataset_share: float = DATASET_SHARE
    psi_epsilon: float = PSI_EPSILON
    ks_sample_size: int = KS_SAMPLE_SIZE
    domain_auc: float = DOMAIN_AUC
    domain_sample_size: int = DOMAIN_SAMPLE_SIZE

    def __post_init__(self) -> None:
        checks = {
            "psi_warn": 0 <= self.psi_warn <= self.psi_drift,
            "p_value": 0 < self.p_value < 1,
            "numeric_effect": self.numeric_effect >= 0,
            "categorical_effect": 0 <= self.categorical_effect <= 1,
            "dataset_share": 0 <= self.dataset_share < 1,
            "psi_epsilon": 0 < self.psi_epsilon < 1,
            "ks_sample_size": self.ks_sample_size >= 1,
            "domain_auc": 0.5 <= self.domain_auc <= 1,
            "domain_sample_size": self.domain_sample_size >= 1,
        }
        for key, valid in checks.items():
            if not valid:
                raise ConfigError(
                    f"monitoring.{key} is {getattr(self, key)!r}: expected {_EXPECTED[key]}"
                )


_EXPECTED = {
    "psi_warn": "0 <= psi_warn <= psi_drift",
    "p_value": "a probability in (0, 1)",
    "numeric_effect": "a distance >= 0",
    "categorical_effect": "a distance in [0, 1]",
    "dataset_share": "a share in [0, 1)",
    "psi_epsilon": "a share in (0, 1)",
    "ks_sample_size": "a number of rows >= 1",
    "domain_auc": "an AUC in [0.5, 1]",
    "domain_sample_size": "a number of rows >= 1",
}


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's (or the score's) drift: its statistics, its verdict and the reason.

    ``bins`` name the bins PSI compared (the last is "missing"), with each frame's share of
    rows in them; ``test`` is ``"ks"`` or ``"chi2"`` and ``effect_name``
    ``"wasserstein/std"`` or ``"tvd"``. Missing values are reported as each frame's share.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    psi: float
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    effect: float
    effect_name: Literal["wasserstein/std", "tvd"]
    drifted: bool
    warning: bool
    reason: str
    reference_rows: int
    current_rows: int
    reference_missing: float
    current_missing: float
    unseen: int
    bins: tuple[str, ...]
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None, infinities as strings)."""
        return {key: _json(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class DriftReport:
    """Drift of a current frame against its reference: per feature, score, dataset, joint.

    ``dataset_drift`` is the rule of :class:`DriftThresholds`' ``dataset_share`` over
    ``features`` (the score not counted); ``multivariate`` the domain classifier's verdict,
    when it ran (it does not enter ``dataset_drift``, and says so in its own reason).
    """

    features: tuple[FeatureDrift, ...]
    score: FeatureDrift | None
    dataset_drift: bool
    drifted_share: float
    reason: str
    reference_rows: int
    current_rows: int
    thresholds: DriftThresholds
    multivariate: MultivariateDrift | None = None

    @property
    def drifted(self) -> tuple[str, ...]:
        """The names of the drifted features."""
        return tuple(f.name for f in self.features if f.drifted)

    def feature(self, name: str) -> FeatureDrift:
        """The drift of feature ``name``."""
        for drift in self.features:
            if drift.name == name:
                return drift
        raise MonitoringError(f"no feature {name!r} in this drift report")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``--json`` prints and the monitor stores."""
        return {
            "dataset_drift": self.dataset_drift,
            "drifted": list(self.drifted),
            "drifted_share": self.drifted_share,
            "reason": self.reason,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "features": [f.to_dict() for f in self.features],
            "score": None if self.score is None else self.score.to_dict(),
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
            "thresholds": asdict(self.thresholds),
        }


def compare(
    reference: Profile,
    current: Profile,
    thresholds: DriftThresholds | None = None,
    *,
    seed: int = 0,
    multivariate: bool = False,
) -> DriftReport:
    """Compare a current profile with its reference: per feature, the score, the dataset.

    ``current`` must be binned on ``reference`` (``profile_frame(..., reference=...)``, or
    the prediction log's window profile); its features must be the reference's or fewer.
    With ``multivariate``, the domain classifier also runs on the two samples.

    >>> report = compare(reference, profile_frame(window, reference=reference))  # doctest: +SKIP
    >>> report.dataset_drift, report.drifted  # doctest: +SKIP
    (True, ('amount', 'merchant_category'))
    """
    thresholds = thresholds or DriftThresholds()
    for label, profile in (("reference", reference), ("current", current)):
        if profile.rows == 0:
            raise MonitoringError(f"the {label} frame has no rows: drift needs rows on both sides")
    unknown = [name for name in current.features if name not in reference.features]
    if unknown:
        raise MonitoringError(
            f"the current profile has features {unknown} that the reference does not: "
            f"expected some of {list(reference.features)}"
        )
    rng = np.random.default_rng(seed)
    features = tuple(
        _feature(name, reference.features[name], summary, reference, current, thresholds, rng)
        for name, summary in current.features.items()
    )
    score = None
    if reference.score is not None and current.score is not None:
        name = reference.score_name or "score"
        score = _feature(name, reference.score, current.score, reference, current, thresholds, rng)
    report = _report(features, score, reference, current, thresholds)
    if not multivariate:
        return report
    return replace(report, multivariate=_multivariate(reference, current, thresholds, seed))


def _multivariate(
    reference: Profile, current: Profile, thresholds: DriftThresholds, seed: int
) -> MultivariateDrift:
    columns = [name for name in current.features if name in reference.sample.columns]
    categorical = [
        name for name in columns if isinstance(current.features[name], CategoricalSummary)
    ]
    return _domain_classifier(
        reference.sample[columns],
        current.sample[columns],
        categorical=categorical,
        seed=seed,
        sample_size=thresholds.domain_sample_size,
        threshold=thresholds.domain_auc,
    )


def _report(
    features: tuple[FeatureDrift, ...],
    score: FeatureDrift | None,
    reference: Profile,
    current: Profile,
    thresholds: DriftThresholds,
) -> DriftReport:
    drifted = [f.name for f in features if f.drifted]
    share = len(drifted) / len(features) if features else 0.0
    dataset_drift = share > thresholds.dataset_share
    verb = "drifted" if dataset_drift else "no dataset drift"
    reason = (
        f"{verb}: {len(drifted)} of {len(features)} features drifted ({share:.0%}; "
        f"{'above' if dataset_drift else 'at most'} {thresholds.dataset_share:.0%})"
    )
    if drifted:
        reason += f": {', '.join(drifted)}"
    return DriftReport(
        features=features,
        score=score,
        dataset_drift=dataset_drift,
        drifted_share=share,
        reason=reason,
        reference_rows=reference.rows,
        current_rows=current.rows,
        thresholds=thresholds,
    )


def _feature(
    name: str,
    reference: NumericSummary | CategoricalSummary,
    current: NumericSummary | CategoricalSummary,
    reference_profile: Profile,
    current_profile: Profile,
    thresholds: DriftThresholds,
    rng: np.random.Generator,
) -> FeatureDrift:
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        if reference.edges != current.edges:
            raise MonitoringError(
                f"feature {name!r} of the current profile is binned on edges {current.edges}, "
                f"the reference on {reference.edges}: profile it with reference= the reference"
            )
        ref_sample = _values(reference_profile.sample, name, thresholds.ks_sample_size, rng)
        cur_sample = _values(current_profile.sample, name, thresholds.ks_sample_size, rng)
        return _numeric(name, reference, current, ref_sample, cur_sample, thresholds)
    if isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary):
        if list(reference.frequencies) != list(current.frequencies):
            raise MonitoringError(
                f"feature {name!r} of the current profile counts categories "
                f"{list(current.frequencies)}, the reference {list(reference.frequencies)}: "
                "profile it with reference= the reference"
            )
        return _categorical(name, reference, current, thresholds)
    raise MonitoringError(
        f"feature {name!r} is {current.kind} in the current profile and {reference.kind} in "
        "the reference: expected the same type in both"
    )


def _values(sample: pd.DataFrame, name: str, size: int, rng: np.random.Generator) -> Floats:
    if name not in sample.columns:
        return np.empty(0)
    values = sample[name].to_numpy(dtype="float64")
    values = values[~np.isnan(values)]
    if len(values) > size:
        values = rng.choice(values, size=size, replace=False)
    return values


def _numeric(
    name: str,
    reference: NumericSummary,
    current: NumericSummary,
    ref_sample: Floats,
    cur_sample: Floats,
    thresholds: DriftThresholds,
) -> FeatureDrift:
    ref_counts = (*reference.counts, reference.nulls)
    cur_counts = (*current.counts, current.nulls)
    value = psi(ref_counts, cur_counts, epsilon=thresholds.psi_epsilon)
    statistic, p_value, effect = math.nan, math.nan, math.nan
    if len(ref_sample) and len(cur_sample):
        result = stats.ks_2samp(ref_sample, cur_sample)
        statistic, p_value = float(result.statistic), float(result.pvalue)
        distance = float(stats.wasserstein_distance(ref_sample, cur_sample))
        effect = _normalized(distance, reference.std)
    return _verdict(
        name,
        "numeric",
        value,
        ("ks", statistic, p_value),
        ("wasserstein/std", effect, thresholds.numeric_effect),
        (ref_counts, cur_counts, _numeric_bins(reference.edges)),
        (reference, current, 0),
        thresholds,
    )


def _normalized(distance: float, std: float) -> float:
    if distance == 0:
        return 0.0
    return distance / std if std > 0 else math.inf


def _categorical(
    name: str,
    reference: CategoricalSummary,
    current: CategoricalSummary,
    thresholds: DriftThresholds,
) -> FeatureDrift:
    ref_counts = (*reference.frequencies.values(), reference.other, reference.nulls)
    cur_counts = (*current.frequencies.values(), current.other, current.nulls)
    value = psi(ref_counts, cur_counts, epsilon=thresholds.psi_epsilon)
    statistic, p_value, _ = chi2_homogeneity(ref_counts, cur_counts)
    p = np.asarray(ref_counts) / sum(ref_counts)
    q = np.asarray(cur_counts) / sum(cur_counts)
    effect = float(0.5 * np.abs(p - q).sum())
    return _verdict(
        name,
        "categorical",
        value,
        ("chi2", statistic, p_value),
        ("tvd", effect, thresholds.categorical_effect),
        (ref_counts, cur_counts, (*reference.frequencies, "other", "missing")),
        (reference, current, current.unseen),
        thresholds,
    )


def _numeric_bins(edges: tuple[float, ...]) -> tuple[str, ...]:
    bounds = ["-inf", *(f"{e:.6g}" for e in edges), "inf"]
    labels = [f"[{low}, {high})" for low, high in itertools.pairwise(bounds)]
    labels[0] = f"({labels[0][1:]}"
    return (*labels, "missing")


def _verdict(
    name: str,
    kind: Literal["numeric", "categorical"],
    value: float,
    test: tuple[Literal["ks", "chi2"], float, float],
    effect: tuple[Literal["wasserstein/std", "tvd"], float, float],
    bins: tuple[Sequence[int], Sequence[int], tuple[str, ...]],
    summaries: tuple[NumericSummary | CategoricalSummary, NumericSummary | CategoricalSummary, int],
    thresholds: DriftThresholds,
) -> FeatureDrift:
    test_name, statistic, p_value = test
    effect_name, effect_size, floor = effect
    ref_counts, cur_counts, labels = bins
    reference, current, unseen = summaries
    by_psi = value > thresholds.psi_drift
    significant = p_value < thresholds.p_value  # False for NaN: no test, no evidence
    by_test = significant and effect_size > floor
    drifted = by_psi or by_test
    warning = not drifted and value > thresholds.psi_warn
    label = "KS" if test_name == "ks" else "chi-square"
    psi_text = f"PSI {value:.3g} {'>' if by_psi else '<='} {thresholds.psi_drift:g}"
    if math.isnan(p_value):
        test_text = f"no {label} test (no values on one side)"
    elif significant:
        relation = ">" if by_test else "<= the effect floor"
        test_text = f"{label} p {p_value:.3g} < {thresholds.p_value:g} and {effect_name} "
        test_text += f"{effect_size:.3g} {relation} {floor:g}"
    else:
        test_text = f"{label} p {p_value:.3g} >= {thresholds.p_value:g}"
    verdict = "drifted" if drifted else "warning" if warning else "no drift"
    reason = f"{verdict}: {psi_text}; {test_text}"
    if warning:
        reason += f" (PSI in the warning band above {thresholds.psi_warn:g})"
    if current.nulls or reference.nulls:
        reason += f"; missing {current.null_rate:.1%} (reference {reference.null_rate:.1%})"
    if unseen:
        reason += f"; {unseen} rows of categories the reference never saw"
    return FeatureDrift(
        name=name,
        kind=kind,
        psi=value,
        test=test_name,
        statistic=statistic,
        p_value=p_value,
        effect=effect_size,
        effect_name=effect_name,
        drifted=drifted,
        warning=warning,
        reason=reason,
        reference_rows=reference.rows,
        current_rows=current.rows,
        reference_missing=reference.null_rate,
        current_missing=current.null_rate,
        unseen=unseen,
        bins=labels,
        reference_shares=tuple(c / sum(ref_counts) for c in ref_counts),
        current_shares=tuple(c / sum(cur_counts) for c in cur_counts),
    )


def _json(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    return value


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    score: str | None = None,
    thresholds: DriftThresholds | None = None,
    seed: int = 0,
) -> DriftReport:
    """Drift of ``current`` against ``reference`` (two DataFrames), with the domain classifier.

    Profiles both with :func:`~tether.monitoring.profile_frame` (``current`` on the
    reference's bins; samples seeded by ``seed`` and ``seed + 1``), then :func:`compare`
    with ``multivariate=True``: the Evidently / NannyML use, a reference and an analysis
    frame.

    >>> report = drift_report(train, last_week, score="score")  # doctest: +SKIP
    >>> [(f.name, f.reason) for f in report.features if f.drifted]  # doctest: +SKIP
    """
    reference_profile = profile_frame(reference, columns, score=score, seed=seed)
    current_profile = profile_frame(
        current, columns, score=score, reference=reference_profile, seed=seed + 1
    )
    return compare(reference_profile, current_profile, thresholds, seed=seed, multivariate=True)
