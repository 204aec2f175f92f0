"""Running one served model on feature vectors, and reading its output.

A model receives its own features, in its own order, as a float matrix (None becomes NaN):
a pandas frame when the estimator was fitted on one (``feature_names_in_``, so scikit-learn
checks the columns), else a NumPy array. The output of an instance is the probability of the
positive class (``classes_[1]``) for a binary classifier with ``predict_proba``, and the
model's prediction otherwise, as a plain Python value (JSON-ready; a NaN or infinite output
becomes None).

Each thread that scores runs the model's OpenMP loops on one thread. A request scores a
handful of rows; forking a team of OpenMP threads for them costs more than the work
(histogram gradient boosting: 7 ms against 0.2 ms per row here, far worse when the cores are
busy), and concurrent requests already use the cores. The limit is per thread (OpenMP's
thread count is a per-thread setting), so training elsewhere in the process is unaffected.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tether._storage import JSONValue
from tether.serving._deployment import ServedModel
from tether.serving._features import Vector

_NAN = float("nan")
_THREAD_STATE = threading.local()


@dataclass(frozen=True)
class Scores:
    """The outputs of one model call, in instance order, and how long the call took."""

    outputs: list[JSONValue]
    seconds: float


def score(model: ServedModel, vectors: Sequence[Vector]) -> Scores:
    """Run ``model`` on ``vectors`` (each must hold every feature the model takes).

    Raises:
        KeyError: a vector lacks one of the model's features.
        Exception: whatever the estimator raises (the caller isolates challengers and
            shadows from it).
    """
    started = time.perf_counter()
    _one_openmp_thread()
    matrix = np.array(
        [[_nan_if_none(vector[name]) for name in model.features] for vector in vectors],
        dtype=np.float64,
    ).reshape(len(vectors), len(model.features))
    estimator = model.model
    inputs: object = matrix
    if hasattr(estimator, "feature_names_in_"):
        inputs = pd.DataFrame(matrix, columns=list(model.features), copy=False)
    if _is_binary_classifier(estimator):
        outputs: list[JSONValue] = [float(p) for p in estimator.predict_proba(inputs)[:, 1]]
    else:
        outputs = np.asarray(estimator.predict(inputs)).tolist()
    outputs = [_finite_or_none(output) for output in outputs]
    if len(outputs) != len(vectors):
        raise ValueError(
            f"{model.name} version {model.version} returned {len(outputs)} outputs for "
            f"{len(vectors)} instances."
        )
    return Scores(outputs, time.perf_counter() - started)


def _one_openmp_thread() -> None:
    if not getattr(_THREAD_STATE, "limited", False):
        threadpool_limits(limits=1, user_api="openmp")  # stays set for this thread
        _THREAD_STATE.limited = True


def _is_binary_classifier(estimator: object) -> bool:
    classes = getattr(estimator, "classes_", None)
    return hasattr(estimator, "predict_proba") and classes is not None and len(classes) == 2


def _finite_or_none(output: JSONValue) -> JSONValue:
    """NaN and infinities (which JSON cannot hold) become None: the model gave no number."""
    if isinstance(output, float) and not math.isfinite(output):
        return None
    return output


def _nan_if_none(value: float | None) -> float:
    return _NAN if value is None else value
