"""Reading the prediction log: the latest predictions with their feedback, and served vectors.

:class:`PredictionReader` opens the log's database (SQLite or PostgreSQL, the URL the server
writes to) without a writer thread: for ``tether predictions``, the skew audit and notebooks.
Opening it brings the schema to the current version, as the server's log does, so a log
written by an older tether reads in today's shape (its rows have null entity keys, request
data and statuses: they were not recorded).

:meth:`PredictionReader.recent` returns predictions newest first, each joined to the current
feedback of its instance (the latest label and business outcome; a correction replaces the
label it corrects). :meth:`PredictionReader.served_vectors` turns logged predictions into
what :func:`tether.features.measure_skew` takes: one row per served request instance with its
entity keys, the time its features were computed as of, its request columns and the feature
values the online store gave. A row that cannot be recomputed offline is skipped and counted
by reason (:data:`SKIP_REASONS`), never dropped silently: a hashed entity key cannot be
turned back into the key the offline store joins on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import pandas as pd

from tether._closing import Closing
from tether._names import Role
from tether._schema import upgrade
from tether._storage import open_database, to_micros
from tether.errors import ServingError
from tether.serving import _predlog_sql as sql

DEFAULT_LIMIT = 100
"""Predictions :meth:`PredictionReader.recent` returns unless told otherwise."""
DEFAULT_SKEW_LIMIT = 10_000
"""Predictions the skew audit reads by default: enough for a mismatch rate of 0.1% to show
(about 10 rows), few enough to recompute offline in seconds."""
SERVED_TIME: Final = "request_time"
"""The column of :attr:`ServedVectors.frame` holding the time each vector was computed as of."""
SKIP_REASONS: Final = {
    "no_entity": "no entity keys logged (scored from raw features only, or logged before "
    "tether logged entity keys): nothing was looked up",
    "hashed": "an entity key or request column is hashed by [serving] hash_columns: the "
    "offline store cannot recompute it from a hash",
    "missing_key": "an entity key column of the feature store is not logged (dropped by "
    "[serving] drop_columns, or not sent)",
}
"""Why a logged prediction cannot be audited for skew, by the reason's name."""


@dataclass(frozen=True)
class ServedVectors:
    """Served feature vectors read from the log, ready for ``measure_skew``.

    ``frame`` has the entity key columns, :data:`SERVED_TIME`, the request columns (raw values
    the client sent) and one column per feature the online store computed; ``read`` counts the
    log rows read, ``skipped`` the instances left out per reason of :data:`SKIP_REASONS`.
    """

    frame: pd.DataFrame
    read: int
    skipped: Mapping[str, int] = field(default_factory=dict)
    timestamp: str = SERVED_TIME


class PredictionReader(Closing):
    """Reads the prediction log at ``url`` (the URL the server's log writes to).

    >>> with PredictionReader("sqlite:///.tether/tether.db") as reader:
    ...     frame = reader.recent(since=yesterday, model="fraud", limit=20)  # doctest: +SKIP

    Raises:
        ConfigError: the URL is not a SQLite or PostgreSQL URL.
        ServingError: the database failed, or holds a schema from a newer tether.
    """

    def __init__(self, url: str) -> None:
        self._database = open_database(url, error=ServingError, purpose="prediction log")
        try:
            upgrade(self._database, sql.PREDICTIONS_SCHEMA)
        except ServingError:
            self._database.dispose()
            raise

    def recent(
        self,
        *,
        since: datetime | None = None,
        model: str | None = None,
        version: str | None = None,
        cohort: str | None = None,
        role: Role | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """The latest ``limit`` predictions served at or after ``since``, newest first.

        Filtered by the arguments given; columns as ``PredictionLog.query`` returns them with
        feedback (``label``, ``business``, ``feedback_time``: the instance's current feedback,
        null where none came and on superseded rows).

        Raises:
            ServingError: the database failed, or ``limit`` is below 1.
            ValueError: ``since`` is naive.
        """
        if limit < 1:
            raise ServingError(f"limit is {limit}; expected 1 or more predictions.")
        filters = {"model": model, "version": version, "cohort": cohort, "role": role}
        start = None if since is None else to_micros(since)
        with self._database.read() as transaction:
            return sql.select_frame(
                transaction, start, None, filters, with_feedback=True, newest_first=True,
                limit=limit,
            )  # fmt: skip

    def served_vectors(
        self,
        keys: Collection[str],
        *,
        hashed: Collection[str] = (),
        since: datetime | None = None,
        model: str | None = None,
        version: str | None = None,
        limit: int = DEFAULT_SKEW_LIMIT,
    ) -> ServedVectors:
        """The vectors of the latest ``limit`` predictions, one row per instance as served.

        ``keys`` are the entity key columns the feature store joins on; ``hashed`` the
        columns the log's redaction hashes (``[serving] hash_columns``). The rows of one
        instance's request (champion or challenger, and shadows) hold one vector: their
        features are merged. Every feature and request value is a column; ``measure_skew``
        audits those the store defines and passes the others to it as request columns.

        Raises:
            ServingError: the database failed, or ``limit`` is below 1.
        """
        logged = self.recent(since=since, model=model, version=version, limit=limit)
        served: dict[tuple[str, str], dict[str, Any]] = {}
        refused: set[tuple[str, str]] = set()
        skipped = dict.fromkeys(SKIP_REASONS, 0)
        for row in logged.to_dict("records"):
            instance = (str(row["instance_id"]), str(row["input_digest"]))
            if instance in refused:
                continue  # counted once, with its first row
            if instance not in served:
                reason = _unauditable(row, keys, hashed)
                if reason is not None:
                    skipped[reason] += 1
                    refused.add(instance)
                    continue
                served[instance] = {**row["entity"], SERVED_TIME: row["event_time"]}
            served[instance].update({**(row["request_data"] or {}), **row["features"]})
        vectors = list(served.values())
        frame = pd.DataFrame(vectors)
        if vectors:
            frame[SERVED_TIME] = pd.to_datetime(frame[SERVED_TIME], utc=True)
        return ServedVectors(frame, len(logged), {k: n for k, n in skipped.items() if n})

    def close(self) -> None:
        """Close the connections; closing twice does nothing."""
        self._database.dispose()


def _unauditable(
    row: Mapping[Any, Any], keys: Collection[str], hashed: Collection[str]
) -> str | None:
    """The reason of :data:`SKIP_REASONS` that keeps ``row`` out of the audit, or None."""
    entity = row["entity"]
    if not entity:
        return "no_entity"
    if any(name in hashed for name in (*entity, *(row["request_data"] or {}))):
        return "hashed"
    if any(key not in entity for key in keys):
        return "missing_key"
    return None
