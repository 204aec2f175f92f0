"""Data quality: the signatures of a broken pipeline rather than of a changing world.

:func:`check_quality` compares a current :class:`~tether.monitoring.Profile` (a window of
traffic, binned on the reference's edges) with the reference profile stored with the model,
and returns one :class:`QualityFinding` per problem, each with its evidence: the check, the
feature, the value seen, the reference's value and a sentence a person can check. The
checks, each with its default in :class:`QualityThresholds`:

==================  ======================================================================
``schema``          a feature missing from the window, new in it, or of another kind
                    (numeric in the reference, categorical now: a type change upstream)
``null_rate``       the null rate rose by more than ``null_rate_increase`` (absolute) and by
                    more than ``null_rate_z`` binomial standard errors of the reference rate
``out_of_range``    more than ``out_of_range_share`` of the window's values (estimated on its
                    sample) lie outside the reference's ``[minimum, maximum]``
``constant``        a feature that varied in the reference is one value now (numeric: its
                    standard deviation is 0; categorical: one category), and the
                    reference makes that improbable: the chance that every row of the
                    window draws that value, its reference share to the power of the
                    window's rows, is below ``constant_chance``
``unit_shift``      the median moved by a factor near 10, 100 or 1000 (or 1/10, 1/100,
                    1/1000: within ``unit_tolerance``) while the shape, the quantiles divided
                    by the median, stayed within ``shape_tolerance``: dollars read as cents
``unseen``          more than ``unseen_share`` of the window's rows hold categories the
                    reference never saw
==================  ======================================================================

Medians and quantiles come from the profiles' bounded samples (the only rows monitoring
sees): a median of a few thousand sampled rows is within a few percent of the window's, and
the tolerances are wide enough that a seeded resample of the reference yields no finding
(tested), while a x100 unit change is a factor of 100 exactly (tested on the scenario's
cents incident). Checks that need rows skip a feature with fewer than ``min_rows`` sampled
values: too few to tell a unit from noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.monitoring._profile import CategoricalSummary, NumericSummary, Profile, Summary

Floats = npt.NDArray[np.float64]
QualityCheck = Literal["schema", "null_rate", "out_of_range", "constant", "unit_shift", "unseen"]
"""The name of a data-quality check (see the module's table)."""

NULL_RATE_INCREASE = 0.05
"""An absolute rise of the null rate (0.02 -> 0.07) that a broken join or parser makes and a
changing world rarely does."""
NULL_RATE_Z = 4.0
"""The rise must also exceed this many binomial standard errors, so a small window's noise
(100 rows at a 2% reference rate: 1.4 points) is not a finding."""
OUT_OF_RANGE_SHARE = 0.01
"""A share of values outside the reference's range: a fresh draw from the reference's own
distribution puts about 2 / n of its values there."""
UNIT_FACTORS = (10.0, 100.0, 1000.0)
"""The factors of unit mistakes: mm/cm, dollars/cents, grams/kilograms."""
UNIT_TOLERANCE = 1.3
"""The median ratio may be off a unit factor by this factor (x100 is read for 77..130)."""
SHAPE_TOLERANCE = 0.25
"""The largest change of a quantile divided by the median (relative when above 1): a unit
change keeps the ratios exactly; a change of the distribution does not."""
SHAPE_QUANTILES = (0.1, 0.25, 0.75, 0.9)
"""The quantiles whose ratios to the median describe the shape."""
UNSEEN_SHARE = 0.05
"""A share of rows in categories the reference never saw: new categories do appear, one by
one; a flood is a renamed or re-encoded column."""
CONSTANT_CHANCE = 1e-6
"""A window is called stuck on one value only if the reference gives every one of its rows
that value with less than this chance: a sparse count (0 in 97% of the reference) is all
zeros on a quiet day of 150 payments one day in seventy, which is no pipeline fault, and a
monitor checks some 15 features on each of 180 days; at 2,000 rows the same zeros are a
chance of 1e-27."""
MIN_ROWS = 30
"""The fewest sampled values of a feature for the checks that need rows."""


@dataclass(frozen=True)
class QualityThresholds:
    """When a data-quality check reports a finding (``[monitoring]`` in ``tether.toml``).

    Each default is a named constant of this module, with its reason there.
    """

    null_rate_increase: float = NULL_RATE_INCREASE
    null_rate_z: float = NULL_RATE_Z
    out_of_range_share: float = OUT_OF_RANGE_SHARE
    unit_tolerance: float = UNIT_TOLERANCE
    shape_tolerance: float = SHAPE_TOLERANCE
    unseen_share: float = UNSEEN_SHARE
    constant_chance: float = CONSTANT_CHANCE
    min_rows: int = MIN_ROWS


@dataclass(frozen=True)
class QualityFinding:
    """One data-quality problem and its evidence.

    ``value`` is what the window shows and ``reference`` what the reference showed, in the
    check's own terms (a rate, a share, a median, a kind); ``message`` says it in words.
    """

    check: QualityCheck
    feature: str
    value: float | str
    reference: float | str
    message: str

    def to_dict(self) -> dict[str, object]:
        """The finding as strict JSON holds it (a NaN is null)."""
        return {
            "check": self.check,
            "feature": self.feature,
            "value": _plain(self.value),
            "reference": _plain(self.reference),
            "message": self.message,
        }


def check_quality(
    reference: Profile, current: Profile, thresholds: QualityThresholds | None = None
) -> list[QualityFinding]:
    """The data-quality findings of ``current`` against ``reference``, feature by feature.

    >>> check_quality(reference, current)  # doctest: +SKIP
    [QualityFinding(check='unit_shift', feature='amount', value=4210.0, reference=42.1, ...)]
    """
    limits = thresholds or QualityThresholds()
    findings = _schema_findings(reference.features, current.features)
    for name, before in reference.features.items():
        now = current.features.get(name)
        if now is None or now.kind != before.kind:
            continue
        findings += _null_findings(name, before, now, limits)
        if isinstance(before, NumericSummary) and isinstance(now, NumericSummary):
            findings += _numeric_findings(name, before, now, reference, current, limits)
        elif isinstance(before, CategoricalSummary) and isinstance(now, CategoricalSummary):
            findings += _categorical_findings(name, before, now, current, limits)
    return findings


def _schema_findings(
    reference: Mapping[str, Summary], current: Mapping[str, Summary]
) -> list[QualityFinding]:
    findings = []
    for name, before in reference.items():
        now = current.get(name)
        if now is None:
            message = f"feature {name!r} is missing from the window; the reference has it"
            findings.append(QualityFinding("schema", name, "missing", before.kind, message))
        elif now.kind != before.kind:
            message = (
                f"feature {name!r} is {now.kind} in the window; it was {before.kind} in the "
                "reference (a type change upstream)"
            )
            findings.append(QualityFinding("schema", name, now.kind, before.kind, message))
    for name, now in current.items():
        if name not in reference:
            message = f"feature {name!r} is new in the window; the reference does not have it"
            findings.append(QualityFinding("schema", name, now.kind, "missing", message))
    return findings


def _null_findings(
    name: str, before: Summary, now: Summary, limits: QualityThresholds
) -> list[QualityFinding]:
    rate_before = _rate(before.nulls, before.count + before.nulls)
    rows = now.count + now.nulls
    rate_now = _rate(now.nulls, rows)
    if rows == 0 or math.isnan(rate_before):
        return []
    rise = rate_now - rate_before
    # The standard error of a window's rate under the reference's rate; floored at one row
    # in the window so that a reference without nulls still needs more than a stray one.
    error = max(math.sqrt(rate_before * (1 - rate_before) / rows), 1 / rows)
    if rise <= limits.null_rate_increase or rise <= limits.null_rate_z * error:
        return []
    message = (
        f"null rate of {name!r} is {rate_now:.1%} in the window; {rate_before:.1%} in the "
        f"reference ({now.nulls:,} of {rows:,} rows)"
    )
    return [QualityFinding("null_rate", name, rate_now, rate_before, message)]


def _numeric_findings(
    name: str,
    before: NumericSummary,
    now: NumericSummary,
    reference: Profile,
    current: Profile,
    limits: QualityThresholds,
) -> list[QualityFinding]:
    findings = []
    if (
        now.count >= 2
        and now.std == 0
        and before.std > 0
        and _improbable(_numeric_share(name, now.minimum, before, reference), now.count, limits)
    ):
        message = (
            f"{name!r} is constant in the window (every value {now.minimum:g}); it varied "
            f"in the reference (std {before.std:.4g})"
        )
        findings.append(QualityFinding("constant", name, now.std, before.std, message))
    seen = _values(current.sample, name)
    if len(seen) >= limits.min_rows and before.count > 0:
        outside = float(np.mean((seen < before.minimum) | (seen > before.maximum)))
        if outside > limits.out_of_range_share:
            message = (
                f"{outside:.1%} of {name!r} in the window (its sample) is outside the "
                f"reference's range [{before.minimum:g}, {before.maximum:g}]"
            )
            findings.append(QualityFinding("out_of_range", name, outside, 0.0, message))
    shift = _unit_shift(name, _values(reference.sample, name), seen, limits)
    return findings + ([shift] if shift else [])


@dataclass(frozen=True)
class Scale:
    """A numeric feature's median and its shape, the quantiles of :data:`SHAPE_QUANTILES`
    over the median: what a unit change moves, and what it keeps."""

    median: float
    shape: tuple[float, ...]

    @classmethod
    def of(cls, values: Floats) -> Scale | None:
        """The scale of ``values``; none without values or with a median of 0 (no scale to
        compare: a ratio to zero)."""
        if len(values) == 0:
            return None
        median = float(np.median(values))
        if median == 0:
            return None
        quantiles = np.quantile(values, SHAPE_QUANTILES) / median
        return cls(median, tuple(float(q) for q in quantiles))

    @classmethod
    def typical(cls, scales: list[Scale]) -> Scale:
        """The median of the medians and of each shape quantile: one odd day among
        ``scales`` moves neither."""
        shapes = np.array([scale.shape for scale in scales])
        return cls(
            float(np.median([scale.median for scale in scales])),
            tuple(float(q) for q in np.median(shapes, axis=0)),
        )


def unit_shift(
    name: str,
    before: Scale,
    now: Scale,
    limits: QualityThresholds,
    *,
    against: str = "in the reference",
    shape_tolerance: float | None = None,
) -> QualityFinding | None:
    """A median moved by a unit factor from ``before`` to ``now`` while the shape stayed
    (within ``shape_tolerance``, by default the thresholds'); ``against`` names ``before``
    in the finding's words."""
    if (before.median > 0) != (now.median > 0):
        return None  # a sign change is not a unit
    ratio = now.median / before.median
    factor = _unit_factor(ratio, limits.unit_tolerance)
    if factor is None:
        return None
    tolerance = limits.shape_tolerance if shape_tolerance is None else shape_tolerance
    shape_before, shape_now = np.array(before.shape), np.array(now.shape)
    change = np.abs(shape_now - shape_before) / np.maximum(np.abs(shape_before), 1.0)
    if float(change.max()) > tolerance:
        return None
    words = f"x{factor:g}" if factor > 1 else f"/{1 / factor:g}"
    message = (
        f"median of {name!r} is {now.median:.4g} in the window; {before.median:.4g} "
        f"{against} (a factor of {ratio:.4g}, near {words}) while its shape stayed: "
        "a unit change upstream (cents for dollars?)"
    )
    return QualityFinding("unit_shift", name, now.median, before.median, message)


def _unit_shift(
    name: str, before: Floats, now: Floats, limits: QualityThresholds
) -> QualityFinding | None:
    """A unit shift of the window's sample against the reference's."""
    if min(len(before), len(now)) < limits.min_rows:
        return None
    scale_before, scale_now = Scale.of(before), Scale.of(now)
    if scale_before is None or scale_now is None:
        return None
    return unit_shift(name, scale_before, scale_now, limits)


def _unit_factor(ratio: float, tolerance: float) -> float | None:
    """The unit factor (10, 100, 1000 or their inverses) that ``ratio`` is near, if any."""
    for factor in UNIT_FACTORS:
        for candidate in (factor, 1 / factor):
            if abs(math.log(ratio / candidate)) <= math.log(tolerance):
                return candidate
    return None


def _categorical_findings(
    name: str,
    before: CategoricalSummary,
    now: CategoricalSummary,
    current: Profile,
    limits: QualityThresholds,
) -> list[QualityFinding]:
    findings = []
    if now.count > 0:
        share = now.unseen / now.count
        if share > limits.unseen_share:
            message = (
                f"{share:.1%} of {name!r} in the window ({now.unseen:,} rows) holds "
                "categories the reference never saw"
            )
            findings.append(QualityFinding("unseen", name, share, 0.0, message))
    if (
        now.count >= 2
        and _distinct(before) > 1
        and _is_one_category(name, now, current)
        and _improbable(_category_share(now, before), now.count, limits)
    ):
        message = (
            f"{name!r} holds one category in the window; the reference had "
            f"{_distinct(before)} or more"
        )
        findings.append(QualityFinding("constant", name, 1.0, float(_distinct(before)), message))
    return findings


def _improbable(share: float, rows: int, limits: QualityThresholds) -> bool:
    """Whether ``rows`` draws from the reference all landing on a value of reference share
    ``share`` is rarer than ``limits.constant_chance`` (in logs: ``share ** rows`` underflows)."""
    if share <= 0:
        return True
    return rows * math.log(min(share, 1.0)) < math.log(limits.constant_chance)


def _numeric_share(name: str, value: float, before: NumericSummary, reference: Profile) -> float:
    """The reference's share of ``value``: exact on its sample, else the share of the bin
    holding it (an upper bound, so a summary-only reference errs towards no finding)."""
    sampled = _values(reference.sample, name)
    if len(sampled):
        return float(np.mean(sampled == value))
    total = sum(before.counts)
    if total == 0:
        return 0.0
    return before.counts[int(np.searchsorted(before.edges, value, side="right"))] / total


def _category_share(now: CategoricalSummary, before: CategoricalSummary) -> float:
    """The reference's share of the window's one category: a named one's frequency, or, for
    a category in the "other" bucket, that bucket's share (an upper bound)."""
    if before.count == 0:
        return 0.0
    named = [category for category, rows in now.frequencies.items() if rows > 0]
    rows = before.frequencies.get(named[0], 0) if named else before.other
    return rows / before.count


def _distinct(summary: CategoricalSummary) -> int:
    """Categories seen (at least): the named ones with rows, plus one if others exist."""
    named = sum(1 for rows in summary.frequencies.values() if rows > 0)
    return named + (1 if summary.other + summary.unseen > 0 else 0)


def _is_one_category(name: str, now: CategoricalSummary, current: Profile) -> bool:
    named = [rows for rows in now.frequencies.values() if rows > 0]
    if now.other + now.unseen == 0:
        return len(named) == 1
    if named:
        return False
    # Every row is in the other/unseen buckets, which may hold one category or many: the
    # window's sample tells which.
    sample = current.sample
    return name in sample.columns and sample[name].dropna().nunique() == 1


def _values(sample: pd.DataFrame, name: str) -> Floats:
    """The sampled non-null values of a numeric feature (none if the sample lacks it)."""
    if name not in sample.columns:
        return np.empty(0)
    values: Floats = pd.to_numeric(sample[name], errors="coerce").to_numpy(dtype=np.float64)
    return values[~np.isnan(values)]


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def _plain(value: float | str) -> float | str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
