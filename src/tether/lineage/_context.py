"""What a project's entry point sees (``ctx``), and how tether loads and calls it.

The entry point's contract::

    def train(ctx):
        events = ctx.dataset("events")        # the only way it reads data
        model = fit(events, ctx.params, seed=ctx.seed)
        return model, eval_frame              # features + label column, held out

``ctx.dataset(name)`` snapshots the file named in ``[datasets]`` of ``tether.toml`` and
returns the rows *read back from the snapshot*, so what the run records is exactly what
the model saw. On reproduce the same call serves the recorded snapshot instead.

``ctx.window`` (:class:`~tether.lineage.TrainWindow`) is the window the run trains on: a
dataset named in ``[train.window] known_time`` is cut to the rows known by its cut-off
(and that cut is what is snapshotted), and ``ctx.training_set`` drops spine rows outside
``[start, end)`` or inside an excluded span. An entry point that trains on the window
declares it with a module-level ``TETHER_WINDOW = True`` (:data:`WINDOW_DECLARATION`); the
loop retrains only such projects. A plain ``tether train`` passes the whole data.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tether.config import ParamValue
from tether.errors import ProjectError
from tether.lineage._record import DatasetRecord
from tether.lineage._snapshots import SnapshotStore
from tether.lineage._window import WHOLE_END, TrainWindow, whole_data

EntryPoint = Callable[["TrainContext"], Any]
DatasetReader = Callable[[str], tuple[pd.DataFrame, DatasetRecord]]
OutputRecorder = Callable[[pd.DataFrame, str], DatasetRecord]
TRAINING_SET = "training_set"
WINDOW_DECLARATION = "TETHER_WINDOW"
"""The module-level name an entry point's module sets to ``True`` to say it trains on
``ctx.window``: a module attribute, because the loop reads it without calling ``train``."""


class TrainingSetBuilder(Protocol):
    """Builds point-in-time training sets from the project's feature definitions."""

    version: str

    def build(self, spine: pd.DataFrame, timestamp: str) -> pd.DataFrame:
        """The training set of ``spine``."""
        ...


class TrainContext:
    """The object passed to ``train(ctx)``: params, seed, datasets, and training sets."""

    def __init__(
        self,
        params: Mapping[str, ParamValue],
        seed: int,
        read_dataset: DatasetReader,
        *,
        training_sets: TrainingSetBuilder | None = None,
        record_output: OutputRecorder | None = None,
        window: TrainWindow | None = None,
    ) -> None:
        self.params: Mapping[str, ParamValue] = dict(params)
        self.seed = seed
        self.window: TrainWindow = window or whole_data(WHOLE_END)
        """Train on event times in ``[start, end)`` outside ``excluded``; data as of ``cutoff``."""
        self._read_dataset = read_dataset
        self._training_sets = training_sets
        self._record_output = record_output
        self._records: dict[str, DatasetRecord] = {}
        self.feature_version = ""

    def dataset(self, name: str) -> pd.DataFrame:
        """Return the rows of dataset ``name``, snapshotted (or served from a snapshot)."""
        frame, record = self._read_dataset(name)
        self._records[name] = record
        return frame

    def dataset_record(self, name: str) -> DatasetRecord:
        """Snapshot (or look up) dataset ``name`` without keeping its rows; its record."""
        self.dataset(name)
        return self._records[name]

    def training_set(self, spine: pd.DataFrame, timestamp: str = "event_time") -> pd.DataFrame:
        """Point-in-time features for every ``spine`` row, from ``[features] definitions``.

        Each feature at a row's ``timestamp`` t uses only events strictly before t. The
        result is recorded as the dataset ``training_set``, with the definitions' version.
        Spine rows outside ``ctx.window`` (before ``start``, at or after ``end``, inside an
        excluded span) are dropped first, so every project trains inside its window.
        """
        if self._training_sets is None or self._record_output is None:
            raise ProjectError(
                "ctx.training_set needs feature definitions: set [features] definitions = "
                "'module:attribute' in tether.toml."
            )
        inside = in_window(spine, timestamp, self.window)
        frame = self._training_sets.build(spine[inside].reset_index(drop=True), timestamp)
        self._records[TRAINING_SET] = self._record_output(frame, TRAINING_SET)
        self.feature_version = self._training_sets.version
        return frame

    @property
    def datasets_read(self) -> tuple[DatasetRecord, ...]:
        """The datasets read so far, in the order first read."""
        return tuple(self._records.values())


