"""Estimated performance before labels arrive: confidence-based performance estimation (CBPE).

NannyML's CBPE, from its documentation: if the model's scores, once calibrated, are the true
probabilities of the positive class, then every unlabelled row with calibrated probability
p is a true positive with probability p when flagged (a false positive with 1 - p), a false
negative with p when not; the expected confusion matrix of a window follows, and from it
the expected precision, recall and F1. ROC AUC is estimated the same way: each row is a
positive with weight p and a negative with weight 1 - p, and the AUC of those weighted
classes is the expected share of (positive, negative) pairs in the right order.

**Calibration** (:class:`Calibration`): isotonic regression of the label on the score on the
reference's held-out rows (scikit-learn ``IsotonicRegression``, increasing, clipped to
[0, 1] and to the fitted score range), stored as its knots so that it is a versioned JSON
artifact (``format_version``) of the model's reference, never a pickle; applying it is
linear interpolation between the knots, exactly what ``IsotonicRegression.predict`` does.

**Interval**: the Poisson-binomial variance. Given the window's scores, its labels are
independent Bernoulli(p_i) draws; TP, FN and the rank sum of the positives are sums of
them, with exact variances (sum of p(1 - p), times the rank squared for the rank sum), and
precision, recall, F1 and ROC AUC are smooth functions of those sums, linearised at their
expectation (the delta method). So the interval says how far the *realized* metric of this
very window may fall from the estimate by chance, if the calibration holds (NannyML instead
reports a sampling error from the reference's chunk-to-chunk spread, which does not depend on
the window's own scores). It does not include the calibration's own error, and it cannot
see concept drift: when the relation between inputs and outcome changes, calibrated scores
are no longer the probabilities, and the estimate stays where the old relation put it. That
gap is reported by :func:`concept_drift_gap` once labels come: the realized metric's upper
bound below the estimate's lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from sklearn.isotonic import IsotonicRegression

from tether.errors import MonitoringError
from tether.monitoring._performance import CONFIDENCE, MetricValue, RealizedPerformance

CALIBRATION_FORMAT_VERSION = 1
"""Version of :meth:`Calibration.to_dict`'s layout; readers refuse newer ones."""
MIN_CALIBRATION_ROWS = 100
"""Fewer held-out rows cannot calibrate a score: isotonic regression would overfit them."""
ESTIMATED_METRICS = ("precision", "recall", "f1", "roc_auc")
GAP_MESSAGE = "realized below estimate: the relation between inputs and outcome changed"


