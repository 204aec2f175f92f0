"""CBPE: calibration, the expected confusion matrix, its interval, and the concept-drift gap.

The synthetic world: an input x, a true probability of the positive class
sigmoid(-3 + 1.5 x), and a model score sigmoid(0.5 x) that ranks rows correctly but is not
calibrated. Covariate shift moves x only (labels still drawn from the true probability);
concept drift weakens the relation between x and the label.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from tether.errors import MonitoringError
from tether.monitoring import (
    GAP_MESSAGE,
    Calibration,
    compare_with_realized,
    concept_drift_gap,
    estimate,
    estimate_from_table,
    realized,
)

METRICS = ("precision", "recall", "f1", "roc_auc")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def draw(
    rng: np.random.Generator, rows: int, shift: float = 0.0, slope: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of ``rows`` rows, x shifted by ``shift``, the label's slope on x."""
    x = rng.normal(shift, 1.0, rows)
    labels = (rng.random(rows) < sigmoid(-3 + slope * x)).astype(int)
    return sigmoid(0.5 * x), labels


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    scores, labels = draw(np.random.default_rng(0), 40_000)
    return Calibration.fit(scores, labels)


@pytest.fixture(scope="module")
def threshold() -> float:
    """The reference's 90th score percentile: a model that flags a tenth of its traffic."""
    return float(np.quantile(draw(np.random.default_rng(1), 40_000)[0], 0.9))


def test_calibration_applies_as_scikit_learns_isotonic_predict() -> None:
    scores, labels = draw(np.random.default_rng(2), 5_000)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    probe = np.random.default_rng(3).uniform(-0.1, 1.1, 1_000)
    calibration = Calibration.fit(scores, labels)
    assert calibration.apply(probe) == pytest.approx(fitted.predict(probe), abs=1e-12)


def test_calibration_round_trips_through_json_and_refuses_other_versions(
    calibration: Calibration,
) -> None:
    data = json.loads(json.dumps(calibration.to_dict()))
    assert data["format_version"] == 2 and data["method"] == "isotonic"
    assert Calibration.from_dict(data) == calibration
    with pytest.raises(MonitoringError, match="format_version 3"):
        Calibration.from_dict(data | {"format_version": 3})
    # A reference written before block rows were kept still reads, without them, and is
    # written back as it was; a version 2 without them is refused, not read as version 1.
    older = {k: v for k, v in data.items() if k != "block_rows"} | {"format_version": 1}
    assert Calibration.from_dict(older) == replace(calibration, block_rows=())
    assert Calibration.from_dict(older).to_dict() == older
    with pytest.raises(MonitoringError, match="block_rows"):
        Calibration.from_dict({k: v for k, v in data.items() if k != "block_rows"})


def test_block_rows_that_do_not_make_blocks_are_refused() -> None:
    knots = ((0.0, 0.5, 1.0), (0.1, 0.1, 0.9))
    assert Calibration(*knots, 30, 5, (20, 20, 10)).block_rows == (20, 20, 10)
    for wrong in ((20, 10), (20, 19, 10), (20, 20, 11), (20, 20, 0)):
        with pytest.raises(MonitoringError, match="block row counts"):
            Calibration(*knots, 30, 5, wrong)


def test_each_knot_records_the_held_out_rows_of_its_block() -> None:
    scores, labels = draw(np.random.default_rng(12), 3_000)
    calibration = Calibration.fit(scores, labels)
    fitted = calibration.apply(scores)
    for probability, rows in zip(calibration.probabilities, calibration.block_rows, strict=True):
        assert rows == int(np.sum(fitted == probability))
    blocks = dict(zip(calibration.probabilities, calibration.block_rows, strict=True))
    assert sum(blocks.values()) == 3_000  # each held-out row in one block


