"""Monitoring's window report over a large prediction log, computed in the engine.

A log of ``--rows`` predictions (the fraud scenario's 14 features, all in one 30-day window,
labels on a quarter of them) is bulk-loaded (not sent through HTTP): schema and catalog by
tether's own writer, then the rows by the driver's bulk path (sqlite3 ``executemany``,
PostgreSQL ``COPY``). Then, in a fresh process whose peak memory is its own, the window
report monitoring asks for: counts per version/role/cohort/experiment and day (with the
maturity rule), the summary of every feature and the score on reference deciles with a
seeded sample of 20,000 rows, confusion counts with business sums, a labelled sample, and
score summaries. ``--json-cost`` measures what a typed column saves against
``json_extract`` on SQLite, per row, for 13 features.

    .venv/bin/python benchmarks/monitor_scale.py --rows 10000000 --engine sqlite
    .venv/bin/python benchmarks/monitor_scale.py --rows 10000000 --engine postgresql
    .venv/bin/python benchmarks/monitor_scale.py --json-cost --rows 200000
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tether.serving import LogAggregates, Prediction, PredictionLog
from tether.serving._predlog_typed import sample_key

T0 = datetime(2025, 6, 1, tzinfo=UTC)
WINDOW_DAYS = 30
NUMERIC = ("amount", "amount_mean_7d", "amount_max_30d", "tx_count_1h", "tx_count_24h",
           "device_tx_count_30d", "merchant_risk", "distance_km", "hour", "account_age_days",
           "amount_ratio", "velocity_10m")  # fmt: skip
CATEGORICAL = ("country", "channel")
CHUNK = 200_000
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "tether_monitor_scale"
PG_URL = f"{PG_SERVER}?options=-csearch_path%3D{PG_SCHEMA}"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _chunk(rng: np.random.Generator, start: int, size: int) -> dict[str, np.ndarray]:
    columns = {name: np.round(rng.lognormal(2.0, 1.0, size), 3) for name in NUMERIC}
    columns["country"] = rng.choice(np.array(["FR", "DE", "ES", "IT", "NL", "BE"]), size)
    columns["channel"] = rng.choice(np.array(["web", "app", "pos"]), size)
    columns["score"] = rng.random(size)
    columns["time_us"] = (int(T0.timestamp() * 1e6)
                          + rng.integers(0, WINDOW_DAYS * 86_400_000_000, size))  # fmt: skip
    columns["number"] = np.arange(start, start + size)
    return columns


def _seed_schema(url: str) -> None:
    """Schema, catalog and the model's feature table, by tether's own writer."""
    features: dict[str, object] = {name: 1.0 for name in NUMERIC}
    features.update({name: "x" for name in CATEGORICAL})
    with PredictionLog(url) as log:
        log.record(Prediction(request_id="seed", instance_id="seed", time=T0 - timedelta(days=90),
                              model="fraud", version="1", role="champion", features=features,
                              output=0.5, latency_ms=1.0))  # fmt: skip


def _rows(columns: dict[str, np.ndarray], i: int) -> tuple[tuple[object, ...], ...]:
    number = int(columns["number"][i])
    instance = f"tx-{number:09d}"
    version, cohort, role = ("1", "A", "champion") if number % 5 else ("2", "B", "challenger")
    values = [float(columns[name][i]) for name in NUMERIC]
    texts = [str(columns[name][i]) for name in CATEGORICAL]
    features = json.dumps(dict(zip(NUMERIC + CATEGORICAL, values + texts, strict=True)))
    score, time_us, key = (
        float(columns["score"][i]),
        int(columns["time_us"][i]),
        sample_key(instance),
    )
    decision = int(score >= 0.7)
    prediction = (
        instance,
        "fraud",
        version,
        "d",
        role,
        "r",
        time_us,
        time_us,
        None,
        cohort,
        features,
        json.dumps(score),
        score,
        1.0,
        None,
        None,
        None,
        None,
        7,
        decision,
        key,
    )
    typed = (
        instance,
        version,
        "d",
        role,
        cohort,
        7,
        time_us,
        time_us,
        key,
        score,
        decision,
        *values,
        *texts,
    )
    feedback = None
    if number % 4 == 0:
        label = int(score > 0.8)
        feedback = (
            instance,
            str(label),
            json.dumps({"loss": values[0]}),
            time_us + 86_400_000_000,
            1,
            None,
            float(label),
            time_us + 86_400_000_000,
        )
    return prediction, typed, feedback  # type: ignore[return-value]


PREDICTION_COLUMNS = ("instance_id, model, version, input_digest, role, request_id, time_us, "
                      "event_time_us, unit_id, cohort, features, output, score, latency_ms, "
                      "entity, request_data, statuses, labels, experiment_id, decision, "
                      "sample_key")  # fmt: skip
FEEDBACK_COLUMNS = (
    "instance_id, label, business, time_us, revision, reason, label_value, received_us"
)


def _typed_columns(cursor: object) -> str:
    names = ["instance_id", "version", "input_digest", "role", "cohort", "experiment_id",
             "time_us", "window_us", "sample_key", "score", "decision"]  # fmt: skip
    positions = {}
    for feature, kind, position in cursor.execute(  # type: ignore[attr-defined]
        "SELECT feature, kind, position FROM tether_feature_columns WHERE model = 'fraud'"
    ).fetchall():
        positions[feature] = ("n" if kind == "numeric" else "t") + str(position)
    return ", ".join(names + [positions[name] for name in NUMERIC + CATEGORICAL])


SECONDARY_INDEXES = (
    ("tether_predictions_time", "tether_predictions (time_us)"),
    ("tether_predictions_model_time", "tether_predictions (model, version, time_us)"),
)
"""Dropped during the bulk load and built after it, as any bulk load does: maintaining five
indexes of random times row by row made the load, not the report, the benchmark's cost."""


