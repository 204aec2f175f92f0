"""One window of served traffic, read from the prediction log in monitoring's own terms.

The prediction log (:class:`tether.serving.LogAggregates`, or its Spark twin over a Parquet
copy) computes every aggregate in its engine: rows per reference bin, category counts, the
confusion cells with their business sums, a seeded sample. This module asks for exactly
what a version's reference needs and turns the answers into the types drift, quality and
performance take (:class:`Profile`, :class:`ConfusionCells`, :class:`ScoreTable`), so those
modules never see the log and the log never sees them (serving comes before monitoring).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from tether.monitoring._estimate import Calibration
from tether.monitoring._performance import CELLS, CellAggregate, ConfusionCells, ScoreTable
from tether.monitoring._profile import (
    CategoricalSummary,
    NumericSummary,
    Profile,
    Summary,
)
from tether.serving import (
    CategoricalAggregate,
    LogAggregates,
    NumericAggregate,
    SparkLogAggregates,
)

LogReader = LogAggregates | SparkLogAggregates
"""Either engine of the log's aggregates: one generated SQL, two engines."""
SCORE = "score"
"""The sample column the log returns the score in."""


@dataclass(frozen=True)
class ModelReference:
    """What a model version was trained against: its reference profile, the calibration of
    its scores (fitted on its held-out rows; None when too few) and its decision threshold."""

    version: str
    profile: Profile
    calibration: Calibration | None
    threshold: float | None


@dataclass(frozen=True)
class Group:
    """Whose predictions: one model version in one role (and, optionally, one cohort)."""

    version: str
    role: str
    cohort: str | None = None

    @property
    def filters(self) -> dict[str, str]:
        """The log's filters for this group."""
        found = {"version": self.version, "role": self.role}
        if self.cohort is not None:
            found["cohort"] = self.cohort
        return found


def window_profile(
    log: LogReader,
    model: str,
    group: Group,
    reference: Profile,
    window: tuple[datetime, datetime],
    *,
    sample_size: int,
    seed: int,
) -> tuple[Profile, dict[str, int]]:
    """The group's traffic in ``window`` summarised on ``reference``'s bins, and per feature
    the rows whose value had the other kind (text in a numeric feature: a type change)."""
    numeric = {
        name: summary.edges
        for name, summary in reference.features.items()
        if isinstance(summary, NumericSummary)
    }
    categorical = {
        name: tuple(summary.frequencies)
        for name, summary in reference.features.items()
        if isinstance(summary, CategoricalSummary)
    }
    aggregate = log.feature_summary(
        window[0],
        window[1],
        model,
        numeric=numeric,
        categorical=categorical,
        score_edges=None if reference.score is None else reference.score.edges,
        filters=group.filters,
        sample_size=sample_size,
        seed=seed,
    )
    features: dict[str, Summary] = {
        name: _summary(found) for name, found in aggregate.features.items()
    }
    sample = aggregate.sample
    score: NumericSummary | None = None
    if aggregate.score is not None and reference.score_name is not None:
        score = _numeric(aggregate.score)
        sample = sample.rename(columns={SCORE: reference.score_name})
    profile = Profile(aggregate.rows, features, sample, score, reference.score_name)
    return profile, dict(aggregate.other_kind)


def window_scores(
    log: LogReader,
    model: str,
    group: Group,
    reference: ModelReference,
    window: tuple[datetime, datetime],
    *,
    sample_size: int,
    seed: int,
) -> np.ndarray:
    """The finite scores of the sample :func:`window_profile` would draw (the same rows, in
    the same order), without summarising any feature: what an estimate alone needs."""
    profile = reference.profile
    if profile.score_name is None or (profile.score is None and profile.score_name != SCORE):
        return np.empty(0)  # window_profile's sample would hold no column of that name
    aggregate = log.feature_summary(window[0], window[1], model, filters=group.filters,
                                    sample_size=sample_size, seed=seed)  # fmt: skip
    sample = aggregate.sample.rename(columns={SCORE: profile.score_name})
    return sample_scores(Profile(aggregate.rows, {}, sample, None, profile.score_name))


