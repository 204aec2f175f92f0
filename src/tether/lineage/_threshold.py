"""The decision threshold of a binary classifier, chosen on the run's held-out frame.

A served model answers with a score and a *decision*: 1 when the score is at or above the
version's threshold, else 0. The threshold is chosen once, at training, by the rule of
``[train.threshold]`` (:class:`~tether.config.ThresholdSettings`) over the held-out frame the
entry point returns (never over the rows the model was fit on, whose scores are optimistic):

- ``recall`` with target r: the highest threshold that still catches r of the held-out
  positives. With P positives, at least k = ceil(r * P) of them must score at or above it,
  so it is the k-th highest positive score (ties only catch more);
- ``precision`` with target p: the lowest threshold (the most positives caught) whose
  precision on the held-out frame is at least p; a threshold is one of the scores seen,
  each taken with every row tied at it;
- ``fixed`` with a value: that value (0.5 without the table: what ``predict`` decides).

The threshold, its rule and the held-out precision, recall and decision rate at it are
recorded with the run (``record.json``), shown by ``tether audit``, and loaded by the server
with the model. Regressors and multi-class models have no threshold (their decision is null).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tether.config import ThresholdSettings
from tether.errors import ProjectError

_RATIO_SLACK = 1e-12
"""r * P is computed in floating point (0.56 * 50 = 28.000000000000004): a target that is
reached exactly must not demand one positive more."""


@dataclass(frozen=True)
class DecisionRecord:
    """The recorded decision threshold of a version, how it was chosen, and its held-out effect.

    ``target`` is the rule's target (None for ``fixed``); ``precision``, ``recall`` and
    ``decision_rate`` (the share of held-out rows decided 1) are measured at ``threshold`` on
    ``rows`` held-out rows of which ``positives`` are positive.
    """

    threshold: float
    rule: str
    target: float | None
    precision: float
    recall: float
    decision_rate: float
    rows: int
    positives: int


def choose_threshold(
    scores: npt.ArrayLike, positive: npt.ArrayLike, settings: ThresholdSettings
) -> DecisionRecord:
    """The threshold of ``settings``' rule over held-out ``scores`` and truths ``positive``.

    >>> from tether.config import ThresholdSettings
    >>> choose_threshold([0.9, 0.8, 0.4, 0.3], [1, 0, 1, 0],
    ...                  ThresholdSettings("recall", target=0.5)).threshold
    0.9

    Raises:
        ProjectError: the frame has no positives (recall), or no threshold reaches the
            precision target.
    """
    score = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(positive, dtype=bool)
    if settings.rule == "recall":
        threshold = _recall_threshold(score, truth, _target(settings))
    elif settings.rule == "precision":
        threshold = _precision_threshold(score, truth, _target(settings))
    else:
        threshold = settings.value
    return measured(threshold, score, truth, settings)


def measured(
    threshold: float, score: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_],
    settings: ThresholdSettings,
) -> DecisionRecord:  # fmt: skip
    """The record of ``threshold``: precision, recall and decision rate on the frame."""
    decided = score >= threshold
    flagged = int(decided.sum())
    caught = int((decided & truth).sum())
    positives = int(truth.sum())
    return DecisionRecord(
        threshold=float(threshold),
        rule=settings.rule,
        target=settings.target,
        precision=caught / flagged if flagged else 0.0,
        recall=caught / positives if positives else 0.0,
        decision_rate=flagged / len(score) if len(score) else 0.0,
        rows=len(score),
        positives=positives,
    )


def _target(settings: ThresholdSettings) -> float:
    if settings.target is None:  # config refuses this; a hand-built settings object may not
        raise ProjectError(f"train.threshold.rule = {settings.rule!r} needs a target.")
    return settings.target


def _recall_threshold(
    score: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_], target: float
) -> float:
    positives = np.sort(score[truth])[::-1]
    if positives.size == 0:
        raise ProjectError(
            f"train.threshold.rule = 'recall' (target {target:g}): the held-out frame has no "
            "positive rows, so no threshold catches any share of them. Hold out a period "
            "with positives."
        )
    needed = max(1, math.ceil(target * positives.size - _RATIO_SLACK))
    return float(positives[needed - 1])


def _precision_threshold(
    score: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_], target: float
) -> float:
    order = np.argsort(-score, kind="stable")
    ranked, hits = score[order], truth[order]
    caught = np.cumsum(hits)
    flagged = np.arange(1, ranked.size + 1)
    # A threshold takes every row tied at it: only the last row of each run of ties counts.
    last_of_tie = np.append(ranked[1:] != ranked[:-1], True)
    precision = caught / flagged
    reached = np.flatnonzero(last_of_tie & (precision >= target - _RATIO_SLACK))
    if reached.size == 0:
        best = float(precision[last_of_tie].max()) if ranked.size else 0.0
        raise ProjectError(
            f"train.threshold.rule = 'precision' (target {target:g}): no threshold reaches "
            f"that precision on the {ranked.size} held-out rows (the best is {best:.4g}). "
            "Lower train.threshold.target, or improve the model."
        )
    return float(ranked[reached[-1]])