def load(url: str, rows: int) -> None:
    _seed_schema(url)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        connection.execute("PRAGMA synchronous=OFF")
        typed_columns = _typed_columns(connection)
        for name, _ in SECONDARY_INDEXES:
            connection.execute(f"DROP INDEX {name}")
        for start in range(0, rows, CHUNK):
            columns = _chunk(rng, start, min(CHUNK, rows - start))
            built = [_rows(columns, i) for i in range(len(columns["number"]))]
            with connection:
                for table, names, index in (
                    ("tether_predictions", PREDICTION_COLUMNS, 0),
                    ("tether_features_1", typed_columns, 1),
                    ("tether_feedback", FEEDBACK_COLUMNS, 2),
                ):
                    marks = ", ".join("?" * (names.count(",") + 1))
                    connection.executemany(
                        f"INSERT INTO {table} ({names}) VALUES ({marks})",
                        [b[index] for b in built if b[index] is not None],
                    )
            print(
                f"loaded {start + len(built):,} rows, {time.perf_counter() - started:.0f} s",
                flush=True,
            )
        for name, target in SECONDARY_INDEXES:
            connection.execute(f"CREATE INDEX {name} ON {target}")
        connection.execute("ANALYZE")
        connection.close()
    else:
        import psycopg

        with psycopg.connect(url) as connection:
            typed_columns = _typed_columns(connection)
            for name, _ in SECONDARY_INDEXES:
                connection.execute(f"DROP INDEX {name}")
            for start in range(0, rows, CHUNK):
                columns = _chunk(rng, start, min(CHUNK, rows - start))
                built = [_rows(columns, i) for i in range(len(columns["number"]))]
                with connection.cursor() as cursor:
                    for table, names, index in (
                        ("tether_predictions", PREDICTION_COLUMNS, 0),
                        ("tether_features_1", typed_columns, 1),
                        ("tether_feedback", FEEDBACK_COLUMNS, 2),
                    ):
                        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                            for row in built:
                                if row[index] is not None:
                                    copy.write_row(row[index])
                connection.commit()
                print(
                    f"loaded {start + len(built):,} rows, {time.perf_counter() - started:.0f} s",
                    flush=True,
                )
            for name, target in SECONDARY_INDEXES:
                connection.execute(f"CREATE INDEX {name} ON {target}")
            connection.execute("ANALYZE")
            connection.commit()
    print(f"load: {time.perf_counter() - started:.1f} s, peak {_peak_mib():.0f} MiB")


