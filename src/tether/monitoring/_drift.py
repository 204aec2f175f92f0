"""Drift: a current profile against its reference, per feature, for the score, and overall.

Per numeric feature (and the score):

- **PSI** over the reference's decile bins plus a missing-value bin (see
  :mod:`._profile`: inner edges are the reference's exact deciles, bins left-closed, the
  outer ones open): :func:`psi`. Bands, as usual: below 0.1 stable, 0.1-0.2 a warning,
  above 0.2 drifted.
- the two-sample **Kolmogorov-Smirnov** test (``scipy.stats.ks_2samp``, two-sided; exact
  p-values up to 1,000 rows a side, asymptotic above) on the profiles' samples' non-null
  values, subsampled (seeded) to ``ks_sample_size`` rows per side when larger;
- the effect size: the **Wasserstein distance** between the same samples (as
  ``scipy.stats.wasserstein_distance``) divided by the reference's standard deviation
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

The verdict: a feature has drifted when its PSI is above ``psi_drift`` (raised on small
samples to the PSI their own noise reaches only with probability ``psi_noise``), or its
test's p-value is below ``p_value`` **and** its effect size is above the floor
(``numeric_effect`` or ``categorical_effect``): a window of a million rows makes every
p-value tiny, the floor keeps a tiny shift from being called drift. The dataset has drifted
when the share of drifted features (the score not counted) is above ``dataset_share``. Every
verdict carries its reason.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from tether.errors import MonitoringError
from tether.features import DuckDBEngine
from tether.monitoring._multivariate import MultivariateDrift
from tether.monitoring._multivariate import domain_classifier as _domain_classifier
from tether.monitoring._profile import CategoricalSummary, NumericSummary, Profile
from tether.monitoring._profiling import profile_frame
from tether.monitoring._report import DriftReport, DriftThresholds, FeatureDrift
from tether.monitoring._statistics import chi2_homogeneity, ks_test, psi, wasserstein

__all__ = ["compare", "drift_report"]

Floats = npt.NDArray[np.float64]


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
    # The features both samples hold (a window's profile may come without some).
    columns = [
        name
        for name in current.features
        if name in reference.sample.columns and name in current.sample.columns
    ]
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


@dataclass(frozen=True)
class _Evidence:
    """What one feature's verdict is made of, before it is worded."""

    kind: Literal["numeric", "categorical"]
    psi: float
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    effect_name: Literal["wasserstein/std", "tvd"]
    effect: float
    floor: float
    bins: tuple[str, ...]
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...]
    unseen: int = 0


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
    statistic, p_value, effect = math.nan, math.nan, math.nan
    if len(ref_sample) and len(cur_sample):
        statistic, p_value = ks_test(ref_sample, cur_sample)
        effect = _normalized(wasserstein(ref_sample, cur_sample), reference.std)
    evidence = _Evidence(
        kind="numeric",
        psi=psi(ref_counts, cur_counts, epsilon=thresholds.psi_epsilon),
        test="ks",
        statistic=statistic,
        p_value=p_value,
        effect_name="wasserstein/std",
        effect=effect,
        floor=thresholds.numeric_effect,
        bins=_numeric_bins(reference.edges),
        reference_counts=ref_counts,
        current_counts=cur_counts,
    )
    return _verdict(name, evidence, reference, current, thresholds)


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
    statistic, p_value, _ = chi2_homogeneity(ref_counts, cur_counts)
    p = np.asarray(ref_counts) / sum(ref_counts)
    q = np.asarray(cur_counts) / sum(cur_counts)
    evidence = _Evidence(
        kind="categorical",
        psi=psi(ref_counts, cur_counts, epsilon=thresholds.psi_epsilon),
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        effect_name="tvd",
        effect=float(0.5 * np.abs(p - q).sum()),
        floor=thresholds.categorical_effect,
        bins=(*reference.frequencies, "other", "missing"),
        reference_counts=ref_counts,
        current_counts=cur_counts,
        unseen=current.unseen,
    )
    return _verdict(name, evidence, reference, current, thresholds)


def _numeric_bins(edges: tuple[float, ...]) -> tuple[str, ...]:
    bounds = ["-inf", *(f"{e:.6g}" for e in edges), "inf"]
    labels = [f"[{low}, {high})" for low, high in itertools.pairwise(bounds)]
    labels[0] = f"({labels[0][1:]}"
    return (*labels, "missing")


