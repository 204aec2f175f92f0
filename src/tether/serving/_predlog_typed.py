"""Schema version 5 of the prediction log: what monitoring aggregates in the engine.

Version 5 adds to every prediction its ``experiment_id`` (the deploy event that assigned its
cohort; null before it), its ``decision`` (1/0 at its version's threshold; null when none)
and a ``sample_key`` (:func:`sample_key`: 31 bits of the sha256 of the instance id, so a
seeded sample is one ``ORDER BY`` on every engine); to feedback its ``label_value`` (the
label as a number: booleans 1/0, numbers as they are, null for text) and ``received_us``
(when tether received it, wall time; ``time_us`` stays "when the outcome became known").

**Typed feature values.** The features stay in the JSON text of each prediction (as
served, NaN included), and are also written, typed, to one table per model::

    tether_feature_tables   (model, number)                    tether_features_<number>
    tether_feature_columns  (model, feature, kind, position)   its column n<position> or t<position>
    tether_feedback_values  (instance_id, name, value)         numeric business values

``tether_features_<number>`` holds per prediction its key, the dimensions a window filters
on (version, role, cohort, experiment, ``window_us`` = event time or else serving time),
its score and decision, and one column per feature: ``DOUBLE PRECISION`` for numbers,
``TEXT`` for text and booleans (``"true"``/``"false"``, as the profiles write them). A
feature whose values change type gets a column of each kind, so the change is visible,
never coerced. NaN and infinities are stored as NULL (monitoring counts them as missing);
lists and mappings are not typed (they stay in the JSON only). Columns are added, under a
lock, when a feature first appears. The identifiers are built from numbers only, never from
a feature's name (which is a value in the catalog), so the generated SQL holds no user text.
The migration backfills existing rows in keyset batches of :data:`BACKFILL_BATCH`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from tether._storage import JSONValue, Params, SQLValue, Transaction, load_json

FEATURE_TABLES: Final = "tether_feature_tables"
FEATURE_COLUMNS: Final = "tether_feature_columns"
FEEDBACK_VALUES: Final = "tether_feedback_values"
BACKFILL_BATCH = 5_000
"""Rows a version 5 backfill reads per query (keyset pagination): bounded memory."""
SAMPLE_PRIME: Final = 2_147_483_647
"""2**31 - 1: sample keys are residues modulo this prime, so ``(key * a + b) % p`` with
``0 < a < p`` is a permutation of them: a seeded order that needs no hash function in SQL."""
Kind = Literal["numeric", "text"]

# Named here rather than imported: _predlog_sql imports this module for its migrations.
_PREDICTIONS: Final = "tether_predictions"
_FEEDBACK: Final = "tether_feedback"
_HISTORY: Final = "tether_feedback_history"
_CATALOG_LOCK: Final = ("tether-predlog", "feature-catalog")
DIMENSIONS: Final = (
    "instance_id",
    "version",
    "input_digest",
    "role",
    "cohort",
    "experiment_id",
    "time_us",
    "window_us",
    "sample_key",
    "score",
    "decision",
)
"""The columns of a model's feature table before its feature columns."""


