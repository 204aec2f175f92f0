"""Checking what an entry point returned, and the metrics tether computes from it.

The entry point returns ``(model, eval_frame)``; tether, not the project, scores the
held-out frame, so every run's metrics mean the same thing. A binary classifier's threshold
metrics (precision, recall, decision rate) are measured at the threshold the run chooses on
that frame (``lineage/_threshold.py``), the one its server decides with.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.config import ThresholdSettings
from tether.errors import ProjectError
from tether.lineage._threshold import DecisionRecord, choose_threshold


def split_result(result: Any, entry_point: str, label: str) -> tuple[Any, pd.DataFrame]:
    """Validate the entry point's return value and return ``(model, eval_frame)``."""
    if not isinstance(result, tuple) or len(result) != 2:
        raise ProjectError(
            f"Entry point {entry_point!r} returned {type(result).__name__}; expected a tuple "
            "(model, eval_frame)."
        )
    model, frame = result
    if not isinstance(frame, pd.DataFrame):
        raise ProjectError(
            f"Entry point {entry_point!r} returned {type(frame).__name__} as its evaluation "
            "frame; expected a pandas DataFrame of features and the label column."
        )
    if label not in frame.columns:
        raise ProjectError(
            f"The evaluation frame from {entry_point!r} has no label column {label!r} "
            f"(train.label in tether.toml); its columns are {list(frame.columns)}."
        )
    if frame.empty:
        raise ProjectError(f"The evaluation frame from {entry_point!r} has no rows.")
    if not hasattr(model, "predict"):
        raise ProjectError(
            f"Entry point {entry_point!r} returned {type(model).__name__} as its model; "
            "expected a fitted scikit-learn estimator (with predict)."
        )
    return model, frame


def features_of(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """The model's input columns: everything but the label."""
    return frame.drop(columns=[label])


def predict_scores(model: Any, features: pd.DataFrame) -> np.ndarray:
    """Scores to compare and sign: class probabilities where the model has them."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(features), dtype=np.float64)
    return np.asarray(model.predict(features), dtype=np.float64)


def held_out_scores(
    model: Any, features: pd.DataFrame, truth: pd.Series[Any]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_] | npt.NDArray[np.float64]] | None:
    """The model's score of each held-out row and its truth, as served and as monitored.

    A binary classifier's score is the probability of ``classes_[1]`` and its truth whether
    the label is that class; a regressor's score is its prediction and its truth the label
    as a number. None for other models (a multi-class classifier has no one score).
    """
    classes = getattr(model, "classes_", None)
    if hasattr(model, "predict_proba") and classes is not None:
        if len(classes) != 2:
            return None
        proba = np.asarray(model.predict_proba(features), dtype=np.float64)[:, 1]
        return proba, np.asarray(truth.to_numpy() == classes[1], dtype=bool)
    numbers = pd.to_numeric(truth, errors="coerce").to_numpy(dtype=np.float64)
    return np.asarray(model.predict(features), dtype=np.float64), numbers


def evaluate(
    model: Any, frame: pd.DataFrame, label: str, threshold: ThresholdSettings | None = None
) -> tuple[dict[str, float], DecisionRecord | None]:
    """Held-out metrics, and the decision threshold of a binary classifier.

    A binary classifier's threshold is chosen on ``frame`` by ``threshold``'s rule (0.5
    without one: ``lineage/_threshold.py``), and its precision, recall and decision rate are
    measured at that threshold; a regressor or multi-class model has none (None).
    """
    from sklearn import metrics as skm  # when a run is scored: ~0.5 s to import

    features = features_of(frame, label)
    truth = frame[label].to_numpy()
    result: dict[str, float] = {"eval_rows": float(len(frame))}
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(features), dtype=np.float64)
        predicted = np.asarray(model.predict(features))
        result["accuracy"] = float(skm.accuracy_score(truth, predicted))
        result["log_loss"] = float(skm.log_loss(truth, proba, labels=model.classes_))
        if proba.shape[1] == 2:
            positive = proba[:, 1]
            if len(np.unique(truth)) == 2:  # ranking metrics need both classes
                result["roc_auc"] = float(skm.roc_auc_score(truth, positive))
                result["average_precision"] = float(skm.average_precision_score(truth, positive))
            is_positive = truth == model.classes_[1]
            result["positive_rate"] = float(np.mean(is_positive))
            # A binary classifier always decides: a rule its frame cannot meet fails the run.
            decision = choose_threshold(positive, is_positive, threshold or ThresholdSettings())
            result["threshold"] = decision.threshold
            result["precision_at_threshold"] = decision.precision
            result["recall_at_threshold"] = decision.recall
            result["decision_rate"] = decision.decision_rate
            return result, decision
        return result, None
    predicted = np.asarray(model.predict(features), dtype=np.float64)
    result["rmse"] = float(np.sqrt(skm.mean_squared_error(truth, predicted)))
    result["mae"] = float(skm.mean_absolute_error(truth, predicted))
    result["r2"] = float(skm.r2_score(truth, predicted))
    return result, None
