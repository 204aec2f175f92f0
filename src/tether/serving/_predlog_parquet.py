"""A columnar copy of the prediction log, and the same aggregates run on Spark over it.

When a log outgrows one database, :func:`export_parquet` copies a window of it to Parquet,
partitioned by day, and :class:`SparkLogAggregates` answers every aggregate of
:class:`~tether.serving.LogAggregates` with the *same generated SQL* on Spark, whose SQL
takes the same ``:name`` parameters. The copy holds, under ``folder``, one directory per
table::

    tether_predictions/day=YYYY-MM-DD/part-*.parquet   the window's rows (the columns the
                                                       aggregates read, not the JSON blobs)
    tether_features_<n>/day=YYYY-MM-DD/part-*.parquet  each model's typed rows in the window
    tether_feedback/part-*.parquet                     feedback of those instances
    tether_feedback_values/part-*.parquet              and their numeric business values
    tether_feature_tables/, tether_feature_columns/    the catalog

``day`` is the UTC day of the window time (event time, else serving time). Rows are read in
keyset batches of :data:`EXPORT_BATCH` and each batch is written as its own files, so memory
stays bounded on a window of any size. A later revision of an instance that falls outside
the window is not in the copy: export whole days around the window you aggregate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from tether._storage import Row, SQLValue, Transaction, from_micros, open_database, to_micros
from tether.errors import ServingError
from tether.serving import _predlog_typed as typed
from tether.serving._predlog_agg import Aggregates

EXPORT_BATCH = 50_000
"""Rows read and written per Parquet file at most."""
_MARKER = re.compile(r"(?<![:\w]):(\w+)")
_STRING, _LONG, _DOUBLE, _INT = pa.string(), pa.int64(), pa.float64(), pa.int32()
_PREDICTION_SCHEMA: Final = pa.schema([
    ("instance_id", _STRING), ("model", _STRING), ("version", _STRING),
    ("input_digest", _STRING), ("role", _STRING), ("cohort", _STRING),
    ("experiment_id", _LONG), ("time_us", _LONG), ("event_time_us", _LONG),
    ("score", _DOUBLE), ("decision", _INT), ("sample_key", _LONG),
])  # fmt: skip
_FEEDBACK_SCHEMA: Final = pa.schema([
    ("instance_id", _STRING), ("label_value", _DOUBLE), ("time_us", _LONG),
    ("received_us", _LONG),
])  # fmt: skip
_VALUES_SCHEMA: Final = pa.schema([("instance_id", _STRING), ("name", _STRING),
                                   ("value", _DOUBLE)])  # fmt: skip
_CATALOG: Final = {
    typed.FEATURE_TABLES: pa.schema([("model", _STRING), ("number", _LONG)]),
    typed.FEATURE_COLUMNS: pa.schema([("model", _STRING), ("feature", _STRING),
                                      ("kind", _STRING), ("position", _LONG)]),
}  # fmt: skip
_WINDOW: Final = "COALESCE(event_time_us, time_us)"


def export_parquet(url: str, folder: Path, start: datetime, end: datetime) -> dict[str, int]:
    """Copy the predictions of ``[start, end)`` (window time) in the log at ``url``, their
    typed features, feedback and the catalog to ``folder``; return the rows per table.

    Raises:
        ServingError: the database failed, or ``folder`` already holds a copy.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ServingError(f"The export folder {folder} is not empty; expected a new folder.")
    database = open_database(url, error=ServingError, purpose="prediction log")
    bounds: dict[str, SQLValue] = {"start": to_micros(start), "end": to_micros(end)}
    written: dict[str, int] = {}
    try:
        with database.read() as transaction:
            names = ", ".join(_PREDICTION_SCHEMA.names)
            written["tether_predictions"] = _copy(
                transaction, f"SELECT {names} FROM tether_predictions WHERE {_WINDOW} >= :start "
                f"AND {_WINDOW} < :end", bounds, ("instance_id", "model", "version",
                "input_digest"), folder / "tether_predictions", _PREDICTION_SCHEMA, _WINDOW,
            )  # fmt: skip
            inside = (
                "EXISTS (SELECT 1 FROM tether_predictions p WHERE p.instance_id = "
                "x.instance_id AND COALESCE(p.event_time_us, p.time_us) >= :start AND "
                "COALESCE(p.event_time_us, p.time_us) < :end)"
            )
            for table, schema, key in (
                ("tether_feedback", _FEEDBACK_SCHEMA, ("instance_id",)),
                (typed.FEEDBACK_VALUES, _VALUES_SCHEMA, ("instance_id", "name")),
            ):
                written[table] = _copy(
                    transaction, f"SELECT {', '.join(schema.names)} FROM {table} x WHERE "
                    f"{inside}", bounds, key, folder / table, schema, None,
                )  # fmt: skip
            for table, schema in _CATALOG.items():
                rows = transaction.fetch_all(f"SELECT {', '.join(schema.names)} FROM {table}")
                _write(rows, schema, folder / table, "part-0.parquet")
                written[table] = len(rows)
            for model, number in rows_of(transaction, typed.FEATURE_TABLES):
                written.update(_copy_features(transaction, str(model), int(number or 0), folder,
                                              bounds))  # fmt: skip
    finally:
        database.dispose()
    return written


