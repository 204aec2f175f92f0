"""The served decision: the score at the answering version's own threshold, in the response
and in the logged prediction, for the champion, the challenger and a shadow."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from server_cases import FEATURES, MemoryRegistry, running_app, served

from tether.serving import InstanceRequest
from tether.serving._deployment import Deployment, ServedModel
from tether.serving._prediction import Prediction
from tether.serving._predlog_sql import PREDICTIONS
from tether.serving._router import Router
from tether.serving._scoring import decide, score

ROWS = [
    {"a": float(a), "b": float(b), "c": float(c)}
    for a, b, c in np.random.default_rng(11).normal(size=(60, 3)).round(3)
]


def _quantile_score(version: str, share: float) -> float:
    """A threshold below which ``share`` of this version's scores on ROWS fall."""
    outputs = score(served(version), ROWS).outputs
    return float(np.quantile(np.asarray(outputs, dtype=float), share))


# Far apart, so that deciding at another version's threshold would differ.
THRESHOLDS = {"1": _quantile_score("1", 0.2), "2": _quantile_score("2", 0.8),
              "3": _quantile_score("3", 0.5)}  # fmt: skip


def with_threshold(version: str) -> ServedModel:
    return replace(served(version), threshold=THRESHOLDS[version])


class ThresholdRegistry(MemoryRegistry):
    """The in-memory registry, its versions carrying the thresholds of THRESHOLDS."""

    def load(self) -> Deployment:
        deployment = super().load()
        challenger = deployment.challenger
        return replace(
            deployment,
            champion=with_threshold(deployment.champion.version),
            challenger=None if challenger is None else with_threshold(challenger.version),
            shadows=tuple(with_threshold(s.version) for s in deployment.shadows),
        )


@dataclass
class Kept:
    """Keeps what the router hands to the log."""

    predictions: list[Prediction] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, prediction: Prediction) -> bool:
        with self.lock:
            self.predictions.append(prediction)
        return True


def _registry() -> ThresholdRegistry:
    registry = ThresholdRegistry()
    registry.aliases["challenger"], registry.share = "2", 0.5
    registry.aliases["shadow-3"] = "3"
    return registry


def test_each_answer_decides_at_its_own_versions_threshold(tmp_path: Path) -> None:
    instances = [{"features": row, "unit_id": f"u{i}"} for i, row in enumerate(ROWS)]
    with running_app(tmp_path, _registry(), max_instances=100) as client:
        body = client.post("/v1/predict", json={"instances": instances}).json()
    seen: dict[str, set[int]] = {"1": set(), "2": set()}
    other_threshold_differs = 0
    for answer in body["predictions"]:
        version, prediction = answer["model_version"], answer["prediction"]
        assert answer["decision"] == int(prediction >= THRESHOLDS[version])
        seen[version].add(answer["decision"])
        other = "2" if version == "1" else "1"
        other_threshold_differs += int(prediction >= THRESHOLDS[other]) != answer["decision"]
    # Both versions answered, each decided both ways, and the other version's threshold would
    # have decided some of them otherwise: each version used its own.
    assert seen == {"1": {0, 1}, "2": {0, 1}}
    assert other_threshold_differs > 0


def test_the_logged_prediction_carries_the_decision_of_its_model_shadow_included() -> None:
    kept = Kept()
    router = Router(_registry(), kept)
    router.start()
    try:
        requests = [InstanceRequest(features=row, unit_id=f"u{i}") for i, row in enumerate(ROWS)]
        result = router.predict(requests)
        assert router.shadows.drain(10.0)
    finally:
        router.close()
    answered = {r.instance_id: r.decision for r in result.results}
    roles = {p.role for p in kept.predictions}
    assert roles == {"champion", "challenger", "shadow"}
    for prediction in kept.predictions:
        assert isinstance(prediction.output, float)
        assert prediction.decision == int(prediction.output >= THRESHOLDS[prediction.version])
        if prediction.role != "shadow":
            assert prediction.decision == answered[prediction.instance_id]
    shadowed = [p.decision for p in kept.predictions if p.role == "shadow"]
    assert len(shadowed) == len(ROWS) and set(shadowed) == {0, 1}


@pytest.mark.parametrize(
    ("threshold", "output", "decision"),
    [
        (0.3, 0.3, 1),  # at the threshold: decided positive
        (0.3, 0.2999, 0),
        (0.0, 0.0, 1),
        (None, 0.9, None),  # no recorded threshold: no decision
        (0.3, None, None),  # the model gave no number (NaN)
        (0.3, True, None),  # not a score
        (0.3, "fraud", None),
    ],
)
def test_decide(threshold: float | None, output: object, decision: int | None) -> None:
    model = ServedModel("m", "1", None, FEATURES, "", threshold=threshold)
    assert decide(model, output) == decision  # type: ignore[arg-type]


def test_the_prediction_log_stores_each_rows_decision(tmp_path: Path) -> None:
    instances = [{"features": row, "unit_id": f"u{i}", "instance_id": f"t{i}"}
                 for i, row in enumerate(ROWS)]  # fmt: skip
    with running_app(tmp_path, _registry(), max_instances=100) as client:
        body = client.post("/v1/predict", json={"instances": instances}).json()
    answered = {p["instance_id"]: (p["model_version"], p["decision"]) for p in body["predictions"]}
    with closing(sqlite3.connect(tmp_path / "tether.db")) as connection:
        stored = connection.execute(
            f"SELECT instance_id, version, role, output, decision FROM {PREDICTIONS}"
        ).fetchall()
    served_rows = [row for row in stored if row[2] != "shadow"]
    assert {row[2] for row in served_rows} == {"champion", "challenger"}
    assert {row[0]: (row[1], row[4]) for row in served_rows} == answered
    for _, version, _, output, decision in stored:  # any shadow row at its own threshold
        assert decision == int(float(output) >= THRESHOLDS[version])


class _Exploding:
    """A challenger whose every call raises: its cohort falls back to the champion."""

    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(FEATURES, dtype=object)

    def predict(self, inputs: object) -> object:
        raise RuntimeError("the challenger exploded")

    def predict_proba(self, inputs: object) -> object:
        raise RuntimeError("the challenger exploded")


class _BrokenChallenger(ThresholdRegistry):
    def load(self) -> Deployment:
        deployment = super().load()
        assert deployment.challenger is not None
        broken = replace(deployment.challenger, model=_Exploding(), threshold=0.0)
        return replace(deployment, challenger=broken)


def test_a_fallback_answer_decides_at_the_champions_threshold() -> None:
    registry = _BrokenChallenger()
    registry.aliases["challenger"], registry.share = "2", 0.5
    kept = Kept()
    router = Router(registry, kept)
    router.refresh()
    try:
        requests = [InstanceRequest(features=row, unit_id=f"u{i}") for i, row in enumerate(ROWS)]
        results = router.predict(requests).results
    finally:
        router.close()
    fallbacks = [r for r in results if r.fallback]
    assert fallbacks and all(r.version == "1" for r in results)
    # The broken challenger's threshold (0: everything 1) is not what decides its cohort.
    for result in results:
        assert isinstance(result.output, float)
        assert result.decision == int(result.output >= THRESHOLDS["1"])
    assert {r.decision for r in fallbacks} == {0, 1}
