"""The result types of the prediction log's aggregates (see :mod:`._predlog_agg`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from tether._storage import Row


@dataclass(frozen=True)
class NumericAggregate:
    """One numeric feature (or the score) over a window; the fields of
    ``tether.monitoring.NumericSummary`` (``std`` is the population one, ddof 0; NaN
    statistics when ``count`` is 0). ``counts`` are rows per bin of ``edges``."""

    count: int
    nulls: int
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    minimum: float
    maximum: float
    mean: float
    std: float
    kind: Literal["numeric"] = "numeric"


@dataclass(frozen=True)
class CategoricalAggregate:
    """One categorical feature over a window; the fields of
    ``tether.monitoring.CategoricalSummary``: rows per reference category, ``other`` (rows
    of any other category) and ``unseen`` (those of ``other`` the reference never saw)."""

    count: int
    nulls: int
    frequencies: Mapping[str, int]
    other: int
    unseen: int
    kind: Literal["categorical"] = "categorical"


@dataclass(frozen=True)
class WindowAggregate:
    """A window of one model's predictions, summarised on the reference's bins.

    ``other_kind`` counts, per feature, the rows where it held a value of the other kind
    (text in a numeric feature, a number in a categorical one): a type change, which the
    summary counts as missing.
    """

    rows: int
    features: Mapping[str, NumericAggregate | CategoricalAggregate]
    sample: pd.DataFrame
    score: NumericAggregate | None
    other_kind: Mapping[str, int]


@dataclass(frozen=True)
class ScorePairs:
    """Two versions' scores on the same instances (same request fields) in a window."""

    pairs: int
    mean: tuple[float, float]
    std: tuple[float, float]
    correlation: float
    decided: int
    """Pairs where both logged a decision."""
    agreed: int
    """Of ``decided``, the pairs whose decisions are equal."""
    sample: pd.DataFrame
    """Seeded sample: ``instance_id, score_a, score_b, decision_a, decision_b``."""


def shift(edges: Sequence[float]) -> float:
    """A value near the data's centre (the middle edge), so shifted sums lose no precision."""
    return float(edges[len(edges) // 2]) if edges else 0.0


def numeric(rows: int, edges: Sequence[float], values: Row) -> NumericAggregate:
    count = int(values[0] or 0)
    total, squares = float(values[3] or 0.0), float(values[4] or 0.0)
    nan = math.nan
    mean = shift(edges) + total / count if count else nan
    variance = max(squares / count - (total / count) ** 2, 0.0) if count else nan
    return NumericAggregate(
        count=count,
        nulls=rows - count,
        edges=tuple(float(edge) for edge in edges),
        counts=tuple(int(value or 0) for value in values[5:]),
        minimum=float(values[1]) if count else nan,  # type: ignore[arg-type]
        maximum=float(values[2]) if count else nan,  # type: ignore[arg-type]
        mean=mean,
        std=math.sqrt(variance),
    )


def categorical(rows: int, categories: Sequence[str], values: Row) -> CategoricalAggregate:
    count = int(values[0] or 0)
    frequencies = {str(c): int(v or 0) for c, v in zip(categories, values[1:-1], strict=True)}
    return CategoricalAggregate(
        count=count,
        nulls=rows - count,
        frequencies=frequencies,
        other=count - sum(frequencies.values()),
        unseen=int(values[-1] or 0),
    )
