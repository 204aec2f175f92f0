"""The prediction log's tables, their migrations, and the SQL that reads and writes them.

::

    tether_predictions       one row per (instance_id, model, version, input_digest): who was
                             scored, by which model in which role, on which features, with
                             which output, and which labels that model can be told
    tether_feedback          one row per instance_id: its current label and business outcome
    tether_feedback_history  every label an instance was given, the current one included,
                             numbered 1, 2, ... with the reason of each correction

A prediction's key is ``(instance_id, model, version, input_digest)``. The champion (or
challenger) and every shadow score the same instance, and feedback about the instance joins
to their rows. ``input_digest`` identifies the instance's fields as the client sent them: a
client's retry (the same fields) has the same key and changes nothing (the first row is kept,
the writer counts it as a retry), while the same instance id sent again with other fields is
a new *revision*, stored as its own row. Of the revisions of one instance by one model
version, the latest served (then the greatest digest, for a tie) is the current one; the
others are ``superseded``. Feedback joins only the current revision, so a label counts once
per model version; traffic, latency and drift count every row, each of which was served.

Version 2 added ``score``, the output when it is a single number, so that monitoring can
aggregate it in SQL without parsing JSON; the migration backfills it from ``output`` in
batches. Version 3 added ``input_digest`` to the key (rows logged before it have the empty
digest: their request fields were not recorded), the ``labels`` of each prediction (null
before it), and feedback corrections with their history; it copies the predictions inside
the database (``INSERT ... SELECT``), so no row passes through Python. Version 4 added the
instance's ``entity`` keys, its ``request_data`` (raw values that are not the model's
features) and the ``statuses`` of its features, all JSON (null on rows logged before it): the
skew audit recomputes a served vector offline from them. Version 5 (:mod:`._predlog_typed`)
added what monitoring aggregates in the engine: the experiment, decision and sample key of
each prediction, its feature values typed (a table per model), the numeric label and
business values of feedback, and when tether received it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pandas as pd

from tether._schema import Migration, Schema
from tether._storage import Params, Row, SQLValue, Transaction, load_json
from tether.serving import _predlog_typed as typed

PREDICTIONS: Final = "tether_predictions"
FEEDBACK: Final = "tether_feedback"
FEEDBACK_HISTORY: Final = "tether_feedback_history"
BACKFILL_BATCH = 5_000
"""Rows a backfill reads per query: memory stays bounded on a log of any size."""

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
    # Keyset pagination on the version 2 key: a batch at a time, never the whole table.
    after: Params = {"i": "", "m": "", "v": ""}
    while True:
        rows = transaction.fetch_all(
            f"SELECT instance_id, model, version, output FROM {PREDICTIONS} "
            "WHERE (instance_id > :i) OR (instance_id = :i AND model > :m) "
            "OR (instance_id = :i AND model = :m AND version > :v) "
            f"ORDER BY instance_id, model, version LIMIT {BACKFILL_BATCH}",
            after,
        )
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
        if len(rows) < BACKFILL_BATCH:
            return
        last = rows[-1]
        after = {"i": last[0], "m": last[1], "v": last[2]}


_V3_PREDICTIONS = f"{PREDICTIONS}_v3"
_V3_COPIED = (
    "instance_id, model, version, role, request_id, time_us, event_time_us, unit_id, cohort, "
    "features, output, score, latency_ms"
)
_V3_STEPS = (
    f"""CREATE TABLE {_V3_PREDICTIONS} (
        instance_id TEXT NOT NULL,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        input_digest TEXT NOT NULL,
        role TEXT NOT NULL,
        request_id TEXT NOT NULL,
        time_us BIGINT NOT NULL,
        event_time_us BIGINT,
        unit_id TEXT,
        cohort TEXT,
        features TEXT NOT NULL,
        output TEXT NOT NULL,
        score DOUBLE PRECISION,
        latency_ms DOUBLE PRECISION NOT NULL,
        labels TEXT,
        CONSTRAINT tether_predictions_key PRIMARY KEY (instance_id, model, version, input_digest)
    )""",
    # Copied inside the database, so a log of any size upgrades without its rows passing
    # through Python; the empty digest says "request fields not recorded".
    f"INSERT INTO {_V3_PREDICTIONS} ({_V3_COPIED}, input_digest) "
    f"SELECT {_V3_COPIED}, '' FROM {PREDICTIONS}",
    f"DROP TABLE {PREDICTIONS}",
    f"ALTER TABLE {_V3_PREDICTIONS} RENAME TO {PREDICTIONS}",
    f"CREATE INDEX tether_predictions_time ON {PREDICTIONS} (time_us)",
    f"CREATE INDEX tether_predictions_model_time ON {PREDICTIONS} (model, version, time_us)",
    f"ALTER TABLE {FEEDBACK} ADD COLUMN revision INTEGER NOT NULL DEFAULT 1",
    f"ALTER TABLE {FEEDBACK} ADD COLUMN reason TEXT",
    f"""CREATE TABLE {FEEDBACK_HISTORY} (
        instance_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        label TEXT NOT NULL,
        business TEXT NOT NULL,
        time_us BIGINT NOT NULL,
        reason TEXT,
        PRIMARY KEY (instance_id, revision)
    )""",
    f"INSERT INTO {FEEDBACK_HISTORY} (instance_id, revision, label, business, time_us) "
    f"SELECT instance_id, 1, label, business, time_us FROM {FEEDBACK}",
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
        Migration(3, "request digests in the key, label spaces, corrections", _V3_STEPS),
        Migration(
            4,
            "entity keys, request data and feature statuses",
            tuple(
                f"ALTER TABLE {PREDICTIONS} ADD COLUMN {column} TEXT"
                for column in ("entity", "request_data", "statuses")
            ),
        ),
        Migration(5, "experiments, decisions, typed features and labels, receipt", typed.V5_STEPS),
        Migration(6, "a window index on every typed table", (typed.index_windows,)),
    ),
)
"""The prediction log's tables, version by version."""

