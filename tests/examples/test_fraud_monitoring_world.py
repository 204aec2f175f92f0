"""The fraud world is honest for monitoring: unchanged without drift, drifted with it.

Measured on the feature store's training frame (every model input of ``features.py``, as
of each payment's own time) at 400,000 payments and 4,000 customers, with the PSI of
:func:`fraud_project.psi` (deciles of the earlier month, open outer bins, 1e-4 for an
empty bin). The world starts with 31 days of warm-up (December) so that on 1 January
every 30-day window is full; the measured tables are in ``test_fraud_drift_curve.py``.

``drift=0.0``: every input below 0.01 from one month to the next and from January to any
later month (largest: 0.007, ``amount_max_30d``). Without the warm-up January's 30-day
windows started empty and ``device_tx_count_30d`` read 0.64 from January to February.

``drift=1.0``, January to June: ``amount_max_30d`` 0.93, ``amount_mean_30d`` 0.84,
``device_tx_count_30d`` 0.38, ``amount`` 0.36, ``tx_count_7d`` 0.35, ``amount_sum_1d``
0.22; gradually, at most 0.05 from one month to the next.

The monitor's own verdicts agree: ``tether.monitoring.compare`` of each month's profile
against January's (PSI, KS with its effect-size floor, the 10% dataset rule) flags no
feature and no warning from February to July with ``drift=0`` (largest PSI 0.007; KS p
down to 0.0006 on the 30-day features, whose effect stays under 0.05, below the 0.1
floor), and nine of 14 inputs in June with ``drift=1``. :func:`drifted_features` is the
plain-PSI check beside it, an oracle independent of tether.monitoring.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Sequence
from types import ModuleType

import pandas as pd
import pytest
from fraud_project import (
    PROJECT,
    FakeContext,
    feature_store,
    imported_project,
    psi,
    training_frame,
)
from threadpoolctl import threadpool_limits

from tether.examples.fraud import ScenarioConfig, write_scenario
from tether.monitoring import DriftReport, compare, domain_classifier, profile_frame

SCALE = {"n_transactions": 400_000, "n_customers": 4_000}
STABLE_BAND = 0.1
"""Below this PSI a feature has not moved (the usual 0.1 band)."""
DRIFT_BAND = 0.2
"""Above this PSI a feature has drifted (the usual 0.2 band)."""
SERVED_MONTHS = range(1, 8)
"""January to July: the model's training month and six months of service."""
DOMAIN_NOISE = 0.6
"""The domain classifier's AUC on the stationary world stays below this (measured 0.52-0.55:
a customer's 30-day window values repeat over many rows of one month, and its folds
learn them), so an AUC above it is a change of the world, not of the sample."""


@pytest.fixture(scope="module")
def project() -> Iterator[tuple[ModuleType, ModuleType]]:
    """The project's ``features`` and ``train`` modules, imported as tether imports them."""
    with imported_project() as modules:
        yield modules


@pytest.fixture(scope="module")
def model_features(project: tuple[ModuleType, ModuleType]) -> list[str]:
    """Every input of the model, in its order."""
    return list(project[1].FEATURE_COLUMNS)


def _monthly(
    project: tuple[ModuleType, ModuleType], factory: pytest.TempPathFactory, drift: float
) -> dict[int, pd.DataFrame]:
    """The training frame of the world at ``drift``, by month of 2026 (warm-up left out)."""
    frame = training_frame(
        project, factory.mktemp(f"drift{drift}"), ScenarioConfig(**SCALE, drift=drift)
    )
    frame = frame[frame["event_time"] >= ScenarioConfig().start]
    return {int(month): rows for month, rows in frame.groupby(frame["event_time"].dt.month)}


@pytest.fixture(scope="module")
def stationary(
    project: tuple[ModuleType, ModuleType], tmp_path_factory: pytest.TempPathFactory
) -> dict[int, pd.DataFrame]:
    return _monthly(project, tmp_path_factory, 0.0)


@pytest.fixture(scope="module")
def drifting(
    project: tuple[ModuleType, ModuleType], tmp_path_factory: pytest.TempPathFactory
) -> dict[int, pd.DataFrame]:
    return _monthly(project, tmp_path_factory, 1.0)


def feature_psi(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str]
) -> dict[str, float]:
    """Each feature's PSI from ``reference`` to ``current``."""
    return {
        name: psi(reference[name].to_numpy(dtype=float), current[name].to_numpy(dtype=float))
        for name in features
    }


