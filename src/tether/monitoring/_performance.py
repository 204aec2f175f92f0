"""Realized performance: what the labelled predictions of a window say about the model.

Everything is computed from *counts*, never from raw rows, so that the prediction log can
aggregate a window of millions of rows in the database engine and hand over a few numbers:

- :class:`ConfusionCells`: the four cells of the confusion matrix at the version's decision
  threshold (true and false positives and negatives), each a :class:`CellAggregate` with its
  row count and, per business field (``amount``), the sum and the sum of squares;
- :class:`ScoreTable`: the labelled rows grouped by score (one entry per distinct score, or per
  rounded score when the engine rounds), with their positives and negatives.

:func:`realized_from_counts` turns those into :class:`RealizedPerformance`; :func:`realized`
builds the same counts from a DataFrame (the CLI and API path) and calls it, so both paths
give equal results by construction (a test checks it). The statistics and their intervals:

- **precision** and **recall**: binomial proportions (TP of TP+FP, TP of TP+FN) with the
  **Wilson score interval** (Wilson 1927; ``statsmodels.stats.proportion.proportion_confint``
  ``method="wilson"`` is its oracle). Wilson rather than a bootstrap because it needs only the
  counts (the engine's aggregate), is exact to compute, and keeps its coverage near the nominal
  level at the small counts of a week's flagged fraud, where the Wald interval does not.
- **F1** = 2 TP / (2 TP + FP + FN) = 2 j / (1 + j) with j = TP / (TP + FP + FN), a strictly
  increasing function of the binomial proportion j: its interval is Wilson's on j, mapped.
- **ROC AUC**: the Mann-Whitney statistic with ties counted one half (equal to scikit-learn's
  ``roc_auc_score``), and **DeLong's** variance (DeLong, DeLong & Clarke-Pearson 1988) from
  the structural components, which the score table holds exactly; a normal interval clipped
  to [0, 1]. DeLong rather than Hanley-McNeil: Hanley-McNeil assumes exponential score
  distributions, DeLong assumes nothing about them.
- **calibration**: the **Brier score** (mean squared error of the score against the 0/1
  label) with a normal interval from its per-row variance (exact from the table), and the
  **expected calibration error** over ``calibration_bins`` equal-width score bins,
  ECE = sum_b n_b / n * |observed rate_b - mean score_b|, with its reliability table; ECE's
  interval is a seeded multinomial bootstrap over the (bin, label) cells with the bins' mean
  scores held fixed (ECE is biased upward at small n, so its interval says how much to trust
  it).

Every metric carries its number of labelled rows (``n``): a window's completeness (labelled
over predicted) is the maturity rule's business (:mod:`._maturity`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from tether.errors import MonitoringError

CONFIDENCE = 0.95
"""Default two-sided confidence level of every interval."""
CALIBRATION_BINS = 10
"""Equal-width score bins of the reliability table and the ECE (the usual ten)."""
BOOTSTRAP_DRAWS = 400
"""Multinomial bootstrap draws for the ECE interval: a 95% percentile interval from 400 draws
moves by about 0.002 between seeds on a 5,000-row window, far below the ECE bands of use."""
CELLS = ("tp", "fp", "fn", "tn")


@dataclass(frozen=True)
class MetricValue:
    """One metric of a window: its value, its interval, its rows and how it was computed."""

    name: str
    value: float
    low: float
    high: float
    n: int
    method: str


@dataclass(frozen=True)
class CellAggregate:
    """One confusion cell: its rows and, per business field, the sum and the sum of squares."""

    count: int
    sums: Mapping[str, float] = field(default_factory=dict)
    sumsqs: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfusionCells:
    """The confusion matrix at the decision threshold, cell by cell (``tp``, ``fp``, ``fn``,
    ``tn``), as the prediction log aggregates it for a window."""

    tp: CellAggregate
    fp: CellAggregate
    fn: CellAggregate
    tn: CellAggregate

    def cell(self, name: str) -> CellAggregate:
        """The cell called ``name`` (one of ``tp``, ``fp``, ``fn``, ``tn``)."""
        if name not in CELLS:
            raise MonitoringError(
                f"confusion cell {name!r} does not exist; expected one of {CELLS}"
            )
        cell: CellAggregate = getattr(self, name)
        return cell

    @property
    def labelled(self) -> int:
        """Rows with a label: the sum of the four cells."""
        return self.tp.count + self.fp.count + self.fn.count + self.tn.count


@dataclass(frozen=True)
class ScoreTable:
    """Labelled rows grouped by score: ``scores`` strictly increasing, and per score the rows
    labelled 1 (``positives``) and 0 (``negatives``)."""

    scores: tuple[float, ...]
    positives: tuple[int, ...]
    negatives: tuple[int, ...]

    def __post_init__(self) -> None:
        """Refuse tables whose columns disagree in length or whose scores are not increasing."""
        if not len(self.scores) == len(self.positives) == len(self.negatives):
            raise MonitoringError(
                f"score table columns have lengths {len(self.scores)}, {len(self.positives)}, "
                f"{len(self.negatives)}; expected equal lengths"
            )
        if len(self.scores) > 1 and not bool(np.all(np.diff(self.scores) > 0)):
            raise MonitoringError("score table scores are not strictly increasing")

    @classmethod
    def from_arrays(cls, scores: np.ndarray, labels: np.ndarray) -> ScoreTable:
        """Group ``scores`` (floats) with their 0/1 ``labels`` by distinct score."""
        unique, inverse = np.unique(np.asarray(scores, dtype=float), return_inverse=True)
        positives = np.bincount(inverse, weights=labels, minlength=len(unique))
        totals = np.bincount(inverse, minlength=len(unique))
        return cls(
            tuple(unique.tolist()),
            tuple(positives.astype(np.int64).tolist()),
            tuple((totals - positives).astype(np.int64).tolist()),
        )


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of the reliability table: score range, rows, mean score, observed positive rate."""

    low: float
    high: float
    n: int
    mean_score: float
    observed_rate: float


