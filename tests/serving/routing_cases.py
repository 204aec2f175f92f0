"""Small models, deployments and fakes for the router and shadow tests.

Models are scikit-learn logistic regressions on three features, fitted on a frame (so they
check column names); versions differ by their training data, so their outputs differ.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from tether.errors import StoreUnavailableError
from tether.serving._deployment import Deployment, ServedModel
from tether.serving._features import FeatureRow, FeatureValue, InstanceRequest
from tether.serving._prediction import Prediction

FEATURES = ("a", "b", "c")
ROW = {"a": 0.5, "b": -1.0, "c": 2.0}


def fitted_model(seed: int) -> LogisticRegression:
    """A logistic regression on FEATURES; ``seed`` changes its coefficients."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=list(FEATURES))
    weights = rng.normal(size=3)
    label = (frame.to_numpy() @ weights + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return LogisticRegression().fit(frame, label)


def served(version: str, model: Any = None, features: Sequence[str] = FEATURES) -> ServedModel:
    """``version`` of the model "fraud" (a fitted regression seeded by the version)."""
    estimator = model if model is not None else fitted_model(int(version))
    return ServedModel("fraud", version, estimator, tuple(features), sha256=f"sha-{version}")


def deployment(
    champion: ServedModel,
    challenger: ServedModel | None = None,
    *,
    share: float = 0.0,
    shadows: Sequence[ServedModel] = (),
    event_id: int = 1,
    experiment_id: str = "",
) -> Deployment:
    """A deployment of "fraud"."""
    return Deployment(
        "fraud",
        champion,
        challenger,
        challenger_share=share,
        experiment_id=experiment_id or str(event_id),
        shadows=tuple(shadows),
        event_id=event_id,
    )


def instance(**overrides: Any) -> InstanceRequest:
    """An instance with every feature of ROW, unless overridden."""
    values: dict[str, Any] = {"features": dict(ROW)}
    values.update(overrides)
    return InstanceRequest(**values)


class FakeSource:
    """A deployment source whose deployment (or failure) the test sets."""

    def __init__(self, current: Deployment) -> None:
        self.current = current
        self.failure: Exception | None = None
        self.loads = 0

    def latest_event_id(self) -> int:
        """The current deployment's event id."""
        return self.current.event_id

    def load(self) -> Deployment:
        """The current deployment, or the failure."""
        self.loads += 1
        if self.failure is not None:
            raise self.failure
        return self.current


@dataclass
class Recorder:
    """Collects predictions (thread-safe); ``accept=False`` plays a full log queue."""

    accept: bool = True
    predictions: list[Prediction] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, prediction: Prediction) -> bool:
        """Keep ``prediction``."""
        with self.lock:
            self.predictions.append(prediction)
        return self.accept

    def by_role(self, role: str) -> list[Prediction]:
        """The predictions of ``role``."""
        with self.lock:
            return [p for p in self.predictions if p.role == role]


def memory_row(
    table: Mapping[str, Mapping[str, FeatureValue]], entity: Mapping[str, str]
) -> FeatureRow:
    """The row of ``entity``'s customer_id in ``table``, with the statuses a store gives."""
    customer = entity.get("customer_id", "")
    values = dict(table.get(customer, {}))
    status = "value" if customer in table else "unknown_entity"
    return FeatureRow(values, dict.fromkeys(values, status))


class FakeLookup:
    """An online store in memory: features per customer id; ``down`` plays an outage."""

    def __init__(self, table: Mapping[str, Mapping[str, FeatureValue]]) -> None:
        self.table = table
        self.down = False
        self.calls: list[tuple[list[dict[str, str]], list[dict[str, FeatureValue]]]] = []
        self.times: list[datetime] = []

    def lookup(
        self,
        entities: Sequence[Mapping[str, str]],
        request_data: Sequence[Mapping[str, FeatureValue]],
        at: Sequence[datetime],
    ) -> list[FeatureRow]:
        """The stored features of each entity's customer_id (status ``value``, or
        ``unknown_entity`` for a customer the table lacks, as the online store says)."""
        if self.down:
            raise StoreUnavailableError("The online store at memory:// cannot be reached.")
        self.calls.append(([dict(e) for e in entities], [dict(r) for r in request_data]))
        self.times.extend(at)
        return [memory_row(self.table, e) for e in entities]

    def ping(self) -> None:
        """Raise when down."""
        if self.down:
            raise StoreUnavailableError("The online store at memory:// cannot be reached.")


class Exploding:
    """A "model" whose every call raises."""

    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(FEATURES, dtype=object)

    def predict(self, inputs: Any) -> Any:
        """Raise."""
        raise RuntimeError("the challenger exploded")

    def predict_proba(self, inputs: Any) -> Any:
        """Raise."""
        raise RuntimeError("the challenger exploded")


class Gated:
    """A model that waits on ``gate`` (at most ``wait`` seconds) before answering."""

    def __init__(self, model: LogisticRegression, wait: float = 5.0) -> None:
        self.model = model
        self.classes_ = model.classes_
        self.feature_names_in_ = model.feature_names_in_
        self.gate = threading.Event()
        self.wait = wait
        self.calls = 0

    def predict(self, inputs: Any) -> Any:
        """Wait, then predict."""
        self.calls += 1
        self.gate.wait(self.wait)
        return self.model.predict(inputs)

    def predict_proba(self, inputs: Any) -> Any:
        """Wait, then predict probabilities."""
        self.calls += 1
        self.gate.wait(self.wait)
        return self.model.predict_proba(inputs)