def drifted_features(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str], band: float
) -> list[str]:
    """The features whose PSI from ``reference`` to ``current`` is above ``band``."""
    values = feature_psi(reference, current, features)
    return sorted(name for name, value in values.items() if value > band)


def monitor_reports(
    monthly: dict[int, pd.DataFrame], features: Sequence[str], months: Sequence[int]
) -> dict[int, DriftReport]:
    """tether.monitoring's drift verdicts of each month against January, the reference."""
    reference = profile_frame(monthly[1], features)
    return {
        month: compare(reference, profile_frame(monthly[month], features, reference=reference))
        for month in months
    }


@pytest.fixture(scope="module")
def stationary_reports(
    stationary: dict[int, pd.DataFrame], model_features: list[str]
) -> dict[int, DriftReport]:
    return monitor_reports(stationary, model_features, SERVED_MONTHS[1:])


@pytest.mark.parametrize("month", SERVED_MONTHS[1:])
def test_monitor_flags_nothing_in_any_month_of_the_stationary_world(
    stationary_reports: dict[int, DriftReport], month: int
) -> None:
    report = stationary_reports[month]
    assert report.drifted == (), report.reason
    assert not report.dataset_drift, report.reason
    assert not any(feature.warning for feature in report.features), report.reason


def test_monitor_flags_broad_drift_by_june_in_the_drifting_world(
    drifting: dict[int, pd.DataFrame], model_features: list[str]
) -> None:
    report = monitor_reports(drifting, model_features, [6])[6]
    assert len(report.drifted) >= 3, report.reason
    assert {"amount", "amount_mean_30d", "tx_count_7d"} <= set(report.drifted)
    assert report.dataset_drift, report.reason


def test_domain_classifier_tells_june_from_january_only_in_the_drifting_world(
    stationary: dict[int, pd.DataFrame],
    drifting: dict[int, pd.DataFrame],
    model_features: list[str],
) -> None:
    unchanged = domain_classifier(stationary[1][model_features], stationary[6][model_features])
    changed = domain_classifier(drifting[1][model_features], drifting[6][model_features])
    assert unchanged.auc < DOMAIN_NOISE < changed.auc, (unchanged.reason, changed.reason)


@pytest.mark.parametrize("month", SERVED_MONTHS[:-1])
def test_stationary_world_moves_no_feature_from_one_month_to_the_next(
    stationary: dict[int, pd.DataFrame], model_features: list[str], month: int
) -> None:
    before, after = stationary[month], stationary[month + 1]
    assert drifted_features(before, after, model_features, STABLE_BAND) == [], feature_psi(
        before, after, model_features
    )


@pytest.mark.parametrize("month", SERVED_MONTHS[1:])
def test_stationary_world_moves_no_feature_away_from_the_training_month(
    stationary: dict[int, pd.DataFrame], model_features: list[str], month: int
) -> None:
    # The monitor's own comparison: the January reference against a later month.
    january, later = stationary[1], stationary[month]
    assert drifted_features(january, later, model_features, STABLE_BAND) == [], feature_psi(
        january, later, model_features
    )


def test_drifting_world_drifts_at_least_three_features_by_june(
    drifting: dict[int, pd.DataFrame], model_features: list[str]
) -> None:
    drifted = drifted_features(drifting[1], drifting[6], model_features, DRIFT_BAND)
    assert len(drifted) >= 3, feature_psi(drifting[1], drifting[6], model_features)
    assert {"amount_mean_30d", "amount_max_30d"} <= set(drifted)


def test_drifting_world_drifts_gradually_not_in_one_step(
    drifting: dict[int, pd.DataFrame], model_features: list[str]
) -> None:
    # A trend, not a break: no single month moves a feature past the stable band.
    for month in SERVED_MONTHS[:-1]:
        before, after = drifting[month], drifting[month + 1]
        assert drifted_features(before, after, model_features, STABLE_BAND) == [], month


def test_january_windows_are_as_full_as_junes_without_drift(
    stationary: dict[int, pd.DataFrame],
) -> None:
    january, june = stationary[1], stationary[6]
    for name in ("device_tx_count_30d", "tx_count_7d"):
        assert january[name].mean() == pytest.approx(june[name].mean(), rel=0.03), name
    for name in ("amount_mean_30d", "hours_since_last_tx"):
        nulls = january[name].isna().mean(), june[name].isna().mean()
        assert nulls[0] == pytest.approx(nulls[1], abs=0.01), name


