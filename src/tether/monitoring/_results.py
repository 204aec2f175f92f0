"""Where monitoring keeps what it found: runs, time series and alerts, in tether's own database.

::

    tether_monitor_runs    one row per model per monitor run: its window, when it ran (the
                           clock's time and wall time), the diagnosis, and the whole report
    tether_monitor_series  one row per measured value: (run, version, role, cohort, kind, name)
                           -> value with its interval, its number of rows and whether it was
                           flagged; kinds are "drift" (PSI of a feature or of the score),
                           "performance" (a realized metric), "estimate" (an estimated one),
                           "labels" (label completeness), "experiment", "quality"
    tether_monitor_alerts  one row per alert: what crossed which line, its evidence, and the
                           state of its delivery to the webhook (so a dropped alert is visible)
    tether_monitor_days    one row per (model, version, closed day, basis): the day's drift,
                           estimate and quality findings, which depend on that day's
                           predictions only, kept so the next run reuses them (see
                           :mod:`._monitor_days`); ``basis`` digests the reference and policy

The series are what the dashboard draws and the audit lists: a metric of one model version
over consecutive windows is ``series(model, kind, name)`` ordered by window. Rows are written
in one transaction per run, so a reader never sees half a run. The tables live in the
database of ``[store] url`` beside the event log and the prediction log, and migrate in order
like theirs (:mod:`tether._schema`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from tether._closing import Closing
from tether._schema import upgrade
from tether._storage import (
    JSONValue,
    Row,
    SQLValue,
    Transaction,
    dump_json,
    from_micros,
    load_json,
    open_database,
    to_micros,
)
from tether.errors import MonitoringError
from tether.monitoring._results_schema import ALERTS, DAYS, RESULTS_SCHEMA, RUNS, SERIES

NO_MONITOR_RUN: Final = 0
"""The ``run_id`` of an alert raised outside a monitor run: the loop's (kind ``"loop"``)."""
Delivery = Literal["none", "pending", "sent", "failed"]
"""An alert's delivery: no webhook configured, queued, delivered, or given up after retries."""


@dataclass(frozen=True)
class SeriesPoint:
    """One measured value of one window: e.g. the PSI of ``amount`` for version 3's champion
    traffic, or its realized precision with a 95% interval over ``n`` labelled rows."""

    version: str
    kind: str
    name: str
    value: float | None
    n: int
    role: str = ""
    cohort: str = ""
    lower: float | None = None
    upper: float | None = None
    flagged: bool = False
    detail: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPoint:
    """A :class:`SeriesPoint` as read back, with its run and window."""

    run_id: int
    model: str
    window_start: datetime
    window_end: datetime
    point: SeriesPoint


@dataclass(frozen=True)
class AlertRecord:
    """An alert as stored: which line was crossed, the evidence, and its delivery."""

    alert_id: int
    run_id: int
    model: str
    kind: str
    name: str
    message: str
    evidence: Mapping[str, JSONValue]
    time: datetime
    delivery: Delivery
    attempts: int
    last_error: str | None = None


@dataclass(frozen=True)
class MonitorRun:
    """One stored monitor run of one model."""

    run_id: int
    model: str
    window_start: datetime
    window_end: datetime
    time: datetime
    wall_time: datetime
    action: str
    report: Mapping[str, JSONValue]


@dataclass(frozen=True)
class DayRecord:
    """One closed day's stored evidence of one version: what it was computed from (``basis``
    and the day's ``predictions``, so a day that gained rows is recomputed) and the evidence."""

    version: str
    day: datetime
    basis: str
    predictions: int
    evidence: Mapping[str, JSONValue]


@dataclass(frozen=True)
class NewAlert:
    """An alert to store: ``kind`` (drift, quality, performance...), ``name`` (the feature or
    metric), a message a person can read and its evidence."""

    kind: str
    name: str
    message: str
    evidence: Mapping[str, JSONValue] = field(default_factory=dict)


