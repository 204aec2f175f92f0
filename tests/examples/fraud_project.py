"""Helpers shared by the fraud example's tests: the project as tether imports it, its
feature store over a simulated world, and the population stability index they measure.

A plain module (not a conftest) so that test modules import the names they use.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tether.examples.fraud
from tether.examples.fraud import ScenarioConfig, write_scenario
from tether.features import Definition, DuckDBEngine, FeatureStore, FeatureView
from tether.lineage import TrainWindow, whole_data

PROJECT = Path(tether.examples.fraud.__file__).parent / "project"
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
"""The cut-off of the fake context's window: later than every row of any scenario."""
PSI_BINS = 10
PSI_EPSILON = 1e-4
"""The share given to an empty bin, so that its log ratio stays finite."""


@dataclass
class FakeContext:
    """What tether hands to ``train(ctx)``: frames from memory, training sets from ``store``.

    It keeps the training set it built, so that a test scores every month on the very
    frame the model was trained from.
    """

    params: Mapping[str, Any]
    seed: int
    frames: Mapping[str, pd.DataFrame]
    store: FeatureStore
    built: pd.DataFrame = field(default_factory=pd.DataFrame)
    # A plain ``tether train``'s window: the whole data, so train_start/train_months decide.
    window: TrainWindow = field(default_factory=lambda: whole_data(FAR_FUTURE))

    def dataset(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def training_set(self, spine: pd.DataFrame, timestamp: str = "event_time") -> pd.DataFrame:
        self.built = self.store.build_training_set(spine, timestamp=timestamp)
        return self.built


@contextmanager
def imported_project() -> Iterator[tuple[ModuleType, ModuleType]]:
    """The project's ``features`` and ``train`` modules, imported as tether imports them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(PROJECT))
        for name in ("features", "train"):
            sys.modules.pop(name, None)
        yield importlib.import_module("features"), importlib.import_module("train")
        for name in ("features", "train"):
            sys.modules.pop(name, None)


def feature_store(views: Sequence[Definition], project_dir: Path) -> FeatureStore:
    """The project's views with their sources under ``project_dir``, on one DuckDB thread.

    One thread, as in a training run: the same sums in the same order on every machine.
    """
    rooted = [
        dataclasses.replace(
            view,
            source=dataclasses.replace(
                view.source, location=str(project_dir / view.source.location)
            ),
        )
        if isinstance(view, FeatureView)
        else view  # a RequestView reads no source
        for view in views
    ]
    return FeatureStore(rooted, engine=DuckDBEngine(threads=1))


def training_frame(
    project: tuple[ModuleType, ModuleType], project_dir: Path, scenario: ScenarioConfig
) -> pd.DataFrame:
    """The feature store's training frame of ``scenario``, simulated under ``project_dir``.

    The frame ``train.train`` fits on: every payment, warm-up included, with every model
    input as of the payment's own time and its label.
    """
    features, train = project
    files = write_scenario(project_dir / "data", scenario)
    spine = train.training_spine(pd.read_parquet(files.events), pd.read_parquet(files.labels))
    store = feature_store(features.FEATURE_VIEWS, project_dir)
    return store.build_training_set(spine, timestamp="event_time")


def psi(
    expected: np.ndarray, actual: np.ndarray, bins: int = PSI_BINS, eps: float = PSI_EPSILON
) -> float:
    """Population stability index over ``bins`` quantile bins of ``expected``.

    ``sum((a - e) * ln(a / e))`` over the bins, with shares ``e`` of ``expected`` and ``a``
    of ``actual``. The inner edges are the unique inner quantiles of ``expected`` (fewer
    bins for a column with few values); the outer bins are open, a value on an edge
    falls in the bin above it, NaN is left out, and an empty bin counts as ``eps``.
    """
    edges = np.unique(np.nanquantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: np.ndarray) -> np.ndarray:
        values = values[~np.isnan(values)]
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.maximum(counts / len(values), eps)

    before, after = shares(expected), shares(actual)
    return float(np.sum((after - before) * np.log(after / before)))