PREDICTION_COLUMNS: Final = (
    "instance_id",
    "model",
    "version",
    "input_digest",
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
    "entity",
    "request_data",
    "statuses",
)
"""The columns :meth:`PredictionLog.query` returns of each prediction, in order."""
_INSERTED: Final = (*PREDICTION_COLUMNS, "labels", "experiment_id", "decision", "sample_key")
INSERT_PREDICTION: Final = (
    f"INSERT INTO {PREDICTIONS} ({', '.join(_INSERTED)}) "
    f"VALUES ({', '.join(':' + column for column in _INSERTED)}) "
    "ON CONFLICT DO NOTHING"
)
_FILTERS: Final = ("model", "version", "cohort", "role")
_ORDER: Final = ("time_us", "instance_id", "model", "version", "input_digest")
_FRAME_TIMES: Final = {"time_us": "time", "event_time_us": "event_time"}
_JSON_COLUMNS: Final = (
    "features",
    "output",
    "label",
    "business",
    "entity",
    "request_data",
    "statuses",
)
_TIME_COLUMNS: Final = ("time_us", "event_time_us", "feedback_time")
_FLOAT_COLUMNS: Final = ("score", "latency_ms")


def score_of(output: object) -> float | None:
    """``output`` as a float when it is one finite-or-not number (not a bool); else None."""
    if isinstance(output, bool) or not isinstance(output, int | float):
        return None
    return float(output)


def label_spaces(transaction: Transaction, instance_id: str) -> list[str | None]:
    """The stored label space of every model that predicted ``instance_id`` (None where a
    prediction has none); empty when no prediction of it is stored."""
    rows = transaction.fetch_all(
        f"SELECT DISTINCT labels FROM {PREDICTIONS} WHERE instance_id = :id", {"id": instance_id}
    )
    return [None if labels is None else str(labels) for (labels,) in rows]


def insert_feedback(transaction: Transaction, row: Params) -> bool:
    """Insert an instance's first feedback (revision 1, also in the history); False (and
    nothing written) if the instance already has feedback."""
    inserted = transaction.execute(
        f"INSERT INTO {FEEDBACK} (instance_id, label, business, time_us, revision, "
        "label_value, received_us) VALUES (:instance_id, :label, :business, :time_us, 1, "
        ":label_value, :received_us) ON CONFLICT DO NOTHING",
        row,
    )
    if inserted == 1:
        _insert_history(transaction, {**row, "revision": 1, "reason": None})
        _store_business(transaction, row)
    return inserted == 1


def correct_feedback(transaction: Transaction, row: Params, *, revision: int) -> bool:
    """Replace the feedback at ``revision`` by ``row`` (``revision + 1``, with its reason),
    keeping the earlier one in the history; False if another correction came first."""
    params = {**row, "revision": revision + 1, "seen": revision}
    changed = transaction.execute(
        f"UPDATE {FEEDBACK} SET label = :label, business = :business, time_us = :time_us, "
        "revision = :revision, reason = :reason, label_value = :label_value, "
        "received_us = :received_us WHERE instance_id = :instance_id AND revision = :seen",
        params,
    )
    if changed == 1:
        _insert_history(transaction, params)
        transaction.execute(
            f"DELETE FROM {typed.FEEDBACK_VALUES} WHERE instance_id = :instance_id", params
        )
        _store_business(transaction, params)
    return changed == 1


