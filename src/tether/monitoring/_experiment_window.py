"""A running experiment read from the prediction log: the champion and challenger arms of the
deployment that assigned their cohorts, look by look, and the shadows' pairs.

An experiment is the deploy event that put the challenger in place: every prediction served
under it carries its id (``experiment_id``), champion and challenger alike. Its looks are
cumulative, one per day since that event, each with the labels *known by that day's end*:
what a person checking daily would have seen, which is what the always-valid p-value of
:func:`decide` is valid for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime, timedelta

import pandas as pd

from tether.monitoring._arms import arm_metrics
from tether.monitoring._business import BusinessMetric
from tether.monitoring._experiment_decision import (
    ExperimentDecision,
    ExperimentLook,
    ExperimentPolicy,
    decide,
)
from tether.monitoring._experiments import ArmAggregate
from tether.monitoring._performance import CELLS, CellAggregate, ConfusionCells
from tether.monitoring._shadow import ShadowComparison, compare_shadow
from tether.monitoring._window import Group, LogReader

MAX_LOOKS = 120
"""Looks read at most (one a day): an experiment older than this is judged on its last ones."""
SETTLED_AFTER = timedelta(hours=1)
"""How long after its end a look is final. It counts the labels received by its end, which a
clock that only moves on cannot add to; the margin covers predictions timed before the end
that a server's log writer had not yet flushed (it flushes within seconds)."""

SettledLooks = MutableMapping[tuple[int, Group, Group, datetime], ExperimentLook]
"""Final looks already read, by experiment, arms and end: a daily tick of a 60-day
experiment reads two looks instead of sixty (each a scan of the experiment so far)."""


def linear_values(metrics: Sequence[BusinessMetric]) -> dict[str, dict[str, float]]:
    """The per-prediction form of each linear business metric: its coefficient on each cell
    aggregate (``{"tp.amount": 1.0, "fp.count": -5.0}``), found by evaluating it on unit cells.
    A metric that is not linear has no per-prediction value and is left out."""
    found: dict[str, dict[str, float]] = {}
    for metric in metrics:
        if not metric.linear:
            continue
        # Around a base of one row per cell (an empty window has no value), each term's
        # coefficient is the change one more unit of it makes.
        base = _value(metric, {})
        terms = {f"{cell}.{name}": _value(metric, {(cell, name): 1.0}) - base
                 for cell, name in metric.names}  # fmt: skip
        intercept = base - sum(v for k, v in terms.items() if k.endswith(".count"))
        if math.isfinite(base) and abs(intercept) < 1e-9:  # a sum over rows: per row, its value
            found[metric.name] = terms
    return found


def _value(metric: BusinessMetric, unit: Mapping[tuple[str, str], float]) -> float:
    fields = {name for _, name in metric.names if name != "count"}
    cells = {}
    for cell in CELLS:
        sums = {name: unit.get((cell, name), 0.0) for name in fields}
        count = 1 + int(unit.get((cell, "count"), 0.0))
        cells[cell] = CellAggregate(count, sums, dict.fromkeys(fields, 0.0))
    value = metric.evaluate(ConfusionCells(**cells))
    return math.nan if value is None else value.value


def experiment(
    log: LogReader,
    model: str,
    arms: tuple[Group, Group],
    experiment_id: int,
    started: datetime,
    now: datetime,
    *,
    policy: ExperimentPolicy,
    business: Sequence[str],
    values: Mapping[str, Mapping[str, float]],
    settled: SettledLooks | None = None,
) -> ExperimentDecision:
    """Decide the experiment ``experiment_id`` between ``arms`` (champion, challenger) from
    its daily looks since ``started``.

    ``settled`` keeps the final looks (ended :data:`SETTLED_AFTER` before ``now``) between
    calls, so that each is read once; the decision is the same with or without it.
    """
    days = max(1, math.ceil((now - started) / timedelta(days=1)))
    first = max(1, days - MAX_LOOKS + 1)
    looks: list[ExperimentLook] = []
    for day in range(first, days + 1):
        end = min(started + timedelta(days=day), now)
        key = (experiment_id, arms[0], arms[1], end)
        look = settled.get(key) if settled is not None else None
        if look is None:
            look = _look(log, model, arms, experiment_id, (started, end), business, values)
            if settled is not None and end <= now - SETTLED_AFTER:
                settled[key] = look
        looks.append(look)
    return decide(looks, policy)


def _look(
    log: LogReader,
    model: str,
    arms: tuple[Group, Group],
    experiment_id: int,
    span: tuple[datetime, datetime],
    business: Sequence[str],
    values: Mapping[str, Mapping[str, float]],
) -> ExperimentLook:
    """The look at the experiment's predictions in ``span`` with the labels known by its end."""
    started, end = span
    frame = log.confusion(started, end, model, by=("version", "role"), business=business,
                          filters={"experiment_id": experiment_id}, known_by=end)  # fmt: skip
    return ExperimentLook(
        (end - started) / timedelta(days=1),
        _arm(frame, arms[0], business, values),
        _arm(frame, arms[1], business, values),
    )


def _arm(
    frame: pd.DataFrame,
    group: Group,
    business: Sequence[str],
    values: Mapping[str, Mapping[str, float]],
) -> dict[str, ArmAggregate]:
    rows = frame[(frame["version"].astype(str) == group.version) & (frame["role"] == group.role)]
    return dict(arm_metrics(rows, business=business, values=values))


def shadow(
    log: LogReader,
    model: str,
    champion: Group,
    shadow: Group,
    window: tuple[datetime, datetime],
    *,
    seed: int,
) -> ShadowComparison | None:
    """The shadow against the champion on the same requests of ``window``; None when none
    were paired."""
    pairs = log.score_pairs(window[0], window[1], model, (champion.version, shadow.version),
                            sample_size=5_000, seed=seed)  # fmt: skip
    if pairs.pairs == 0 or pairs.sample.empty:
        return None
    return compare_shadow(pairs.sample, decisions=("decision_a", "decision_b"),
                          champion="score_a", shadow="score_b")  # fmt: skip