class MonitorResults(Closing):
    """The monitoring tables in the database at ``url`` (``[store] url``).

    >>> with MonitorResults("sqlite:///.tether/tether.db") as results:  # doctest: +SKIP
    ...     run = results.record_run(model="fraud", window=(start, end), time=now,
    ...                              action="wait", report={...}, points=[...], alerts=[])

    Raises:
        MonitoringError: the database failed, or holds a schema from a newer tether.
    """

    def __init__(self, url: str) -> None:
        self._database = open_database(url, error=MonitoringError, purpose="monitoring results")
        upgrade(self._database, RESULTS_SCHEMA)

    def close(self) -> None:
        self._database.dispose()

    def record_run(
        self,
        *,
        model: str,
        window: tuple[datetime, datetime],
        time: datetime,
        wall_time: datetime,
        action: str,
        report: Mapping[str, JSONValue],
        points: Sequence[SeriesPoint],
        alerts: Sequence[NewAlert],
        delivery: Delivery,
        days: Sequence[DayRecord] = (),
    ) -> tuple[MonitorRun, list[AlertRecord]]:
        """Store one run with its points, alerts and newly computed days, all or nothing;
        return the run and alerts as stored."""
        start_us, end_us = to_micros(window[0]), to_micros(window[1])
        with self._database.write() as transaction:
            transaction.lock("tether-monitor", RUNS)
            run_id = _next_id(transaction, RUNS, "run_id")
            transaction.execute(
                f"INSERT INTO {RUNS} (run_id, model, window_start_us, window_end_us, clock_us, "
                "wall_us, action, report) VALUES (:run_id, :model, :start, :end, :clock, :wall, "
                ":action, :report)",
                {
                    "run_id": run_id,
                    "model": model,
                    "start": start_us,
                    "end": end_us,
                    "clock": to_micros(time),
                    "wall": to_micros(wall_time),
                    "action": action,
                    "report": dump_json(dict(report)),
                },
            )
            transaction.execute_many(
                f"INSERT INTO {SERIES} (run_id, model, version, role, cohort, window_start_us, "
                "window_end_us, kind, name, value, lower, upper, n, flagged, detail) VALUES "
                "(:run_id, :model, :version, :role, :cohort, :start, :end, :kind, :name, :value, "
                ":lower, :upper, :n, :flagged, :detail)",
                [_point_row(run_id, model, start_us, end_us, point) for point in points],
            )
            stored = [
                self._insert_alert(transaction, run_id, model, alert, time, wall_time, delivery)
                for alert in alerts
            ]
            self._replace_days(transaction, run_id, model, days)
        run = MonitorRun(run_id, model, window[0], window[1], time, wall_time, action, dict(report))
        return run, stored

    def record_alert(
        self,
        model: str,
        alert: NewAlert,
        *,
        time: datetime,
        wall_time: datetime,
        delivery: Delivery,
    ) -> AlertRecord:
        """Store one alert raised outside a monitor run (the loop's rollback, hold...), under
        :data:`NO_MONITOR_RUN`, beside the monitor's alerts; return it as stored."""
        with self._database.write() as transaction:
            # The lock record_run takes: alert ids stay consecutive with a run's alerts.
            transaction.lock("tether-monitor", RUNS)
            return self._insert_alert(
                transaction, NO_MONITOR_RUN, model, alert, time, wall_time, delivery
            )

    def _insert_alert(
        self,
        transaction: Transaction,
        run_id: int,
        model: str,
        alert: NewAlert,
        time: datetime,
        wall_time: datetime,
        delivery: Delivery,
    ) -> AlertRecord:
        alert_id = _next_id(transaction, ALERTS, "alert_id")
        transaction.execute(
            f"INSERT INTO {ALERTS} (alert_id, run_id, model, kind, name, message, evidence, "
            "clock_us, wall_us, delivery, attempts) VALUES (:alert_id, :run_id, :model, :kind, "
            ":name, :message, :evidence, :clock, :wall, :delivery, 0)",
            {
                "alert_id": alert_id,
                "run_id": run_id,
                "model": model,
                "kind": alert.kind,
                "name": alert.name,
                "message": alert.message,
                "evidence": dump_json(dict(alert.evidence)),
                "clock": to_micros(time),
                "wall": to_micros(wall_time),
                "delivery": delivery,
            },
        )
        return AlertRecord(
            alert_id,
            run_id,
            model,
            alert.kind,
            alert.name,
            alert.message,
            dict(alert.evidence),
            from_micros(to_micros(time)),
            delivery,
            0,
        )

    def _replace_days(
        self, transaction: Transaction, run_id: int, model: str, days: Sequence[DayRecord]
    ) -> None:
        # Delete, then insert: a day recomputed (it gained rows) replaces its old evidence,
        # in the same words on SQLite and PostgreSQL.
        keys: list[dict[str, SQLValue]] = [
            {"model": model, "day": to_micros(d.day), "version": d.version, "basis": d.basis}
            for d in days
        ]
        transaction.execute_many(
            f"DELETE FROM {DAYS} WHERE model = :model AND day_us = :day AND version = :version "
            "AND basis = :basis",
            keys,
        )
        transaction.execute_many(
            f"INSERT INTO {DAYS} (model, day_us, version, basis, predictions, run_id, evidence) "
            "VALUES (:model, :day, :version, :basis, :predictions, :run_id, :evidence)",
            [{**key, "predictions": int(day.predictions), "run_id": run_id,
              "evidence": dump_json(dict(day.evidence))} for key, day in zip(keys, days,
                                                                             strict=True)],
        )  # fmt: skip

    def days(self, model: str, start: datetime, end: datetime) -> list[DayRecord]:
        """The stored evidence of ``model``'s days that begin in ``[start, end)``, every
        version and basis, oldest day first."""
        with self._database.read() as transaction:
            rows = transaction.fetch_all(
                f"SELECT version, day_us, basis, predictions, evidence FROM {DAYS} "
                "WHERE model = :model AND day_us >= :start AND day_us < :end "
                "ORDER BY day_us, version, basis",
                {"model": model, "start": to_micros(start), "end": to_micros(end)},
            )
        return [
            DayRecord(str(version), from_micros(int(str(day))), str(basis),
                      int(str(predictions)), load_json(str(evidence)))
            for version, day, basis, predictions, evidence in rows
        ]  # fmt: skip

    def mark_delivery(
        self, alert_id: int, delivery: Delivery, *, attempts: int, error: str | None = None
    ) -> None:
        """Record how the delivery of alert ``alert_id`` went (after each attempt)."""
        with self._database.write() as transaction:
            transaction.execute(
                f"UPDATE {ALERTS} SET delivery = :delivery, attempts = :attempts, "
                "last_error = :error WHERE alert_id = :alert_id",
                {"delivery": delivery, "attempts": attempts, "error": error, "alert_id": alert_id},
            )

    def runs(self, model: str | None = None, *, limit: int = 100) -> list[MonitorRun]:
        """The latest runs (of ``model``, or of every model), newest first."""
        where, params = _model_filter(model)
        with self._database.read() as transaction:
            rows = transaction.fetch_all(
                f"SELECT run_id, model, window_start_us, window_end_us, clock_us, wall_us, "
                f"action, report FROM {RUNS}{where} ORDER BY run_id DESC LIMIT {int(limit)}",
                params,
            )
        return [_run(row) for row in rows]

    def series(
        self, model: str, kind: str, name: str | None = None, *, version: str | None = None
    ) -> list[StoredPoint]:
        """Every stored point of ``model``'s ``kind`` (and ``name``, ``version``), oldest window
        first: a metric over time."""
        sql = (
            f"SELECT run_id, model, window_start_us, window_end_us, version, role, cohort, kind, "
            f"name, value, lower, upper, n, flagged, detail FROM {SERIES} "
            "WHERE model = :model AND kind = :kind"
        )
        params: dict[str, str] = {"model": model, "kind": kind}
        for column, value in (("name", name), ("version", version)):
            if value is not None:
                sql += f" AND {column} = :{column}"
                params[column] = value
        sql += " ORDER BY window_end_us, run_id, version, role, cohort, name"
        with self._database.read() as transaction:
            return [_stored_point(row) for row in transaction.fetch_all(sql, params)]

    def latest_points(self, kinds: Sequence[str]) -> list[StoredPoint]:
        """The points of ``kinds`` of every model's latest run: what ``/metrics`` exports."""
        marks = ", ".join(f":kind{i}" for i in range(len(kinds)))
        params = {f"kind{i}": kind for i, kind in enumerate(kinds)}
        sql = (
            f"SELECT s.run_id, s.model, s.window_start_us, s.window_end_us, s.version, s.role, "
            f"s.cohort, s.kind, s.name, s.value, s.lower, s.upper, s.n, s.flagged, s.detail "
            f"FROM {SERIES} s JOIN (SELECT model, MAX(run_id) AS run_id FROM {RUNS} "
            f"GROUP BY model) r ON s.run_id = r.run_id WHERE s.kind IN ({marks}) "
            "ORDER BY s.model, s.version, s.role, s.cohort, s.kind, s.name"
        )
        with self._database.read() as transaction:
            return [_stored_point(row) for row in transaction.fetch_all(sql, params)]

    def alerts(self, model: str | None = None, *, limit: int = 100) -> list[AlertRecord]:
        """The latest alerts (of ``model``, or of every model), newest first."""
        where, params = _model_filter(model)
        with self._database.read() as transaction:
            rows = transaction.fetch_all(
                f"SELECT alert_id, run_id, model, kind, name, message, evidence, clock_us, "
                f"delivery, attempts, last_error FROM {ALERTS}{where} "
                f"ORDER BY alert_id DESC LIMIT {int(limit)}",
                params,
            )
        return [_alert(row) for row in rows]


