"""Apps for the server tests: small models, an in-memory registry, store and admin.

Models are logistic regressions on three features fitted on a frame; the version number
seeds the training data, so versions answer differently.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from tether.config import ServingSettings
from tether.errors import FeatureError, StoreUnavailableError
from tether.registry import TransitionError, UnknownVersionError
from tether.server import create_app
from tether.serving._deployment import Deployment, ServedModel
from tether.serving._features import FeatureRow, FeatureValue
from tether.serving._predlog import PredictionLog

with warnings.catch_warnings():
    # Starlette asks for httpx2, which the lock file does not have; httpx works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

FEATURES = ("a", "b", "c")
ROW = {"a": 0.5, "b": -1.0, "c": 2.0}
TOKEN = "s3cret-token"


def fitted_model(seed: int) -> LogisticRegression:
    """A logistic regression on FEATURES; ``seed`` changes its coefficients."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=list(FEATURES))
    label = (frame.to_numpy() @ rng.normal(size=3) > 0).astype(int)
    return LogisticRegression().fit(frame, label)


_MODELS: dict[str, ServedModel] = {}
NAN_VERSION = "9"
"""A version trained with NaN in feature ``a`` (a histogram gradient boosting model)."""


def nan_trained_model() -> HistGradientBoostingClassifier:
    """A model on FEATURES trained with a third of ``a`` missing, as a new customer's is."""
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=list(FEATURES))
    label = (frame["b"] + frame["c"] > 0).astype(int)
    frame.loc[frame.index % 3 == 0, "a"] = np.nan
    return HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(frame, label)


def served(version: str) -> ServedModel:
    """``fraud`` version ``version`` (fitted once per process)."""
    if version not in _MODELS:
        model = nan_trained_model() if version == NAN_VERSION else fitted_model(int(version))
        _MODELS[version] = ServedModel("fraud", version, model, FEATURES, f"sha-{version}")
    return _MODELS[version]


class MemoryRegistry:
    """A registry in memory: a deployment source and an admin over the same state."""

    def __init__(self, champion: str = "1") -> None:
        self.aliases: dict[str, str] = {"champion": champion}
        self.share = 0.0
        self.event_id = 1
        self.failure: Exception | None = None
        self.log: list[dict[str, Any]] = []

    # DeploymentSource
    def latest_event_id(self) -> int:
        return self.event_id

    def load(self) -> Deployment:
        if self.failure is not None:
            raise self.failure
        challenger = self.aliases.get("challenger")
        shadows = tuple(served(v) for a, v in self.aliases.items() if a.startswith("shadow-"))
        return Deployment(
            "fraud",
            served(self.aliases["champion"]),
            served(challenger) if challenger else None,
            challenger_share=self.share if challenger else 0.0,
            experiment_id=str(self.event_id),
            shadows=shadows,
            event_id=self.event_id,
        )

    # Admin
    def deploy(
        self, version: str, role: str, *, traffic: float | None, actor: str, reason: str
    ) -> Mapping[str, object]:
        if version not in {"1", "2", "3", "4"}:
            raise UnknownVersionError(f"fraud/{version} is not in the registry.")
        if role == "challenger" and "challenger" in self.aliases:
            raise TransitionError("fraud already has a challenger.")
        if role == "challenger":
            self.share = traffic if traffic is not None else 0.05
        alias = f"shadow-{version}" if role == "shadow" else role
        return self._transition("deploy", actor, reason, {**self.aliases, alias: version})

    def promote(self, *, actor: str, reason: str) -> Mapping[str, object]:
        if "challenger" not in self.aliases:
            raise TransitionError("fraud has no challenger to promote.")
        after = {**self.aliases, "previous-champion": self.aliases["champion"]}
        after["champion"] = after.pop("challenger")
        return self._transition("promote", actor, reason, after)

    def rollback(self, *, actor: str, reason: str) -> Mapping[str, object]:
        if "previous-champion" not in self.aliases:
            raise TransitionError("fraud has no previous champion.")
        after = dict(self.aliases)
        after["champion"] = after.pop("previous-champion")
        return self._transition("rollback", actor, reason, after)

    def retire(self, version: str, *, actor: str, reason: str) -> Mapping[str, object]:
        after = {a: v for a, v in self.aliases.items() if v != version or a == "champion"}
        if after == self.aliases:
            raise TransitionError(f"fraud/{version} holds no alias to retire.")
        return self._transition("retire", actor, reason, after)

    def status(self) -> Mapping[str, object]:
        return {"model": "fraud", "aliases": MappingProxyType(dict(self.aliases))}

    def _transition(
        self, action: str, actor: str, reason: str, after: dict[str, str]
    ) -> Mapping[str, object]:
        before, self.aliases = self.aliases, after
        self.event_id += 1
        event = {"id": self.event_id, "action": action, "actor": actor, "reason": reason,
                 "time": datetime(2024, 5, 1, tzinfo=UTC), "before": MappingProxyType(before),
                 "after": MappingProxyType(after)}  # fmt: skip
        self.log.append(event)
        return event


class MemoryStore:
    """Online features per customer id; ``down`` plays an outage.

    ``keys`` are the entity key columns it requires, refused as the online feature store
    refuses them (a :class:`FeatureError` counting the rows of its call).
    """

    def __init__(
        self, table: Mapping[str, Mapping[str, FeatureValue]], keys: Sequence[str] = ()
    ) -> None:
        self.table = table
        self.keys = tuple(keys)
        self.down = False

    def lookup(
        self,
        entities: Sequence[Mapping[str, str]],
        request_data: Sequence[Mapping[str, FeatureValue]],
        at: Sequence[datetime],
    ) -> list[FeatureRow]:
        self.ping()
        for row, entity in enumerate(entities):
            missing = [key for key in self.keys if key not in entity]
            if missing:
                raise FeatureError(
                    f"entity key row {row} has no column(s) {missing}: expected the entity "
                    f"key columns {list(self.keys)}"
                )
        rows = []
        for entity in entities:
            customer = entity.get("customer_id", "")
            values = dict(self.table.get(customer, {}))
            status = "value" if customer in self.table else "unknown_entity"
            rows.append(FeatureRow(values, dict.fromkeys(values, status)))
        return rows

    def ping(self) -> None:
        if self.down:
            raise StoreUnavailableError("The online store at redis://127.0.0.1:1/0 is down.")


def settings_for(tmp_path: Path, **overrides: Any) -> ServingSettings:
    """Serving settings (the prediction log is at :func:`store_url` of ``tmp_path``)."""
    return replace(ServingSettings(), **overrides)


def store_url(tmp_path: Path) -> str:
    """The one store (``[store] url``) of a test server in ``tmp_path``."""
    return f"sqlite:///{tmp_path / 'tether.db'}"


@contextmanager
def running_app(
    tmp_path: Path,
    registry: MemoryRegistry | None = None,
    store: MemoryStore | None = None,
    error_statuses: Mapping[type[Exception], int] | None = None,
    **overrides: Any,
) -> Iterator[TestClient]:
    """A started app (lifespan run) on a fresh prediction log, and its test client."""
    settings = settings_for(tmp_path, **overrides)
    registry = registry or MemoryRegistry()
    app = create_app(
        settings,
        source=registry,
        predictions=PredictionLog(store_url(tmp_path)),
        features=store,
        admin=registry,
        error_statuses=error_statuses,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def one(features: Mapping[str, object] | None = None, **fields: object) -> dict[str, object]:
    """A request body with one instance (ROW's features unless given)."""
    return {"instances": [{"features": dict(features if features is not None else ROW), **fields}]}