def in_window(frame: pd.DataFrame, column: str, window: TrainWindow) -> pd.Series[bool]:
    """Which rows of ``frame`` have ``column`` in ``[start, end)`` and in no excluded span."""
    times = _utc_times(frame, column, "the training spine")
    inside = (times >= pd.Timestamp(window.start)) & (times < pd.Timestamp(window.end))
    for low, high in window.excluded:
        inside &= ~((times >= pd.Timestamp(low)) & (times < pd.Timestamp(high)))
    return inside


def known_by(
    reader: DatasetReader, known_time: Mapping[str, str], cutoff: datetime, store: SnapshotStore
) -> DatasetReader:
    """``reader``, with each dataset of ``known_time`` cut to rows known by ``cutoff``.

    A row is known once its ``known_time`` column is at or before ``cutoff`` (a label that
    arrives later is never read). When the cut drops rows, the cut frame is snapshotted and
    recorded in place of the file (same ``source``, so feature views still find it): the
    record describes what the run read. A recorded cut served again drops nothing.
    """

    def read(name: str) -> tuple[pd.DataFrame, DatasetRecord]:
        frame, record = reader(name)
        column = known_time.get(name)
        if column is None:
            return frame, record
        known = _utc_times(frame, column, f"dataset {name!r}") <= pd.Timestamp(cutoff)
        if bool(known.all()):
            return frame, record
        cut = frame[known].reset_index(drop=True)
        snapshot = store.put_bytes(parquet_bytes(cut))
        described = describe_dataset(
            cut, name, record.context, snapshot.digest, snapshot.size, "parquet",
            record.source, snapshot.uri,
        )  # fmt: skip
        return cut, described

    return read


def _utc_times(frame: pd.DataFrame, column: str, what: str) -> pd.Series[pd.Timestamp]:
    if column not in frame.columns:
        raise ProjectError(
            f"Column {column!r} of {what} is missing (columns: "
            f"{', '.join(map(str, frame.columns))}): expected the time column named in "
            "tether.toml ([train.window] known_time), or the timestamp passed to ctx.training_set)."
        )
    times = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise ProjectError(
            f"Column {column!r} of {what} has dtype {times.dtype}: expected timestamps."
        )
    series = pd.Series(times)
    # Naive times are read as UTC, as the feature store reads them.
    utc: pd.Series[pd.Timestamp] = (
        series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    )
    return utc


def declares_window(source_dir: Path, entry_point: str) -> bool:
    """Whether the entry point's module sets ``TETHER_WINDOW = True``."""
    with project_imports(source_dir):
        load_entry_point(source_dir, entry_point)
        module = sys.modules[entry_point.partition(":")[0]]
        return getattr(module, WINDOW_DECLARATION, False) is True


def read_table(data: bytes, fmt: str, name: str) -> pd.DataFrame:
    """Parse snapshot bytes as Parquet or CSV."""
    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    except Exception as exc:
        raise ProjectError(f"Dataset {name!r} could not be read as {fmt}: {exc}") from exc


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as Parquet bytes: the form every frame a run produces is snapshotted in."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def table_format(path: Path, name: str) -> str:
    """``parquet`` or ``csv`` from a dataset path's suffix."""
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise ProjectError(
        f"Dataset {name!r} is {path}; expected a .parquet or .csv file (set its path under "
        "[datasets] in tether.toml)."
    )


def snapshot_reader(
    datasets: Mapping[str, Path], store: SnapshotStore, project_dir: Path
) -> DatasetReader:
    """A reader that snapshots each named file into ``store`` and reads it back."""

    def read(name: str) -> tuple[pd.DataFrame, DatasetRecord]:
        if name not in datasets:
            known = ", ".join(sorted(datasets)) or "(none)"
            raise ProjectError(
                f"The entry point asked for dataset {name!r}, which [datasets] in tether.toml "
                f"does not define; defined: {known}."
            )
        path = datasets[name]
        fmt = table_format(path, name)
        if not path.is_file():
            raise ProjectError(
                f"Dataset {name!r} points at {path}, which does not exist. Generate or copy "
                f"the file there, or change datasets.{name} in tether.toml."
            )
        snapshot = store.put_file(path)
        frame = read_table(store.read_bytes(snapshot.digest), fmt, name)
        source = _relative(path, project_dir)
        return frame, describe_dataset(
            frame, name, "training", snapshot.digest, snapshot.size, fmt, source, snapshot.uri
        )

    return read


