"""Train the fraud detector: tether calls ``train(ctx)`` (``entry_point = "train:train"``).

The training set comes from the feature store: ``ctx.training_set`` computes every feature
of ``features.py`` for every payment as of its own time, those of the payment itself (its
amount, hour, category and country codes) included, so this file computes no feature and a
server scoring a raw payment computes the same ones. The model learns from the
``train_months`` months of payments from ``train_start`` (a date in ``[train.params]``) and
is evaluated on the last fifth of that period, by time, so evaluation never sees the past
of training. The payments before ``train_start`` (the scenario's December warm-up) are
history only: they fill the features' 30-day windows, so the model learns from, and is
later compared with, features as full as they are in service.

Given a window (``ctx.window``, the loop's retraining), the model learns from that window
instead: the first 80% of the window's payments by time, the last 20% held out (tether has
already dropped the excluded spans and the rows not known by the cut-off, so a window whose
end an incident's reach covers holds fewer days than ``[start, end)``). The window has
matured (tether refuses one that has not), so a payment inside it without a label is honest:
its outcome window closed with no chargeback. A plain ``tether train`` gets the whole data,
and ``train_start`` and ``train_months`` decide as before; only labelled payments count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from features import FEATURE_VIEWS

TETHER_WINDOW = True
"""This entry point trains on ``ctx.window``: the loop may retrain it."""
LABEL = "is_fraud"
EVAL_SHARE = 0.2
"""The last fifth of the training period, by time, is held out for evaluation."""
LONGEST_WINDOW = pd.Timedelta(days=30)
"""The longest feature window of ``features.py``: a payment earlier than this after the
first one would be trained on windows that are not yet full."""
SPINE_COLUMNS = [
    "event_id",
    "customer_id",
    "device_id",
    "event_time",
    "amount",
    "merchant_id",
    "category",
    "country",
]
"""What a request to score a payment carries; the training spine has these and the label."""

FEATURE_COLUMNS = [name for view in FEATURE_VIEWS for name in view.feature_names]
"""The model's inputs, in order: exactly the features of ``features.py``."""


class Window(Protocol):
    """The part of tether's ``TrainWindow`` this file reads."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def whole(self) -> bool: ...


class TrainContext(Protocol):
    """What tether hands to ``train``: parameters, the seed, datasets and training sets."""

    @property
    def params(self) -> Mapping[str, bool | int | float | str]:
        """``[train.params]`` of tether.toml, after command-line overrides."""
        ...

    @property
    def seed(self) -> int:
        """The run's seed."""
        ...

    def dataset(self, name: str) -> pd.DataFrame:
        """The rows of a dataset named in ``[datasets]``, read from its recorded snapshot."""
        ...

    @property
    def window(self) -> Window:
        """The training window: ``start``, ``end``, ``cutoff`` and ``whole``."""
        ...

    def training_set(self, spine: pd.DataFrame, timestamp: str = "event_time") -> pd.DataFrame:
        """``spine`` with the features of ``[features] definitions`` as of each row's time."""
        ...


def train(ctx: TrainContext) -> tuple[HistGradientBoostingClassifier, pd.DataFrame]:
    """Fit a gradient-boosted classifier; return it and its held-out evaluation frame.

    The evaluation frame holds exactly :data:`FEATURE_COLUMNS` plus ``is_fraud``.
    """
    spine = training_spine(ctx.dataset("events"), ctx.dataset("labels"))
    frame = ctx.training_set(spine, timestamp="event_time")
    if ctx.window.whole:
        frame = frame[frame[LABEL].notna()]  # only payments whose outcome is known
        start, end = training_window(ctx.params, frame["event_time"].min())
    else:  # matured: no label by now means none is coming, an honest payment
        frame = frame.assign(**{LABEL: frame[LABEL].fillna(0)})
        start, end = pd.Timestamp(ctx.window.start), pd.Timestamp(ctx.window.end)
    eval_start = start + (end - start) * (1 - EVAL_SHARE)
    if not ctx.window.whole:
        # Split the payments the window holds, not its span: an excluded span at its end
        # (the cents incident's 30-day reach) would otherwise leave nothing to evaluate.
        inside = frame["event_time"][(frame["event_time"] >= start) & (frame["event_time"] < end)]
        if len(inside):
            eval_start = inside.sort_values().iloc[int(len(inside) * (1 - EVAL_SHARE))]
    fit = frame[(frame["event_time"] >= start) & (frame["event_time"] < eval_start)]
    held_out = frame[(frame["event_time"] >= eval_start) & (frame["event_time"] < end)]
    if fit.empty or held_out.empty:
        times = frame["event_time"]
        raise ValueError(
            f"the training window {start:%Y-%m-%d} to {end:%Y-%m-%d} holds {len(fit)} payments "
            f"to fit and {len(held_out)} to evaluate (labelled payments run from "
            f"{times.min():%Y-%m-%d} to {times.max():%Y-%m-%d}): expected both above 0; "
            "set train_start and train_months to a period inside the data"
        )
    model = HistGradientBoostingClassifier(
        max_iter=int(ctx.params["max_iter"]),
        learning_rate=float(ctx.params["learning_rate"]),
        max_leaf_nodes=int(ctx.params["max_leaf_nodes"]),
        early_stopping=False,
        random_state=ctx.seed,
    )
    model.fit(fit[FEATURE_COLUMNS], fit[LABEL].astype(int))
    eval_frame = held_out[[*FEATURE_COLUMNS, LABEL]].reset_index(drop=True)
    return model, eval_frame.astype({LABEL: int})


def training_window(
    params: Mapping[str, bool | int | float | str], first_event: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The training period ``[start, end)``: ``train_months`` months from ``train_start``.

    Without ``train_start``, the period starts on the first 1st of a month at least
    :data:`LONGEST_WINDOW` after ``first_event``, when every feature window is full.

    Example:
        >>> training_window({"train_months": 1}, pd.Timestamp("2025-12-01", tz="UTC"))[0]
        Timestamp('2026-01-01 00:00:00+0000', tz='UTC')
    """
    if "train_start" in params:
        try:
            start = pd.Timestamp(str(params["train_start"]))
        except ValueError as exc:
            raise ValueError(
                f"train_start is {params['train_start']!r}: expected a date such as 2026-01-01"
            ) from exc
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    else:
        start = (first_event + LONGEST_WINDOW).ceil("D")
        if start.day != 1:
            start = start + pd.offsets.MonthBegin(1)
    return start, start + pd.DateOffset(months=int(params["train_months"]))


def training_spine(events: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per payment, in event order: its request columns and its label.

    Payments without a label get ``is_fraud`` = NaN rather than being dropped. A payment the
    pipeline delivered twice (a corrected version: the same ``event_id``, ingested later) is
    trained on as last delivered, the newest version, as the feature store reads it.
    """
    if "ingested_time" in events.columns:
        events = events.sort_values("ingested_time", kind="stable")
    events = events.drop_duplicates("event_id", keep="last")
    spine = events[SPINE_COLUMNS].sort_values(
        ["event_time", "event_id"], kind="stable", ignore_index=True
    )
    return spine.merge(
        labels[["event_id", LABEL]], on="event_id", how="left", validate="one_to_one"
    )