@dataclass(frozen=True)
class RealizedPerformance:
    """The labelled metrics of one window (a metric is ``None`` when it is undefined there:
    precision with nothing flagged, ROC AUC with one class only)."""

    labelled: int
    precision: MetricValue | None
    recall: MetricValue | None
    f1: MetricValue | None
    roc_auc: MetricValue | None
    brier: MetricValue | None
    ece: MetricValue | None
    reliability: tuple[ReliabilityBin, ...]
    cells: ConfusionCells

    def metric(self, name: str) -> MetricValue | None:
        """The metric called ``name`` (``precision``, ``recall``, ``f1``, ``roc_auc``, ...)."""
        if name not in METRICS:
            raise MonitoringError(f"metric {name!r} is not computed; expected one of {METRICS}")
        value: MetricValue | None = getattr(self, name)
        return value


METRICS = ("precision", "recall", "f1", "roc_auc", "brier", "ece")


def wilson_interval(
    successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Wilson's score interval for ``successes`` of ``trials`` (``proportion_confint`` wilson)."""
    if trials <= 0:
        raise MonitoringError(f"a proportion needs at least one trial; got {trials}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def _proportion(name: str, hits: int, trials: int, confidence: float) -> MetricValue | None:
    if trials == 0:
        return None
    low, high = wilson_interval(hits, trials, confidence)
    return MetricValue(name, hits / trials, low, high, trials, "wilson")


def _f1(cells: ConfusionCells, confidence: float) -> MetricValue | None:
    trials = cells.tp.count + cells.fp.count + cells.fn.count
    if trials == 0:
        return None
    low, high = wilson_interval(cells.tp.count, trials, confidence)

    def f1_of(jaccard: float) -> float:
        return 2 * jaccard / (1 + jaccard)

    value = f1_of(cells.tp.count / trials)
    return MetricValue(
        "f1", value, f1_of(low), f1_of(high), cells.labelled, "wilson on TP/(TP+FP+FN)"
    )


def roc_auc_delong(table: ScoreTable, confidence: float = CONFIDENCE) -> MetricValue | None:
    """ROC AUC (ties one half) with DeLong's variance, from a score table; ``None`` with one
    class only."""
    pos = np.asarray(table.positives, dtype=float)
    neg = np.asarray(table.negatives, dtype=float)
    m, n = pos.sum(), neg.sum()
    if m == 0 or n == 0:
        return None
    # Structural components: for a positive at score s, the share of negatives below s (ties
    # one half); for a negative at s, the share of positives above s.
    neg_below = np.cumsum(neg) - neg
    pos_above = pos.sum() - np.cumsum(pos)
    v10 = (neg_below + 0.5 * neg) / n
    v01 = (pos_above + 0.5 * pos) / m
    auc = float(np.dot(pos, v10) / m)
    s10 = float(np.dot(pos, (v10 - auc) ** 2) / (m - 1)) if m > 1 else 0.0
    s01 = float(np.dot(neg, (v01 - auc) ** 2) / (n - 1)) if n > 1 else 0.0
    se = math.sqrt(s10 / m + s01 / n)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    low, high = max(0.0, auc - z * se), min(1.0, auc + z * se)
    return MetricValue("roc_auc", auc, low, high, int(m + n), "delong")


def brier(table: ScoreTable, confidence: float = CONFIDENCE) -> MetricValue | None:
    """The Brier score with a normal interval from its per-row variance."""
    s = np.asarray(table.scores, dtype=float)
    pos = np.asarray(table.positives, dtype=float)
    neg = np.asarray(table.negatives, dtype=float)
    rows = pos.sum() + neg.sum()
    if rows == 0:
        return None
    err_pos, err_neg = (s - 1) ** 2, s**2
    mean = float((pos @ err_pos + neg @ err_neg) / rows)
    second = float((pos @ err_pos**2 + neg @ err_neg**2) / rows)
    variance = max(0.0, second - mean * mean) * rows / max(rows - 1, 1)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    se = math.sqrt(variance / rows)
    return MetricValue("brier", mean, max(0.0, mean - z * se), mean + z * se, int(rows), "normal")


def reliability_table(
    table: ScoreTable, bins: int = CALIBRATION_BINS
) -> tuple[tuple[ReliabilityBin, ...], np.ndarray, np.ndarray, np.ndarray]:
    """The reliability table over ``bins`` equal-width bins of [0, 1] (a score of exactly 1
    falls in the last bin), and per bin its rows, positives and score sum."""
    s = np.asarray(table.scores, dtype=float)
    pos = np.asarray(table.positives, dtype=float)
    rows = pos + np.asarray(table.negatives, dtype=float)
    index = np.clip(np.floor(s * bins).astype(np.int64), 0, bins - 1)
    n_b = np.bincount(index, weights=rows, minlength=bins)
    pos_b = np.bincount(index, weights=pos, minlength=bins)
    score_b = np.bincount(index, weights=rows * s, minlength=bins)
    out = tuple(
        ReliabilityBin(
            b / bins, (b + 1) / bins, int(n_b[b]), score_b[b] / n_b[b], pos_b[b] / n_b[b]
        )
        for b in range(bins)
        if n_b[b] > 0
    )
    return out, n_b, pos_b, score_b


def expected_calibration_error(
    table: ScoreTable,
    bins: int = CALIBRATION_BINS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[MetricValue | None, tuple[ReliabilityBin, ...]]:
    """ECE over ``bins`` equal-width bins and its reliability table; the interval is a seeded
    multinomial bootstrap over the (bin, label) cells."""
    reliability, n_b, pos_b, score_b = reliability_table(table, bins)
    rows = int(n_b.sum())
    if rows == 0:
        return None, reliability
    filled = n_b > 0
    mean_score = np.where(filled, score_b / np.where(filled, n_b, 1), 0.0)
    ece = float(np.sum(np.abs(pos_b - mean_score * n_b)) / rows)
    cells = np.concatenate([pos_b, n_b - pos_b]) / rows
    draws = np.random.default_rng(seed).multinomial(rows, cells, size=BOOTSTRAP_DRAWS)
    pos_d, neg_d = draws[:, :bins], draws[:, bins:]
    ece_d = np.sum(np.abs(pos_d - mean_score * (pos_d + neg_d)), axis=1) / rows
    alpha = 1 - confidence
    low, high = np.quantile(ece_d, [alpha / 2, 1 - alpha / 2])
    value = MetricValue("ece", ece, float(low), float(high), rows, "multinomial bootstrap")
    return value, reliability


def realized_from_counts(
    cells: ConfusionCells,
    scores: ScoreTable | None = None,
    *,
    confidence: float = CONFIDENCE,
    calibration_bins: int = CALIBRATION_BINS,
    seed: int = 0,
    sampled: bool = False,
) -> RealizedPerformance:
    """The realized metrics of a window from its aggregates (see the module docstring).

    Without a score table, ROC AUC and calibration are ``None``. ``sampled``: the score table
    is a seeded sample of the labelled rows (the log's ``labelled_sample``), not all of them;
    ROC AUC and calibration are then the sample's, with its rows as their ``n``.

    Example:
        >>> cells = ConfusionCells(CellAggregate(80), CellAggregate(20), CellAggregate(10),
        ...                        CellAggregate(890))
        >>> round(realized_from_counts(cells).precision.value, 2)
        0.8
    """
    tp, fp, fn = cells.tp.count, cells.fp.count, cells.fn.count
    auc = brier_value = ece = None
    reliability: tuple[ReliabilityBin, ...] = ()
    if scores is not None:
        table_rows = sum(scores.positives) + sum(scores.negatives)
        if table_rows > cells.labelled or (table_rows != cells.labelled and not sampled):
            raise MonitoringError(
                f"score table holds {table_rows} labelled rows but the confusion cells "
                f"{cells.labelled}; expected the same rows (or fewer, sampled=True)"
            )
        auc = roc_auc_delong(scores, confidence)
        brier_value = brier(scores, confidence)
        ece, reliability = expected_calibration_error(scores, calibration_bins, confidence, seed)
    return RealizedPerformance(
        labelled=cells.labelled,
        precision=_proportion("precision", tp, tp + fp, confidence),
        recall=_proportion("recall", tp, tp + fn, confidence),
        f1=_f1(cells, confidence),
        roc_auc=auc,
        brier=brier_value,
        ece=ece,
        reliability=reliability,
        cells=cells,
    )


def confusion_cells(
    labels: np.ndarray, decisions: np.ndarray, fields: Mapping[str, np.ndarray] | None = None
) -> ConfusionCells:
    """The confusion cells of 0/1 ``labels`` against boolean ``decisions``, with each business
    field's sum and sum of squares per cell (what the log computes in SQL)."""
    fields = fields or {}
    positive, flagged = labels == 1, decisions.astype(bool)
    masks = {
        "tp": positive & flagged,
        "fp": ~positive & flagged,
        "fn": positive & ~flagged,
        "tn": ~positive & ~flagged,
    }
    built = {
        name: CellAggregate(
            int(mask.sum()),
            {f: float(values[mask].sum()) for f, values in fields.items()},
            {f: float((values[mask] ** 2).sum()) for f, values in fields.items()},
        )
        for name, mask in masks.items()
    }
    return ConfusionCells(**built)


def labelled_rows(
    frame: pd.DataFrame,
    *,
    threshold: float,
    score: str = "score",
    label: str = "label",
    decision: str | None = None,
    fields: Sequence[str] = (),
) -> tuple[ConfusionCells, ScoreTable]:
    """The counts of a DataFrame's labelled rows: cells at ``threshold`` (or the logged
    ``decision`` column) and the score table. Rows without a label are left out."""
    needed = [score, label, *([decision] if decision else []), *fields]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise MonitoringError(f"frame lacks column(s) {missing}; it has {list(frame.columns)}")
    rows = frame.loc[frame[label].notna()]
    labels = rows[label].to_numpy(dtype=float)
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        raise MonitoringError(f"column {label!r} holds {float(labels[bad][0])!r}; expected 0 or 1")
    scores = rows[score].to_numpy(dtype=float)
    if np.isnan(scores).any():
        raise MonitoringError(f"column {score!r} holds NaN on a labelled row; expected a score")
    flagged = rows[decision].to_numpy(dtype=bool) if decision else scores >= threshold
    values = {f: rows[f].fillna(0.0).to_numpy(dtype=float) for f in fields}
    cells = confusion_cells(labels.astype(np.int64), flagged, values)
    return cells, ScoreTable.from_arrays(scores, labels)


def realized(
    frame: pd.DataFrame,
    *,
    threshold: float,
    score: str = "score",
    label: str = "label",
    decision: str | None = None,
    fields: Sequence[str] = (),
    confidence: float = CONFIDENCE,
    calibration_bins: int = CALIBRATION_BINS,
    seed: int = 0,
) -> RealizedPerformance:
    """The realized metrics of a DataFrame of predictions (see :func:`labelled_rows`)."""
    cells, table = labelled_rows(
        frame, threshold=threshold, score=score, label=label, decision=decision, fields=fields
    )
    return realized_from_counts(
        cells, table, confidence=confidence, calibration_bins=calibration_bins, seed=seed
    )
