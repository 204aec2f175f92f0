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
  labelled prediction, summed over the four cells (a cell with no value adds nothing);
- each **per-prediction value** of ``values``, a linear combination of cell aggregates
  such as the fraud example's net value, ``{"tp.amount": 1.0, "fp.count": -5.0}``: the value
  of a labelled row is ``h = sum_k c_k [row in cell_k] field_k`` (``count`` standing for 1),
  whose moments over the arm follow from the cells' sums and sums of squares because the
  cells are disjoint: in a cell with field coefficient ``a`` and count coefficient ``b``,
  ``sum h = a S + b N`` and ``sum h^2 = a^2 SS + 2 a b S + b^2 N``; ``n`` is every labelled
  row (a row of a cell the value does not name is worth 0). An arm is judged by the mean of
  such a value, never by a window total, since the arms differ in size. Two fields of one
  cell would need their cross products, which the log does not aggregate: refused.

:func:`arms_by` does it for every value of a group column at once (one arm per cohort, or
per version). The frame is read by its column names, so any engine's copy of the log
(SQLite, PostgreSQL, Spark) serves.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from tether.errors import MonitoringError
from tether.monitoring._experiments import ArmAggregate, MeanMoments, ProportionCounts

CELLS = ("tp", "fp", "fn", "tn")
"""The confusion cells of the log's frame."""


def arm_metrics(
    frame: pd.DataFrame,
    *,
    business: Sequence[str] = (),
    values: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, ArmAggregate]:
    """The metrics of one arm from its rows of the confusion frame (see the module).

    Example::

        arm_metrics(rows, business=["amount"],
                    values={"net_value": {"tp.amount": 1.0, "fp.count": -5.0}})
    """
    values = values or {}
    terms = {name: _terms(name, combination) for name, combination in values.items()}
    fields = sorted({t.field for by_cell in terms.values() for t in by_cell.values() if t.field})
    _check_columns(frame, [*business, *[f for f in fields if f not in business]])
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
    for name, by_cell in terms.items():
        metrics[name] = _value_moments(frame, by_cell, labelled)
    return metrics


def arms_by(
    frame: pd.DataFrame,
    group: str,
    *,
    business: Sequence[str] = (),
    values: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[Hashable, dict[str, ArmAggregate]]:
    """:func:`arm_metrics` for each value of ``group`` (for example ``"cohort"``)."""
    if group not in frame.columns:
        raise MonitoringError(
            f"confusion frame has no group column {group!r}: expected one of {list(frame.columns)}"
        )
    return {
        key: arm_metrics(rows, business=business, values=values)
        for key, rows in frame.groupby(group, sort=True, dropna=False)
    }


@dataclass(frozen=True)
class _CellTerm:
    """A value's part in one cell: ``a * field + b`` per row of the cell."""

    field: str | None
    a: float
    b: float


def _terms(name: str, combination: Mapping[str, float]) -> dict[str, _CellTerm]:
    """The terms of a linear value by cell, refusing what the cells cannot answer."""
    terms: dict[str, _CellTerm] = {}
    for term, coefficient in combination.items():
        cell, _, field = term.partition(".")
        if cell not in CELLS or not field:
            raise MonitoringError(
                f"value {name!r}: term {term!r} is not <cell>.<field> with a cell of {CELLS}"
            )
        now = terms.get(cell, _CellTerm(None, 0.0, 0.0))
        if field == "count":
            terms[cell] = _CellTerm(now.field, now.a, now.b + float(coefficient))
        elif now.field not in (None, field):
            raise MonitoringError(
                f"value {name!r} names two fields of {cell!r} ({now.field!r} and {field!r}): "
                "their cross products are not aggregated; expected one field per cell"
            )
        else:
            terms[cell] = _CellTerm(field, now.a + float(coefficient), now.b)
    return terms


def _value_moments(
    frame: pd.DataFrame, terms: Mapping[str, _CellTerm], labelled: int
) -> MeanMoments:
    """The moments of a linear per-row value over every labelled row (see the module)."""
    total = squares = 0.0
    cell_of = frame["cell"].astype(str)
    for cell, term in terms.items():
        rows = frame[cell_of == cell]
        n = float(rows["rows"].sum())
        s = _total(rows[f"{term.field}:sum"]) if term.field else 0.0
        ss = _total(rows[f"{term.field}:sumsq"]) if term.field else 0.0
        total += term.a * s + term.b * n
        squares += term.a**2 * ss + 2 * term.a * term.b * s + term.b**2 * n
    return MeanMoments(n=labelled, total=total, total_squares=max(squares, 0.0))


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