def _next_id(transaction: Transaction, table: str, column: str) -> int:
    # Under the write lock taken by record_run: ids are consecutive and never reused.
    row = transaction.fetch_one(f"SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}")
    return int(row[0] or 1) if row is not None else 1


def _model_filter(model: str | None) -> tuple[str, dict[str, str]]:
    return ("", {}) if model is None else (" WHERE model = :model", {"model": model})


def _finite(value: float | None) -> float | None:
    # NULL in the database: NaN is no value, and PostgreSQL would keep it as a number.
    return None if value is None or not math.isfinite(value) else float(value)


def _point_row(
    run_id: int, model: str, start_us: int, end_us: int, point: SeriesPoint
) -> dict[str, str | int | float | None]:
    return {
        "run_id": run_id,
        "model": model,
        "version": point.version,
        "role": point.role,
        "cohort": point.cohort,
        "start": start_us,
        "end": end_us,
        "kind": point.kind,
        "name": point.name,
        "value": _finite(point.value),
        "lower": _finite(point.lower),
        "upper": _finite(point.upper),
        "n": int(point.n),
        "flagged": int(point.flagged),
        "detail": dump_json(dict(point.detail)),
    }


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, int | float) else float(str(value))


def _int(value: object) -> int:
    return value if isinstance(value, int) else int(str(value))