def _summary(found: NumericAggregate | CategoricalAggregate) -> Summary:
    if isinstance(found, NumericAggregate):
        return _numeric(found)
    return CategoricalSummary(
        count=found.count,
        nulls=found.nulls,
        frequencies=dict(found.frequencies),
        other=found.other,
        unseen=found.unseen,
    )


def _numeric(found: NumericAggregate) -> NumericSummary:
    return NumericSummary(
        count=found.count,
        nulls=found.nulls,
        edges=found.edges,
        counts=found.counts,
        minimum=found.minimum,
        maximum=found.maximum,
        mean=found.mean,
        std=found.std,
    )


def confusion(
    log: LogReader,
    model: str,
    group: Group,
    window: tuple[datetime, datetime],
    *,
    known_by: datetime,
    business: Sequence[str],
) -> ConfusionCells:
    """The confusion cells of the group's labelled predictions in ``window`` (labels known
    and received by ``known_by``), at the decisions the server logged, with the sums of each
    business field per cell."""
    frame = log.confusion(
        window[0],
        window[1],
        model,
        by=(),
        business=business,
        filters=group.filters,
        known_by=known_by,
    )
    return _cells(frame.to_dict("records"), business)


def daily_confusion(
    log: LogReader,
    model: str,
    role: str,
    window: tuple[datetime, datetime],
    *,
    known_by: datetime,
) -> dict[tuple[str, datetime], ConfusionCells]:
    """The confusion cells of each (version, day) of ``role``'s labelled predictions in
    ``window``, keyed by the day's first instant: each equal to :func:`confusion` over that
    day (cut at the window's ends), from one scan of the window instead of one per day."""
    frame = log.confusion(window[0], window[1], model, by=("version",), filters={"role": role},
                          known_by=known_by, bucket="day")  # fmt: skip
    found: dict[tuple[str, datetime], list[Mapping[Hashable, object]]] = {}
    for values in frame.to_dict("records"):
        day = pd.Timestamp(values["day"]).to_pydatetime()
        found.setdefault((str(values["version"]), day), []).append(values)
    return {key: _cells(records, ()) for key, records in found.items()}


def _cells(records: Sequence[Mapping[Hashable, object]], business: Sequence[str]) -> ConfusionCells:
    # A cell no labelled row fell in still carries every field, at zero: a metric over it
    # (money lost to missed fraud, with nothing missed) is 0, not undefined.
    empty = dict.fromkeys(business, 0.0)
    cells: dict[str, CellAggregate] = {name: CellAggregate(0, empty, empty) for name in CELLS}
    for values in records:
        cells[str(values["cell"])] = CellAggregate(
            int(str(values["rows"])),
            {name: float(str(values[f"{name}:sum"] or 0.0)) for name in business},
            {name: float(str(values[f"{name}:sumsq"] or 0.0)) for name in business},
        )
    return ConfusionCells(**cells)


def labelled_scores(
    log: LogReader,
    model: str,
    group: Group,
    window: tuple[datetime, datetime],
    *,
    known_by: datetime,
    sample_size: int,
    seed: int,
) -> ScoreTable | None:
    """A seeded sample of the group's labelled (score, label) pairs as a score table, for
    ROC AUC and calibration; None when no labelled prediction has a score."""
    sample = log.labelled_sample(
        window[0],
        window[1],
        model,
        filters=group.filters,
        known_by=known_by,
        size=sample_size,
        seed=seed,
    )
    sample = sample[sample["score"].notna() & sample["label"].isin([0, 1])]
    if sample.empty:
        return None
    return ScoreTable.from_arrays(
        sample["score"].to_numpy(dtype=float), sample["label"].to_numpy(dtype=float)
    )


def sample_scores(profile: Profile) -> np.ndarray:
    """The finite scores of a window's sample (what CBPE estimates from)."""
    if profile.score_name is None or profile.score_name not in profile.sample:
        return np.empty(0)
    column = pd.to_numeric(profile.sample[profile.score_name], errors="coerce")
    scores: np.ndarray = column.to_numpy(dtype=float)
    finite: np.ndarray = scores[np.isfinite(scores)]
    return finite
