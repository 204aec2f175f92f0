"""The prediction log's aggregate frames, read into the counts that performance needs.

``PredictionLog`` aggregates (``tether.serving``) return plain DataFrames so that the same
generated SQL runs on SQLite, PostgreSQL and Spark: ``confusion`` has one row per group and
confusion cell (``cell`` in ``tp``, ``fp``, ``fn``, ``tn``) with its ``rows`` and, per business
name ``b``, the columns ``b:sum`` and ``b:sumsq``; ``labelled_sample`` has a seeded sample of
labelled rows with ``score`` and ``label``. These two functions turn one group's rows of
those frames into :class:`~tether.monitoring.ConfusionCells` and a
:class:`~tether.monitoring.ScoreTable`, so monitoring depends on the frames' columns only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tether.errors import MonitoringError
from tether.monitoring._performance import CELLS, CellAggregate, ConfusionCells, ScoreTable


def cells_from_frame(frame: pd.DataFrame, business: Sequence[str] = ()) -> ConfusionCells:
    """The confusion cells of one group of the log's ``confusion`` frame (a missing cell has
    no rows; a business sum the engine gave as NULL, over no rows, is 0)."""
    columns = ["cell", "rows", *[f"{b}:{part}" for b in business for part in ("sum", "sumsq")]]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MonitoringError(
            f"confusion frame lacks column(s) {missing}; it has {list(frame.columns)}"
        )
    unknown = sorted(set(frame["cell"]) - set(CELLS))
    if unknown or frame["cell"].duplicated().any():
        raise MonitoringError(
            f"confusion frame has cells {frame['cell'].tolist()}; expected each of {CELLS} "
            f"at most once (one group's rows)"
        )
    by_cell = frame.set_index("cell")

    def cell(name: str) -> CellAggregate:
        if name not in by_cell.index:
            return CellAggregate(0, dict.fromkeys(business, 0.0), dict.fromkeys(business, 0.0))
        row = by_cell.loc[name]
        sums = {b: _number(row[f"{b}:sum"]) for b in business}
        squares = {b: _number(row[f"{b}:sumsq"]) for b in business}
        return CellAggregate(int(_number(row["rows"])), sums, squares)

    return ConfusionCells(*(cell(name) for name in CELLS))


def score_table_from_sample(
    sample: pd.DataFrame, *, score: str = "score", label: str = "label"
) -> ScoreTable:
    """The score table of a sample of labelled rows (rows without a score or label dropped)."""
    missing = [c for c in (score, label) if c not in sample.columns]
    if missing:
        raise MonitoringError(f"sample lacks column(s) {missing}; it has {list(sample.columns)}")
    rows = sample[[score, label]].dropna()
    labels = rows[label].to_numpy(dtype=float)
    if not np.isin(labels, (0.0, 1.0)).all():
        raise MonitoringError(f"sample column {label!r} holds values other than 0 and 1")
    return ScoreTable.from_arrays(rows[score].to_numpy(dtype=float), labels)


def _number(value: object) -> float:
    if value is None or value is pd.NA:
        return 0.0
    if isinstance(value, int | float | np.number):
        number = float(value)
        return 0.0 if math.isnan(number) else number
    raise MonitoringError(f"confusion frame holds {value!r}; expected a number")
