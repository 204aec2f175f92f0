"""The bundled fraud world: its tables, its guarantees, its incident, its determinism."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tether.examples.fraud as fraud
from tether.errors import ConfigError
from tether.examples.fraud import ScenarioConfig, simulate, write_scenario

SMALL = ScenarioConfig(n_transactions=40_000, n_customers=400)
INCIDENT_DAY = dt.date(2026, 3, 10)
UTC_MICROS = "datetime64[us, UTC]"


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small world at the default seed and drift."""
    return simulate(SMALL)


def _on_day(events: pd.DataFrame, day: dt.date) -> pd.Series:
    return events["event_time"].dt.date == day


def test_package_exports_its_public_names_sorted() -> None:
    assert fraud.__all__ == ["ScenarioConfig", "ScenarioFiles", "simulate", "write_scenario"]


def test_events_have_the_documented_columns_and_types(world: tuple[pd.DataFrame, ...]) -> None:
    events, _ = world
    assert dict(events.dtypes.astype(str)) == {
        "event_id": "str",
        "event_time": UTC_MICROS,
        "ingested_time": UTC_MICROS,
        "customer_id": "str",
        "merchant_id": "str",
        "category": "str",
        "country": "str",
        "device_id": "str",
        "amount": "float64",
    }
    assert len(events) == SMALL.n_transactions
    assert events["country"].str.fullmatch("[A-Z]{2}").all()


def test_labels_have_one_row_per_event_with_the_documented_types(
    world: tuple[pd.DataFrame, ...],
) -> None:
    events, labels = world
    assert dict(labels.dtypes.astype(str)) == {
        "event_id": "str",
        "is_fraud": "int64",
        "label_time": UTC_MICROS,
    }
    assert labels["event_id"].equals(events["event_id"])
    assert set(labels["is_fraud"].unique()) == {0, 1}


def test_event_ids_are_unique_and_events_are_sorted_by_time(
    world: tuple[pd.DataFrame, ...],
) -> None:
    events, _ = world
    assert events["event_id"].is_unique
    assert events["event_id"].iloc[0] == "tx-00000001"
    assert events["event_time"].is_monotonic_increasing
    assert events["event_time"].min() >= pd.Timestamp("2025-12-01", tz="UTC")  # the warm-up
    assert events["event_time"].max() < pd.Timestamp("2026-09-01", tz="UTC")


def test_fraud_rate_is_between_one_and_three_percent(world: tuple[pd.DataFrame, ...]) -> None:
    _, labels = world
    assert 0.01 <= labels["is_fraud"].mean() <= 0.03


def test_labels_become_known_days_to_weeks_after_the_payment(
    world: tuple[pd.DataFrame, ...],
) -> None:
    events, labels = world
    delay = labels["label_time"] - events["event_time"]
    fraud = labels["is_fraud"] == 1
    assert (delay > pd.Timedelta(0)).all()
    assert delay[fraud].between(pd.Timedelta(days=3), pd.Timedelta(days=45)).all()
    assert delay[~fraud].between(pd.Timedelta(days=30), pd.Timedelta(days=60)).all()


def test_most_events_arrive_within_minutes_and_a_few_percent_hours_late(
    world: tuple[pd.DataFrame, ...],
) -> None:
    events, _ = world
    delay = events["ingested_time"] - events["event_time"]
    assert (delay >= pd.Timedelta(seconds=1)).all()
    late_share = (delay > pd.Timedelta(hours=1)).mean()
    assert 0.02 <= late_share <= 0.04
    assert delay.max() <= pd.Timedelta(hours=14)


def test_amounts_are_positive_dollars_with_cents(world: tuple[pd.DataFrame, ...]) -> None:
    events, _ = world
    amounts = events["amount"]
    assert (amounts > 0).all()
    assert np.allclose(amounts, amounts.round(2))
    assert 10 <= amounts.median() <= 200


def test_incident_is_off_by_default() -> None:
    assert ScenarioConfig().incident_day is None


def test_incident_multiplies_amounts_by_100_on_that_day_only(
    world: tuple[pd.DataFrame, ...],
) -> None:
    events, labels = world
    broken_events, broken_labels = simulate(
        ScenarioConfig(n_transactions=40_000, n_customers=400, incident_day=INCIDENT_DAY)
    )
    on_day = _on_day(events, INCIDENT_DAY)
    assert on_day.sum() > 50
    expected = events["amount"].where(~on_day, (events["amount"] * 100).round(2))
    assert broken_events["amount"].equals(expected)
    assert broken_events.drop(columns="amount").equals(events.drop(columns="amount"))
    assert broken_labels.equals(labels)