def test_without_warmup_january_windows_start_empty_and_read_as_drift(
    project: tuple[ModuleType, ModuleType], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The world before the warm-up, at a tenth of the scale and the same density: the
    # false alarm the warm-up removes.
    scenario = ScenarioConfig(n_transactions=40_000, n_customers=400, drift=0.0, warmup_days=0)
    frame = training_frame(project, tmp_path_factory.mktemp("cold"), scenario)
    month = frame["event_time"].dt.month.to_numpy()
    counts = frame["device_tx_count_30d"].to_numpy(dtype=float)
    assert frame["event_time"].min() >= scenario.start
    assert psi(counts[month == 1], counts[month == 2]) > DRIFT_BAND


def test_shipped_training_window_starts_where_the_warmup_ends(
    project: tuple[ModuleType, ModuleType],
) -> None:
    _, train = project
    params = tomllib.loads((PROJECT / "tether.toml").read_text(encoding="utf-8"))["train"]
    first = pd.Timestamp(ScenarioConfig().warmup_start)
    start, end = train.training_window(params["params"], first)
    assert start == pd.Timestamp(ScenarioConfig().start)
    assert end == pd.Timestamp("2026-02-01", tz="UTC")


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ("2025-12-01", "2026-01-01"),  # a 31-day warm-up: January is the first full month
        ("2025-12-02", "2026-01-01"),  # exactly 30 days of history on 1 January
        ("2025-12-02 00:00:01", "2026-02-01"),
        ("2026-01-01", "2026-02-01"),  # no warm-up: January's windows are not full
    ],
)
def test_training_window_without_train_start_waits_for_full_windows(
    project: tuple[ModuleType, ModuleType], first: str, expected: str
) -> None:
    _, train = project
    start, end = train.training_window({"train_months": 2}, pd.Timestamp(first, tz="UTC"))
    assert start == pd.Timestamp(expected, tz="UTC")
    assert end == start + pd.DateOffset(months=2)


def test_training_window_reads_train_start_as_a_utc_date(
    project: tuple[ModuleType, ModuleType],
) -> None:
    _, train = project
    params = {"train_start": "2026-03-01", "train_months": "1"}  # --param gives strings
    start, end = train.training_window(params, pd.Timestamp("2025-12-01", tz="UTC"))
    assert (start, end) == (
        pd.Timestamp("2026-03-01", tz="UTC"),
        pd.Timestamp("2026-04-01", tz="UTC"),
    )


def test_training_window_refuses_a_train_start_that_is_not_a_date(
    project: tuple[ModuleType, ModuleType],
) -> None:
    _, train = project
    with pytest.raises(ValueError, match=r"train_start is 'first of May': expected a date"):
        train.training_window({"train_start": "first of May", "train_months": 1}, pd.Timestamp(0))


def _small_context(
    project: tuple[ModuleType, ModuleType],
    factory: pytest.TempPathFactory,
    **params: int | str,
) -> tuple[FakeContext, ScenarioConfig]:
    """A 20,000-payment, two-month world and a context that trains on it with ``params``."""
    features, _ = project
    project_dir = factory.mktemp("small")
    scenario = ScenarioConfig(n_transactions=20_000, n_customers=200, months=2)
    files = write_scenario(project_dir / "data", scenario)
    config = tomllib.loads((PROJECT / "tether.toml").read_text(encoding="utf-8"))["train"]
    context = FakeContext(
        {**config["params"], "max_iter": 5, **params},  # the window is the point, not the model
        config["seed"],
        {"events": pd.read_parquet(files.events), "labels": pd.read_parquet(files.labels)},
        feature_store(features.FEATURE_VIEWS, project_dir),
    )
    return context, scenario


def test_training_refuses_a_window_outside_the_data(
    project: tuple[ModuleType, ModuleType], tmp_path_factory: pytest.TempPathFactory
) -> None:
    context, _ = _small_context(project, tmp_path_factory, train_start="2027-01-01")
    with pytest.raises(ValueError, match=r"2027-01-01 to 2027-02-01 holds 0 payments to fit"):
        project[1].train(context)


def test_model_is_fitted_and_evaluated_on_january_never_on_the_warmup(
    project: tuple[ModuleType, ModuleType], tmp_path_factory: pytest.TempPathFactory
) -> None:
    context, scenario = _small_context(project, tmp_path_factory)
    with threadpool_limits(limits=1):
        _, eval_frame = project[1].train(context)
    times = context.built["event_time"]
    # January's last fifth by time: from 24.8 days after 1 January to 1 February.
    eval_start = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=31 * 0.8)
    assert times.min() < scenario.start  # the warm-up is in the frame, as history
    assert len(eval_frame) == ((times >= eval_start) & (times < "2026-02-01T00:00Z")).sum()
