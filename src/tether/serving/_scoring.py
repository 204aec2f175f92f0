"""Running one served model on feature vectors, and reading its output.

A model receives its own features, in its own order, as a float matrix (None becomes NaN):
a NumPy array, or a pandas frame when the estimator was fitted on a frame whose columns are
not in the served model's order (``feature_names_in_``; scikit-learn then checks the names and
refuses a mismatch). Checking a one-row frame was two thirds of scikit-learn's time per call;
an array in the fitted order is the same input without it. scikit-learn's warning that an
array has no column names is silenced, for that reason, in the whole process.

The output of an instance is the probability of the positive class (``classes_[1]``) for a
binary classifier with ``predict_proba``, and the model's prediction otherwise, as a plain
Python value (JSON-ready; a NaN or infinite output becomes None). Its *decision*
(:func:`decide`) is 1 when that score is at or above the version's recorded threshold, else
0, and None for a version without one (or an output that is no number).

Concurrent requests share model calls (:class:`CoalescingScorer`): while one thread runs a
model, the requests for that model that arrive meanwhile queue up, and the next call scores
all of them at once. A scikit-learn call costs about the same for 1 row as for 30 (most of it
is checking the input), so under load the server does one model call per batch of requests
rather than per request; an idle server adds no wait at all (a lone request scores at once).
A row's score does not depend on its batch for tree models; a BLAS dot product (a linear
model) may differ in the last bit between batch sizes. If a batched call fails, each request
of the batch is retried alone, so one request's bad input cannot fail the others.

Each thread that scores runs the model's OpenMP loops on one thread. A request scores a
handful of rows; forking a team of OpenMP threads for them costs more than the work
(histogram gradient boosting: 7 ms against 0.2 ms per row here, far worse when the cores are
busy), and concurrent requests already use the cores. The limit is per thread (OpenMP's
thread count is a per-thread setting), so training elsewhere in the process is unaffected.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tether._storage import JSONValue
from tether.serving._deployment import ServedModel
from tether.serving._features import Vector

_LOGGER = logging.getLogger(__name__)
_NAN = float("nan")
_THREAD_STATE = threading.local()
# An array is handed over only in the order the model was fitted on (checked per call above).
warnings.filterwarnings(
    "ignore", message="X does not have valid feature names", category=UserWarning
)


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
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and tuple(fitted_names) != model.features:
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


def decide(model: ServedModel, output: JSONValue) -> int | None:
    """The decision of ``model`` on ``output``: 1 when the score is at or above the version's
    threshold, 0 below it; None when the version has no threshold or gave no number.

    >>> decide(ServedModel("m", "1", None, ("x",), "", threshold=0.3), 0.3)
    1
    """
    threshold = model.threshold
    if threshold is None or isinstance(output, bool) or not isinstance(output, int | float):
        return None
    return 1 if output >= threshold else 0


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


@dataclass
class _Call:
    """One caller's vectors, waiting to be scored (or to be told to lead the next batch)."""

    vectors: Sequence[Vector]
    done: threading.Event = field(default_factory=threading.Event)
    scores: Scores | None = None
    error: BaseException | None = None
    lead: bool = False

    def result(self) -> Scores:
        if self.error is not None:
            raise self.error
        assert self.scores is not None
        return self.scores


@dataclass
class _Queue:
    """The calls waiting for one model, and whether a thread is scoring for it now."""

    model: ServedModel
    pending: list[_Call] = field(default_factory=list)
    busy: bool = False


class CoalescingScorer:
    """Scores concurrent calls for the same model in one model call (see the module docstring).

    Thread-safe; :meth:`score` behaves like :func:`score`, errors included.

    >>> scorer = CoalescingScorer()
    >>> scorer.score(model, vectors).outputs  # doctest: +SKIP
    [0.93]
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[int, _Queue] = {}  # by id(model); removed when idle

    def score(self, model: ServedModel, vectors: Sequence[Vector]) -> Scores:
        """Score ``vectors`` with ``model``, in one call with whatever else is waiting for it."""
        call = _Call(vectors)
        with self._lock:
            queue = self._queues.get(id(model))
            if queue is None:  # not setdefault: no queue built per call on the request path
                queue = self._queues[id(model)] = _Queue(model)
            queue.pending.append(call)
            lead = not queue.busy
            queue.busy = True
        if not lead:
            call.done.wait()
            if not call.lead:
                return call.result()
        self._run(queue)
        return call.result()

    def _run(self, queue: _Queue) -> None:
        """Score every call waiting now, then hand the lead to a call that came meanwhile."""
        with self._lock:
            batch, queue.pending = queue.pending, []
        try:
            _score_batch(queue.model, batch)
        except BaseException as exc:  # e.g. KeyboardInterrupt: no caller may wait forever
            for call in batch:
                if not call.done.is_set():
                    call.error = exc
                    call.done.set()
            raise
        finally:
            with self._lock:
                if queue.pending:
                    successor = queue.pending[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    queue.busy = False
                    del self._queues[id(queue.model)]


def _score_batch(model: ServedModel, batch: Sequence[_Call]) -> None:
    """Score the calls of ``batch`` in one model call, or each alone if that one fails."""
    if len(batch) > 1:
        try:
            scores = score(model, [vector for call in batch for vector in call.vectors])
        # Any model error: each call is scored alone below, so that each gets its own answer.
        except Exception as exc:  # noqa: BLE001 - each call is retried alone below
            _LOGGER.debug(
                "a shared call of %s/%s over %d requests failed (%s: %s); scoring each alone",
                model.name, model.version, len(batch), type(exc).__name__, exc,
            )  # fmt: skip
        else:
            start = 0
            for call in batch:
                end = start + len(call.vectors)
                call.scores = Scores(scores.outputs[start:end], scores.seconds)
                start = end
                call.done.set()
            return
    for call in batch:
        try:
            call.scores = score(model, call.vectors)
        except Exception as exc:  # noqa: BLE001 - raised again in the caller's own thread
            call.error = exc
        call.done.set()
