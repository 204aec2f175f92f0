"""The demo's month-by-month account: version 1 alone (the loop off) beside the loop on.

Both sides are scored on the same replayed payments against the same outcomes:

- **loop on** is what was served: the prediction log's decisions of whichever version answered
  each request (champion or challenger; shadows answered nobody), joined to the feedback;
- **loop off** is the counterfactual: version 1 scoring every replayed payment, at its own
  threshold, on the features the feature store computes for the payment's time (the values the
  server looked up, by the online = offline rule), against the scenario's labels.

The business value is the project's own ``[monitoring.business]`` metric (``net_value``:
fraud caught minus the cost of false alarms), evaluated by monitoring's
:class:`~tether.monitoring.BusinessMetric` over each side's confusion cells, so the demo and
the monitor cannot disagree on what a month was worth.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tether.loop import ProjectLike
from tether.monitoring import BusinessMetric, CellAggregate, ConfusionCells
from tether.registry import Event


class StoryProject(ProjectLike, Protocol):
    """What the table reads of a :class:`tether.project.Project`: the loop's view of one
    (the project is to the right of ``examples`` in the order of packages), and its stores."""

    @property
    def feature_store(self) -> Any: ...
    @property
    def log_aggregates(self) -> Any: ...


CELLS = ("tp", "fp", "fn", "tn")
SERVED_ROLES = ("champion", "challenger")
"""The roles whose decisions a client received."""
VALUE_FIELD = "amount"
"""The business field the fraud example's feedback carries."""


@dataclass(frozen=True)
class Side:
    """One side of a month: its confusion cells and business value."""

    cells: ConfusionCells
    value: float | None

    @property
    def precision(self) -> float | None:
        flagged = self.cells.tp.count + self.cells.fp.count
        return self.cells.tp.count / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        fraud = self.cells.tp.count + self.cells.fn.count
        return self.cells.tp.count / fraud if fraud else None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "value": self.value,
            **{name: self.cells.cell(name).count for name in CELLS},
        }


@dataclass(frozen=True)
class Month:
    """One row of the table."""

    month: str
    off: Side
    on: Side
    versions: tuple[str, ...]
    alerts: int
    retrains: int
    promotions: int
    rollbacks: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "month": self.month,
            "loop_off": self.off.to_dict(),
            "loop_on": self.on.to_dict(),
            "versions": list(self.versions),
            "alerts": self.alerts,
            "retrains": self.retrains,
            "promotions": self.promotions,
            "rollbacks": self.rollbacks,
        }


