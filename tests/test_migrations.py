"""Schema versions: ordered migrations in one transaction, old databases upgraded in place,
databases from a newer tether refused. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tether._schema import VERSION_TABLE, Migration, Schema, schema_version, upgrade
from tether._storage import Database, Params, Row, Transaction, open_database, to_micros
from tether._store import migrate_legacy_files
from tether.errors import ConfigError, RegistryError, ServingError, TetherError
from tether.project import Project
from tether.registry._events import EVENTS_SCHEMA, EventLog
from tether.serving import _predlog_sql as predlog_sql
from tether.serving._prediction import Prediction
from tether.serving._predlog import PredictionLog
from tether.serving._predlog_sql import PREDICTIONS_SCHEMA

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _backfill_upper(transaction: Transaction) -> None:
    for row_id, name in transaction.fetch_all("SELECT id, name FROM tether_toy"):
        transaction.execute(
            "UPDATE tether_toy SET upper_name = :upper WHERE id = :id",
            {"upper": str(name).upper(), "id": row_id},
        )


TOY_V1 = Migration(
    1, "a table", ("CREATE TABLE tether_toy (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",)
)
TOY = Schema(
    "toy",
    (
        TOY_V1,
        Migration(
            2,
            "a column and its backfill",
            ("ALTER TABLE tether_toy ADD COLUMN upper_name TEXT", _backfill_upper),
        ),
    ),
)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url, error=ServingError, purpose="test")
    yield db
    db.dispose()


def _version(database: Database, component: str) -> int:
    with database.read() as transaction:
        return schema_version(transaction, component)


def _set_version(database: Database, component: str, version: int) -> None:
    with database.write() as transaction:
        transaction.execute(
            f"UPDATE {VERSION_TABLE} SET version = :version WHERE component = :component",
            {"version": version, "component": component},
        )


def test_a_new_database_is_created_at_the_current_version(database: Database) -> None:
    assert upgrade(database, TOY) == 0
    assert _version(database, "toy") == 2
    assert upgrade(database, TOY) == 2  # a second upgrade finds nothing to do
    assert _version(database, "toy") == 2


def test_a_version_1_database_is_upgraded_with_its_rows_intact(database: Database) -> None:
    upgrade(database, TOY, target=1)
    with database.write() as transaction:
        transaction.execute_many(
            "INSERT INTO tether_toy (id, name) VALUES (:id, :name)",
            [{"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}],
        )

    assert upgrade(database, TOY) == 1

    with database.read() as transaction:
        rows = transaction.fetch_all("SELECT id, name, upper_name FROM tether_toy ORDER BY id")
    assert rows == [(1, "ada", "ADA"), (2, "grace", "GRACE")]
    assert _version(database, "toy") == 2


def test_a_failing_migration_leaves_no_trace(database: Database) -> None:
    upgrade(database, TOY, target=1)
    broken = Schema(
        "toy",
        (
            TOY_V1,
            Migration(2, "half good", ("CREATE TABLE tether_toy_2 (id BIGINT)", "NOT SQL AT ALL")),
        ),
    )

    with pytest.raises(ServingError, match=r"test database at .* failed"):
        upgrade(database, broken)

    assert _version(database, "toy") == 1
    with pytest.raises(ServingError), database.read() as transaction:
        transaction.fetch_all("SELECT * FROM tether_toy_2")


def test_a_database_from_a_newer_tether_is_refused(database: Database) -> None:
    upgrade(database, TOY)
    _set_version(database, "toy", 3)

    with pytest.raises(ServingError, match=r"schema version 3.*versions up to 2.*newer tether"):
        upgrade(database, TOY)
    assert _version(database, "toy") == 3


def test_components_are_versioned_apart(database: Database) -> None:
    upgrade(database, TOY, target=1)
    upgrade(database, Schema("other", (Migration(1, "nothing", ()),)))
    assert (_version(database, "toy"), _version(database, "other")) == (1, 1)


def test_concurrent_openers_apply_each_migration_once(database_url: str) -> None:
    errors: list[BaseException] = []

    def open_and_upgrade() -> None:
        db = open_database(database_url, error=ServingError, purpose="test")
        try:
            upgrade(db, TOY)
        except TetherError as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=open_and_upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    db = open_database(database_url, error=ServingError, purpose="test")
    assert _version(db, "toy") == 2
    db.dispose()


def test_migrations_must_be_numbered_from_1_in_order() -> None:
    with pytest.raises(ValueError, match=r"numbered \[1, 3\]"):
        Schema("toy", (TOY_V1, Migration(3, "skips 2", ())))


def test_a_version_1_prediction_log_is_upgraded_with_its_rows_intact(
    database: Database, database_url: str
) -> None:
    upgrade(database, PREDICTIONS_SCHEMA, target=1)
    v1_row = {
        "request_id": "r-1",
        "time_us": to_micros(T0),
        "features": '{"amount":12.5}',
        "latency_ms": 3.0,
        "role": "champion",
    }
    with database.write() as transaction:
        transaction.execute_many(
            "INSERT INTO tether_predictions (instance_id, model, version, role, request_id, "
            "time_us, features, output, latency_ms) VALUES (:instance_id, 'fraud', '1', :role, "
            ":request_id, :time_us, :features, :output, :latency_ms)",
            [
                {**v1_row, "instance_id": "tx-1", "output": "0.25"},
                {**v1_row, "instance_id": "tx-2", "output": '{"label":"fraud"}'},
            ],
        )
        transaction.execute(
            "INSERT INTO tether_feedback (instance_id, label, business, time_us) "
            "VALUES ('tx-1', '1', '{}', :time_us)",
            {"time_us": to_micros(T0)},
        )

    with PredictionLog(database_url) as log:
        frame = log.query(T0, T0 + timedelta(seconds=1))

    assert list(frame["instance_id"]) == ["tx-1", "tx-2"]
    assert list(frame["output"]) == [0.25, {"label": "fraud"}]
    assert frame["score"].iloc[0] == 0.25 and frame["score"].isna().iloc[1]  # backfilled
    assert list(frame["features"]) == [{"amount": 12.5}] * 2
    assert frame["label"].iloc[0] == 1
    assert _version(database, "predictions") == PREDICTIONS_SCHEMA.current_version == 6


def test_a_version_1_event_log_opens_with_its_events_intact(
    database: Database, database_url: str
) -> None:
    upgrade(database, EVENTS_SCHEMA, target=1)
    with database.write() as transaction:
        transaction.execute(
            "INSERT INTO tether_events VALUES (1, :time_us, 'fraud', 'deploy', 'ana', 'first', "
            "'{}', '{\"champion\":\"1\"}', '{}')",
            {"time_us": to_micros(T0)},
        )

    log = EventLog(database_url)
    [event] = log.events()
    log.close()

    assert (event.id, event.time, event.after) == (1, T0, {"champion": "1"})
    assert _version(database, "events") == EVENTS_SCHEMA.current_version


@pytest.mark.parametrize(
    ("open_log", "schema", "error"),
    [(PredictionLog, PREDICTIONS_SCHEMA, ServingError), (EventLog, EVENTS_SCHEMA, RegistryError)],
    ids=["predictions", "events"],
)
def test_a_log_refuses_a_database_from_a_newer_tether(
    database: Database,
    database_url: str,
    open_log: type[PredictionLog | EventLog],
    schema: Schema,
    error: type[TetherError],
) -> None:
    upgrade(database, schema)
    _set_version(database, schema.component, schema.current_version + 1)

    with pytest.raises(error, match="written by a newer tether"):
        open_log(database_url)


def _insert_v2_predictions(database: Database, count: int) -> None:
    with database.write() as transaction:
        transaction.execute_many(
            "INSERT INTO tether_predictions (instance_id, model, version, role, request_id, "
            "time_us, features, output, latency_ms) VALUES (:id, 'fraud', '1', 'champion', "
            "'r', :time_us, :features, :output, 1.0)",
            [
                {
                    "id": f"tx-{n:03d}",
                    "time_us": to_micros(T0) + n,
                    "output": str(n / 100),
                    "features": '{"amount":1.0}',
                }
                for n in range(count)
            ],
        )


def test_the_score_backfill_reads_the_table_in_batches(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(database, PREDICTIONS_SCHEMA, target=1)
    _insert_v2_predictions(database, 7)
    monkeypatch.setattr(predlog_sql, "BACKFILL_BATCH", 3)  # 3 + 3 + 1 rows
    queries: list[str] = []
    fetch_all = Transaction.fetch_all

    def counted(self: Transaction, sql: str, params: Params | None = None) -> list[Row]:
        rows = fetch_all(self, sql, params)
        if "SELECT instance_id, model, version, output" in sql:
            queries.append(sql)
            assert len(rows) <= 3
        return rows

    monkeypatch.setattr(Transaction, "fetch_all", counted)
    upgrade(database, PREDICTIONS_SCHEMA, target=2)

    assert len(queries) == 3
    with database.read() as transaction:
        scores = transaction.fetch_all("SELECT score FROM tether_predictions ORDER BY time_us")
    assert [score for (score,) in scores] == [n / 100 for n in range(7)]


def test_a_version_2_prediction_log_is_upgraded_to_revisions_and_corrections(
    database: Database, database_url: str
) -> None:
    upgrade(database, PREDICTIONS_SCHEMA, target=2)
    _insert_v2_predictions(database, 3)
    with database.write() as transaction:
        transaction.execute(
            "INSERT INTO tether_feedback (instance_id, label, business, time_us) "
            "VALUES ('tx-001', '1', '{}', :time_us)",
            {"time_us": to_micros(T0)},
        )

    with PredictionLog(database_url) as log:
        frame = log.query(T0, T0 + timedelta(seconds=1))
        assert list(frame["instance_id"]) == ["tx-000", "tx-001", "tx-002"]
        assert list(frame["output"]) == [0.0, 0.01, 0.02]
        assert list(frame["features"]) == [{"amount": 1.0}] * 3
        assert list(frame["input_digest"]) == [""] * 3  # request fields were not recorded
        assert not frame["superseded"].any()
        assert list(frame["label"]) == [None, 1, None]
        assert [r.revision for r in log.feedback_history("tx-001")] == [1]
        # Old rows have no label space: any finite scalar is accepted, as before.
        assert log.record_feedback("tx-000", "anything") == "created"
        assert log.record_feedback("tx-001", 0, correction=True, reason="reversed") == "corrected"
        # The same instance scored again after the upgrade is a new revision of it.
        log.record(
            Prediction(
                request_id="r-2", instance_id="tx-002", time=T0 + timedelta(milliseconds=1),
                model="fraud", version="1", role="champion", features={"amount": 2.0},
                output=0.5, latency_ms=1.0,
            )
        )  # fmt: skip
        log.flush()
        rows = log.query(T0, T0 + timedelta(seconds=1))
    assert list(rows["superseded"]) == [False, False, True, False]
    assert _version(database, "predictions") == PREDICTIONS_SCHEMA.current_version == 6


def test_a_version_3_prediction_log_gains_entity_request_data_and_statuses(
    database: Database, database_url: str
) -> None:
    upgrade(database, PREDICTIONS_SCHEMA, target=3)
    with database.write() as transaction:
        transaction.execute_many(
            "INSERT INTO tether_predictions (instance_id, model, version, input_digest, role, "
            "request_id, time_us, features, output, latency_ms) VALUES (:id, 'fraud', '1', "
            "'d', 'champion', 'r', :time_us, :features, '0.5', 1.0)",
            [
                {"id": f"tx-{n:03d}", "time_us": to_micros(T0) + n, "features": '{"amount":1.0}'}
                for n in range(2)
            ],
        )

    with PredictionLog(database_url) as log:
        log.record(
            Prediction(
                request_id="r-2", instance_id="tx-new", time=T0 + timedelta(milliseconds=5),
                model="fraud", version="1", role="champion", features={"amount": 2.0},
                output=0.5, latency_ms=1.0, entity={"customer_id": "c1"},
                statuses={"amount": "request"}, request_data={"country": "FR"},
            )
        )  # fmt: skip
        log.flush()
        frame = log.query(T0, T0 + timedelta(seconds=1))
    assert list(frame["instance_id"]) == ["tx-000", "tx-001", "tx-new"]
    assert list(frame["features"]) == [{"amount": 1.0}] * 2 + [{"amount": 2.0}]
    # Rows logged before version 4 say "not recorded" (null), never an invented value.
    assert list(frame["entity"]) == [None, None, {"customer_id": "c1"}]
    assert list(frame["statuses"]) == [None, None, {"amount": "request"}]
    assert list(frame["request_data"]) == [None, None, {"country": "FR"}]
    assert _version(database, "predictions") == PREDICTIONS_SCHEMA.current_version == 6


# The one store: a project with the two files of before ``[store] url`` is moved into it.

PROJECT_TOML = (
    '[project]\nname = "p"\nmodel_name = "fraud"\n[train]\nentry_point = "train:train"\n'
    'label = "y"\n'
)


def _two_file_project(root: Path) -> Path:
    """A project as the two-file tether left it: ``events.db`` and ``predictions.db``."""
    root.mkdir()
    (root / "tether.toml").write_text(PROJECT_TOML)
    state = root / ".tether"
    state.mkdir()
    events = EventLog(f"sqlite:///{state / 'events.db'}")
    events.append("fraud", "deploy", actor="ana", reason="first", after={"champion": "1"})
    events.close()
    with PredictionLog(f"sqlite:///{state / 'predictions.db'}") as log:
        log.record(
            Prediction(
                request_id="r-1", instance_id="tx-001", time=T0, model="fraud", version="1",
                role="champion", features={"amount": 1.0}, output=0.25, latency_ms=1.0,
            )
        )  # fmt: skip
        log.flush()
        assert log.record_feedback("tx-001", 1) == "created"
    return root


def test_a_two_file_project_moves_into_the_one_store_on_first_open(tmp_path: Path) -> None:
    root = _two_file_project(tmp_path / "p")
    state = root / ".tether"
    with Project.open(root) as project:
        assert project.store_url == f"sqlite:///{state / 'tether.db'}"
        assert project.events.latest_state("fraud") == {"champion": "1"}
        frame = project.predictions.query(T0, T0 + timedelta(seconds=1))
        assert list(frame["instance_id"]) == ["tx-001"]
    assert not (state / "events.db").exists() and not (state / "predictions.db").exists()
    assert (state / "events.db.migrated").is_file()
    assert (state / "predictions.db.migrated").is_file()
    database = open_database(f"sqlite:///{state / 'tether.db'}", error=ServingError, purpose="t")
    try:
        with database.read() as transaction:
            # A prediction joins the deploy event of the version that made it: one database.
            joined = transaction.fetch_all(
                "SELECT p.instance_id, e.action, e.actor FROM tether_predictions p "
                "JOIN tether_events e ON e.model = p.model WHERE e.action = 'deploy'"
            )
            feedback = transaction.fetch_all("SELECT instance_id FROM tether_feedback")
        assert joined == [("tx-001", "deploy", "ana")]
        assert feedback == [("tx-001",)]
        assert _version(database, "events") == EVENTS_SCHEMA.current_version
        assert _version(database, "predictions") == PREDICTIONS_SCHEMA.current_version
    finally:
        database.dispose()


def test_opening_a_migrated_project_again_moves_nothing(tmp_path: Path) -> None:
    root = _two_file_project(tmp_path / "p")
    Project.open(root).close()
    with Project.open(root) as again:
        assert len(again.events.events("fraud")) == 1
    assert (
        migrate_legacy_files(root / ".tether", f"sqlite:///{root / '.tether' / 'tether.db'}") == []
    )


def test_a_move_stopped_before_the_rename_is_finished_on_the_next_open(tmp_path: Path) -> None:
    root = _two_file_project(tmp_path / "p")
    state = root / ".tether"
    Project.open(root).close()
    for name in ("events.db", "predictions.db"):  # as if the process died before renaming
        (state / f"{name}.migrated").rename(state / name)
    with Project.open(root) as project:
        assert len(project.events.events("fraud")) == 1  # not copied twice
    assert not (state / "events.db").exists()


def test_the_move_refuses_to_overwrite_and_changes_nothing(tmp_path: Path) -> None:
    root = _two_file_project(tmp_path / "p")
    state = root / ".tether"
    target = EventLog(f"sqlite:///{state / 'tether.db'}")  # the store already has an event log
    target.append("fraud", "deploy", actor="bo", reason="other", after={"champion": "2"})
    target.close()
    with pytest.raises(ConfigError, match=r"already holds the table tether_events.*not overwrite"):
        Project.open(root)
    assert (state / "events.db").is_file() and (state / "predictions.db").is_file()
    check = EventLog(f"sqlite:///{state / 'tether.db'}")
    try:
        assert [e.actor for e in check.events("fraud")] == ["bo"]
    finally:
        check.close()


def test_legacy_files_with_a_postgresql_store_are_refused_with_the_files_named(
    tmp_path: Path,
) -> None:
    root = _two_file_project(tmp_path / "p")
    with pytest.raises(ConfigError, match=r"events\.db.*predictions\.db.*another database"):
        migrate_legacy_files(root / ".tether", "postgresql://postgres@127.0.0.1/test")
