"""The Spark engine: the same generated SQL, rendered for Spark SQL, on a given SparkSession.

tether's one PySpark seam. PySpark is imported only when a :class:`SparkEngine` is used, so
``import tether`` never pays for it. Spark's exceptions are translated to
:class:`~tether.errors.FeatureError` here.

Each :meth:`SparkEngine.run` registers temporary views and drops them afterwards, and runs
with the session time zone set to UTC (restored afterwards), which is how naive source times
(``naive_timestamps="utc"``) are read as UTC; times with a zone do not depend on it. Spark
reads Parquet timestamps in micro- or milliseconds, not nanoseconds: write sources with
``coerce_timestamps="us"`` (pandas/pyarrow) if they are meant for Spark.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from tether.errors import FeatureError
from tether.features._definitions import EventSource
from tether.features._engine import ColumnKind, OfflineEngine, SourceSchema

__all__ = ["SparkEngine"]

_KINDS: dict[str, ColumnKind] = {
    "string": "string",
    "long": "integer",
    "integer": "integer",
    "short": "integer",
    "byte": "integer",
    "double": "float",
    "float": "float",
    "decimal": "float",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "timestamp_ntz": "naive_timestamp",
}
_TIME_ZONE = "spark.sql.session.timeZone"


class SparkEngine(OfflineEngine):
    """Compute training sets with Spark SQL on ``spark`` (any master: local or a cluster).

    >>> from pyspark.sql import SparkSession  # doctest: +SKIP
    >>> spark = SparkSession.builder.master("local[2]").getOrCreate()  # doctest: +SKIP
    >>> engine = SparkEngine(spark)  # doctest: +SKIP
    """

    name: ClassVar[str] = "Spark"
    dialect: ClassVar[str] = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    @classmethod
    def local(cls, app_name: str = "tether") -> SparkEngine:
        """An engine on a local SparkSession using every core (``[features] engine = "spark"``).

        The one place tether builds a SparkSession: only when asked for, since Spark starts a
        JVM (seconds); ``getOrCreate`` reuses the session a process already has.
        """
        from pyspark.sql import SparkSession

        session = SparkSession.builder.master("local[*]").appName(app_name).getOrCreate()
        return cls(session)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from pyspark.errors import PySparkException

        try:
            yield
        except PySparkException as exc:
            raise FeatureError(f"Spark failed {what}: {exc}") from exc

    def _read(self, source: EventSource) -> Any:
        reader = self.spark.read
        if source.format == "table":
            return self.spark.table(source.location)
        if source.format == "parquet":
            return reader.option("recursiveFileLookup", "true").parquet(source.location)
        options = {"header": "true", "inferSchema": "true", "recursiveFileLookup": "true"}
        return reader.options(**options).csv(source.location)

    def describe(self, source: EventSource) -> SourceSchema:
        """Return the source's columns and whether it has rows (runs one small job)."""
        label = f"reading the schema of {source.format} source {source.location!r}"
        with self._errors(label):
            frame = self._read(source)
            fields = list(frame.schema.fields)
            empty = bool(frame.isEmpty())
        types = {field.name: field.dataType.typeName() for field in fields}
        kinds = {name: _KINDS.get(type_name, "other") for name, type_name in types.items()}
        return SourceSchema(kinds=kinds, types=types, empty=empty)

    def run(
        self,
        query: exp.Select,
        *,
        sources: Mapping[str, EventSource],
        tables: Mapping[str, pa.Table],
        what: str,
    ) -> pa.Table:
        """Run ``query`` over ``sources`` and ``tables`` registered as temporary views."""
        previous_zone = self.spark.conf.get(_TIME_ZONE)
        try:
            with self._errors(what):
                self.spark.conf.set(_TIME_ZONE, "UTC")
                for name, source in sources.items():
                    self._read(source).createOrReplaceTempView(name)
                for name, table in tables.items():
                    self.spark.createDataFrame(table).createOrReplaceTempView(name)
                result: pa.Table = self.spark.sql(self.render(query)).toArrow()
        finally:
            for name in (*sources, *tables):
                self.spark.catalog.dropTempView(name)
            self.spark.conf.set(_TIME_ZONE, previous_zone)
        return result