def month_starts(start: datetime, end: datetime) -> list[datetime]:
    """The first instant of every calendar month that overlaps ``[start, end)``, and ``end``."""
    first = datetime(start.year, start.month, 1, tzinfo=UTC)
    bounds = [first]
    while bounds[-1] < end:
        last = bounds[-1]
        bounds.append(last.replace(year=last.year + last.month // 12, month=last.month % 12 + 1))
    bounds[0], bounds[-1] = start, end
    return bounds


def cells_of(predicted: np.ndarray, actual: np.ndarray, amounts: np.ndarray) -> ConfusionCells:
    """Confusion cells, with the ``amount`` sums the business metrics read, of decisions."""
    predicted, actual = predicted.astype(bool), actual.astype(bool)
    masks = {
        "tp": predicted & actual,
        "fp": predicted & ~actual,
        "fn": ~predicted & actual,
        "tn": ~predicted & ~actual,
    }
    found = {
        name: CellAggregate(
            int(mask.sum()),
            {VALUE_FIELD: float(amounts[mask].sum())},
            {VALUE_FIELD: float((amounts[mask] ** 2).sum())},
        )
        for name, mask in masks.items()
    }
    return ConfusionCells(**found)


def cells_from_log(frame: pd.DataFrame) -> ConfusionCells:
    """Confusion cells from :meth:`LogAggregates.confusion` rows (summed over groups)."""
    cells: dict[str, CellAggregate] = {}
    for name in CELLS:
        rows = frame[frame["cell"] == name]
        sums = {VALUE_FIELD: float(rows[f"{VALUE_FIELD}:sum"].fillna(0).sum())}
        squares = {VALUE_FIELD: float(rows[f"{VALUE_FIELD}:sumsq"].fillna(0).sum())}
        cells[name] = CellAggregate(int(rows["rows"].sum()), sums, squares)
    return ConfusionCells(**cells)


def value_of(cells: ConfusionCells, metric: BusinessMetric | None) -> float | None:
    """The metric's value over the cells (``None`` without a metric or without labels)."""
    if metric is None:
        return None
    found = metric.evaluate(cells)
    return None if found is None else found.value


def month_table(
    *,
    bounds: Sequence[datetime],
    off_frame: pd.DataFrame,
    on_cells: Sequence[ConfusionCells],
    on_versions: Sequence[tuple[str, ...]],
    events: Sequence[Event],
    alert_times: Sequence[datetime],
    metric: BusinessMetric | None,
    first_version: str,
) -> list[Month]:
    """The table's rows, one per month between consecutive ``bounds``.

    ``off_frame`` has one row per replayed payment: ``event_time``, ``decision`` (version 1's),
    ``is_fraud`` and ``amount``; ``on_cells``/``on_versions`` are the log's per month; events
    are the registry's (retrains are counted by ``register`` events of versions other than
    ``first_version``, promotions and rollbacks by their actions), alerts by their times.
    """
    rows: list[Month] = []
    times = off_frame["event_time"]
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        chosen = off_frame[(times >= start) & (times < end)]
        off_cells = cells_of(
            chosen["decision"].to_numpy(),
            chosen["is_fraud"].to_numpy(),
            chosen["amount"].to_numpy(dtype=float),
        )
        within = [e for e in events if start <= e.time < end]
        rows.append(
            Month(
                month=f"{start:%Y-%m}",
                off=Side(off_cells, value_of(off_cells, metric)),
                on=Side(on_cells[index], value_of(on_cells[index], metric)),
                versions=on_versions[index],
                alerts=sum(1 for t in alert_times if start <= t < end),
                # Version 1 is registered on the replay's clock at its start; every other
                # register is a retrain the loop made.
                retrains=sum(
                    1
                    for e in within
                    if e.action == "register" and e.details.get("version") != first_version
                ),
                promotions=sum(1 for e in within if e.action == "promote"),
                rollbacks=sum(1 for e in within if e.action == "rollback"),
            )
        )
    return rows


def totals(rows: Sequence[Month]) -> Mapping[str, float]:
    """Business value over all months, per side (missing months count as 0)."""
    return {
        "loop_off": sum(row.off.value or 0.0 for row in rows),
        "loop_on": sum(row.on.value or 0.0 for row in rows),
    }


def counterfactual(
    project: StoryProject, version: str, events: pd.DataFrame, labels: pd.DataFrame,
    start: datetime, end: datetime,
) -> pd.DataFrame:  # fmt: skip
    """Version 1's decision on every payment of ``[start, end)``, as if it had served alone.

    The features are the offline store's for each payment's own time (what the online store
    served, by online = offline); the model is loaded verified, as the server loads it.
    Returns ``event_time``, ``decision``, ``is_fraud`` and ``amount``, one row per payment.
    """
    from tether.serving import load_version

    chosen = events[(events["event_time"] >= start) & (events["event_time"] < end)]
    # The newest version of each payment is the one whose outcome the labels describe (a
    # corrected row replaces the incident's); the spine is what a request carries.
    chosen = newest_versions(chosen)
    spine = chosen.drop(columns=["ingested_time"]).sort_values(["event_time", "event_id"])
    spine = spine.reset_index(drop=True)
    features = project.feature_store.build_training_set(spine, "event_time")
    served = load_version(project.tracking_uri, project.settings.model_name, version,
                          events=project.events)  # fmt: skip
    scores = served.model.predict_proba(features[list(served.features)])[:, 1]
    threshold = served.threshold if served.threshold is not None else 0.5
    frame = spine[["event_id", "event_time", "amount"]].merge(
        labels[["event_id", "is_fraud"]], on="event_id", how="left", validate="one_to_one"
    )
    frame["decision"] = (scores >= threshold).astype(int)
    frame["is_fraud"] = frame["is_fraud"].fillna(0).astype(int)
    return frame


def newest_versions(events: pd.DataFrame) -> pd.DataFrame:
    """One row per payment: the version ingested last (a correction replaces the original)."""
    by_ingest = events.sort_values("ingested_time", kind="stable")
    return by_ingest.drop_duplicates("event_id", keep="last")


def loop_on(
    project: StoryProject, bounds: Sequence[datetime]
) -> tuple[list[ConfusionCells], list[tuple[str, ...]]]:
    """Per month, the confusion cells of what was served and the versions that served it."""
    model = project.settings.model_name
    found_cells: list[ConfusionCells] = []
    found_versions: list[tuple[str, ...]] = []
    for start, end in itertools.pairwise(bounds):
        frame = project.log_aggregates.confusion(
            start, end, model, by=("version", "role"), business=(VALUE_FIELD,)
        )
        frame = frame[frame["role"].isin(SERVED_ROLES)]
        found_cells.append(cells_from_log(frame))
        found_versions.append(tuple(sorted(set(frame["version"].astype(str)), key=_version_key)))
    return found_cells, found_versions


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)