def test_incident_fix_follows_each_broken_event_with_its_correct_amount_days_later(
    world: tuple[pd.DataFrame, ...],
) -> None:
    events, _ = world
    fixed, _ = simulate(
        ScenarioConfig(
            n_transactions=40_000, n_customers=400, incident_day=INCIDENT_DAY, incident_fix_days=3
        )
    )
    on_day = _on_day(events, INCIDENT_DAY)
    corrected = fixed["event_id"].duplicated(keep="first")
    assert corrected.sum() == on_day.sum()
    assert fixed["event_time"].is_monotonic_increasing
    originals = fixed[~corrected].reset_index(drop=True)
    assert originals.drop(columns="amount").equals(events.drop(columns="amount"))
    fixes = fixed[corrected].set_index("event_id")
    truth = events[on_day].set_index("event_id")
    assert fixes["amount"].equals(truth["amount"])  # the correct dollars, not the cents
    assert fixes["event_time"].equals(truth["event_time"])
    fix_time = pd.Timestamp(INCIDENT_DAY, tz="UTC") + pd.Timedelta(days=3)
    assert (fixes["ingested_time"] == fix_time).all()


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    first = write_scenario(tmp_path / "first", SMALL)
    second = write_scenario(tmp_path / "second", SMALL)
    assert first.events.read_bytes() == second.events.read_bytes()
    assert first.labels.read_bytes() == second.labels.read_bytes()


def test_written_files_hold_utc_microsecond_timestamps(tmp_path: Path) -> None:
    files = write_scenario(tmp_path, ScenarioConfig(n_transactions=5_000, n_customers=100))
    assert files.events.name == "events.parquet"
    schema = pq.read_schema(files.events)
    assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("ingested_time").type == pa.timestamp("us", tz="UTC")
    assert pq.read_schema(files.labels).field("is_fraud").type == pa.int64()


def test_different_seed_gives_different_data(world: tuple[pd.DataFrame, ...]) -> None:
    events, labels = world
    other_events, other_labels = simulate(
        ScenarioConfig(n_transactions=40_000, n_customers=400, seed=8)
    )
    assert not events["amount"].equals(other_events["amount"])
    assert not events["event_time"].equals(other_events["event_time"])
    assert not labels["is_fraud"].equals(other_labels["is_fraud"])


def test_zero_drift_keeps_volume_and_amounts_steady() -> None:
    events, _ = simulate(ScenarioConfig(n_transactions=40_000, n_customers=400, drift=0.0))
    month = events["event_time"].dt.month
    volume = month.value_counts().sort_index()
    median_amount = events.groupby(month)["amount"].median()
    assert volume.max() / volume.min() < 1.2
    assert median_amount.max() / median_amount.min() < 1.1


def test_world_starts_with_a_31_day_warmup_counted_in_n_transactions(
    world: tuple[pd.DataFrame, ...],
) -> None:
    events, _ = world
    assert SMALL.warmup_start == dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
    before = events["event_time"] < pd.Timestamp(SMALL.start)
    assert events["event_time"].iloc[0].date() == SMALL.warmup_start.date()
    assert len(events) == SMALL.n_transactions
    # Volume grows with drift from 1 January, so December holds a bit less than 31/274.
    assert 0.07 <= before.mean() <= 31 / 274


def test_warmup_is_unchanging_history_like_the_zero_drift_world() -> None:
    events, labels = simulate(ScenarioConfig(n_transactions=40_000, n_customers=400, drift=0.0))
    month = events["event_time"].dt.month
    december, january = month == 12, month == 1  # both 31 days long
    assert december.sum() == pytest.approx(january.sum(), rel=0.05)
    median = events.groupby(month)["amount"].median()
    assert median[12] == pytest.approx(median[1], rel=0.05)
    # About 30 fraud episodes a month at this scale: the rate is noisy to +-0.5 points.
    assert 0.015 <= labels.loc[december, "is_fraud"].mean() <= 0.035


def test_no_warmup_starts_the_world_on_start() -> None:
    config = ScenarioConfig(n_transactions=5_000, n_customers=100, warmup_days=0)
    events, _ = simulate(config)
    assert config.warmup_start == config.start
    assert events["event_time"].min() >= pd.Timestamp(config.start)
    assert len(events) == config.n_transactions


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"n_transactions": 10}, "n_transactions"),
        ({"n_merchants": 5}, "n_merchants"),
        ({"drift": -1.0}, "drift"),
        ({"start": dt.datetime(2026, 1, 1)}, "start"),
        ({"incident_day": dt.date(2025, 12, 31)}, "incident_day"),
        ({"incident_day": dt.date(2026, 9, 1)}, "incident_day"),
        ({"warmup_days": -1}, "warmup_days"),
        ({"warmup_days": 367}, "warmup_days"),
    ],
)
def test_config_refuses_invalid_values_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=f"ScenarioConfig.{field}"):
        ScenarioConfig(**changes)