def test_calibration_needs_enough_rows_of_both_classes() -> None:
    with pytest.raises(MonitoringError, match="got 50 rows"):
        Calibration.fit(np.linspace(0, 1, 50), np.arange(50) % 2)
    with pytest.raises(MonitoringError, match="0 positive"):
        Calibration.fit(np.linspace(0, 1, 500), np.zeros(500))


def test_expected_confusion_matrix_is_the_sum_of_calibrated_probabilities() -> None:
    calibration = Calibration((0.0, 1.0), (0.0, 1.0), rows=100, positives=50)  # identity
    scores = np.array([0.9, 0.8, 0.6, 0.3, 0.1])
    result = estimate(scores, calibration, threshold=0.5)
    assert (result.expected_tp, result.expected_fp) == pytest.approx((2.3, 0.7))
    assert (result.expected_fn, result.expected_tn) == pytest.approx((0.4, 1.6))
    assert result.precision is not None and result.recall is not None and result.f1 is not None
    assert result.precision.value == pytest.approx(2.3 / 3)
    assert result.recall.value == pytest.approx(2.3 / 2.7)
    assert result.f1.value == pytest.approx(4.6 / (4.6 + 0.7 + 0.4))
    assert result.flagged == 3 and result.rows == 5


def test_estimated_auc_is_the_auc_of_rows_weighted_by_their_probabilities(
    calibration: Calibration,
) -> None:
    scores = np.round(draw(np.random.default_rng(4), 3_000, shift=0.5)[0], 3)  # with ties
    result = estimate(scores, calibration, threshold=0.6)
    p = calibration.apply(scores)
    doubled = np.concatenate([scores, scores])
    labels = np.concatenate([np.ones_like(p), np.zeros_like(p)])
    oracle = roc_auc_score(labels, doubled, sample_weight=np.concatenate([p, 1 - p]))
    assert result.roc_auc is not None
    assert result.roc_auc.value == pytest.approx(oracle, abs=1e-9)


def test_grouped_scores_give_the_same_estimate_as_rows(calibration: Calibration) -> None:
    scores = np.round(draw(np.random.default_rng(5), 2_000)[0], 2)
    unique, counts = np.unique(scores, return_counts=True)
    assert estimate(scores, calibration, 0.6) == estimate_from_table(
        unique, counts, calibration, 0.6
    )


def test_poisson_binomial_interval_matches_the_spread_of_simulated_labels(
    calibration: Calibration, threshold: float
) -> None:
    """Given the scores, labels are Bernoulli(p): the interval's half-width over 1.96 is the
    standard deviation of the realized metric over 2,000 label draws."""
    rng = np.random.default_rng(6)
    scores = draw(rng, 4_000, shift=0.5)[0]
    # The labels' spread alone: without block rows the calibration is taken as exact.
    result = estimate(scores, replace(calibration, block_rows=()), threshold)
    p = calibration.apply(scores)
    labels = (rng.random((2_000, len(p))) < p).astype(int)
    flagged = scores >= threshold
    tp = labels[:, flagged].sum(axis=1)
    fn = labels[:, ~flagged].sum(axis=1)
    ranks = np.argsort(np.argsort(scores)) + 1
    m = labels.sum(axis=1)
    simulated = {
        "precision": tp / flagged.sum(),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (tp + flagged.sum() + fn),
        "roc_auc": (labels @ ranks - m * (m + 1) / 2) / (m * (len(p) - m)),
    }
    for name in METRICS:
        metric = result.metric(name)
        assert metric is not None
        se = (metric.high - metric.low) / 2 / 1.959963984540054
        assert se == pytest.approx(float(np.std(simulated[name])), rel=0.1), name
        assert metric.value == pytest.approx(float(np.mean(simulated[name])), abs=0.5 * se), name


