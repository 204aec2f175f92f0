"""An experiment arm's metrics from the prediction log's confusion counts.

The log's ``confusion`` aggregate (``tether.serving.LogAggregates.confusion``) returns, per
group (version, role, cohort, experiment) and confusion cell (``tp``, ``fp``, ``fn``,
``tn``), the labelled ``rows`` and, for each business value ``b``, ``b:sum``, ``b:sumsq``
and ``b:count`` (the rows that carry it). :func:`arm_metrics` turns one arm's rows of it
into the aggregates the experiment statistics read:

- ``precision`` = tp / (tp + fp), ``recall`` = tp / (tp + fn), ``decision_rate`` = (tp +
  fp) / labelled, ``false_positive_rate`` = fp / (fp + tn), ``accuracy`` = (tp + tn) /
  labelled, each a :class:`~tether.monitoring.ProportionCounts`;
- each business value ``b``: the :class:`~tether.monitoring.MeanMoments` of its value per
  labelled prediction, summed over the four cells (a cell with no value adds nothing).

:func:`arms_by` does it for every value of a group column at once (one arm per cohort, or
per version). The frame is read by its column names, so any engine's copy of the log
(SQLite, PostgreSQL, Spark) serves.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import pandas as pd

from tether.errors import MonitoringError
from tether.monitoring._experiments import ArmAggregate, MeanMoments, ProportionCounts

CELLS = ("tp", "fp", "fn", "tn")
"""The confusion cells of the log's frame."""


def arm_metrics(frame: pd.DataFrame, *, business: Sequence[str] = ()) -> dict[str, ArmAggregate]:
    """The metrics of one arm from its rows of the confusion frame (see the module)."""
    _check_columns(frame, business)
    unknown = sorted(set(frame["cell"].astype(str)) - set(CELLS))
    if unknown:
        raise MonitoringError(f"confusion cells {unknown}: expected only {list(CELLS)}")
    rows = frame.groupby(frame["cell"].astype(str))["rows"].sum()
    tp, fp, fn, tn = (int(rows.get(cell, 0)) for cell in CELLS)
    labelled = tp + fp + fn + tn
    metrics: dict[str, ArmAggregate] = {
        "precision": ProportionCounts(tp, tp + fp),
        "recall": ProportionCounts(tp, tp + fn),
        "decision_rate": ProportionCounts(tp + fp, labelled),
        "false_positive_rate": ProportionCounts(fp, fp + tn),
        "accuracy": ProportionCounts(tp + tn, labelled),
    }
    for name in business:
        metrics[name] = MeanMoments(
            n=int(_total(frame[f"{name}:count"])),
            total=_total(frame[f"{name}:sum"]),
            total_squares=_total(frame[f"{name}:sumsq"]),
        )
    return metrics


def arms_by(
    frame: pd.DataFrame, group: str, *, business: Sequence[str] = ()
) -> dict[Hashable, dict[str, ArmAggregate]]:
    """:func:`arm_metrics` for each value of ``group`` (for example ``"cohort"``)."""
    if group not in frame.columns:
        raise MonitoringError(
            f"confusion frame has no group column {group!r}: expected one of {list(frame.columns)}"
        )
    return {
        key: arm_metrics(rows, business=business)
        for key, rows in frame.groupby(group, sort=True, dropna=False)
    }


def _check_columns(frame: pd.DataFrame, business: Sequence[str]) -> None:
    needed = ["cell", "rows", *[f"{b}:{s}" for b in business for s in ("sum", "sumsq", "count")]]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise MonitoringError(
            f"confusion frame lacks the column(s) {missing}: expected the log's confusion "
            f"aggregate with business={list(business)}"
        )


def _total(column: pd.Series) -> float:
    """A column's sum, a missing value (a cell without the business value) counting 0."""
    total = float(pd.to_numeric(column, errors="coerce").fillna(0.0).sum())
    return total if math.isfinite(total) else math.nan