def _store_business(transaction: Transaction, row: Params) -> None:
    """The numeric business values of feedback ``row``, typed for aggregation."""
    values = typed.business_rows(str(row["instance_id"]), load_json(str(row["business"])))
    transaction.execute_many(typed.INSERT_BUSINESS, values)


def _insert_history(transaction: Transaction, params: Params) -> None:
    transaction.execute(
        f"INSERT INTO {FEEDBACK_HISTORY} (instance_id, revision, label, business, time_us, "
        "reason, received_us) VALUES (:instance_id, :revision, :label, :business, :time_us, "
        ":reason, :received_us)",
        params,
    )


def stored_feedback(transaction: Transaction, instance_id: str) -> Row | None:
    """The stored ``(label, business, revision)`` of ``instance_id``'s current feedback."""
    return transaction.fetch_one(
        f"SELECT label, business, revision FROM {FEEDBACK} WHERE instance_id = :id",
        {"id": instance_id},
    )


def feedback_history(transaction: Transaction, instance_id: str) -> list[Row]:
    """Every feedback of ``instance_id``: ``(revision, label, business, time_us, reason)``,
    oldest first."""
    return transaction.fetch_all(
        f"SELECT revision, label, business, time_us, reason FROM {FEEDBACK_HISTORY} "
        "WHERE instance_id = :id ORDER BY revision",
        {"id": instance_id},
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
    for (number,) in transaction.fetch_all(f"SELECT number FROM {typed.FEATURE_TABLES}"):
        table = typed.table_name(int(number or 0))
        transaction.execute(f"DELETE FROM {table} WHERE time_us < :cutoff", params)
    for table in (FEEDBACK_HISTORY, typed.FEEDBACK_VALUES):
        transaction.execute(
            f"DELETE FROM {table} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {FEEDBACK} f WHERE f.instance_id = {table}.instance_id)"
        )
    return predictions, feedback


def select_frame(
    transaction: Transaction,
    start_us: int | None,
    end_us: int | None,
    filters: dict[str, str | None],
    *,
    with_feedback: bool,
    newest_first: bool = False,
    limit: int | None = None,
) -> pd.DataFrame:
    """Predictions made in ``[start_us, end_us)`` (None: unbounded) matching ``filters``
    (None: any), each with whether it is superseded and, when asked, its feedback (current
    revisions only), as a DataFrame in time order, or newest first, at most ``limit`` rows
    (see ``PredictionLog.query`` and ``PredictionReader.recent``)."""
    columns = ", ".join(f"p.{column}" for column in PREDICTION_COLUMNS)
    # A later revision of the same instance by the same model version (the digest breaks a
    # tie of times) supersedes a row; the primary key's prefix makes this an index lookup.
    superseded = (
        f"CASE WHEN EXISTS (SELECT 1 FROM {PREDICTIONS} q WHERE q.instance_id = p.instance_id "
        "AND q.model = p.model AND q.version = p.version AND (q.time_us > p.time_us OR "
        "(q.time_us = p.time_us AND q.input_digest > p.input_digest))) THEN 1 ELSE 0 END"
    )
    where = ["1 = 1"]
    params: dict[str, SQLValue] = {}
    for bound, operator, value in (("start", ">=", start_us), ("end", "<", end_us)):
        if value is not None:
            where.append(f"p.time_us {operator} :{bound}")
            params[bound] = value
    for name in _FILTERS:  # the names are constants: only values are parameters
        if filters.get(name) is not None:
            where.append(f"p.{name} = :{name}")
            params[name] = filters[name]
    direction = " DESC" if newest_first else ""
    order = ", ".join(f"p.{key}{direction}" for key in _ORDER)
    # The limit applies inside, so that the superseded test runs on the rows returned only.
    inner = (
        f"SELECT {columns}, {superseded} AS superseded FROM {PREDICTIONS} p "
        f"WHERE {' AND '.join(where)}"
    )
    if limit is not None:
        inner += f" ORDER BY {order} LIMIT {int(limit)}"
    sql = f"SELECT {columns}, p.superseded"
    if with_feedback:
        sql += f", f.label, f.business, f.time_us FROM ({inner}) p LEFT JOIN {FEEDBACK} f "
        sql += "ON f.instance_id = p.instance_id AND p.superseded = 0"
    else:
        sql += f" FROM ({inner}) p"
    sql += f" ORDER BY {order}"
    names = [*PREDICTION_COLUMNS, "superseded"]
    names += ["label", "business", "feedback_time"] * with_feedback
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
    if name == "superseded":
        return pd.Series([bool(value) for value in values], dtype="bool")
    return pd.Series(list(values), dtype="str")
