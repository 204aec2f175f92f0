"""Realized metrics from counts against scikit-learn, statsmodels and brute-force oracles."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from tether.errors import MonitoringError
from tether.monitoring import (
    CellAggregate,
    ConfusionCells,
    ScoreTable,
    realized,
    realized_from_counts,
    roc_auc_delong,
    wilson_interval,
)

THRESHOLD = 0.6


def labelled_frame(rows: int = 3_000, seed: int = 0, decimals: int | None = None) -> pd.DataFrame:
    """Scores with a real relation to a 0/1 label, and a business amount."""
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 5, rows)
    label = (rng.random(rows) < score).astype(int)
    if decimals is not None:
        score = np.round(score, decimals)  # ties, as an engine that rounds scores makes them
    amount = rng.lognormal(3, 1, rows)
    return pd.DataFrame({"score": score, "label": label, "amount": amount})


@pytest.mark.parametrize(("hits", "trials"), [(0, 10), (3, 10), (80, 100), (999, 1000), (7, 7)])
def test_wilson_interval_matches_statsmodels(hits: int, trials: int) -> None:
    expected = proportion_confint(hits, trials, alpha=0.05, method="wilson")
    assert wilson_interval(hits, trials) == pytest.approx(expected, abs=1e-12)


def test_precision_recall_f1_match_scikit_learn_at_the_threshold() -> None:
    frame = labelled_frame()
    result = realized(frame, threshold=THRESHOLD)
    decision = frame["score"] >= THRESHOLD
    assert result.precision is not None and result.recall is not None and result.f1 is not None
    assert result.precision.value == pytest.approx(precision_score(frame["label"], decision))
    assert result.recall.value == pytest.approx(recall_score(frame["label"], decision))
    assert result.f1.value == pytest.approx(f1_score(frame["label"], decision))
    assert result.precision.n == int(decision.sum())
    assert result.recall.n == int(frame["label"].sum())
    assert result.labelled == len(frame)


def test_f1_interval_is_wilsons_interval_on_tp_over_tp_fp_fn_mapped_through_2j_over_1_plus_j() -> (
    None
):
    cells = ConfusionCells(
        CellAggregate(40), CellAggregate(10), CellAggregate(15), CellAggregate(935)
    )
    f1 = realized_from_counts(cells).f1
    low, high = proportion_confint(40, 65, alpha=0.05, method="wilson")
    assert f1 is not None
    assert f1.value == pytest.approx(80 / 105)
    assert (f1.low, f1.high) == pytest.approx((2 * low / (1 + low), 2 * high / (1 + high)))


@pytest.mark.parametrize("decimals", [None, 2])
def test_roc_auc_matches_scikit_learn_with_and_without_ties(decimals: int | None) -> None:
    frame = labelled_frame(decimals=decimals)
    auc = realized(frame, threshold=THRESHOLD).roc_auc
    assert auc is not None
    assert auc.value == pytest.approx(roc_auc_score(frame["label"], frame["score"]), abs=1e-12)
    assert auc.low < auc.value < auc.high


def brute_force_delong_variance(scores: np.ndarray, labels: np.ndarray) -> float:
    """DeLong's variance from every (positive, negative) pair, as the 1988 paper writes it."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(np.var(v10, ddof=1) / len(pos) + np.var(v01, ddof=1) / len(neg))


def test_delong_interval_matches_the_pairwise_structural_components() -> None:
    frame = labelled_frame(rows=600, seed=3, decimals=2)
    scores, labels = frame["score"].to_numpy(), frame["label"].to_numpy()
    auc = roc_auc_delong(ScoreTable.from_arrays(scores, labels))
    assert auc is not None
    se = math.sqrt(brute_force_delong_variance(scores, labels))
    assert (auc.high - auc.low) / 2 == pytest.approx(1.959963984540054 * se, rel=1e-9)


def test_roc_auc_is_none_with_a_single_class() -> None:
    assert roc_auc_delong(ScoreTable.from_arrays(np.array([0.1, 0.4]), np.array([1, 1]))) is None


def test_brier_matches_scikit_learn_and_its_interval_the_per_row_variance() -> None:
    frame = labelled_frame()
    brier = realized(frame, threshold=THRESHOLD).brier
    squared = (frame["score"] - frame["label"]) ** 2
    assert brier is not None
    assert brier.value == pytest.approx(brier_score_loss(frame["label"], frame["score"]))
    se = squared.std(ddof=1) / math.sqrt(len(frame))
    assert brier.high - brier.value == pytest.approx(1.959963984540054 * se)


def test_ece_and_reliability_table_match_a_hand_computation() -> None:
    frame = labelled_frame(rows=5_000, seed=1)
    result = realized(frame, threshold=THRESHOLD)
    bins = np.clip(np.floor(frame["score"] * 10), 0, 9)
    grouped = frame.groupby(bins).agg(
        n=("label", "size"), rate=("label", "mean"), mean=("score", "mean")
    )
    expected = float((grouped["n"] * (grouped["rate"] - grouped["mean"]).abs()).sum() / len(frame))
    assert result.ece is not None
    assert result.ece.value == pytest.approx(expected)
    assert result.ece.low <= result.ece.value <= result.ece.high
    assert [b.n for b in result.reliability] == grouped["n"].tolist()
    assert [b.observed_rate for b in result.reliability] == pytest.approx(grouped["rate"].tolist())
    assert [b.mean_score for b in result.reliability] == pytest.approx(grouped["mean"].tolist())