def test_under_covariate_shift_the_estimate_is_within_its_interval_of_realized(
    calibration: Calibration, threshold: float
) -> None:
    """40 seeded analysis chunks of 5,000 rows with x shifted by 0.8: the realized metric falls
    inside the estimate's 95% interval in at least 34 of 40 (expected 38; 33 or fewer has
    probability about 0.3% if coverage is 95%), and no gap fires."""
    inside = dict.fromkeys(METRICS, 0)
    gaps = 0
    for seed in range(40):
        scores, labels = draw(np.random.default_rng(100 + seed), 5_000, shift=0.8)
        est = estimate(scores, calibration, threshold)
        real = realized(pd.DataFrame({"score": scores, "label": labels}), threshold=threshold)
        for name in METRICS:
            metric, truth = est.metric(name), real.metric(name)
            assert metric is not None and truth is not None
            inside[name] += metric.low <= truth.value <= metric.high
        gaps += sum(gap.fired for gap in compare_with_realized(est, real))
    assert min(inside.values()) >= 34, inside
    assert gaps == 0


def test_under_concept_drift_the_gap_fires_with_its_message(
    calibration: Calibration, threshold: float
) -> None:
    scores, labels = draw(np.random.default_rng(7), 5_000, shift=0.8, slope=0.6)
    est = estimate(scores, calibration, threshold)
    real = realized(pd.DataFrame({"score": scores, "label": labels}), threshold=threshold)
    assert est.precision is not None and real.precision is not None
    gap = concept_drift_gap(est.precision, real.precision)
    assert gap.fired and gap.message.startswith(GAP_MESSAGE)
    assert "precision realized" in gap.message
    assert {g.metric for g in compare_with_realized(est, real) if g.fired} >= {
        "precision",
        "roc_auc",
    }


def test_calibration_refuses_non_finite_scores_and_labels_other_than_0_or_1() -> None:
    scores = np.linspace(0, 1, 200)
    with pytest.raises(MonitoringError, match=r"\(1 not finite\)"):
        Calibration.fit(np.where(np.arange(200) == 3, np.nan, scores), np.arange(200) % 2)
    with pytest.raises(MonitoringError, match="must be 0 or 1"):
        Calibration.fit(scores, np.arange(200) % 3)


def test_an_empty_window_has_no_estimate_and_nan_scores_are_refused(
    calibration: Calibration,
) -> None:
    empty = estimate(np.array([]), calibration, 0.5)
    assert empty.rows == 0 and empty.precision is None and empty.roc_auc is None
    with pytest.raises(MonitoringError, match="non-NaN"):
        estimate(np.array([0.2, np.nan]), calibration, 0.5)


def test_nothing_flagged_leaves_precision_undefined_but_recall_zero(
    calibration: Calibration,
) -> None:
    result = estimate(np.array([0.1, 0.2, 0.3]), calibration, threshold=0.99)
    assert result.precision is None and result.flagged == 0
    assert result.recall is not None and result.recall.value == 0.0


def test_a_pure_block_still_has_an_interval_its_jeffreys_variance_by_hand() -> None:
    """One block of 20 held-out rows, all positive: p = 1, so the labels' variance is zero;
    the block's probability is Beta(20.5, 0.5), mean 20.5 / 21, variance m (1 - m) / 22, and
    every flagged row moves with it, so precision's standard error is its square root."""
    calibration = Calibration((0.0, 1.0), (1.0, 1.0), 20, 20, (20, 20))
    result = estimate(np.full(10, 0.5), calibration, 0.1)
    assert result.precision is not None
    m = 20.5 / 21
    half = 1.959963984540054 * (m * (1 - m) / 22) ** 0.5  # 0.0637
    assert result.precision.value == 1.0
    assert result.precision.low == pytest.approx(1 - half, abs=1e-12)
    assert result.precision.method == "cbpe, poisson-binomial + calibration"
    exact = estimate(np.full(10, 0.5), replace(calibration, block_rows=()), 0.1)
    assert exact.precision is not None and exact.precision.low == 1.0  # the old [1, 1]


