"""Checking what an entry point returned, and the metrics tether computes from it.

The entry point returns ``(model, eval_frame)``; tether, not the project, scores the
held-out frame, so every run's metrics mean the same thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tether.errors import ProjectError


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


def evaluate(model: Any, frame: pd.DataFrame, label: str) -> dict[str, float]:
    """Held-out metrics: ranking and threshold metrics for classifiers, errors otherwise."""
    from sklearn import metrics as skm  # when a run is scored: ~0.5 s to import

    features = features_of(frame, label)
    truth = frame[label].to_numpy()
    result: dict[str, float] = {"eval_rows": float(len(frame))}
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(features), dtype=np.float64)
        predicted = np.asarray(model.predict(features))
        result["accuracy"] = float(skm.accuracy_score(truth, predicted))
        result["log_loss"] = float(skm.log_loss(truth, proba, labels=model.classes_))
        if proba.shape[1] == 2 and len(np.unique(truth)) == 2:
            positive = proba[:, 1]
            result["roc_auc"] = float(skm.roc_auc_score(truth, positive))
            result["average_precision"] = float(skm.average_precision_score(truth, positive))
            result["precision_at_0_5"] = float(
                skm.precision_score(truth, predicted, zero_division=0)
            )
            result["recall_at_0_5"] = float(skm.recall_score(truth, predicted, zero_division=0))
            result["positive_rate"] = float(np.mean(truth == model.classes_[1]))
        return result
    predicted = np.asarray(model.predict(features), dtype=np.float64)
    result["rmse"] = float(np.sqrt(skm.mean_squared_error(truth, predicted)))
    result["mae"] = float(skm.mean_absolute_error(truth, predicted))
    result["r2"] = float(skm.r2_score(truth, predicted))
    return result