def test_a_calibrated_score_has_small_ece_and_a_miscalibrated_one_large() -> None:
    frame = labelled_frame(rows=20_000, seed=2)
    calibrated = realized(frame, threshold=THRESHOLD).ece
    shifted = realized(frame.assign(score=frame["score"] ** 0.5), threshold=THRESHOLD).ece
    assert calibrated is not None and shifted is not None
    assert calibrated.high < 0.02 < 0.1 < shifted.low


def test_dataframe_and_counts_paths_give_equal_results() -> None:
    frame = labelled_frame(decimals=3)
    flagged = frame["score"] >= THRESHOLD
    positive = frame["label"] == 1
    masks = {"tp": positive & flagged, "fp": ~positive & flagged}
    masks |= {"fn": positive & ~flagged, "tn": ~positive & ~flagged}
    cells = ConfusionCells(
        **{
            name: CellAggregate(
                int(mask.sum()),
                {"amount": float(frame.loc[mask, "amount"].sum())},
                {"amount": float((frame.loc[mask, "amount"] ** 2).sum())},
            )
            for name, mask in masks.items()
        }
    )
    by_score = frame.groupby("score")["label"].agg(["sum", "size"])
    table = ScoreTable(
        tuple(by_score.index.tolist()),
        tuple(by_score["sum"].tolist()),
        tuple((by_score["size"] - by_score["sum"]).tolist()),
    )
    from_counts = realized_from_counts(cells, table)
    from_frame = realized(frame, threshold=THRESHOLD, fields=["amount"])
    assert from_frame.cells.tp.count == from_counts.cells.tp.count
    assert from_frame.cells.fn.sums["amount"] == pytest.approx(from_counts.cells.fn.sums["amount"])
    for name in ("precision", "recall", "f1", "roc_auc", "brier", "ece"):
        assert from_frame.metric(name) == from_counts.metric(name), name


def test_logged_decision_column_overrides_the_threshold() -> None:
    frame = labelled_frame().assign(decision=False)
    result = realized(frame, threshold=THRESHOLD, decision="decision")
    assert result.precision is None  # nothing flagged: precision is undefined, not 0
    assert result.recall is not None and result.recall.value == 0.0


def test_unlabelled_rows_are_left_out_and_bad_labels_refused() -> None:
    frame = labelled_frame(rows=1_000)
    frame["label"] = frame["label"].astype(float)
    frame.loc[:99, "label"] = np.nan
    assert realized(frame, threshold=THRESHOLD).labelled == 900
    frame.loc[5, "label"] = 2.0
    with pytest.raises(MonitoringError, match=r"'label' holds 2\.0; expected 0 or 1"):
        realized(frame, threshold=THRESHOLD)
    with pytest.raises(MonitoringError, match=r"lacks column\(s\) \['amount_usd'\]"):
        realized(frame, threshold=THRESHOLD, fields=["amount_usd"])


def test_score_table_and_cells_must_agree_on_their_rows() -> None:
    cells = ConfusionCells(CellAggregate(1), CellAggregate(1), CellAggregate(1), CellAggregate(1))
    table = ScoreTable.from_arrays(np.array([0.1, 0.9]), np.array([0, 1]))
    with pytest.raises(MonitoringError, match="2 labelled rows but the confusion cells 4"):
        realized_from_counts(cells, table)
    with pytest.raises(MonitoringError, match="not strictly increasing"):
        ScoreTable((0.5, 0.2), (1, 1), (0, 0))


def test_a_window_without_labels_has_no_metrics() -> None:
    frame = labelled_frame(rows=50).assign(label=np.nan)
    result = realized(frame, threshold=THRESHOLD)
    assert result.labelled == 0
    assert all(result.metric(name) is None for name in ("precision", "recall", "f1", "roc_auc"))
    assert result.brier is None and result.ece is None and result.reliability == ()


def test_counts_without_a_score_table_give_the_threshold_metrics_only() -> None:
    cells = ConfusionCells(CellAggregate(8), CellAggregate(2), CellAggregate(4), CellAggregate(86))
    result = realized_from_counts(cells)
    assert result.precision is not None and result.precision.value == pytest.approx(0.8)
    assert result.recall is not None and result.recall.value == pytest.approx(8 / 12)
    assert result.roc_auc is None and result.brier is None and result.ece is None
    with pytest.raises(MonitoringError, match="metric 'accuracy' is not computed"):
        result.metric("accuracy")


def test_ece_of_a_hand_worked_table() -> None:
    """Two bins: scores 0.05 (4 rows, 1 positive) and 0.85 (6 rows, 3 positive):
    ECE = 0.4 * |0.25 - 0.05| + 0.6 * |0.5 - 0.85| = 0.08 + 0.21 = 0.29."""
    table = ScoreTable((0.05, 0.85), (1, 3), (3, 3))
    cells = ConfusionCells(CellAggregate(3), CellAggregate(3), CellAggregate(1), CellAggregate(3))
    result = realized_from_counts(cells, table)
    assert result.ece is not None and result.ece.value == pytest.approx(0.29)
    assert [(b.low, b.high, b.n) for b in result.reliability] == [(0.0, 0.1, 4), (0.8, 0.9, 6)]
