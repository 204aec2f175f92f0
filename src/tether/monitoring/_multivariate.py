"""The multivariate check: can a classifier tell reference rows from current rows?

Per-feature tests see each marginal alone; a change in how features move together (two
features whose correlation flips while each keeps its distribution) passes all of them. A
*domain classifier* sees the joint distribution: it is trained to tell the reference's
sample from the current one, and its cross-validated ROC AUC measures how separable they
are (0.5: not at all; 1: completely), as Evidently's and NannyML's domain classifiers do.

The classifier is scikit-learn's ``HistGradientBoostingClassifier``, kept small and coarse:
30 trees of at most 8 leaves, each leaf at least 1/40 of the training rows (200 of 8,000),
no early stopping; categorical features as its native categories, missing values as its
own branch; seeded, on one thread (``threadpoolctl``, scoped to the call: no process-wide
setting). Each side contributes the same number of rows (at most ``sample_size``, seeded),
so the AUC is balanced; the AUC is the mean of 5 stratified folds.

Why coarse: rows of one period are not independent (a customer's 30-day aggregates repeat
over its payments of the month), and a classifier fine enough to learn individual
customers tells two months of an unchanging world apart. Measured on the fraud scenario
without drift (400,000 payments, 14 inputs, 5,000 rows a side, January against another
month): AUC 0.52-0.55 with 50 trees of 15 leaves (20-row leaves), 0.50-0.53 with these
settings (18 month x seed pairs), which still find a flipped correlation (0.8 to -0.8: AUC
0.90) and a weakened one (0.3 to 0: 0.57). The default threshold, 0.55, sits between; an
i.i.d. split of one month scores 0.49-0.50.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

__all__ = [
    "DOMAIN_AUC",
    "DOMAIN_FOLDS",
    "DOMAIN_SAMPLE_SIZE",
    "MultivariateDrift",
    "domain_classifier",
]

DOMAIN_AUC = 0.55
"""The AUC above which the two frames count as told apart (multivariate drift)."""
DOMAIN_SAMPLE_SIZE = 5_000
"""Rows per side the classifier trains on: about 0.5 s for 14 features here, 5 folds."""
DOMAIN_FOLDS = 5
MIN_ROWS = 50
"""Fewer rows than this on a side and there is no verdict (an AUC of 20 rows is noise)."""
MAX_CATEGORIES = 254
"""The categories HistGradientBoosting takes per feature (255 bins, one kept for missing)."""


@dataclass(frozen=True)
class MultivariateDrift:
    """The domain classifier's verdict: its cross-validated ROC AUC against ``threshold``."""

    auc: float
    auc_std: float
    threshold: float
    drifted: bool
    reason: str
    rows_per_side: int
    features: tuple[str, ...]
    folds: int = DOMAIN_FOLDS
    method: str = "domain classifier: HistGradientBoosting, stratified k-fold ROC AUC"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        raw = asdict(self)
        raw["features"] = list(self.features)
        for key in ("auc", "auc_std"):
            raw[key] = None if math.isnan(raw[key]) else raw[key]
        return raw

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> MultivariateDrift:
        """Read :meth:`to_dict`'s form."""
        values = dict(raw)
        values["features"] = tuple(values["features"])
        for key in ("auc", "auc_std"):
            values[key] = math.nan if values[key] is None else float(values[key])
        return cls(**values)


def domain_classifier(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    seed: int = 0,
    sample_size: int = DOMAIN_SAMPLE_SIZE,
    threshold: float = DOMAIN_AUC,
    folds: int = DOMAIN_FOLDS,
) -> MultivariateDrift:
    """Train a classifier to tell ``reference`` rows from ``current`` rows; report its AUC.

    Both frames have the same columns (numbers as floats with NaN, ``categorical`` ones as
    text with None: a :class:`~tether.monitoring.Profile`'s sample).

    >>> domain_classifier(ref.sample, cur.sample, categorical=["shop"])  # doctest: +SKIP
    """
    features = tuple(str(c) for c in reference.columns)
    rows = min(len(reference), len(current), sample_size)
    if rows < MIN_ROWS or not features:
        reason = f"no verdict: {rows} rows a side (at least {MIN_ROWS} needed) and "
        reason += f"{len(features)} features"
        return MultivariateDrift(
            math.nan, math.nan, threshold, False, reason, rows, features, folds
        )
    rng = np.random.default_rng(seed)
    both = pd.concat([_take(reference, rows, rng), _take(current, rows, rng)], ignore_index=True)
    x, mask = _encode(both, features, set(categorical))
    y = np.repeat([0, 1], rows)
    aucs = _cross_validated_auc(x, y, mask, seed, folds)
    auc, spread = float(np.mean(aucs)), float(np.std(aucs))
    drifted = auc > threshold
    reason = (
        f"{'drifted' if drifted else 'no multivariate drift'}: a classifier tells current "
        f"from reference rows with ROC AUC {auc:.3f} (+- {spread:.3f} over {folds} folds; "
        f"{'above' if drifted else 'at most'} {threshold:g}; 0.5 = indistinguishable)"
    )
    return MultivariateDrift(auc, spread, threshold, drifted, reason, rows, features, folds)


def _take(frame: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) == rows:
        return frame.reset_index(drop=True)
    chosen = np.sort(rng.choice(len(frame), size=rows, replace=False))
    return frame.iloc[chosen].reset_index(drop=True)


def _encode(
    frame: pd.DataFrame, features: Sequence[str], categorical: set[str]
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.bool_]]]:
    """Numbers as they are; categories as codes by frequency over both frames (NaN missing)."""
    columns = []
    for name in features:
        series = frame[name]
        if name in categorical:
            ranked = series.value_counts(dropna=True).index[:MAX_CATEGORIES]
            codes = pd.Series(np.arange(len(ranked), dtype="float64"), index=ranked)
            # Past the 254 most frequent, categories share one code; missing stays NaN.
            encoded = series.map(codes).astype("float64")
            encoded[series.notna() & encoded.isna()] = float(len(ranked))
            columns.append(encoded.to_numpy())
        else:
            columns.append(series.to_numpy(dtype="float64"))
    mask = np.array([name in categorical for name in features], dtype=bool)
    return np.column_stack(columns), mask


def _cross_validated_auc(
    x: np.ndarray[Any, np.dtype[np.float64]],
    y: np.ndarray[Any, np.dtype[np.int64]],
    categorical: np.ndarray[Any, np.dtype[np.bool_]],
    seed: int,
    folds: int,
) -> list[float]:
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    aucs: list[float] = []
    with threadpool_limits(limits=1):
        for train, test in splitter.split(x, y):
            model = HistGradientBoostingClassifier(
                max_iter=30,
                max_leaf_nodes=8,
                min_samples_leaf=max(20, len(train) // 40),
                early_stopping=False,
                categorical_features=categorical if categorical.any() else None,
                random_state=seed,
            )
            model.fit(x[train], y[train])
            aucs.append(float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])))
    return aucs