def sample_key(instance_id: str) -> int:
    """The instance's sample key: the first 4 bytes of sha256(instance_id) modulo 2**31 - 1."""
    digest = hashlib.sha256(instance_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % SAMPLE_PRIME


def label_value(label: JSONValue) -> float | None:
    """A label as a number: True/False as 1/0, a number as itself, anything else None."""
    if isinstance(label, bool):
        return 1.0 if label else 0.0
    if isinstance(label, int | float):
        return float(label)
    return None


def typed_value(value: object) -> tuple[Kind, SQLValue] | None:
    """The kind and stored value of one feature value; None when it is not typed (a list).

    NaN and infinities are stored as NULL (missing), as None is; their kind is numeric.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "text", "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        return "numeric", number if math.isfinite(number) else None
    if isinstance(value, str):
        return "text", value
    return None


def numeric_business(business: Mapping[str, JSONValue]) -> dict[str, float]:
    """The finite numeric values of a business outcome (booleans as 1/0)."""
    values = {}
    for name, value in business.items():
        number = label_value(value)
        if number is not None and math.isfinite(number):
            values[name] = number
    return values


def table_name(number: int) -> str:
    """The feature table of the model numbered ``number`` in the catalog."""
    return f"tether_features_{int(number)}"


def column_name(kind: Kind, position: int) -> str:
    """The column of a feature of ``kind`` at ``position`` in its model's table."""
    return f"{'n' if kind == 'numeric' else 't'}{int(position)}"


@dataclass
class ModelColumns:
    """One model's feature table: its name and the column of each (feature, kind)."""

    table: str
    columns: dict[tuple[str, Kind], str] = field(default_factory=dict)


def read_catalog(transaction: Transaction, model: str) -> ModelColumns | None:
    """The feature table of ``model`` and its columns, None when it has none yet."""
    row = transaction.fetch_one(
        f"SELECT number FROM {FEATURE_TABLES} WHERE model = :model", {"model": model}
    )
    if row is None:
        return None
    found = ModelColumns(table_name(int(row[0] or 0)))
    for feature, kind, position in transaction.fetch_all(
        f"SELECT feature, kind, position FROM {FEATURE_COLUMNS} WHERE model = :model",
        {"model": model},
    ):
        typed: Kind = "numeric" if kind == "numeric" else "text"
        found.columns[(str(feature), typed)] = column_name(typed, int(position or 0))
    return found


class TypedWriter:
    """Writes the typed copy of predictions, adding tables and columns as features appear.

    Its catalog cache is filled only from committed state: :meth:`write` returns what it
    learnt, and the caller hands it to :meth:`learn` after the transaction commits.
    """

    def __init__(self) -> None:
        self._known: dict[str, ModelColumns] = {}

    def learn(self, learnt: Mapping[str, ModelColumns]) -> None:
        """Remember the catalog read or changed by a committed :meth:`write`."""
        self._known.update(learnt)

    def write(self, transaction: Transaction, rows: Sequence[Params],
              features: Sequence[Mapping[str, JSONValue]]) -> dict[str, ModelColumns]:  # fmt: skip
        """Insert the typed row of each prediction ``rows[i]`` (with its ``model`` and the
        :data:`DIMENSIONS`) with ``features[i]``; return the catalog entries it changed."""
        learnt: dict[str, ModelColumns] = {}
        typed_rows, missing = self._rows(rows, features, self._known)
        if missing:  # the catalog is extended, then the batch typed again (rare)
            for model, needed in sorted(missing.items()):
                known = self._known.get(model)
                learnt[model] = _extend_catalog(transaction, model, needed, known)
            typed_rows, missing = self._rows(rows, features, {**self._known, **learnt})
            assert not missing
        groups: dict[tuple[str, tuple[str, ...]], list[Params]] = {}
        for table, params in typed_rows:
            groups.setdefault((table, tuple(params)), []).append(params)
        for (table, names), group in groups.items():
            transaction.execute_many(
                f"INSERT INTO {table} ({', '.join(names)}) "
                f"VALUES ({', '.join(':' + name for name in names)}) ON CONFLICT DO NOTHING",
                group,
            )
        return learnt

    @staticmethod
    def _rows(
        rows: Sequence[Params],
        features: Sequence[Mapping[str, JSONValue]],
        catalog: Mapping[str, ModelColumns],
    ) -> tuple[list[tuple[str, dict[str, SQLValue]]], dict[str, set[tuple[str, Kind]]]]:
        """The typed rows, and per model the (feature, kind) pairs the catalog lacks."""
        # On the writer's path for every prediction: the common types first, inline
        # (measured: typing the values one call each had doubled the writer's cost).
        typed_rows: list[tuple[str, dict[str, SQLValue]]] = []
        missing: dict[str, set[tuple[str, Kind]]] = {}
        for row, vector in zip(rows, features, strict=True):
            model = str(row["model"])
            entry = catalog.get(model)
            columns = entry.columns if entry is not None else {}
            params: dict[str, SQLValue] = {name: row[name] for name in DIMENSIONS}
            score = params["score"]  # NaN would sort above every number on PostgreSQL
            if type(score) is float and not math.isfinite(score):
                params["score"] = None
            for name, value in vector.items():
                kind: Kind
                stored: SQLValue
                if isinstance(value, float):
                    kind, stored = "numeric", float(value) if math.isfinite(value) else None
                elif isinstance(value, str):
                    kind, stored = "text", value
                else:
                    found = typed_value(value)
                    if found is None:
                        continue
                    kind, stored = found
                column = columns.get((name, kind))
                if column is None:
                    missing.setdefault(model, set()).add((name, kind))
                else:
                    params[column] = stored
            if entry is None:
                missing.setdefault(model, set())
            else:
                typed_rows.append((entry.table, params))
        return typed_rows, missing


def _extend_catalog(
    transaction: Transaction,
    model: str,
    needed: Iterable[tuple[str, Kind]],
    known: ModelColumns | None,
) -> ModelColumns:
    """``model``'s table with a column for each of ``needed`` and of ``known``, created under
    the catalog's lock (another replica may be adding the same ones)."""
    transaction.lock(*_CATALOG_LOCK)
    found = read_catalog(transaction, model)
    needed = {*needed, *(known.columns if known else ())}
    if found is None:
        row = transaction.fetch_one(f"SELECT COALESCE(MAX(number), 0) + 1 FROM {FEATURE_TABLES}")
        number = int(row[0] or 1) if row else 1
        transaction.execute(
            f"INSERT INTO {FEATURE_TABLES} (model, number) VALUES (:model, :number)",
            {"model": model, "number": number},
        )
        _create_feature_table(transaction, table_name(number))
        found = ModelColumns(table_name(number))
    missing = sorted(set(needed) - found.columns.keys())
    if missing:
        row = transaction.fetch_one(
            f"SELECT COALESCE(MAX(position), 0) FROM {FEATURE_COLUMNS} WHERE model = :model",
            {"model": model},
        )
        position = int(row[0] or 0) if row else 0
        for feature, kind in missing:
            position += 1
            column = column_name(kind, position)
            sql_type = "DOUBLE PRECISION" if kind == "numeric" else "TEXT"
            transaction.execute(f"ALTER TABLE {found.table} ADD COLUMN {column} {sql_type}")
            transaction.execute(
                f"INSERT INTO {FEATURE_COLUMNS} (model, feature, kind, position) "
                "VALUES (:model, :feature, :kind, :position)",
                {"model": model, "feature": feature, "kind": kind, "position": position},
            )
            found.columns[(feature, kind)] = column
    return found


def _create_feature_table(transaction: Transaction, table: str) -> None:
    transaction.execute(
        f"""CREATE TABLE {table} (
            instance_id TEXT NOT NULL,
            version TEXT NOT NULL,
            input_digest TEXT NOT NULL,
            role TEXT NOT NULL,
            cohort TEXT,
            experiment_id BIGINT,
            time_us BIGINT NOT NULL,
            window_us BIGINT NOT NULL,
            sample_key BIGINT NOT NULL,
            score DOUBLE PRECISION,
            decision INTEGER,
            PRIMARY KEY (instance_id, version, input_digest)
        )"""
    )
    # Every index is paid by the writer on each prediction; this one is cheap (times arrive
    # nearly in order: appends to the index's end). A window that is a small part of the
    # table (a monitor tick's week of a six-month log) is read through it, on PostgreSQL by
    # its planner's choice, on SQLite by LogAggregates' (no statistics of a range's size).
    transaction.execute(f"CREATE INDEX {table}_window ON {table} (window_us)")


def index_windows(transaction: Transaction) -> None:
    """Version 6: the window index on every existing typed table (SQLite had none)."""
    for (number,) in transaction.fetch_all(f"SELECT number FROM {FEATURE_TABLES}"):
        table = table_name(int(str(number)))
        transaction.execute(f"CREATE INDEX IF NOT EXISTS {table}_window ON {table} (window_us)")


def _backfill_predictions(transaction: Transaction) -> None:
    """Sample keys and typed feature values of the rows logged before version 5."""
    writer = TypedWriter()
    after: Params = {"i": "", "m": "", "v": "", "d": ""}
    while True:
        rows = transaction.fetch_all(
            "SELECT instance_id, model, version, input_digest, role, cohort, time_us, "
            f"event_time_us, score, features FROM {_PREDICTIONS} "
            "WHERE (instance_id > :i) OR (instance_id = :i AND model > :m) "
            "OR (instance_id = :i AND model = :m AND version > :v) "
            "OR (instance_id = :i AND model = :m AND version = :v AND input_digest > :d) "
            f"ORDER BY instance_id, model, version, input_digest LIMIT {BACKFILL_BATCH}",
            after,
        )
        typed: list[Params] = []
        vectors: list[Mapping[str, JSONValue]] = []
        for instance, model, version, digest, role, cohort, time_us, event_us, score, text in rows:
            key = sample_key(str(instance))
            typed.append({
                "instance_id": instance, "model": model, "version": version,
                "input_digest": digest, "role": role, "cohort": cohort, "experiment_id": None,
                "time_us": time_us, "window_us": time_us if event_us is None else event_us,
                "sample_key": key, "score": score, "decision": None,
            })  # fmt: skip
            decoded = load_json(str(text))
            vectors.append(decoded if isinstance(decoded, dict) else {})
        transaction.execute_many(
            f"UPDATE {_PREDICTIONS} SET sample_key = :sample_key WHERE instance_id = "
            ":instance_id AND model = :model AND version = :version AND "
            "input_digest = :input_digest",
            typed,
        )
        writer.learn(writer.write(transaction, typed, vectors))
        if len(rows) < BACKFILL_BATCH:
            return
        after = {"i": rows[-1][0], "m": rows[-1][1], "v": rows[-1][2], "d": rows[-1][3]}


def _backfill_feedback(transaction: Transaction) -> None:
    """Numeric labels and business values of the feedback given before version 5."""
    after: Params = {"i": ""}
    while True:
        rows = transaction.fetch_all(
            f"SELECT instance_id, label, business FROM {_FEEDBACK} WHERE instance_id > :i "
            f"ORDER BY instance_id LIMIT {BACKFILL_BATCH}",
            after,
        )
        labels: list[Params] = []
        values: list[Params] = []
        for instance, label, business in rows:
            labels.append({"i": instance, "v": label_value(load_json(str(label)))})
            values.extend(business_rows(str(instance), load_json(str(business))))
        transaction.execute_many(
            f"UPDATE {_FEEDBACK} SET label_value = :v WHERE instance_id = :i", labels
        )
        transaction.execute_many(INSERT_BUSINESS, values)
        if len(rows) < BACKFILL_BATCH:
            return
        after = {"i": rows[-1][0]}


INSERT_BUSINESS: Final = (
    f"INSERT INTO {FEEDBACK_VALUES} (instance_id, name, value) VALUES (:instance_id, :name, :value)"
)


def business_rows(instance_id: str, business: object) -> list[Params]:
    """The rows of :data:`FEEDBACK_VALUES` for an instance's business outcome."""
    if not isinstance(business, dict):
        return []
    return [
        {"instance_id": instance_id, "name": name, "value": value}
        for name, value in numeric_business(business).items()
    ]


V5_STEPS: Final = (
    f"ALTER TABLE {_PREDICTIONS} ADD COLUMN experiment_id BIGINT",
    f"ALTER TABLE {_PREDICTIONS} ADD COLUMN decision INTEGER",
    f"ALTER TABLE {_PREDICTIONS} ADD COLUMN sample_key BIGINT",
    f"ALTER TABLE {_FEEDBACK} ADD COLUMN label_value DOUBLE PRECISION",
    f"ALTER TABLE {_FEEDBACK} ADD COLUMN received_us BIGINT",
    f"ALTER TABLE {_HISTORY} ADD COLUMN received_us BIGINT",
    # Feedback given before version 5 was received when it became known, as far as anyone
    # can tell: one statement inside the database, no row through Python.
    f"UPDATE {_FEEDBACK} SET received_us = time_us",
    f"UPDATE {_HISTORY} SET received_us = time_us",
    f"CREATE TABLE {FEATURE_TABLES} (model TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE)",
    f"""CREATE TABLE {FEATURE_COLUMNS} (
        model TEXT NOT NULL,
        feature TEXT NOT NULL,
        kind TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (model, feature, kind)
    )""",
    f"""CREATE TABLE {FEEDBACK_VALUES} (
        instance_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (instance_id, name)
    )""",
    _backfill_predictions,
    _backfill_feedback,
)
"""The steps of migration 5."""