@dataclass(frozen=True)
class Calibration:
    """A monotone map from score to probability, as the knots of an isotonic fit.

    Example:
        >>> c = Calibration.fit(np.linspace(0, 1, 200), (np.arange(200) >= 150).astype(int))
        >>> bool(c.apply(np.array([0.1]))[0] < c.apply(np.array([0.9]))[0])
        True
    """

    scores: tuple[float, ...]
    probabilities: tuple[float, ...]
    rows: int
    positives: int

    def __post_init__(self) -> None:
        """Refuse knots that do not make a monotone map."""
        if len(self.scores) != len(self.probabilities) or not self.scores:
            raise MonitoringError(
                f"calibration has {len(self.scores)} scores and {len(self.probabilities)} "
                f"probabilities; expected the same number, at least one"
            )
        if np.any(np.diff(self.scores) < 0) or np.any(np.diff(self.probabilities) < 0):
            raise MonitoringError("calibration knots are not non-decreasing")

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> Calibration:
        """Fit on held-out ``scores`` and their 0/1 ``labels`` (both classes needed)."""
        scores = np.asarray(scores, dtype=float)
        labels = np.asarray(labels, dtype=float)
        if scores.shape != labels.shape or not np.isfinite(scores).all():
            raise MonitoringError(
                f"calibration needs one finite score per label; got {scores.shape} scores "
                f"({int((~np.isfinite(scores)).sum())} not finite) for {labels.shape} labels"
            )
        if not np.isin(labels, (0.0, 1.0)).all():
            raise MonitoringError("calibration labels must be 0 or 1")
        positives = int(labels.sum())
        if len(scores) < MIN_CALIBRATION_ROWS or positives in (0, len(labels)):
            raise MonitoringError(
                f"calibration needs at least {MIN_CALIBRATION_ROWS} held-out rows of both "
                f"classes; got {len(scores)} rows, {positives} positive"
            )
        model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        model.fit(scores, labels)
        return cls(
            tuple(float(x) for x in model.X_thresholds_),
            tuple(float(y) for y in model.y_thresholds_),
            len(scores),
            positives,
        )

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``scores`` (clipped to the fitted range)."""
        calibrated: np.ndarray = np.interp(
            np.asarray(scores, dtype=float), self.scores, self.probabilities
        )
        return calibrated

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in the model's reference artifact."""
        return {
            "format_version": CALIBRATION_FORMAT_VERSION,
            "method": "isotonic",
            "scores": list(self.scores),
            "probabilities": list(self.probabilities),
            "rows": self.rows,
            "positives": self.positives,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Read :meth:`to_dict`'s form, refusing a version or method it does not know."""
        version = data.get("format_version")
        if version != CALIBRATION_FORMAT_VERSION or data.get("method") != "isotonic":
            raise MonitoringError(
                f"calibration format_version {version!r}, method {data.get('method')!r}; "
                f"expected version {CALIBRATION_FORMAT_VERSION}, isotonic (upgrade tether?)"
            )
        return cls(
            tuple(float(x) for x in data["scores"]),
            tuple(float(y) for y in data["probabilities"]),
            int(data["rows"]),
            int(data["positives"]),
        )


@dataclass(frozen=True)
class EstimatedPerformance:
    """A window's estimated metrics and its expected confusion matrix (rows, not counts)."""

    rows: int
    flagged: int
    precision: MetricValue | None
    recall: MetricValue | None
    f1: MetricValue | None
    roc_auc: MetricValue | None
    expected_tp: float
    expected_fp: float
    expected_fn: float
    expected_tn: float

    def metric(self, name: str) -> MetricValue | None:
        """The estimate called ``name`` (one of ``ESTIMATED_METRICS``)."""
        if name not in ESTIMATED_METRICS:
            raise MonitoringError(
                f"metric {name!r} is not estimated; expected one of {ESTIMATED_METRICS}"
            )
        value: MetricValue | None = getattr(self, name)
        return value


@dataclass(frozen=True)
class GapSignal:
    """Whether a realized metric fell below its estimate by more than both intervals allow."""

    metric: str
    fired: bool
    estimated: MetricValue
    realized: MetricValue
    message: str


def estimate(
    scores: np.ndarray,
    calibration: Calibration,
    threshold: float,
    *,
    confidence: float = CONFIDENCE,
) -> EstimatedPerformance:
    """Estimate precision, recall, F1 and ROC AUC of an unlabelled window of raw ``scores``.

    Rows are flagged at ``threshold`` on the raw score (the version's decision rule); the
    calibration only turns scores into probabilities.
    """
    unique, counts = np.unique(np.asarray(scores, dtype=float), return_counts=True)
    return estimate_from_table(unique, counts, calibration, threshold, confidence=confidence)


def estimate_from_table(
    scores: np.ndarray,
    counts: np.ndarray,
    calibration: Calibration,
    threshold: float,
    *,
    confidence: float = CONFIDENCE,
) -> EstimatedPerformance:
    """:func:`estimate` from rows grouped by score (strictly increasing ``scores``, their row
    ``counts``): what the prediction log aggregates in the engine."""
    s = np.asarray(scores, dtype=float)
    c = np.asarray(counts, dtype=float)
    if s.size and (np.isnan(s).any() or np.any(np.diff(s) <= 0)):
        raise MonitoringError("estimate needs strictly increasing, non-NaN grouped scores")
    p = calibration.apply(s)
    var = c * p * (1 - p)  # Poisson-binomial: the variance of each group's positives
    flagged = s >= threshold
    tp, fn = float(np.dot(c[flagged], p[flagged])), float(np.dot(c[~flagged], p[~flagged]))
    n_flagged, rows = float(c[flagged].sum()), float(c.sum())
    v_tp, v_fn = float(var[flagged].sum()), float(var[~flagged].sum())
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    n = int(rows)
    precision = recall = f1 = None
    if n_flagged > 0:
        precision = _metric("precision", tp / n_flagged, v_tp / n_flagged**2, z, n)
    if tp + fn > 0:
        total = tp + fn
        recall = _metric("recall", tp / total, (fn**2 * v_tp + tp**2 * v_fn) / total**4, z, n)
        # F1 = 2 TP / (TP + flagged + FN): flagged is fixed, TP and FN are independent sums.
        d = tp + n_flagged + fn
        grad_tp, grad_fn = 2 * (n_flagged + fn) / d**2, -2 * tp / d**2
        f1 = _metric("f1", 2 * tp / d, grad_tp**2 * v_tp + grad_fn**2 * v_fn, z, n)
    return EstimatedPerformance(
        rows=n,
        flagged=int(n_flagged),
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=_estimated_auc(c, p, var, z),
        expected_tp=tp,
        expected_fp=n_flagged - tp,
        expected_fn=fn,
        expected_tn=rows - n_flagged - fn,
    )


def _metric(name: str, value: float, variance: float, z: float, n: int) -> MetricValue:
    half = z * math.sqrt(max(variance, 0.0))
    low, high = max(0.0, value - half), min(1.0, value + half)
    return MetricValue(name, value, low, high, n, "cbpe, poisson-binomial")


def _estimated_auc(c: np.ndarray, p: np.ndarray, var: np.ndarray, z: float) -> MetricValue | None:
    """Weighted AUC (positives weighted p, negatives 1 - p, ties one half), and its variance
    from the rank sum R and the positives M, both Poisson-binomial sums, by the delta method
    on AUC = (R - M (M + 1) / 2) / (M (n - M))."""
    pos, neg = c * p, c * (1 - p)
    m, n_neg, rows = float(pos.sum()), float(neg.sum()), float(c.sum())
    if m <= 0 or n_neg <= 0 or rows < 2:
        return None
    neg_below = np.cumsum(neg) - neg
    auc = float(np.dot(pos, neg_below + 0.5 * neg) / (m * n_neg))
    ranks = np.cumsum(c) - (c - 1) / 2  # mid-ranks of each score group, 1-based
    e_r = float(np.dot(pos, ranks))
    v_r, v_m, cov = float(np.dot(var, ranks**2)), float(var.sum()), float(np.dot(var, ranks))
    denominator = m * (rows - m)
    grad_r = 1 / denominator
    numerator = e_r - m * (m + 1) / 2
    grad_m = (-(m + 0.5) * denominator - numerator * (rows - 2 * m)) / denominator**2
    variance = grad_r**2 * v_r + 2 * grad_r * grad_m * cov + grad_m**2 * v_m
    return _metric("roc_auc", auc, variance, z, int(rows))


def concept_drift_gap(estimated: MetricValue, realized: MetricValue) -> GapSignal:
    """Fire when the realized metric's upper bound is below the estimate's lower bound."""
    fired = realized.high < estimated.low
    numbers = (
        f"{realized.name} realized {realized.value:.3f} [{realized.low:.3f}, "
        f"{realized.high:.3f}] on {realized.n} labelled rows, estimated {estimated.value:.3f} "
        f"[{estimated.low:.3f}, {estimated.high:.3f}]"
    )
    message = f"{GAP_MESSAGE} ({numbers})" if fired else f"realized within estimate ({numbers})"
    return GapSignal(realized.name, fired, estimated, realized, message)


def compare_with_realized(
    estimated: EstimatedPerformance, realized: RealizedPerformance
) -> tuple[GapSignal, ...]:
    """:func:`concept_drift_gap` for every metric both sides have."""
    gaps = []
    for name in ESTIMATED_METRICS:
        est, real = estimated.metric(name), realized.metric(name)
        if est is not None and real is not None:
            gaps.append(concept_drift_gap(est, real))
    return tuple(gaps)


# The first name of compare_with_realized, which monitoring/_analysis.py (the CLI's branch)
# imports from this module; the package exports only compare_with_realized, since
# tether.monitoring.compare is drift's.
compare = compare_with_realized
