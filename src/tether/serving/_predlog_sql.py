"""The prediction log's tables, their migrations, and the SQL that reads and writes them.

::

    tether_predictions   one row per (instance_id, model, version): who was scored, by which
                         model in which role, on which features, with which output
    tether_feedback      one row per instance_id: the label and business outcome that came later

A prediction's key is ``(instance_id, model, version)``, not ``instance_id`` alone: the champion
(or challenger) and every shadow score the same instance, and feedback about the instance joins
to all of their rows. Writing a prediction whose key is already stored (a client's retry)
changes nothing: the first row is kept.

Version 2 added ``score``, the output when it is a single number, so that monitoring can
aggregate it in SQL without parsing JSON; the migration backfills it from ``output``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pandas as pd

from tether._schema import Migration, Schema
from tether._storage import Params, Row, SQLValue, Transaction, load_json

PREDICTIONS: Final = "tether_predictions"
FEEDBACK: Final = "tether_feedback"

_V1_TABLES = (
    f"""CREATE TABLE {PREDICTIONS} (
        instance_id TEXT NOT NULL,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        role TEXT NOT NULL,
        request_id TEXT NOT NULL,
        time_us BIGINT NOT NULL,
        event_time_us BIGINT,
        unit_id TEXT,
        cohort TEXT,
        features TEXT NOT NULL,
        output TEXT NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (instance_id, model, version)
    )""",
    f"CREATE INDEX tether_predictions_time ON {PREDICTIONS} (time_us)",
    f"CREATE INDEX tether_predictions_model_time ON {PREDICTIONS} (model, version, time_us)",
    f"""CREATE TABLE {FEEDBACK} (
        instance_id TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        business TEXT NOT NULL,
        time_us BIGINT NOT NULL
    )""",
)


def _backfill_score(transaction: Transaction) -> None:
    rows = transaction.fetch_all(f"SELECT instance_id, model, version, output FROM {PREDICTIONS}")
    updates: list[Params] = []
    for instance_id, model, version, output in rows:
        score = score_of(load_json(str(output)))
        if score is not None:
            updates.append({"i": instance_id, "m": model, "v": version, "score": score})
    transaction.execute_many(
        f"UPDATE {PREDICTIONS} SET score = :score "
        "WHERE instance_id = :i AND model = :m AND version = :v",
        updates,
    )


PREDICTIONS_SCHEMA = Schema(
    "predictions",
    (
        Migration(1, "predictions and feedback", _V1_TABLES),
        Migration(
            2,
            "the numeric score of each prediction",
            (f"ALTER TABLE {PREDICTIONS} ADD COLUMN score DOUBLE PRECISION", _backfill_score),
        ),
    ),
)
"""The prediction log's tables, version by version."""

PREDICTION_COLUMNS: Final = (
    "instance_id",
    "model",
    "version",
    "role",
    "request_id",
    "time_us",
    "event_time_us",
    "unit_id",
    "cohort",
    "features",
    "output",
    "score",
    "latency_ms",
)
INSERT_PREDICTION: Final = (
    f"INSERT INTO {PREDICTIONS} ({', '.join(PREDICTION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in PREDICTION_COLUMNS)}) "
    "ON CONFLICT DO NOTHING"
)
_FILTERS: Final = ("model", "version", "cohort", "role")
_FRAME_TIMES: Final = {"time_us": "time", "event_time_us": "event_time"}
_JSON_COLUMNS: Final = ("features", "output", "label", "business")
_TIME_COLUMNS: Final = ("time_us", "event_time_us", "feedback_time")
_FLOAT_COLUMNS: Final = ("score", "latency_ms")


def score_of(output: object) -> float | None:
    """``output`` as a float when it is one finite-or-not number (not a bool); else None."""
    if isinstance(output, bool) or not isinstance(output, int | float):
        return None
    return float(output)


def instance_known(transaction: Transaction, instance_id: str) -> bool:
    """Whether any prediction of ``instance_id`` is stored."""
    row = transaction.fetch_one(
        f"SELECT 1 FROM {PREDICTIONS} WHERE instance_id = :id LIMIT 1", {"id": instance_id}
    )
    return row is not None


