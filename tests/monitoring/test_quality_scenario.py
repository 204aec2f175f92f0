"""The scenario's cents incident, seen by the data-quality checks on the project's features.

The fraud world with ``incident_day`` delivers one day's amounts in cents (x100). The
features are built by the feature store from the example project's definitions, as training
and serving build them; the reference is the second month (the first warms up the 30-day
windows). Measured at this scale (60,000 payments, 600 customers, about 700 a day): on the
incident day the median ``amount`` is 105 times the reference's with the same quantile
ratios (0.31/0.53/2.07/4.03 against 0.30/0.52/1.98/4.00), so a unit shift, while the
features computed from it move by factors that are no unit (``amount_to_mean_30d`` 57x,
``amount_sum_1d`` 23x: their windows mix the day's cents with earlier dollars) and are
reported as values outside the reference's range; the day before has no finding at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

import tether.examples.fraud
from tether.examples.fraud import ScenarioConfig, write_scenario
from tether.features import DuckDBEngine, FeatureStore, FeatureView
from tether.monitoring import Profile, QualityFinding, check_quality, profile_frame

PROJECT = Path(tether.examples.fraud.__file__).parent / "project"
START = ScenarioConfig().start.date()
INCIDENT = START + dt.timedelta(days=68)
SCENARIO = ScenarioConfig(n_transactions=60_000, n_customers=600, months=3, incident_day=INCIDENT)
DERIVED = {"amount_sum_1d", "amount_max_30d", "amount_to_mean_30d", "amount_mean_30d"}
"""The project's features computed from ``amount``."""


@pytest.fixture(scope="module")
def features_module() -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(PROJECT))
        sys.modules.pop("features", None)
        yield importlib.import_module("features")
        sys.modules.pop("features", None)


@pytest.fixture(scope="module")
def built(features_module: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Every payment of the scenario with the project's features, point in time."""
    folder = tmp_path_factory.mktemp("cents")
    files = write_scenario(folder / "data", SCENARIO)
    views = [
        dataclasses.replace(
            view,
            source=dataclasses.replace(view.source, location=str(folder / view.source.location)),
        )
        if isinstance(view, FeatureView)
        else view
        for view in features_module.FEATURE_VIEWS
    ]
    store = FeatureStore(views, engine=DuckDBEngine(threads=1))
    return store.build_training_set(pd.read_parquet(files.events), timestamp="event_time")


@pytest.fixture(scope="module")
def columns(built: pd.DataFrame) -> list[str]:
    raw = {"event_id", "event_time", "ingested_time", "customer_id", "merchant_id", "device_id"}
    return [c for c in built.columns if c not in raw | {"category", "country"}]


@pytest.fixture(scope="module")
def reference(built: pd.DataFrame, columns: list[str]) -> Profile:
    day = built["event_time"].dt.date
    second_month = (day >= START + dt.timedelta(days=31)) & (day < START + dt.timedelta(days=59))
    return profile_frame(built[second_month], columns, seed=0)


def findings_on(
    day: dt.date, built: pd.DataFrame, columns: list[str], reference: Profile
) -> list[QualityFinding]:
    window = built[built["event_time"].dt.date == day]
    assert len(window) > 300
    return check_quality(reference, profile_frame(window, columns, reference=reference, seed=1))


def test_the_cents_incident_is_a_unit_shift_on_amount(
    built: pd.DataFrame, columns: list[str], reference: Profile
) -> None:
    findings = findings_on(INCIDENT, built, columns, reference)
    shifts = [f for f in findings if f.check == "unit_shift"]
    assert [f.feature for f in shifts] == ["amount"]
    assert isinstance(shifts[0].value, float) and isinstance(shifts[0].reference, float)
    assert 77 <= shifts[0].value / shifts[0].reference <= 130  # x100, within the tolerance
    assert "near x100" in shifts[0].message


def test_the_features_computed_from_amount_are_out_of_range_that_day(
    built: pd.DataFrame, columns: list[str], reference: Profile
) -> None:
    findings = findings_on(INCIDENT, built, columns, reference)
    out_of_range = {f.feature for f in findings if f.check == "out_of_range"}
    assert {"amount", "amount_sum_1d", "amount_max_30d", "amount_to_mean_30d"} <= out_of_range
    # Nothing but amount and what is computed from it: counts, hours, codes are intact.
    assert {f.feature for f in findings} <= {"amount"} | DERIVED


def test_an_ordinary_day_before_the_incident_has_no_finding(
    built: pd.DataFrame, columns: list[str], reference: Profile
) -> None:
    assert findings_on(INCIDENT - dt.timedelta(days=1), built, columns, reference) == []
