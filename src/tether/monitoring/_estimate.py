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

**Interval**: the Poisson-binomial variance, plus the calibration's own error. Given the
window's scores, its labels are independent Bernoulli(p_i) draws; TP, FN and the rank sum of
the positives are sums of them, with exact variances (sum of p(1 - p), times the rank squared
for the rank sum), and precision, recall, F1 and ROC AUC are smooth functions of those sums,
linearised at their expectation (the delta method). So that part says how far the *realized*
metric of this very window may fall from the estimate by chance, if the calibration holds
(NannyML instead reports a sampling error from the reference's chunk-to-chunk spread, which
does not depend on the window's own scores).

The calibration is itself an estimate: each isotonic block's probability is the share of
positives among the held-out rows it pooled. With few of them (1,317 held-out rows and 30
frauds behind the ``--quick`` demo's version 1) the top block is all positives, every
flagged row gets p = 1, the Poisson-binomial variance is zero, and a 95% interval [1, 1]
covers the realized precision of a window from the very same world only when it is 1 (the
seeded simulation in ``tests/monitoring/test_estimate.py``: the realized precision inside
the interval in 72% of 200 worlds with a 1,500-row reference). So a calibration fitted by
this version records each block's rows (``block_rows``), and the precision, recall and F1
intervals add each block's error: its probability's variance under a Jeffreys prior,
Beta(k + 1/2, n - k + 1/2) for k positives of n rows (never zero, even for k = n), times the
squared derivative of the metric in that block's probability (the delta method again), the
blocks taken as independent (they pool disjoint rows, though which rows form a block
depends on every label: an approximation). The same simulation then has 87%. What is left
is bias, which no variance covers: the interval is centred on the isotonic value (1 for a
pure block), not the Jeffreys mean, and an isotonic fit on 30 positives is biased at its
ends. The calibration's error is the same in every window of a version, so their intervals
are not independent of each other. A calibration read from an older reference has no block
rows and keeps the Poisson-binomial interval alone; ROC AUC's interval leaves the
calibration's error out (it depends on the order of the probabilities more than their
values).

Neither part can see concept drift: when the relation between inputs and outcome changes,
calibrated scores are no longer the probabilities, and the estimate stays where the old
relation put it. That gap is reported by :func:`concept_drift_gap` once labels come: the
realized metric's upper bound below the estimate's lower bound.
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

CALIBRATION_FORMAT_VERSION = 2
"""Version of :meth:`Calibration.to_dict`'s layout; readers refuse newer ones. Version 2
added ``block_rows``; version 1 (no block rows) still reads."""
_READABLE_VERSIONS = (1, 2)
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
    block_rows: tuple[int, ...] = ()
    """Per knot, the held-out rows of the isotonic block it belongs to (knots of one block
    share its probability); empty for a calibration from format version 1."""

    def __post_init__(self) -> None:
        """Refuse knots that do not make a monotone map."""
        if len(self.scores) != len(self.probabilities) or not self.scores:
            raise MonitoringError(
                f"calibration has {len(self.scores)} scores and {len(self.probabilities)} "
                f"probabilities; expected the same number, at least one"
            )
        if np.any(np.diff(self.scores) < 0) or np.any(np.diff(self.probabilities) < 0):
            raise MonitoringError("calibration knots are not non-decreasing")
        if self.block_rows:
            pairs = list(zip(self.probabilities, self.block_rows, strict=False))
            per_block = dict(pairs)
            if (
                len(self.block_rows) != len(self.scores)
                or min(self.block_rows) < 1
                or any(per_block[y] != n for y, n in pairs)
                or sum(per_block.values()) != self.rows
            ):
                raise MonitoringError(
                    f"calibration has block row counts {list(self.block_rows)[:8]} for "
                    f"{len(self.scores)} knots and {self.rows} rows; expected one positive "
                    "count per knot, the same for the knots of one block, summing to the rows"
                )

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
        knots = np.asarray(model.y_thresholds_, dtype=float)
        # Each held-out row's fitted value is its block's probability exactly (interpolation
        # between two knots of one value is that value), and blocks have distinct values.
        values, rows = np.unique(model.predict(scores), return_counts=True)
        per_value = dict(zip(values.tolist(), rows.tolist(), strict=True))
        if not set(knots.tolist()) <= set(per_value):  # scikit-learn's predict changed
            raise MonitoringError(
                "calibration: a knot's probability is no held-out row's fitted value, so its "
                "block's rows are unknown"
            )
        return cls(
            tuple(float(x) for x in model.X_thresholds_),
            tuple(float(y) for y in knots),
            len(scores),
            positives,
            tuple(int(per_value[float(y)]) for y in knots),
        )

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``scores`` (clipped to the fitted range)."""
        calibrated: np.ndarray = np.interp(
            np.asarray(scores, dtype=float), self.scores, self.probabilities
        )
        return calibrated

    def block_sums(self, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Per isotonic block, how ``sum(weights * apply(scores))`` moves with the block's
        probability: each score's interpolation weight on the one or two blocks around it."""
        x, block = np.asarray(self.scores, dtype=float), self._blocks()
        s = np.clip(np.asarray(scores, dtype=float), x[0], x[-1])
        w = np.asarray(weights, dtype=float)
        if len(x) == 1:
            return np.array([w.sum()])
        left = np.clip(np.searchsorted(x, s, side="right") - 1, 0, len(x) - 2)
        width = x[left + 1] - x[left]
        right = np.divide(s - x[left], width, out=np.zeros_like(s), where=width > 0)
        size = int(block[-1]) + 1
        return np.bincount(block[left], w * (1 - right), size) + np.bincount(
            block[left + 1], w * right, size
        )

    def block_variances(self) -> np.ndarray | None:
        """Each block's probability variance under a Jeffreys prior (Beta(k + 1/2,
        n - k + 1/2) for k positives of its n held-out rows); None without block rows."""
        if not self.block_rows:
            return None
        block = self._blocks()
        n, p = np.zeros(int(block[-1]) + 1), np.zeros(int(block[-1]) + 1)
        n[block] = np.asarray(self.block_rows, dtype=float)
        p[block] = np.asarray(self.probabilities, dtype=float)
        mean = (p * n + 0.5) / (n + 1)
        variance: np.ndarray = mean * (1 - mean) / (n + 2)
        return variance

    def _blocks(self) -> np.ndarray:
        """Knot -> its block: consecutive knots of one probability are one block."""
        y = np.asarray(self.probabilities, dtype=float)
        return np.concatenate([[0], np.cumsum(np.diff(y) != 0)]).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in the model's reference artifact."""
        data: dict[str, Any] = {
            "format_version": CALIBRATION_FORMAT_VERSION if self.block_rows else 1,
            "method": "isotonic",
            "scores": list(self.scores),
            "probabilities": list(self.probabilities),
            "rows": self.rows,
            "positives": self.positives,
        }
        if self.block_rows:  # a version-1 calibration is written back as version 1
            data["block_rows"] = list(self.block_rows)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Read :meth:`to_dict`'s form, refusing a version or method it does not know."""
        version = data.get("format_version")
        if version not in _READABLE_VERSIONS or data.get("method") != "isotonic":
            raise MonitoringError(
                f"calibration format_version {version!r}, method {data.get('method')!r}; "
                f"expected version {CALIBRATION_FORMAT_VERSION} or older, isotonic "
                "(upgrade tether?)"
            )
        if version == 2 and "block_rows" not in data:  # refused, not read as version 1
            raise MonitoringError("calibration format_version 2 without its block_rows")
        return cls(
            tuple(float(x) for x in data["scores"]),
            tuple(float(y) for y in data["probabilities"]),
            int(data["rows"]),
            int(data["positives"]),
            tuple(int(n) for n in data["block_rows"]) if version == 2 else (),
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
    # The calibration's error: how TP and FN move with each block's probability, and its
    # variance (zeros for a calibration without block rows).
    block_var = calibration.block_variances()
    g_tp = g_fn = np.zeros(1)
    if block_var is None:
        block_var = np.zeros(1)
    else:
        g_tp = calibration.block_sums(s, np.where(flagged, c, 0.0))
        g_fn = calibration.block_sums(s, np.where(flagged, 0.0, c))
    method = "cbpe, poisson-binomial" + (" + calibration" if calibration.block_rows else "")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    n = int(rows)
    precision = recall = f1 = None
    if n_flagged > 0:
        variance = v_tp / n_flagged**2 + float(np.dot((g_tp / n_flagged) ** 2, block_var))
        precision = _metric("precision", tp / n_flagged, variance, z, n, method)
    if tp + fn > 0:
        total = tp + fn
        variance = (fn**2 * v_tp + tp**2 * v_fn) / total**4
        variance += float(np.dot(((g_tp * fn - tp * g_fn) / total**2) ** 2, block_var))
        recall = _metric("recall", tp / total, variance, z, n, method)
        # F1 = 2 TP / (TP + flagged + FN): flagged is fixed, TP and FN are independent sums.
        d = tp + n_flagged + fn
        grad_tp, grad_fn = 2 * (n_flagged + fn) / d**2, -2 * tp / d**2
        variance = grad_tp**2 * v_tp + grad_fn**2 * v_fn
        variance += float(np.dot((grad_tp * g_tp + grad_fn * g_fn) ** 2, block_var))
        f1 = _metric("f1", 2 * tp / d, variance, z, n, method)
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


def _metric(
    name: str, value: float, variance: float, z: float, n: int,
    method: str = "cbpe, poisson-binomial",
) -> MetricValue:  # fmt: skip
    half = z * math.sqrt(max(variance, 0.0))
    low, high = max(0.0, value - half), min(1.0, value + half)
    return MetricValue(name, value, low, high, n, method)


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