def insert_feedback(transaction: Transaction, row: Params) -> bool:
    """Insert one feedback row; False (and nothing written) if the instance already has one."""
    return (
        transaction.execute(
            f"INSERT INTO {FEEDBACK} (instance_id, label, business, time_us) "
            "VALUES (:instance_id, :label, :business, :time_us) ON CONFLICT DO NOTHING",
            row,
        )
        == 1
    )


def stored_feedback(transaction: Transaction, instance_id: str) -> Row | None:
    """The stored ``(label, business)`` JSON texts of ``instance_id``'s feedback."""
    return transaction.fetch_one(
        f"SELECT label, business FROM {FEEDBACK} WHERE instance_id = :id", {"id": instance_id}
    )


def delete_before(transaction: Transaction, cutoff_us: int) -> tuple[int, int]:
    """Delete predictions made before ``cutoff_us`` and the feedback no prediction joins any
    more; return how many of each."""
    params = {"cutoff": cutoff_us}
    # An instance scored on both sides of the cutoff keeps its feedback for the later rows.
    feedback = transaction.execute(
        f"DELETE FROM {FEEDBACK} WHERE instance_id IN "
        f"(SELECT instance_id FROM {PREDICTIONS} WHERE time_us < :cutoff) AND NOT EXISTS "
        f"(SELECT 1 FROM {PREDICTIONS} p WHERE p.instance_id = {FEEDBACK}.instance_id "
        "AND p.time_us >= :cutoff)",
        params,
    )
    predictions = transaction.execute(f"DELETE FROM {PREDICTIONS} WHERE time_us < :cutoff", params)
    return predictions, feedback


def select_frame(
    transaction: Transaction,
    start_us: int,
    end_us: int,
    filters: dict[str, str | None],
    *,
    with_feedback: bool,
) -> pd.DataFrame:
    """Predictions made in ``[start_us, end_us)`` matching ``filters`` (None: any), with their
    feedback when asked, as a DataFrame in time order (see ``PredictionLog.query``)."""
    columns = [f"p.{column}" for column in PREDICTION_COLUMNS]
    sql = f"SELECT {', '.join(columns)}"
    if with_feedback:
        sql += f", f.label, f.business, f.time_us FROM {PREDICTIONS} p LEFT JOIN {FEEDBACK} f "
        sql += "ON f.instance_id = p.instance_id"
    else:
        sql += f" FROM {PREDICTIONS} p"
    where = ["p.time_us >= :start", "p.time_us < :end"]
    params: dict[str, SQLValue] = {"start": start_us, "end": end_us}
    for name in _FILTERS:  # the names are constants: only values are parameters
        if filters.get(name) is not None:
            where.append(f"p.{name} = :{name}")
            params[name] = filters[name]
    sql += f" WHERE {' AND '.join(where)} ORDER BY p.time_us, p.instance_id, p.model, p.version"
    names = list(PREDICTION_COLUMNS) + (["label", "business", "feedback_time"] * with_feedback)
    return _frame(transaction.fetch_all(sql, params), names)


def _frame(rows: Sequence[Row], names: list[str]) -> pd.DataFrame:
    """Decode ``rows`` column by column: JSON to values, microseconds to UTC datetimes."""
    values = dict(zip(names, zip(*rows, strict=True), strict=True)) if rows else {}
    columns = {name: _column(name, values.get(name, ())) for name in names}
    return pd.DataFrame(columns).rename(columns=_FRAME_TIMES)


def _column(name: str, values: Sequence[SQLValue]) -> pd.Series:
    if name in _JSON_COLUMNS:
        decoded = [None if text is None else load_json(str(text)) for text in values]
        return pd.Series(decoded, dtype=object)
    if name in _TIME_COLUMNS:
        micros = pd.Series(list(values), dtype="Int64")
        return pd.to_datetime(micros, unit="us", utc=True).astype("datetime64[us, UTC]")
    if name in _FLOAT_COLUMNS:
        return pd.Series(list(values), dtype="float64")
    return pd.Series(list(values), dtype="str")
