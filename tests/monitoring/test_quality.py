"""Data-quality checks: each signature of a broken pipeline is found, and a resample is clean.

Every check is shown on a seeded frame with one injected break, against a reference whose
every feature is well behaved; and a seeded resample of the reference (and a fresh draw
from its distribution) must yield no finding at all, the false-alarm side of each check.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tether.monitoring import (
    CategoricalSummary,
    NumericSummary,
    Profile,
    QualityFinding,
    QualityThresholds,
    check_quality,
    profile_frame,
)

ROWS = 20_000
CATEGORIES = ("grocery", "fuel", "travel", "electronics", "health")


def draw(rows: int, seed: int) -> pd.DataFrame:
    """A well-behaved frame: a skewed amount, a count, a normal, a category, some nulls."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(3.5, 0.8, rows), 2)
    temperature = rng.normal(20.0, 5.0, rows)
    temperature[rng.random(rows) < 0.02] = np.nan  # a 2% null rate in the reference
    return pd.DataFrame(
        {
            "amount": amount,
            "tx_count_7d": rng.poisson(6.0, rows).astype(np.int64),
            "temperature": temperature,
            "category": rng.choice(CATEGORIES, rows, p=[0.4, 0.25, 0.15, 0.1, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return draw(ROWS, seed=1)


@pytest.fixture(scope="module")
def reference(frame: pd.DataFrame) -> Profile:
    return profile_frame(frame, seed=0)


def findings_of(reference: Profile, window: pd.DataFrame) -> list[QualityFinding]:
    return check_quality(reference, profile_frame(window, reference=reference, seed=1))


def only(findings: list[QualityFinding]) -> QualityFinding:
    assert len(findings) == 1, findings
    return findings[0]


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_a_seeded_resample_of_the_reference_has_no_finding(
    frame: pd.DataFrame, reference: Profile, seed: int
) -> None:
    resample = frame.sample(n=5_000, replace=True, random_state=seed)
    assert findings_of(reference, resample) == []


@pytest.mark.parametrize("rows", [200, 5_000, 50_000])
def test_a_fresh_draw_from_the_same_world_has_no_finding(reference: Profile, rows: int) -> None:
    assert findings_of(reference, draw(rows, seed=rows)) == []


def test_a_null_flood_is_reported_with_both_rates(frame: pd.DataFrame, reference: Profile) -> None:
    window = frame.iloc[:5_000].copy()
    window.loc[window.index[:1_500], "amount"] = np.nan
    finding = only(findings_of(reference, window))
    assert (finding.check, finding.feature) == ("null_rate", "amount")
    assert finding.value == pytest.approx(0.3)
    assert finding.reference == 0.0
    assert "30.0%" in finding.message and "'amount'" in finding.message


def test_a_small_rise_of_an_existing_null_rate_is_no_finding(
    frame: pd.DataFrame, reference: Profile
) -> None:
    # 2% -> about 4%: below the 5-point rise a broken join makes.
    window = frame.iloc[:5_000].copy()
    window.loc[window.index[:100], "temperature"] = np.nan
    assert findings_of(reference, window) == []


def test_null_rate_in_a_tiny_window_needs_more_than_noise(reference: Profile) -> None:
    # 3 nulls in 40 rows (7.5%) is within four standard errors of the reference's 2%.
    window = draw(40, seed=9)
    window["temperature"] = window["temperature"].fillna(20.0)
    window.loc[:2, "temperature"] = np.nan
    assert [f for f in findings_of(reference, window) if f.check == "null_rate"] == []


def test_values_outside_the_reference_range_are_reported_as_a_share(
    frame: pd.DataFrame, reference: Profile
) -> None:
    window = frame.iloc[:5_000].copy()
    high = float(frame["temperature"].max())
    window.loc[window.index[:250], "temperature"] = high + 10.0  # 5% beyond the maximum
    finding = only(findings_of(reference, window))
    assert (finding.check, finding.feature) == ("out_of_range", "temperature")
    assert finding.value == pytest.approx(0.05, abs=0.01)  # estimated on the window's sample


def test_a_missing_column_a_new_one_and_a_type_change_are_schema_findings(
    frame: pd.DataFrame, reference: Profile
) -> None:
    window = frame.iloc[:5_000].drop(columns="tx_count_7d")
    window["merchant_risk"] = 0.5
    window["amount"] = window["amount"].map("{:.2f}".format)  # numbers read as text
    # Profiled on its own: a profile binned on the reference refuses a column of another
    # kind, but a window summarised elsewhere (a log's) may hold one.
    current = profile_frame(window)
    findings = {(f.feature, f.value, f.reference) for f in check_quality(reference, current)}
    assert findings == {
        ("tx_count_7d", "missing", "numeric"),
        ("merchant_risk", "numeric", "missing"),
        ("amount", "categorical", "numeric"),
    }


def test_a_feature_stuck_at_one_value_is_constant(frame: pd.DataFrame, reference: Profile) -> None:
    window = frame.iloc[:5_000].copy()
    window["tx_count_7d"] = 6
    window["category"] = "grocery"
    found = {(f.check, f.feature) for f in findings_of(reference, window)}
    assert found == {("constant", "tx_count_7d"), ("constant", "category")}


@pytest.mark.parametrize(("rows", "stuck"), [(150, False), (2_000, True)])
def test_a_sparse_feature_all_zero_is_stuck_only_when_the_reference_makes_it_improbable(
    rows: int, stuck: bool
) -> None:
    # A count that is 0 in 97% of the reference: all zeros in 150 rows happens one window in
    # a hundred (0.97 ** 150 = 0.01), in 2,000 rows once in 1e26.
    rng = np.random.default_rng(3)
    sparse = pd.DataFrame({"tx_count_1h": (rng.random(20_000) < 0.03).astype(np.int64)})
    reference = profile_frame(sparse, seed=0)
    found = findings_of(reference, pd.DataFrame({"tx_count_1h": np.zeros(rows, np.int64)}))
    assert [f.check for f in found] == (["constant"] if stuck else [])


def test_a_category_stuck_on_its_usual_value_in_a_few_rows_is_no_finding(
    frame: pd.DataFrame, reference: Profile
) -> None:
    # "grocery" is 40% of the reference: ten grocery rows in a row are a chance of 1e-4.
    assert findings_of(reference, frame.iloc[:10].assign(category="grocery")) == []
    assert {
        f.check for f in findings_of(reference, frame.iloc[:100].assign(category="grocery"))
    } == {"constant"}


def test_a_feature_constant_in_the_reference_too_is_no_finding() -> None:
    frame = draw(5_000, seed=5).assign(version=2)
    reference = profile_frame(frame)
    assert findings_of(reference, draw(2_000, seed=6).assign(version=2)) == []


@pytest.mark.parametrize("factor", [10.0, 100.0, 1000.0, 0.01])
def test_a_unit_change_is_a_unit_shift_with_both_medians(
    frame: pd.DataFrame, reference: Profile, factor: float
) -> None:
    window = frame.iloc[:5_000].copy()
    window["amount"] = window["amount"] * factor
    found = findings_of(reference, window)
    shift = [f for f in found if f.check == "unit_shift"]
    assert len(shift) == 1 and shift[0].feature == "amount"
    assert isinstance(shift[0].value, float) and isinstance(shift[0].reference, float)
    assert shift[0].value / shift[0].reference == pytest.approx(factor, rel=0.1)
    assert shift[0].reference == pytest.approx(float(frame["amount"].median()), rel=0.05)
    # Only amount is broken; a larger scale also puts values beyond the reference's range.
    assert {f.feature for f in found} == {"amount"}


@pytest.mark.parametrize("factor", [3.0, 0.5])
def test_a_median_moved_by_no_unit_factor_is_no_unit_shift(
    frame: pd.DataFrame, reference: Profile, factor: float
) -> None:
    window = frame.iloc[:5_000].copy()
    window["amount"] = window["amount"] * factor
    assert [f for f in findings_of(reference, window) if f.check == "unit_shift"] == []


def test_a_hundredfold_median_with_another_shape_is_no_unit_shift(
    frame: pd.DataFrame, reference: Profile
) -> None:
    # The median x100, but the spread collapsed: a different distribution, not a unit.
    window = frame.iloc[:5_000].copy()
    median = float(frame["amount"].median())
    window["amount"] = median * 100 + (window["amount"] - median) * 5
    assert [f for f in findings_of(reference, window) if f.check == "unit_shift"] == []


def test_a_flood_of_unseen_categories_is_reported(frame: pd.DataFrame, reference: Profile) -> None:
    window = frame.iloc[:5_000].copy()
    renamed = window["category"].str.upper()  # a re-encoded column: every name is new
    window.loc[window.index[:1_000], "category"] = renamed.iloc[:1_000]
    finding = only(findings_of(reference, window))
    assert (finding.check, finding.feature) == ("unseen", "category")
    assert finding.value == pytest.approx(0.2)


def test_one_new_category_now_and_then_is_no_flood(frame: pd.DataFrame, reference: Profile) -> None:
    window = frame.iloc[:5_000].copy()
    window.loc[window.index[:50], "category"] = "pharmacy"  # 1%
    assert findings_of(reference, window) == []


def test_thresholds_are_honoured() -> None:
    strict = QualityThresholds(unseen_share=0.001)
    frame = draw(5_000, seed=1)
    reference = profile_frame(frame)
    window = frame.copy()
    window.loc[window.index[:50], "category"] = "pharmacy"
    current = profile_frame(window, reference=reference)
    assert [f.check for f in check_quality(reference, current, strict)] == ["unseen"]


def test_findings_are_strict_json() -> None:
    finding = QualityFinding("null_rate", "amount", float("nan"), 0.02, "m")
    assert json.loads(json.dumps(finding.to_dict(), allow_nan=False)) == {
        "check": "null_rate",
        "feature": "amount",
        "value": None,
        "reference": 0.02,
        "message": "m",
    }


def test_hand_built_summaries_check_constant_numbers_without_rows() -> None:
    # A window of summaries only (an empty sample, as a profile read from a log may hold):
    # the checks that need rows are skipped, the others still run.
    def numeric(std: float, nulls: int = 0) -> NumericSummary:
        return NumericSummary(
            count=100, nulls=nulls, edges=(1.0,), counts=(50, 50),
            minimum=0.0, maximum=2.0, mean=1.0, std=std,
        )  # fmt: skip

    category = CategoricalSummary(count=100, nulls=0, frequencies={"a": 60, "b": 40}, other=0,
                                  unseen=0)  # fmt: skip
    reference = Profile(rows=100, features={"x": numeric(0.5), "c": category},
                        sample=pd.DataFrame())  # fmt: skip
    current = Profile(rows=140, features={"x": numeric(0.0, nulls=40), "c": category},
                      sample=pd.DataFrame())  # fmt: skip
    found = {(f.check, f.feature) for f in check_quality(reference, current)}
    assert found == {("constant", "x"), ("null_rate", "x")}


def test_a_category_column_stuck_on_one_new_value_is_constant_and_unseen(
    frame: pd.DataFrame, reference: Profile
) -> None:
    # Every row in one category the reference never saw: the summary's "other" bucket cannot
    # say how many categories it holds; the window's sample does.
    window = frame.iloc[:5_000].assign(category="UNKNOWN")
    found = {(f.check, f.feature) for f in findings_of(reference, window)}
    assert found == {("unseen", "category"), ("constant", "category")}


def test_a_null_flood_in_a_categorical_feature_is_reported(
    frame: pd.DataFrame, reference: Profile
) -> None:
    window = frame.iloc[:5_000].copy()
    window["category"] = window["category"].where(np.arange(len(window)) % 2 == 0, None)
    finding = only(findings_of(reference, window))
    assert (finding.check, finding.feature, finding.value) == ("null_rate", "category", 0.5)


def test_a_negative_feature_in_another_unit_is_a_unit_shift() -> None:
    # Losses recorded as negative amounts, then delivered in thousandths.
    frame = draw(20_000, seed=1).assign(loss=lambda f: -f["amount"])
    reference = profile_frame(frame[["loss"]])
    window = frame.iloc[:5_000][["loss"]] / 1000
    found = {f.check: f for f in findings_of(reference, window)}
    assert set(found) == {"unit_shift", "out_of_range"}  # every value is now above -1.54
    assert "/1000" in found["unit_shift"].message