def recorded_reader(records: Mapping[str, DatasetRecord], store: SnapshotStore) -> DatasetReader:
    """A reader that serves each dataset from its recorded snapshot, verified."""

    def read(name: str) -> tuple[pd.DataFrame, DatasetRecord]:
        if name not in records:
            known = ", ".join(sorted(records)) or "(none)"
            raise ProjectError(
                f"The entry point asked for dataset {name!r}, which the recorded run never "
                f"read (it read: {known})."
            )
        record = records[name]
        return read_table(store.read_bytes(record.digest), record.format, name), record

    return read


def describe_dataset(
    frame: pd.DataFrame,
    name: str,
    context: str,
    digest: str,
    size: int,
    fmt: str,
    source: str,
    uri: str,
) -> DatasetRecord:
    """Record a dataset: digest, size, rows, schema, and the range of each time column."""
    ranges: dict[str, tuple[str, str]] = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series) and series.notna().any():
            ranges[str(column)] = (series.min().isoformat(), series.max().isoformat())
    return DatasetRecord(
        name=name,
        context=context,
        digest=digest,
        size=size,
        rows=len(frame),
        format=fmt,
        source=source,
        uri=uri,
        schema={str(c): str(t) for c, t in frame.dtypes.items()},
        time_ranges=ranges,
    )


def source_name(location: str, sources: Mapping[str, str]) -> str:
    """The dataset whose recorded source (a path relative to the project) is ``location``."""
    wanted = Path(location).as_posix().removeprefix("./")
    for name, source in sources.items():
        if source == wanted:
            return name
    known = ", ".join(f"{n} = {s!r}" for n, s in sorted(sources.items())) or "(none)"
    raise ProjectError(
        f"A feature view reads {location!r}, which no dataset names (datasets: {known}). "
        "Declare it under [datasets] in tether.toml so the run snapshots it."
    )


def relative_source(path: Path, root: Path) -> str:
    """A dataset path as recorded: relative to the project folder where it lies inside."""
    return _relative(path, root)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


@contextlib.contextmanager
def project_imports(source_dir: Path) -> Iterator[None]:
    """Make ``source_dir`` importable, isolated from any other copy of the same project.

    Training and reproducing in one process (the demo, the tests) import two copies of
    ``train.py``; modules loaded from one copy are dropped before and after, so neither
    sees the other's ``features`` module.
    """
    root = str(source_dir.resolve())
    _drop_project_modules(source_dir)
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(root)
        _drop_project_modules(source_dir)


def _drop_project_modules(source_dir: Path) -> None:
    local = {p.stem for p in source_dir.glob("*.py")} | {
        p.name for p in source_dir.iterdir() if (p / "__init__.py").is_file()
    }
    for module_name in list(sys.modules):
        if module_name.partition(".")[0] in local:
            del sys.modules[module_name]


def load_entry_point(source_dir: Path, entry_point: str) -> EntryPoint:
    """Import ``module:function`` from ``source_dir`` (inside :func:`project_imports`)."""
    module_name, _, function_name = entry_point.partition(":")
    if (
        not (source_dir / f"{module_name}.py").is_file()
        and not (source_dir / module_name / "__init__.py").is_file()
    ):
        raise ProjectError(
            f"Entry point {entry_point!r}: no {module_name}.py in {source_dir}. Set "
            "train.entry_point in tether.toml to 'module:function'."
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ProjectError(
            f"Importing {module_name}.py for entry point {entry_point!r} raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ProjectError(
            f"Entry point {entry_point!r}: {module_name}.py defines no function "
            f"{function_name!r}. Expected def {function_name}(ctx): ... returning "
            "(model, eval_frame)."
        )
    entry: EntryPoint = function
    return entry
