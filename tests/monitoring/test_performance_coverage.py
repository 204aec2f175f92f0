"""The intervals' coverage by seeded simulation: each 95% interval covers the true value of
the process in 92-98% of simulated windows (the binomial spread of a 95% coverage over 600
windows is +-0.9 points, so the band is more than three standard deviations wide)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from tether.monitoring import (
    BusinessMetric,
    ScoreTable,
    confusion_cells,
    roc_auc_delong,
    wilson_interval,
)

WINDOWS = 600


def test_wilson_interval_covers_the_true_precision() -> None:
    rng = np.random.default_rng(10)
    flagged, precision = 60, 0.8
    hits = rng.binomial(flagged, precision, WINDOWS)
    covered = [
        low <= precision <= high for low, high in (wilson_interval(h, flagged) for h in hits)
    ]
    assert 0.92 <= np.mean(covered) <= 0.98, np.mean(covered)


def test_delong_interval_covers_the_binormal_auc() -> None:
    """Positives' scores N(1, 1), negatives' N(0, 1): the true AUC is Phi(1 / sqrt 2)."""
    rng = np.random.default_rng(11)
    truth = float(stats.norm.cdf(1 / math.sqrt(2)))
    covered = 0
    for _ in range(WINDOWS):
        labels = (rng.random(300) < 0.3).astype(int)
        scores = np.round(rng.normal(labels.astype(float), 1.0), 3)
        auc = roc_auc_delong(ScoreTable.from_arrays(scores, labels))
        assert auc is not None
        covered += auc.low <= truth <= auc.high
    assert 0.92 <= covered / WINDOWS <= 0.98, covered


def test_linear_business_interval_covers_the_expected_total() -> None:
    """Windows of 2,000 rows: fraud 5%, flagged with probability 0.7 if fraud, 0.05 if not;
    amounts lognormal(3, 1). The expected net value tp.amount - 5 fp.count over a window is
    n (0.05 * 0.7 * E[amount] - 5 * 0.95 * 0.05). Measured coverage 92.5% (Wilson's above:
    96.7%, DeLong's: 94.2%): a normal interval on a sum of about 70 skewed amounts covers a
    little less than its nominal level, so this band starts at 90%."""
    rng = np.random.default_rng(12)
    rows = 2_000
    expected = rows * (0.05 * 0.7 * math.exp(3.5) - 5 * 0.95 * 0.05)
    metric = BusinessMetric("net_value", "tp.amount - 5 * fp.count")
    covered = 0
    for _ in range(WINDOWS):
        labels = (rng.random(rows) < 0.05).astype(int)
        flagged = rng.random(rows) < np.where(labels == 1, 0.7, 0.05)
        cells = confusion_cells(labels, flagged, {"amount": rng.lognormal(3, 1, rows)})
        value = metric.evaluate(cells)
        assert value is not None
        covered += value.low <= expected <= value.high
    assert 0.90 <= covered / WINDOWS <= 0.98, covered