def test_the_calibration_term_matches_finite_differences_block_by_block() -> None:
    """Four blocks (two of two knots), a window flagged and not flagged on both sides of a
    sloped segment: the variance the calibration adds to precision, recall and F1 is the sum
    over blocks of the block's Jeffreys variance times the squared derivative of the metric's
    estimate in the block's probability, taken here by moving that probability both ways."""
    calibration = Calibration((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.05, 0.05, 0.2, 0.4, 0.7, 0.7),
                              220, 60, (100, 100, 50, 40, 30, 30))  # fmt: skip
    scores = np.random.default_rng(13).uniform(0.0, 1.0, 3_000)
    threshold, z, step = 0.5, 1.959963984540054, 1e-6
    exact = replace(calibration, block_rows=())
    full, alone = estimate(scores, calibration, threshold), estimate(scores, exact, threshold)
    variances = calibration.block_variances()
    assert variances is not None and len(variances) == 4
    knots_of = ((0, 1), (2,), (3,), (4, 5))
    for name in ("precision", "recall", "f1"):
        with_blocks, without = full.metric(name), alone.metric(name)
        assert with_blocks is not None and without is not None
        added = ((with_blocks.high - with_blocks.low) / 2 / z) ** 2
        added -= ((without.high - without.low) / 2 / z) ** 2
        expected = 0.0
        for block, knots in enumerate(knots_of):
            moved = []
            for sign in (1, -1):
                probabilities = list(calibration.probabilities)
                for knot in knots:
                    probabilities[knot] += sign * step
                shifted = replace(exact, probabilities=tuple(probabilities))
                value = estimate(scores, shifted, threshold).metric(name)
                assert value is not None
                moved.append(value.value)
            expected += ((moved[0] - moved[1]) / (2 * step)) ** 2 * variances[block]
        assert added == pytest.approx(expected, rel=1e-4), name


def test_with_a_small_reference_the_interval_covers_the_realized_metric_far_more_often() -> None:
    """200 seeded worlds: a 1,500-row reference with about 30 positives, a window of 2,500 rows
    from the same world, flagged at the reference positives' 15th score percentile. Taking the
    calibration as exact, the 95% interval held the window's realized precision in 143 of
    them (72%); with each block's error, in 174 (87%; still short of 95%: an isotonic fit on
    30 positives is biased, not only noisy). The test draws its line between the two."""
    inside = {"exact": 0, "with blocks": 0}
    widths: dict[str, list[float]] = {"exact": [], "with blocks": []}
    tried = 0
    for seed in range(200):
        rng = np.random.default_rng(1_000 + seed)
        scores, labels = _small_world(rng, 1_500)
        calibration = Calibration.fit(scores, labels)
        threshold = float(np.quantile(scores[labels == 1], 0.15))
        window, truth = _small_world(rng, 2_500)
        flagged = window >= threshold
        if not flagged.any():
            continue
        tried += 1
        realized_precision = truth[flagged].mean()
        for name, used in (("exact", replace(calibration, block_rows=())),
                           ("with blocks", calibration)):  # fmt: skip
            metric = estimate(window, used, threshold).precision
            assert metric is not None
            inside[name] += metric.low <= realized_precision <= metric.high
            widths[name].append(metric.high - metric.low)
    assert tried >= 195
    assert inside["exact"] / tried < 0.80, inside
    assert inside["with blocks"] / tried > 0.80, inside
    # Wider, not uselessly so: [0, 1] would cover everything (the median here is 1.5 times).
    assert np.median(widths["with blocks"]) < 2 * np.median(widths["exact"]), widths


def _small_world(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """2% positives; their scores Beta(5, 1.5), the others' Beta(1.2, 6): they overlap."""
    labels = (rng.random(rows) < 0.02).astype(int)
    scores = np.where(labels == 1, rng.beta(5, 1.5, rows), rng.beta(1.2, 6, rows))
    return scores, labels
