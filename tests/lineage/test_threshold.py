"""The decision threshold: each rule hand-worked, checked against scikit-learn's curve, and
the ``[train.threshold]`` table refused with the key at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve

from tether.config import ThresholdSettings, settings_from_mapping
from tether.errors import ConfigError, ProjectError
from tether.lineage import choose_threshold

# Ten held-out rows, best score first; the positives score 0.95, 0.9, 0.7, 0.5 and 0.2.
SCORES = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
TRUTH = [1, 1, 0, 1, 0, 1, 0, 0, 1, 0]


def test_recall_takes_the_highest_threshold_that_still_catches_the_target() -> None:
    # 60% of 5 positives is 3: the third-best positive score, 0.7; 4 flagged, 3 of them right.
    decision = choose_threshold(SCORES, TRUTH, ThresholdSettings("recall", target=0.6))
    assert decision.threshold == 0.7
    assert (decision.precision, decision.recall, decision.decision_rate) == (0.75, 0.6, 0.4)
    assert (decision.rows, decision.positives, decision.rule, decision.target) == (
        10, 5, "recall", 0.6,
    )  # fmt: skip
    # 85% of 5 is 4.25: five are needed, so the lowest positive's score, 0.2.
    deep = choose_threshold(SCORES, TRUTH, ThresholdSettings("recall", target=0.85))
    assert (deep.threshold, deep.recall, deep.precision) == (0.2, 1.0, 5 / 9)


def test_a_recall_target_reached_exactly_does_not_demand_one_positive_more() -> None:
    # 0.56 * 50 is 28.000000000000004 in floating point; 28 of 50 positives reach 56%.
    scores = np.linspace(1.0, 0.02, 50)
    assert 0.56 * 50 > 28
    decision = choose_threshold(scores, np.ones(50), ThresholdSettings("recall", target=0.56))
    assert decision.threshold == scores[27]
    assert decision.recall == 0.56


def test_precision_takes_the_lowest_threshold_that_reaches_the_target() -> None:
    # Precision at each score: 1, 1, 2/3, 3/4, 3/5, 4/6, 4/7, 4/8, 5/9, 5/10.
    settings = ThresholdSettings("precision", target=0.75)
    assert choose_threshold(SCORES, TRUTH, settings).threshold == 0.7
    settings = ThresholdSettings("precision", target=0.66)
    assert choose_threshold(SCORES, TRUTH, settings).threshold == 0.5
    settings = ThresholdSettings("precision", target=1.0)
    assert choose_threshold(SCORES, TRUTH, settings).threshold == 0.9


def test_a_threshold_takes_every_row_tied_at_it() -> None:
    # At 0.9 both tied rows are flagged (precision 1/2), so no threshold reaches 1.0.
    with pytest.raises(ProjectError, match=r"no threshold reaches .* best is 0.6667"):
        choose_threshold([0.9, 0.9, 0.5], [1, 0, 1], ThresholdSettings("precision", target=1.0))
    decision = choose_threshold([0.9, 0.9, 0.5], [1, 0, 1], ThresholdSettings("recall", 0.5))
    assert (decision.threshold, decision.decision_rate) == (0.9, 2 / 3)


def test_recall_without_positives_is_refused_with_what_to_do() -> None:
    with pytest.raises(ProjectError, match="no positive rows"):
        choose_threshold([0.3, 0.2], [0, 0], ThresholdSettings("recall", target=0.85))


def test_fixed_and_the_default_decide_at_their_value() -> None:
    assert choose_threshold(SCORES, TRUTH, ThresholdSettings()).threshold == 0.5
    decision = choose_threshold(SCORES, TRUTH, ThresholdSettings("fixed", value=0.85))
    assert (decision.threshold, decision.precision, decision.recall) == (0.85, 1.0, 0.4)
    assert decision.target is None


@pytest.mark.parametrize("seed", range(5))
def test_both_rules_agree_with_scikit_learns_precision_recall_curve(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.random(400) < 0.2
    scores = np.round(np.clip(rng.normal(0.3 + 0.3 * truth, 0.2), 0, 1), 2)  # with ties
    precision, recall, thresholds = precision_recall_curve(truth, scores)
    for target in (0.5, 0.8, 0.95):
        best_recall = thresholds[recall[:-1] >= target].max()
        settings = ThresholdSettings("recall", target=target)
        assert choose_threshold(scores, truth, settings).threshold == best_recall
    for target in (0.4, 0.6):
        lowest = thresholds[precision[:-1] >= target].min()
        settings = ThresholdSettings("precision", target=target)
        assert choose_threshold(scores, truth, settings).threshold == lowest


def _settings(tmp_path: Path, threshold: dict[str, Any]) -> ThresholdSettings:
    raw = {
        "project": {"name": "p"},
        "train": {"entry_point": "train:train", "label": "y", "threshold": threshold},
    }
    return settings_from_mapping(raw, tmp_path, {}).train.threshold


def test_the_table_is_read_into_settings(tmp_path: Path) -> None:
    assert _settings(tmp_path, {"rule": "recall", "target": 0.85}) == ThresholdSettings(
        "recall", target=0.85
    )
    assert _settings(tmp_path, {"rule": "fixed", "value": 0}) == ThresholdSettings("fixed", value=0)
    assert _settings(tmp_path, {}) == ThresholdSettings("fixed", value=0.5)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"rule": "f1"}, "train.threshold.rule .* is 'f1'; expected one of 'fixed'"),
        ({"target": 0.8}, "train.threshold.rule .* is None"),
        ({"rule": "recall"}, "train.threshold.target is missing"),
        ({"rule": "fixed"}, "train.threshold.value is missing"),
        ({"rule": "recall", "target": 1.5}, r"train.threshold.target .* in \(0, 1\], got 1.5"),
        ({"rule": "recall", "target": 0}, r"train.threshold.target .* got 0"),
        ({"rule": "precision", "target": "high"}, "train.threshold.target .* got 'high'"),
        ({"rule": "precision", "target": True}, "train.threshold.target .* got True"),
        ({"rule": "fixed", "value": -0.1}, r"train.threshold.value .* \[0, 1\], got -0.1"),
        ({"rule": "recall", "target": 0.8, "value": 0.5}, "threshold.value .* does not apply"),
        ({"rule": "fixed", "value": 0.5, "taget": 1}, "train.threshold.taget .* does not apply"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(
    tmp_path: Path, table: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        _settings(tmp_path, table)