@functools.lru_cache(maxsize=4_096)
def _moment(micros: int) -> datetime:
    # A run's points share its window: a year of runs has 730 distinct moments in 20,000 rows.
    return from_micros(micros)


def _stored_point(row: Row) -> StoredPoint:
    # Read once per point of a series (a dashboard's year of 50 features: 18,250), so the
    # common types skip the text round trip and an empty detail skips the JSON parser.
    run_id, model, start, end, version, role, cohort, kind, name = row[:9]
    value, lower, upper, n, flagged, detail = row[9:]
    text = str(detail)
    point = SeriesPoint(
        version=str(version),
        kind=str(kind),
        name=str(name),
        value=_optional_float(value),
        n=_int(n),
        role=str(role),
        cohort=str(cohort),
        lower=_optional_float(lower),
        upper=_optional_float(upper),
        flagged=bool(flagged),
        detail={} if text == "{}" else load_json(text),
    )
    return StoredPoint(_int(run_id), str(model), _moment(_int(start)), _moment(_int(end)), point)


def _run(row: Row) -> MonitorRun:
    run_id, model, start, end, clock, wall, action, report = row
    return MonitorRun(
        int(str(run_id)),
        str(model),
        from_micros(int(str(start))),
        from_micros(int(str(end))),
        from_micros(int(str(clock))),
        from_micros(int(str(wall))),
        str(action),
        load_json(str(report)),
    )


def _alert(row: Row) -> AlertRecord:
    alert_id, run_id, model, kind, name, message, evidence, clock = row[:8]
    delivery, attempts, last_error = row[8:]
    return AlertRecord(
        int(str(alert_id)),
        int(str(run_id)),
        str(model),
        str(kind),
        str(name),
        str(message),
        load_json(str(evidence)),
        from_micros(int(str(clock))),
        _delivery(str(delivery)),
        int(str(attempts)),
        None if last_error is None else str(last_error),
    )


def _delivery(text: str) -> Delivery:
    for known in ("none", "pending", "sent", "failed"):
        if text == known:
            return known
    raise MonitoringError(f"Unknown alert delivery state {text!r} in {ALERTS}.")