def report(url: str) -> None:
    edges = {name: tuple(float(np.exp(2.0 + q)) for q in np.linspace(-1.28, 1.28, 9))
             for name in NUMERIC}  # fmt: skip
    categories = {"country": ("FR", "DE", "ES", "IT", "NL"), "channel": ("web", "app", "pos")}
    start, end = T0, T0 + timedelta(days=WINDOW_DAYS)
    known_by = end + timedelta(days=2)
    timings = {}
    began = time.perf_counter()
    with LogAggregates(url) as aggregates:
        for name, call in (
            ("counts", lambda: aggregates.counts(
                start, end, model="fraud", bucket="day", known_by=known_by,
                outcome_window=timedelta(days=45))),
            ("feature_summary", lambda: aggregates.feature_summary(
                start, end, "fraud", numeric=edges, categorical=categories,
                score_edges=tuple(i / 10 for i in range(1, 10)), filters={"version": "1"})),
            ("confusion", lambda: aggregates.confusion(start, end, "fraud", business=("loss",),
                                                       known_by=known_by)),
            ("labelled_sample", lambda: aggregates.labelled_sample(start, end, "fraud",
                                                                   known_by=known_by)),
            ("scores", lambda: aggregates.scores(start, end, "fraud", edges=(0.5, 0.7))),
        ):  # fmt: skip
            t = time.perf_counter()
            result = call()
            timings[name] = time.perf_counter() - t
            size = result.rows if hasattr(result, "features") else len(result)
            print(f"  {name}: {timings[name]:.1f} s ({size:,})", flush=True)
    print(f"report: {time.perf_counter() - began:.1f} s, peak {_peak_mib():.0f} MiB")


def json_cost(rows: int) -> None:
    """Seconds per row to sum 13 features by json_extract against typed columns, SQLite."""
    names = (*NUMERIC, "extra")
    connection = sqlite3.connect(":memory:")
    connection.execute(f"CREATE TABLE t (features TEXT, {', '.join(f'{n} REAL' for n in names)})")
    rng = np.random.default_rng(0)
    values = rng.random((rows, len(names)))
    connection.executemany(
        f"INSERT INTO t VALUES (?{', ?' * len(names)})",
        [
            (json.dumps(dict(zip(names, map(float, row), strict=True))), *map(float, row))
            for row in values
        ],
    )
    results = {}
    for label, expression in (
        ("json_extract", lambda n: f"json_extract(features, '$.{n}')"),
        ("typed", lambda n: n),
    ):
        sql = "SELECT " + ", ".join(f"SUM({expression(n)})" for n in names) + " FROM t"
        best = min(_timed(connection, sql) for _ in range(3))
        results[label] = best / rows * 1e6
        print(f"{label}: {results[label]:.2f} us per row ({len(names)} features)")
    print(f"ratio: {results['json_extract'] / results['typed']:.1f}x")


def _timed(connection: sqlite3.Connection, sql: str) -> float:
    t = time.perf_counter()
    connection.execute(sql).fetchall()
    return time.perf_counter() - t


def _fresh_schema() -> None:
    """A schema of the benchmark's own in the shared test database (dropped and re-created)."""
    import psycopg

    with psycopg.connect(PG_SERVER, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        connection.execute(f"CREATE SCHEMA {PG_SCHEMA}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--db", type=Path, default=Path("/tmp/tether-monitor-scale.db"))
    parser.add_argument("--phase", choices=("all", "load", "report"), default="all")
    parser.add_argument("--json-cost", action="store_true")
    args = parser.parse_args()
    if args.json_cost:
        json_cost(args.rows)
        return
    url = f"sqlite:///{args.db}" if args.engine == "sqlite" else PG_URL
    if args.phase == "all":
        if args.engine == "sqlite":
            args.db.unlink(missing_ok=True)
            Path(f"{args.db}-wal").unlink(missing_ok=True)
        else:
            _fresh_schema()
        for phase in ("load", "report"):  # each in its own process: its own peak memory
            subprocess.run([sys.executable, __file__, "--phase", phase, "--rows", str(args.rows),
                            "--engine", args.engine, "--db", str(args.db)], check=True)  # fmt: skip
    elif args.phase == "load":
        load(url, args.rows)
    else:
        report(url)


if __name__ == "__main__":
    main()