def _psi_noise(evidence: _Evidence, thresholds: DriftThresholds) -> float:
    """The PSI that no drift exceeds with probability ``psi_noise`` (see ``PSI_NOISE``)."""
    n_reference, n_current = sum(evidence.reference_counts), sum(evidence.current_counts)
    bins = sum(1 for a, b in zip(evidence.reference_counts, evidence.current_counts,
                                 strict=True) if a or b)  # fmt: skip
    if n_reference == 0 or n_current == 0 or bins < 2:
        return 0.0
    n = 1.0 / (1.0 / n_reference + 1.0 / n_current)
    return float(stats.chi2.ppf(1.0 - thresholds.psi_noise, bins - 1)) / n


def _verdict(
    name: str,
    evidence: _Evidence,
    reference: NumericSummary | CategoricalSummary,
    current: NumericSummary | CategoricalSummary,
    thresholds: DriftThresholds,
) -> FeatureDrift:
    line = max(thresholds.psi_drift, _psi_noise(evidence, thresholds))
    enough = line == thresholds.psi_drift  # PSI's noise is below its line: PSI speaks
    by_psi = evidence.psi > line
    significant = evidence.p_value < thresholds.p_value  # False for NaN: no test, no evidence
    by_test = significant and evidence.effect > evidence.floor
    drifted = by_psi or by_test
    warning = not drifted and enough and evidence.psi > thresholds.psi_warn
    verdict = "drifted" if drifted else "warning" if warning else "no drift"
    if enough:
        reason = f"{verdict}: PSI {evidence.psi:.3g} {'>' if by_psi else '<='} "
        reason += f"{thresholds.psi_drift:g}; {_test_text(evidence, thresholds)}"
    else:  # so few rows that PSI's own noise reaches its line: the line moves up
        reason = f"{verdict}: PSI {evidence.psi:.3g} {'>' if by_psi else '<='} {line:.3g} "
        reason += f"(its noise on {current.rows} rows; {thresholds.psi_drift:g} at scale); "
        reason += _test_text(evidence, thresholds)
    if warning:
        reason += f" (PSI in the warning band above {thresholds.psi_warn:g})"
    if current.nulls or reference.nulls:
        reason += f"; missing {current.null_rate:.1%} (reference {reference.null_rate:.1%})"
    if evidence.unseen:
        reason += f"; {evidence.unseen} rows of categories the reference never saw"
    ref_total, cur_total = sum(evidence.reference_counts), sum(evidence.current_counts)
    return FeatureDrift(
        name=name,
        kind=evidence.kind,
        psi=evidence.psi,
        test=evidence.test,
        statistic=evidence.statistic,
        p_value=evidence.p_value,
        effect=evidence.effect,
        effect_name=evidence.effect_name,
        drifted=drifted,
        warning=warning,
        reason=reason,
        reference_rows=reference.rows,
        current_rows=current.rows,
        reference_missing=reference.null_rate,
        current_missing=current.null_rate,
        unseen=evidence.unseen,
        bins=evidence.bins,
        reference_shares=tuple(c / ref_total for c in evidence.reference_counts),
        current_shares=tuple(c / cur_total for c in evidence.current_counts),
    )


def _test_text(evidence: _Evidence, thresholds: DriftThresholds) -> str:
    label = "KS" if evidence.test == "ks" else "chi-square"
    if math.isnan(evidence.p_value):
        return f"no {label} test (no values on one side)"
    if evidence.p_value >= thresholds.p_value:
        return f"{label} p {evidence.p_value:.3g} >= {thresholds.p_value:g}"
    relation = ">" if evidence.effect > evidence.floor else "<= the effect floor"
    return (
        f"{label} p {evidence.p_value:.3g} < {thresholds.p_value:g} and {evidence.effect_name} "
        f"{evidence.effect:.3g} {relation} {evidence.floor:g}"
    )


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    score: str | None = None,
    thresholds: DriftThresholds | None = None,
    seed: int = 0,
    engine: DuckDBEngine | None = None,
) -> DriftReport:
    """Drift of ``current`` against ``reference`` (two DataFrames), with the domain classifier.

    Profiles both with :func:`~tether.monitoring.profile_frame` (``current`` on the
    reference's bins; samples seeded by ``seed`` and ``seed + 1``), then :func:`compare`
    with ``multivariate=True``: the Evidently / NannyML use, a reference and an analysis
    frame. ``engine`` is the DuckDB engine to profile on (one is made for the call if None).

    >>> report = drift_report(train, last_week, score="score")  # doctest: +SKIP
    >>> [(f.name, f.reason) for f in report.features if f.drifted]  # doctest: +SKIP
    """
    engine = engine or DuckDBEngine()
    reference_profile = profile_frame(reference, columns, score=score, seed=seed, engine=engine)
    current_profile = profile_frame(
        current, columns, score=score, reference=reference_profile, seed=seed + 1, engine=engine
    )
    return compare(reference_profile, current_profile, thresholds, seed=seed, multivariate=True)
