"""The monitoring tables' names and migrations (the tables are described in :mod:`._results`).

Migrations run in order, once per database, as every store's do (:mod:`tether._schema`).
"""

from __future__ import annotations

from typing import Final

from tether._schema import Migration, Schema

RUNS: Final = "tether_monitor_runs"
SERIES: Final = "tether_monitor_series"
ALERTS: Final = "tether_monitor_alerts"
DAYS: Final = "tether_monitor_days"
RESULTS_SCHEMA = Schema(
    "monitoring",
    (
        Migration(
            1,
            "monitor runs, series and alerts",
            (
                f"""CREATE TABLE {RUNS} (
                    run_id BIGINT PRIMARY KEY,
                    model TEXT NOT NULL,
                    window_start_us BIGINT NOT NULL,
                    window_end_us BIGINT NOT NULL,
                    clock_us BIGINT NOT NULL,
                    wall_us BIGINT NOT NULL,
                    action TEXT NOT NULL,
                    report TEXT NOT NULL
                )""",
                f"CREATE INDEX tether_monitor_runs_model ON {RUNS} (model, window_end_us)",
                f"""CREATE TABLE {SERIES} (
                    run_id BIGINT NOT NULL,
                    model TEXT NOT NULL,
                    version TEXT NOT NULL,
                    role TEXT NOT NULL,
                    cohort TEXT NOT NULL,
                    window_start_us BIGINT NOT NULL,
                    window_end_us BIGINT NOT NULL,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    value DOUBLE PRECISION,
                    lower DOUBLE PRECISION,
                    upper DOUBLE PRECISION,
                    n BIGINT NOT NULL,
                    flagged INTEGER NOT NULL,
                    detail TEXT NOT NULL,
                    PRIMARY KEY (run_id, version, role, cohort, kind, name)
                )""",
                f"CREATE INDEX tether_monitor_series_name ON {SERIES} (model, kind, name)",
                f"""CREATE TABLE {ALERTS} (
                    alert_id BIGINT PRIMARY KEY,
                    run_id BIGINT NOT NULL,
                    model TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    message TEXT NOT NULL,
                    evidence TEXT NOT NULL,
                    clock_us BIGINT NOT NULL,
                    wall_us BIGINT NOT NULL,
                    delivery TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    last_error TEXT
                )""",
                f"CREATE INDEX tether_monitor_alerts_model ON {ALERTS} (model, alert_id)",
            ),
        ),
        Migration(
            2,
            "daily evidence of closed days, reused by later runs",
            (
                f"""CREATE TABLE {DAYS} (
                    model TEXT NOT NULL,
                    version TEXT NOT NULL,
                    day_us BIGINT NOT NULL,
                    basis TEXT NOT NULL,
                    predictions BIGINT NOT NULL,
                    run_id BIGINT NOT NULL,
                    evidence TEXT NOT NULL,
                    PRIMARY KEY (model, day_us, version, basis)
                )""",
            ),
        ),
    ),
)
"""The monitoring tables, version by version."""
