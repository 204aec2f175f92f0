"""The incident's fix as the feature store reads it: cents before the fix, dollars after.

The events file of a world with ``incident_day`` and ``incident_fix_days`` holds each of
that day's events twice: in cents, ingested that day, and corrected, ingested the fix days
later. The feature store's newest-version rule must read the cents until the fix is
ingested and the dollars from then on; the oracle is pandas over the world without the
incident, with the same ``ingested_time < t`` visibility.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from fraud_project import feature_store, imported_project

from tether.examples.fraud import ScenarioConfig, simulate, write_scenario

INCIDENT_DAY = dt.date(2026, 2, 10)
FIX_DAYS = 3
WORLD = ScenarioConfig(
    n_transactions=20_000,
    n_customers=200,
    months=2,
    incident_day=INCIDENT_DAY,
    incident_fix_days=FIX_DAYS,
)


def _max_30d_at(
    project: tuple[ModuleType, ModuleType], project_dir: Path, at: pd.Timestamp
) -> pd.Series:
    """``amount_max_30d`` of every customer at ``at``, from the feature store."""
    features, train = project
    events = pd.read_parquet(project_dir / "data" / "events.parquet")
    spine = events.drop_duplicates("customer_id")[train.SPINE_COLUMNS].copy()
    spine["event_time"] = at
    spine["event_id"] = "probe-" + spine["customer_id"]
    store = feature_store(features.FEATURE_VIEWS, project_dir)
    frame = store.build_training_set(spine, timestamp="event_time")
    return frame.set_index("customer_id")["amount_max_30d"].sort_index()


def _oracle(events: pd.DataFrame, at: pd.Timestamp) -> pd.Series:
    """The 30-day max amount per customer over events ingested before ``at``, by pandas."""
    seen = events[
        (events["event_time"] >= at - pd.Timedelta(days=30))
        & (events["event_time"] < at)
        & (events["ingested_time"] < at)
    ]
    return seen.groupby("customer_id")["amount"].max().sort_index()


@pytest.fixture(scope="module")
def project() -> Iterator[tuple[ModuleType, ModuleType]]:
    with imported_project() as modules:
        yield modules


def test_training_set_reads_cents_before_the_fix_and_dollars_after(
    project: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    write_scenario(tmp_path / "data", WORLD)
    clean, _ = simulate(ScenarioConfig(**{**WORLD.__dict__, "incident_day": None}))
    day = pd.Timestamp(INCIDENT_DAY, tz="UTC")
    before, after = day + pd.Timedelta(days=2), day + pd.Timedelta(days=FIX_DAYS + 1)

    truth_after = _oracle(clean, after)
    got_after = _max_30d_at(project, tmp_path, after).loc[truth_after.index]
    assert got_after.to_numpy() == pytest.approx(truth_after.to_numpy())

    broken = clean.copy()
    on_day = (broken["event_time"] >= day) & (broken["event_time"] < day + pd.Timedelta(days=1))
    broken.loc[on_day, "amount"] = (broken.loc[on_day, "amount"] * 100).round(2)
    truth_before = _oracle(broken, before)
    got_before = _max_30d_at(project, tmp_path, before).loc[truth_before.index]
    assert got_before.to_numpy() == pytest.approx(truth_before.to_numpy())
    # The incident reached the customers who paid that day: their max was in cents.
    hit = broken.loc[on_day, "customer_id"].unique()
    assert (got_before.loc[hit] > _oracle(clean, before).loc[hit]).mean() > 0.9
