"""A seeded prediction log with everything monitoring must get right, and its pandas oracle.

Champion (version 1, cohort A) and challenger (version 2, cohort B) split the instances, a
shadow (version 3) scores every one; some instances are sent again with other fields (a
revision, which supersedes the first for labels); features hold NaN, infinities, missing
keys, a boolean, and a column that changes type; feedback arrives late, some of it received
after it became known, some corrected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from tether.serving import LogAggregates, Prediction, PredictionLog

T0 = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 6
MODEL = "fraud"
WINDOW = (T0 + timedelta(days=1), T0 + timedelta(days=5))
KNOWN_BY = T0 + timedelta(days=6)
OUTCOME_WINDOW = timedelta(days=3)
NEVER = 3600.0


@dataclass
class Case:
    """The predictions as generated (the oracle's rows) and the feedback given."""

    predictions: pd.DataFrame
    feedback: pd.DataFrame


def build(url: str, *, seed: int = 7, instances: int = 160) -> Case:
    """Write the seeded log into ``url`` and return what was written."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    served: list[Prediction] = []
    for number in range(instances):
        instance = f"tx-{number:04d}"
        time = T0 + timedelta(minutes=int(rng.integers(0, DAYS * 24 * 60)))
        # Half the instances carry their own event time, a little before serving.
        event = time - timedelta(minutes=int(rng.integers(1, 90))) if number % 2 else None
        cohort = "A" if number % 3 else "B"
        features = _features(rng, number)
        revisions = [(time, features)]
        if number % 17 == 0:  # a revision: the same instance again, other fields, later
            revisions.append((time + timedelta(minutes=5), {**features, "amount": 999.0}))
        for when, vector in revisions:
            for version, role in (("1" if cohort == "A" else "2", None), ("3", "shadow")):
                role = role or ("champion" if cohort == "A" else "challenger")
                score = float(rng.random())
                prediction = Prediction(
                    request_id=f"r-{number}", instance_id=instance, time=when, model=MODEL,
                    version=version, role=role, features=vector, output=score, latency_ms=1.0,
                    unit_id=f"u{number % 40}", cohort=cohort, event_time=event,
                    experiment_id=11 if cohort == "B" else 10,
                    decision=None if number % 23 == 0 else int(score >= 0.6),
                )  # fmt: skip
                served.append(prediction)
                rows.append(_oracle_row(prediction, revision_of=time))
    frame = pd.DataFrame(rows)
    feedback = _feedback(rng, frame)
    with PredictionLog(url, flush_interval=NEVER, max_batch=97) as log:
        for prediction in served:
            assert log.record(prediction)
        log.flush()
        for item in feedback.itertuples():
            log.record_feedback(
                str(item.instance_id), label=item.label, business=item.business,
                time=item.known, received=item.received,
            )  # fmt: skip
    frame["current"] = (
        frame.groupby(["instance_id", "version"])["time"].transform("max").eq(frame["time"])
    )
    return Case(frame, feedback)


def _features(rng: np.random.Generator, number: int) -> dict[str, object]:
    amount: float = float(np.round(rng.lognormal(3.0, 1.0), 2))
    if number % 11 == 0:
        amount = math.nan
    elif number % 29 == 0:
        amount = math.inf
    vector: dict[str, object] = {
        "amount": amount,
        "count": int(rng.integers(0, 30)),
        "country": str(rng.choice(["FR", "DE", "ES", "IT", "O'Brien; DROP TABLE x"])),
        "known": bool(number % 4),
        "history": [1, 2],  # a list: not typed, kept in the JSON only
        # A feature whose type changes: text from the 130th instance on.
        "channel": float(number % 5) if number < 130 else "web",
    }
    if number % 13 == 0:
        del vector["country"]
    return vector


def _oracle_row(prediction: Prediction, *, revision_of: datetime) -> dict[str, object]:
    vector = prediction.features
    amount = vector.get("amount")
    return {
        "instance_id": prediction.instance_id,
        "version": prediction.version,
        "role": prediction.role,
        "cohort": prediction.cohort,
        "experiment_id": prediction.experiment_id,
        "time": prediction.time,
        "window": prediction.event_time or prediction.time,
        "score": prediction.output,
        "decision": prediction.decision,
        "amount": amount if isinstance(amount, float) and math.isfinite(amount) else np.nan,
        "count": float(vector["count"]),  # type: ignore[arg-type]
        "country": vector.get("country"),
        "known": "true" if vector["known"] else "false",
        "channel": vector["channel"],
    }


def _feedback(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for instance in sorted(set(frame["instance_id"])):
        if rng.random() < 0.35:
            continue  # no label yet
        first = frame.loc[frame["instance_id"] == instance, "window"].min()
        known = first + timedelta(days=float(rng.uniform(0.5, 4.0)))
        late = timedelta(hours=float(rng.choice([0.0, 0.0, 30.0])))
        label = int(rng.random() < 0.3)
        business = {"loss": float(np.round(rng.uniform(0, 500), 2)), "note": "text"}
        if rng.random() < 0.5:
            business["cost"] = 5.0
        rows.append({"instance_id": instance, "label": label, "business": business,
                     "known": known, "received": known + late})  # fmt: skip
    return pd.DataFrame(rows)


def labelled(case: Case, known_by: datetime | None) -> pd.DataFrame:
    """The oracle's current predictions with their feedback known by ``known_by``."""
    feedback = case.feedback
    if known_by is not None:
        feedback = feedback[(feedback["known"] <= known_by) & (feedback["received"] <= known_by)]
    rows = case.predictions[case.predictions["current"]]
    return rows.merge(feedback, on="instance_id", how="inner")


def in_window(frame: pd.DataFrame, window: tuple[datetime, datetime] = WINDOW) -> pd.DataFrame:
    """The rows of ``frame`` whose window time is in ``[start, end)``."""
    return frame[(frame["window"] >= window[0]) & (frame["window"] < window[1])]


def open_aggregates(url: str) -> LogAggregates:
    """The aggregates of the log at ``url``."""
    return LogAggregates(url)
