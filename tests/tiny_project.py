"""The tiny project of many tests: 400 payments of four customers, three features from one
feature view, a logistic regression; trains in about a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tether.lineage._code import commit_new_repository

FEATURES_PY = """
from tether.features import Aggregation, Entity, EventSource, FeatureView, Transformation

EVENTS = EventSource.parquet("data/events.parquet", entity_key="customer_id",
                             event_id="event_id", event_time="event_time")
FEATURE_VIEWS = [
    FeatureView("customer", entity=Entity("customer", keys=["customer_id"]), source=EVENTS,
                features=[
                    Aggregation("n_1d", "count", window="1d"),
                    Aggregation("mean_7d", "mean", column="amount", window="7d", empty=0.0),
                    Transformation("ratio", "amount / (mean_7d + 1)", request=["amount"]),
                ]),
]
"""

TRAIN_PY = """
from sklearn.linear_model import LogisticRegression

def train(ctx):
    events = ctx.dataset("events")
    spine = events[["customer_id", "event_time", "amount", "label"]]
    frame = ctx.training_set(spine, timestamp="event_time")
    features = frame[["n_1d", "mean_7d", "ratio", "amount"]]
    model = LogisticRegression(C=float(ctx.params["C"])).fit(features, frame["label"])
    return model, features.assign(label=frame["label"])
"""

TOML = """
[project]
name = "tiny"

[datasets]
events = "data/events.parquet"

[train]
entry_point = "train:train"
label = "label"

[train.params]
C = 1.0

[features]
definitions = "features:FEATURE_VIEWS"
"""


def write_tiny_project(root: Path, toml: str = TOML) -> Path:
    """The tiny project in ``root`` (its own git repository), with ``toml`` as its config."""
    (root / "data").mkdir(parents=True)
    rng = np.random.default_rng(3)
    n = 400
    times = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.integers(0, 30 * 86400, n)), unit="s"
    )
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "customer_id": rng.choice(["a", "b", "c", "d"], n),
            "event_time": times.astype("datetime64[us, UTC]"),
            "amount": rng.gamma(2.0, 30.0, n).round(2),
        }
    )
    events["label"] = (events["amount"] > 80).astype(int)
    events.to_parquet(root / "data" / "events.parquet")
    (root / "features.py").write_text(FEATURES_PY)
    (root / "train.py").write_text(TRAIN_PY)
    (root / "tether.toml").write_text(toml)
    (root / ".gitignore").write_text(".tether/\n")
    commit_new_repository(root, "tiny project")
    return root