def rows_of(transaction: Transaction, table: str) -> list[Row]:
    """``(model, number)`` of every model with a feature table."""
    return transaction.fetch_all(f"SELECT model, number FROM {table} ORDER BY number")


def _copy_features(
    transaction: Transaction, model: str, number: int, folder: Path, bounds: Mapping[str, SQLValue]
) -> dict[str, int]:
    catalog = typed.read_catalog(transaction, model)
    assert catalog is not None  # listed in the catalog's own table
    fields = [(name, _PREDICTION_SCHEMA.field(name).type) for name in typed.DIMENSIONS
              if name != "window_us"] + [("window_us", _LONG)]  # fmt: skip
    for (_, kind), column in sorted(catalog.columns.items(), key=lambda item: item[1]):
        fields.append((column, _DOUBLE if kind == "numeric" else _STRING))
    schema = pa.schema(fields)
    table = typed.table_name(number)
    count = _copy(
        transaction, f"SELECT {', '.join(schema.names)} FROM {table} WHERE window_us >= :start "
        "AND window_us < :end", bounds, ("instance_id", "version", "input_digest"),
        folder / table, schema, "window_us",
    )  # fmt: skip
    return {table: count}


def _copy(
    transaction: Transaction,
    select: str,
    bounds: Mapping[str, SQLValue],
    key: Sequence[str],
    folder: Path,
    schema: pa.Schema,
    day_of: str | None,
) -> int:
    """Copy ``select``'s rows in keyset batches on ``key``; partitioned by the day of the
    ``day_of`` column (its values are in the row; None: one unpartitioned folder)."""
    columns = list(schema.names)
    day_column = None if day_of is None else columns.index(
        "event_time_us" if day_of == _WINDOW else day_of
    )  # fmt: skip
    after: dict[str, SQLValue] = {}
    total, part = 0, 0
    while True:
        condition = _after(key) if after else "1 = 1"
        rows = transaction.fetch_all(
            f"SELECT * FROM ({select}) x WHERE {condition} ORDER BY {', '.join(key)} "
            f"LIMIT {EXPORT_BATCH}",
            {**bounds, **after},
        )
        by_day: dict[str, list[Row]] = {}
        for row in rows:
            by_day.setdefault(_day(row, columns, day_column, day_of), []).append(row)
        for day, group in by_day.items():
            target = folder if not day else folder / f"day={day}"
            _write(group, schema, target, f"part-{part}.parquet")
            part += 1
        total += len(rows)
        if len(rows) < EXPORT_BATCH:
            break
        after = {f"k{i}": rows[-1][columns.index(name)] for i, name in enumerate(key)}
    if total == 0:
        _write([], schema, folder, "part-0.parquet")  # Spark needs a file to know the columns
    return total


def _after(key: Sequence[str]) -> str:
    """The keyset condition ``(key) > (:k0, :k1, ...)`` written out for every engine."""
    terms = []
    for position in range(len(key)):
        equal = [f"{key[i]} = :k{i}" for i in range(position)]
        terms.append("(" + " AND ".join([*equal, f"{key[position]} > :k{position}"]) + ")")
    return "(" + " OR ".join(terms) + ")"


def _day(row: Row, columns: list[str], day_column: int | None, day_of: str | None) -> str:
    if day_column is None:
        return ""
    value = row[day_column]
    if day_of == _WINDOW and value is None:
        value = row[columns.index("time_us")]
    return from_micros(int(value or 0)).astimezone(UTC).strftime("%Y-%m-%d")


def _write(rows: Sequence[Row], schema: pa.Schema, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema.names]
    arrays = [pa.array(list(values), type=field.type)
              for values, field in zip(columns, schema, strict=True)]  # fmt: skip
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), folder / name)


class SparkLogAggregates(Aggregates):
    """The aggregates of :class:`~tether.serving.LogAggregates`, on ``spark`` over the copy
    in ``folder`` written by :func:`export_parquet`.

    >>> aggregates = SparkLogAggregates(spark, Path("copy"))  # doctest: +SKIP
    >>> aggregates.counts(start, end, model="fraud", bucket="day")  # doctest: +SKIP

    Raises:
        ServingError: ``folder`` holds no copy.
    """

    def __init__(self, spark: Any, folder: Path) -> None:
        self._spark = spark
        folder = Path(folder)
        tables = (
            sorted(path for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []
        )
        if not any(path.name == "tether_predictions" for path in tables):
            raise ServingError(f"{folder} holds no copy of a prediction log (export_parquet).")
        for path in tables:
            frame = spark.read.option("basePath", str(path)).parquet(str(path))
            frame.createOrReplaceTempView(path.name)

    def _fetch(self, statement: str, params: Mapping[str, SQLValue]) -> list[Row]:
        used = set(_MARKER.findall(statement))
        args = {name: value for name, value in params.items() if name in used}
        return [tuple(row) for row in self._spark.sql(statement, args=args).collect()]
