"""Concurrent requests share model calls, and each still gets exactly its own answer."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from tether.serving import ServedModel
from tether.serving._scoring import CoalescingScorer, score

FEATURES = ("amount", "hour")


class GatedRegressor:
    """A regressor (``amount * 2``) whose first call waits at a gate, recording batch sizes.

    The gate holds the first call inside the model while other callers arrive, so that what
    the scorer does with waiting callers is observable; everything else is the real scorer.
    """

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.entered = threading.Event()
        self.gate = threading.Event()

    def predict(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        self.batches.append(len(matrix))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.gate.wait(10)
        if (matrix[:, 0] < 0).any():
            raise ValueError("negative amount")
        return matrix[:, 0] * 2


def served(estimator: object) -> ServedModel:
    return ServedModel("fraud", "1", estimator, FEATURES, sha256="sha-1")


def vectors(*amounts: float) -> list[dict[str, float | None]]:
    return [{"amount": amount, "hour": 3.0} for amount in amounts]


def test_callers_that_wait_are_scored_together_each_with_its_own_outputs() -> None:
    model = GatedRegressor()
    target = served(model)  # one object for every caller, as the router passes it
    scorer = CoalescingScorer()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(scorer.score, target, vectors(1.0))
        assert model.entered.wait(10)
        requests = [vectors(10.0 * i, 10.0 * i + 1) for i in range(1, 7)]
        # The first call holds the model; these six queue behind it.
        futures = [pool.submit(scorer.score, target, rows) for rows in requests]
        _wait_until_queued(scorer, 6)
        model.gate.set()
        assert first.result().outputs == [2.0]
        outputs = [future.result().outputs for future in futures]
    assert outputs == [[20.0 * i, 20.0 * i + 2] for i in range(1, 7)]
    assert model.batches == [1, 12]  # one call for the six waiting requests


def _wait_until_queued(scorer: CoalescingScorer, calls: int) -> None:
    for _ in range(1000):
        with scorer._lock:
            if sum(len(queue.pending) for queue in scorer._queues.values()) >= calls:
                return
        threading.Event().wait(0.01)
    pytest.fail(f"{calls} calls never queued")


def test_a_bad_request_in_a_batch_fails_alone() -> None:
    model = GatedRegressor()
    scorer = CoalescingScorer()
    target = served(model)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(scorer.score, target, vectors(1.0))
        assert model.entered.wait(10)
        good = pool.submit(scorer.score, target, vectors(5.0))
        bad = pool.submit(scorer.score, target, vectors(-1.0))
        _wait_until_queued(scorer, 2)
        model.gate.set()
        assert first.result().outputs == [2.0]
        assert good.result().outputs == [10.0]
        with pytest.raises(ValueError, match="negative amount"):
            bad.result()
    # The batch of two failed, then each call was scored alone.
    assert model.batches == [1, 2, 1, 1]
    assert scorer._queues == {}  # nothing left behind once idle


def test_a_lone_call_is_scored_at_once_in_its_own_model_call() -> None:
    model = GatedRegressor()
    model.gate.set()
    scorer = CoalescingScorer()
    assert scorer.score(served(model), vectors(1.0, 2.0)).outputs == [2.0, 4.0]
    assert model.batches == [2]


def test_a_real_model_gives_each_caller_the_scores_it_gets_alone() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = served(HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y))
    requests: list[Sequence[dict[str, float | None]]] = [
        [{"amount": float(a), "hour": float(h)} for a, h in rng.normal(size=(n, 2))]
        for n in rng.integers(1, 5, size=200)
    ]
    alone = [score(model, rows).outputs for rows in requests]
    scorer = CoalescingScorer()
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda rows: scorer.score(model, rows).outputs, requests))
    assert together == alone  # exactly: trees score each row on its own
