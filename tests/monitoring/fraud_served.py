"""The fraud scenario served: the January model of the bundled project scoring every payment
into a real prediction log, with each outcome in the feedback at the time it became known.

A plain module (not a conftest) so that the diagnosis scenario imports the names it uses.
The model is trained as ``train.py`` trains it (January, the last fifth held out), its
threshold the highest score that still catches 85% of the held-out fraud, its reference the
held-out features and score, its calibration fitted on the held-out rows: what a training
run records for the version.
"""

from __future__ import annotations

import sqlite3
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tether.examples.fraud import ScenarioConfig, write_scenario
from tether.monitoring import Calibration, profile_frame
from tether.monitoring._window import ModelReference
from tether.serving import Prediction, PredictionLog

sys.path.insert(0, str(Path(__file__).parents[1] / "examples"))
from fraud_project import PROJECT, FakeContext, feature_store, imported_project

MODEL = "fraud"
RECALL = 0.85
"""The project's threshold rule: the highest score that still catches 85% of held-out fraud."""
SCORE = "score"
FEEDBACK = (
    "INSERT INTO tether_feedback (instance_id, label, business, time_us, revision, reason, "
    "label_value, received_us) VALUES (?, ?, ?, ?, 1, NULL, ?, ?)"
)


@dataclass(frozen=True)
class Served:
    """Every payment of the scenario with the model's inputs, its score and its outcome."""

    frame: pd.DataFrame  # FEATURE_COLUMNS, event_id, event_time, label_time, is_fraud, score
    features: list[str]
    reference: ModelReference
    score: Callable[[pd.DataFrame], np.ndarray]


def serve_scenario(folder: Path, scenario: ScenarioConfig) -> Served:
    """Simulate ``scenario`` under ``folder``, train the project's model on January, score all."""
    with imported_project() as (features, train):
        files = write_scenario(folder / "data", scenario)
        events, labels = pd.read_parquet(files.events), pd.read_parquet(files.labels)
        store = feature_store(features.FEATURE_VIEWS, folder)
        config = tomllib.loads((PROJECT / "tether.toml").read_text())["train"]
        frames = {"events": events, "labels": labels}
        ctx = FakeContext(config["params"], int(config["seed"]), frames, store)
        model, held_out = train.train(ctx)
        columns = list(train.FEATURE_COLUMNS)
    built = ctx.built[ctx.built["is_fraud"].notna()].copy()
    built = built.merge(labels[["event_id", "label_time"]], on="event_id", how="left")

    def score(frame: pd.DataFrame) -> np.ndarray:
        found: np.ndarray = model.predict_proba(frame[columns])[:, 1]
        return found

    built[SCORE] = score(built)
    held = held_out.copy()
    held[SCORE] = score(held)
    fraud = held["is_fraud"].to_numpy() == 1
    caught = np.sort(held[SCORE].to_numpy()[fraud])[::-1]
    threshold = float(caught[int(np.ceil(RECALL * len(caught))) - 1])
    profile = profile_frame(held, columns, score=SCORE, seed=0)
    calibration = Calibration.fit(held[SCORE].to_numpy(), held["is_fraud"].to_numpy())
    reference = ModelReference("1", profile, calibration, threshold)
    return Served(built, columns, reference, score)


def write_log(
    url: str,
    served: pd.DataFrame,
    features: list[str],
    version_of: Callable[[pd.Timestamp], tuple[str, Callable[[float], float]]],
    threshold: float,
) -> None:
    """Log every payment of ``served`` as a prediction at its own time, by the version
    ``version_of(time)`` names with its score (a deploy changes it), and every outcome as
    feedback at its ``label_time`` (known and received then), in one transaction."""
    # Room for every row: a full queue drops predictions (as a server must, never blocking).
    with PredictionLog(url, flush_interval=3600.0, capacity=len(served) + 1) as log:
        for row in served.to_dict("records"):
            time = row["event_time"].to_pydatetime()
            version, transform = version_of(row["event_time"])
            output = transform(float(row[SCORE]))
            instance = str(row["event_id"])
            values = {name: _plain(row[name]) for name in features}
            assert log.record(Prediction(
                request_id=instance, instance_id=instance, time=time, model=MODEL,
                version=version, role="champion", output=output, latency_ms=1.0,
                features=values, event_time=time, decision=int(output >= threshold),
            ))  # fmt: skip
        log.flush()
    # One transaction for the feedback: record_feedback writes one each, which is what a
    # server does but ten thousand times slower here; the rows are the ones it writes.
    rows = [
        (str(r.event_id), str(int(r.is_fraud)), "{}", _micros(r.label_time),
         float(r.is_fraud), _micros(r.label_time))
        for r in served[["event_id", "is_fraud", "label_time"]].itertuples(index=False)
    ]  # fmt: skip
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    with connection:
        connection.executemany(FEEDBACK, rows)
    connection.close()


def _micros(moment: pd.Timestamp) -> int:
    return int(moment.value // 1_000)


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


__all__ = ["MODEL", "Served", "serve_scenario", "write_log"]
