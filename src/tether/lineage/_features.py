"""A project's feature definitions, and training sets built from snapshots of their sources.

``[features] definitions = "features:FEATURE_VIEWS"`` names a list of ``FeatureView``
objects in the project. ``ctx.training_set(spine)`` builds the point-in-time training set
from them inside a run: every file source is snapshotted like any dataset the run reads
(and, on reproduce, served from its snapshot), the engine reads the verified snapshot, the
result is snapshotted and logged as the dataset ``training_set``, and the definitions'
version is recorded with the run, so serving can tell when a model was trained on other
definitions than the store serves.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from tether.config import FeatureSettings, Settings
from tether.errors import ConfigError, ProjectError
from tether.features import (
    Definition,
    DuckDBEngine,
    EventSource,
    FeatureStore,
    FeatureView,
    NaiveTimestamps,
    RequestView,
)
from tether.lineage._context import project_imports
from tether.lineage._record import DatasetRecord
from tether.lineage._snapshots import SnapshotStore

TRAINING_SET = "training_set"

DatasetFile = Callable[[str], DatasetRecord]
"""Read (snapshotting, or on reproduce looking up) the dataset at a source's location, given
as written in the definitions (relative to the project folder); return its record."""


def load_views(project_dir: Path, features: FeatureSettings) -> list[Definition]:
    """Import the project's feature views (call inside :func:`project_imports`)."""
    if not features.definitions:
        raise ConfigError(
            "The project defines no features: set [features] definitions = "
            "'module:attribute' in tether.toml (a list of FeatureView objects)."
        )
    module_name, _, attribute = features.definitions.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ProjectError(
            f"Importing {module_name}.py for [features] definitions raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    views = getattr(module, attribute, None)
    kinds = FeatureView | RequestView
    if not isinstance(views, Sequence) or not all(isinstance(v, kinds) for v in views):
        raise ProjectError(
            f"[features] definitions = {features.definitions!r}: {module_name}.{attribute} is "
            f"{type(views).__name__}; expected a list of tether.features.FeatureView and "
            "RequestView."
        )
    return list(views)


def project_views(settings: Settings) -> list[Definition]:
    """The project's feature views, their file sources resolved against the project."""
    with project_imports(settings.project_dir):
        views = load_views(settings.project_dir, settings.features)
    return [rooted(view, settings.project_dir) for view in views]


def rooted(view: Definition, project_dir: Path) -> Definition:
    """``view`` with a relative file source resolved against ``project_dir``."""
    if isinstance(view, RequestView):
        return view  # computed from the request alone: no source
    source = view.source
    if source.format == "table" or Path(source.location).is_absolute():
        return view
    located = dataclasses.replace(source, location=str(project_dir / source.location))
    return dataclasses.replace(view, source=located)


class TrainingSets:
    """What ``ctx.training_set`` runs: the views, with sources read from snapshots."""

    def __init__(
        self,
        views: Sequence[Definition],
        naive_timestamps: str,
        dataset_file: DatasetFile,
        store: SnapshotStore,
        scratch: Path,
    ) -> None:
        self._views = list(views)
        self._naive: NaiveTimestamps = "utc" if naive_timestamps == "utc" else "reject"
        self._dataset_file = dataset_file
        self._store = store
        self._scratch = scratch
        self.version = FeatureStore(self._views).version

    def build(self, spine: pd.DataFrame, timestamp: str) -> pd.DataFrame:
        """The training set of ``spine``, from snapshots of every source."""
        views = [self._snapshotted(view) for view in self._views]
        # DuckDB on one thread in a run: the engines agree (a tested property) and a run must
        # not depend on a cluster to be reproduced; one thread because parallel sums add in
        # an order that changes from run to run, and the last bits of a mean would too.
        store = FeatureStore(views, engine=DuckDBEngine(threads=1))
        return store.build_training_set(spine, timestamp=timestamp, naive_timestamps=self._naive)

    def _snapshotted(self, view: Definition) -> Definition:
        if isinstance(view, RequestView):
            return view  # computed from the spine alone: nothing to snapshot
        source: EventSource = view.source
        if source.format == "table":
            raise ProjectError(
                f"Feature view {view.name!r} reads the table {source.location!r}, which a "
                "training run cannot snapshot; give it a Parquet or CSV file source."
            )
        record = self._dataset_file(source.location)
        local = self._scratch / f"{record.digest}.{record.format}"
        if not local.exists():
            self._store.materialize(record.digest, local)
        return dataclasses.replace(view, source=dataclasses.replace(source, location=str(local)))
