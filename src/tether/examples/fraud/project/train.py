"""Train the fraud detector: tether calls ``train(ctx)`` (``entry_point = "train:train"``).

The model learns from the first ``train_months`` months of payments and is evaluated on
the last fifth of that period, by time, so evaluation never sees the past of training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from features import FEATURE_COLUMNS, LABEL, build_training_frame

EVAL_SHARE = 0.2
"""The last fifth of the training period, by time, is held out for evaluation."""


class TrainContext(Protocol):
    """What tether hands to ``train``: parameters, the seed, and the project's datasets."""

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


def train(ctx: TrainContext) -> tuple[HistGradientBoostingClassifier, pd.DataFrame]:
    """Fit a gradient-boosted classifier; return it and its held-out evaluation frame.

    The evaluation frame holds exactly the model's feature columns plus ``is_fraud``.
    """
    frame = build_training_frame(ctx.dataset("events"), ctx.dataset("labels"))
    frame = frame[frame[LABEL].notna()]  # only payments whose outcome is known
    start = frame["event_time"].min().normalize()
    end = start + pd.DateOffset(months=int(ctx.params["train_months"]))
    eval_start = start + (end - start) * (1 - EVAL_SHARE)
    fit = frame[frame["event_time"] < eval_start]
    held_out = frame[(frame["event_time"] >= eval_start) & (frame["event_time"] < end)]
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
