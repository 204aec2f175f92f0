"""Drift's statistics against hand-worked values and their scipy oracles, on small data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tether.errors import ConfigError, MonitoringError
from tether.monitoring import (
    DriftReport,
    DriftThresholds,
    chi2_homogeneity,
    compare,
    ks_test,
    profile_frame,
    psi,
    wasserstein,
)


def _report(reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
    profile = profile_frame(reference)
    return compare(profile, profile_frame(current, reference=profile))


def test_psi_hand_worked_example() -> None:
    # shares (.25, .25, .5) -> (.5, .25, .25): .25 ln 2 + 0 + (-.25) ln(1/2) = 0.5 ln 2
    assert psi([25, 25, 50], [50, 25, 25]) == pytest.approx(0.5 * math.log(2), rel=1e-12)


def test_psi_of_identical_shares_is_zero() -> None:
    assert psi([3, 1, 0, 6], [30, 10, 0, 60]) == 0.0


def test_psi_raises_empty_bins_to_epsilon() -> None:
    # The third bin is empty in the reference: its share 0 becomes 1e-4, not renormalised.
    expected = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert psi([50, 50, 0], [50, 40, 10]) == pytest.approx(expected, rel=1e-12)
    assert psi([50, 50, 0], [50, 40, 10], epsilon=1e-2) == pytest.approx(
        (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - 1e-2) * math.log(0.1 / 1e-2), rel=1e-12
    )


def test_psi_refuses_vectors_that_do_not_line_up() -> None:
    with pytest.raises(MonitoringError, match="one length"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(MonitoringError, match="non-empty"):
        psi([0, 0], [1, 2])


def test_chi2_equals_scipy_when_no_cell_is_sparse() -> None:
    statistic, p_value, table = chi2_homogeneity([30, 50, 20], [40, 40, 20])
    oracle = stats.chi2_contingency([[30, 50, 20], [40, 40, 20]])
    assert table.tolist() == [[30, 50, 20], [40, 40, 20]]
    assert (statistic, p_value) == pytest.approx((oracle.statistic, oracle.pvalue), rel=1e-12)


def test_chi2_pools_sparse_cells_and_folds_a_small_pool_into_the_smallest_bin() -> None:
    # Bins 3 and 4 expect < 5 rows; pooled they hold 6, still < 5 expected on one side, so the
    # pool joins the smallest dense bin (the second: 165 rows against 190).
    statistic, p_value, table = chi2_homogeneity([100, 80, 3, 1], [90, 85, 2, 0])
    assert table.tolist() == [[100, 84], [90, 87]]
    oracle = stats.chi2_contingency([[100, 84], [90, 87]])  # 2 x 2: Yates' correction
    assert (statistic, p_value) == pytest.approx((oracle.statistic, oracle.pvalue), rel=1e-12)
    # A pool that reaches 5 expected rows stays a bin of its own.
    _, _, table = chi2_homogeneity([100, 80, 3, 4], [90, 85, 2, 3])
    assert table.tolist() == [[100, 80, 7], [90, 85, 5]]


def test_chi2_drops_bins_empty_on_both_sides_and_needs_two_bins() -> None:
    _, _, table = chi2_homogeneity([10, 0, 20], [15, 0, 25])
    assert table.tolist() == [[10, 20], [15, 25]]
    assert chi2_homogeneity([10, 0], [15, 0])[:2] == (0.0, 1.0)


def test_identical_frames_have_zero_psi_and_no_drift() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=500), "k": rng.choice(list("abc"), 500)})
    report = _report(frame, frame)
    for drift in report.features:
        assert drift.psi == 0.0 and not drift.drifted and drift.effect == 0.0
    assert report.feature("x").p_value == 1.0 and not report.dataset_drift


def test_ks_and_wasserstein_equal_scipy_on_the_samples() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"x": rng.normal(0, 2, 300)})
    current = pd.DataFrame({"x": rng.normal(0.3, 2, 200)})
    current.loc[:9, "x"] = np.nan  # missing values are left out of both statistics
    drift = _report(reference, current).feature("x")
    ref, cur = reference["x"].to_numpy(), current["x"].dropna().to_numpy()
    oracle = stats.ks_2samp(ref, cur)
    assert (drift.statistic, drift.p_value) == pytest.approx(
        (oracle.statistic, oracle.pvalue), rel=1e-12
    )
    distance = stats.wasserstein_distance(ref, cur) / ref.std(ddof=0)
    assert drift.effect == pytest.approx(distance, rel=1e-9)
    assert drift.test == "ks" and drift.effect_name == "wasserstein/std"


@pytest.mark.parametrize(("rows", "method"), [(300, "exact"), (3_000, "asymp")])
def test_ks_test_is_scipys_exact_then_asymptotic(rows: int, method: str) -> None:
    rng = np.random.default_rng(9)
    reference, current = rng.normal(size=rows), rng.normal(0.1, 1.0, rows // 2)
    oracle = stats.ks_2samp(reference, current, method=method)
    assert ks_test(reference, current) == (oracle.statistic, oracle.pvalue)


def test_wasserstein_equals_scipy_with_ties_and_unequal_sizes() -> None:
    rng = np.random.default_rng(10)
    reference = rng.integers(0, 5, 400).astype("float64")  # many ties
    current = rng.normal(2.0, 1.5, 123)
    oracle = stats.wasserstein_distance(reference, current)
    assert wasserstein(reference, current) == pytest.approx(oracle, rel=1e-12)
    assert wasserstein(reference, reference.copy()) == 0.0


def test_categorical_chi2_and_total_variation_equal_the_oracles() -> None:
    reference = pd.DataFrame({"k": ["a"] * 50 + ["b"] * 30 + ["c"] * 20})
    current = pd.DataFrame({"k": ["a"] * 70 + ["b"] * 20 + ["c"] * 10})
    drift = _report(reference, current).feature("k")
    # Bins: a, b, c, other, missing; the last two are empty on both sides and dropped.
    oracle = stats.chi2_contingency([[50, 30, 20], [70, 20, 10]])
    assert (drift.statistic, drift.p_value) == pytest.approx(
        (oracle.statistic, oracle.pvalue), rel=1e-12
    )
    assert drift.effect == pytest.approx(0.2)  # (|.5-.7| + |.3-.2| + |.2-.1|) / 2
    assert drift.bins == ("a", "b", "c", "other", "missing")
    assert drift.psi == pytest.approx(psi([50, 30, 20, 0, 0], [70, 20, 10, 0, 0]))
    assert drift.drifted and "chi-square p" in drift.reason and "tvd 0.2 > 0.1" in drift.reason


def test_one_value_columns_drift_by_their_test_when_psi_cannot_see_it() -> None:
    reference = pd.DataFrame({"x": [7.0] * 200})
    same = _report(reference, pd.DataFrame({"x": [7.0] * 100})).feature("x")
    assert (same.psi, same.effect, same.p_value, same.drifted) == (0.0, 0.0, 1.0, False)
    # 8 lands in the same open bin [7, inf) as 7: PSI is 0, but KS and the effect see it.
    moved = _report(reference, pd.DataFrame({"x": [8.0] * 100})).feature("x")
    assert moved.psi == 0.0 and moved.effect == math.inf and moved.drifted
    assert moved.bins == ("(-inf, 7)", "[7, inf)", "missing")


def test_an_all_null_current_column_is_reported_not_crashed_on() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=300), "k": rng.choice(list("ab"), 300)})
    current = pd.DataFrame({"x": [np.nan] * 50, "k": pd.Series([None] * 50, dtype="object")})
    report = _report(reference, current)
    x = report.feature("x")
    assert x.current_missing == 1.0 and x.reference_missing == 0.0 and math.isnan(x.p_value)
    assert x.drifted and "no KS test" in x.reason and "missing 100.0% (reference 0.0%)" in x.reason
    assert report.feature("k").drifted and report.feature("k").current_shares[-1] == 1.0


def test_missing_values_are_their_own_bin_and_reported() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(size=2_000)})
    current = pd.DataFrame({"x": rng.normal(size=2_000)})
    current.loc[:399, "x"] = np.nan  # 20% missing, the values themselves unchanged
    drift = _report(reference, current).feature("x")
    assert drift.current_missing == pytest.approx(0.2) and drift.current_shares[-1] == 0.2
    assert drift.psi > 1.0 and drift.drifted and "missing 20.0% (reference 0.0%)" in drift.reason


def test_unseen_categories_are_counted_and_drift() -> None:
    reference = pd.DataFrame({"k": ["a"] * 60 + ["b"] * 40})
    current = pd.DataFrame({"k": ["a"] * 50 + ["b"] * 30 + ["crypto"] * 20})
    drift = _report(reference, current).feature("k")
    assert drift.unseen == 20 and drift.current_shares[drift.bins.index("other")] == 0.2
    assert drift.drifted and "20 rows of categories the reference never saw" in drift.reason


def test_dataset_drifts_only_when_more_than_the_share_of_features_do() -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({f"f{i}": rng.normal(size=5_000) for i in range(10)})
    current = pd.DataFrame({f"f{i}": rng.normal(size=5_000) for i in range(10)})
    one = _report(reference, current.assign(f0=current["f0"] + 2))
    assert one.drifted == ("f0",) and one.drifted_share == 0.1 and not one.dataset_drift
    two = _report(reference, current.assign(f0=current["f0"] + 2, f1=current["f1"] * 3))
    assert two.drifted == ("f0", "f1") and two.dataset_drift
    assert two.reason == "drifted: 2 of 10 features drifted (20%; above 10%): f0, f1"


def test_warning_band_between_psi_warn_and_psi_drift() -> None:
    rng = np.random.default_rng(6)
    reference = pd.DataFrame({"x": rng.normal(size=20_000)})
    current = pd.DataFrame({"x": rng.normal(size=20_000)})
    thresholds = DriftThresholds(numeric_effect=10.0)  # PSI alone decides here
    profile = profile_frame(reference)
    drift = compare(profile, profile_frame(current + 0.4, reference=profile), thresholds)
    shifted = drift.feature("x")
    assert 0.1 < shifted.psi <= 0.2, shifted.psi
    assert shifted.warning and not shifted.drifted and shifted.reason.startswith("warning: ")


def test_thresholds_are_validated_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"monitoring.psi_warn is 0.3: expected 0 <= psi_warn"):
        DriftThresholds(psi_warn=0.3)
    with pytest.raises(ConfigError, match=r"monitoring\.p_value is 0\.0"):
        DriftThresholds(p_value=0.0)


def test_report_is_json_ready_and_reads_back() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"x": [1.0] * 100, "k": rng.choice(list("ab"), 100)})
    current = pd.DataFrame({"x": [2.0] * 100, "k": [None] * 100})
    report = _report(reference, current)
    raw = report.to_dict()
    text = json.dumps(raw, allow_nan=False)
    assert raw["features"][0]["effect"] == "inf" and raw["drifted"] == ["x", "k"]
    assert DriftReport.from_dict(json.loads(text)).to_dict() == raw


def test_profiles_not_binned_on_the_reference_are_refused() -> None:
    rng = np.random.default_rng(8)
    reference = profile_frame(pd.DataFrame({"x": rng.normal(size=100)}))
    stranger = profile_frame(pd.DataFrame({"x": rng.normal(size=100)}))
    with pytest.raises(MonitoringError, match="profile it with reference="):
        compare(reference, stranger)
    empty = profile_frame(pd.DataFrame({"x": []}, dtype="float64"), reference=reference)
    with pytest.raises(MonitoringError, match="the current frame has no rows"):
        compare(reference, empty)
    other = profile_frame(pd.DataFrame({"y": [1.0]}))
    with pytest.raises(MonitoringError, match=r"features \['y'\] that the reference does not"):
        compare(reference, other)


def test_ks_runs_on_seeded_subsamples_of_ks_sample_size() -> None:
    rng = np.random.default_rng(11)
    reference = profile_frame(pd.DataFrame({"x": rng.normal(size=3_000)}))
    current = profile_frame(pd.DataFrame({"x": rng.normal(size=2_000)}), reference=reference)
    small = DriftThresholds(ks_sample_size=200)
    first = compare(reference, current, small, seed=4).feature("x")
    assert first == compare(reference, current, small, seed=4).feature("x")
    other = compare(reference, current, small, seed=5).feature("x")
    full = compare(reference, current).feature("x")
    assert first.p_value != other.p_value and first.p_value != full.p_value
    # 200 a side: the exact p-value, and a KS statistic on a grid of 1/200.
    assert round(first.statistic * 200, 9) == round(first.statistic * 200)


def test_a_profile_without_a_sample_still_gets_psi_and_chi_square() -> None:
    # A window profiled in the database may come without sample rows: no KS, the rest stays.
    rng = np.random.default_rng(12)
    frame = pd.DataFrame({"x": rng.normal(size=500), "k": rng.choice(list("ab"), 500)})
    reference = profile_frame(frame)
    shifted = frame.assign(x=frame["x"] + 3.0)
    current = profile_frame(shifted, reference=reference, sample_size=0)
    assert len(current.sample) == 0
    report = compare(reference, current)
    assert report.feature("x").drifted and np.isnan(report.feature("x").p_value)
    assert report.feature("k").p_value == pytest.approx(1.0)


def test_many_categories_share_other_and_an_unchanged_tail_does_not_drift() -> None:
    rng = np.random.default_rng(13)
    names = [f"m{i:02d}" for i in range(80)]
    shares = np.geomspace(1.0, 0.01, len(names))
    shares /= shares.sum()
    reference = profile_frame(pd.DataFrame({"k": rng.choice(names, 20_000, p=shares)}))
    current = profile_frame(
        pd.DataFrame({"k": rng.choice(names, 5_000, p=shares)}), reference=reference
    )
    drift = compare(reference, current).feature("k")
    assert len(drift.bins) == 52 and drift.bins[-2:] == ("other", "missing")
    assert drift.psi < 0.05 and not drift.drifted
    assert drift.unseen == 0  # the tail's categories are in the reference's sample


def test_a_feature_of_another_kind_than_the_reference_is_refused() -> None:
    reference = profile_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    current = profile_frame(pd.DataFrame({"x": ["a", "b", "c"]}))
    with pytest.raises(MonitoringError, match="'x' is categorical in the current profile"):
        compare(reference, current)
