"""Profiles: DuckDB's summaries against numpy, the reference's bins for a current frame, the
seeded sample, and the versioned JSON form (a format 1 file read by this reader)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tether.errors import MonitoringError
from tether.features import DuckDBEngine
from tether.monitoring import (
    FORMAT_VERSION,
    CategoricalSummary,
    NumericSummary,
    Profile,
    profile_frame,
)

DATA = Path(__file__).parent / "data"


def _frame(rows: int = 2_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 1.0, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    merchant = rng.choice(["fuel", "grocery", "travel", "online"], rows, p=[0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame(
        {
            "amount": amount,
            "count_1h": rng.integers(0, 4, rows),
            "merchant": pd.Series(merchant, dtype="object").where(rng.random(rows) > 0.02),
            "is_foreign": rng.random(rows) < 0.3,
            "score": rng.random(rows),
        }
    )


def _numeric(profile: Profile, name: str) -> NumericSummary:
    summary = profile.features[name]
    assert isinstance(summary, NumericSummary)
    return summary


def _categorical(profile: Profile, name: str) -> CategoricalSummary:
    summary = profile.features[name]
    assert isinstance(summary, CategoricalSummary)
    return summary


def test_numeric_summary_equals_numpy_deciles_bins_and_moments() -> None:
    frame = _frame()
    summary = _numeric(profile_frame(frame, score="score"), "amount")
    values = frame["amount"].dropna().to_numpy()
    # numpy's default quantile is linear interpolation, as DuckDB's quantile_cont.
    expected_edges = np.unique(np.quantile(values, np.arange(1, 10) / 10))
    np.testing.assert_allclose(summary.edges, expected_edges, rtol=1e-12)
    # A value's bin is the number of edges at or below it: left-closed bins, open outer ones.
    bins = np.searchsorted(np.asarray(summary.edges), values, side="right")
    assert summary.counts == tuple(np.bincount(bins, minlength=len(summary.edges) + 1))
    assert (summary.count, summary.nulls) == (len(values), frame["amount"].isna().sum())
    assert summary.minimum == values.min() and summary.maximum == values.max()
    assert summary.mean == pytest.approx(values.mean(), rel=1e-12)
    assert summary.std == pytest.approx(values.std(ddof=0), rel=1e-9)


def test_integer_column_has_fewer_edges_and_ties_go_to_the_right_bin() -> None:
    frame = _frame()
    summary = _numeric(profile_frame(frame), "count_1h")
    assert summary.edges == (0.0, 1.0, 2.0, 3.0)  # deciles of {0..3}, duplicates removed
    counts = frame["count_1h"].value_counts().sort_index()
    assert summary.counts == (0, *counts.tolist())


def test_one_value_and_all_null_columns() -> None:
    frame = pd.DataFrame({"constant": [7.0] * 50, "empty": [np.nan] * 50, "text": [None] * 50})
    frame["text"] = frame["text"].astype("object")
    profile = profile_frame(frame)
    constant = _numeric(profile, "constant")
    assert constant.edges == (7.0,) and constant.counts == (0, 50)
    assert (constant.minimum, constant.maximum, constant.mean, constant.std) == (7.0, 7.0, 7.0, 0.0)
    empty = _numeric(profile, "empty")
    assert (empty.count, empty.nulls, empty.edges, empty.counts) == (0, 50, (), (0,))
    assert math.isnan(empty.mean) and math.isnan(empty.std) and empty.null_rate == 1.0
    text = _categorical(profile, "text")
    assert (text.count, text.nulls, dict(text.frequencies), text.other) == (0, 50, {}, 0)


def test_nullable_integers_none_and_nan_all_count_as_missing() -> None:
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "f": [1.0, np.nan, None, 2.0],
            "k": ["a", None, np.nan, "b"],
        }
    )
    profile = profile_frame(frame)
    assert _numeric(profile, "n").nulls == 1
    assert _numeric(profile, "f").nulls == 2
    assert _categorical(profile, "k").nulls == 2


def test_categories_past_max_categories_share_the_other_bucket() -> None:
    frame = pd.DataFrame({"k": ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 1 + [None] * 2})
    summary = _categorical(profile_frame(frame, max_categories=2), "k")
    # Ties ("b" and "c", 3 rows each) are broken by the category's text.
    assert dict(summary.frequencies) == {"a": 5, "b": 3}
    assert (summary.other, summary.nulls, summary.unseen, summary.count) == (4, 2, 0, 12)


def test_booleans_are_categories_named_true_and_false() -> None:
    frame = _frame()
    summary = _categorical(profile_frame(frame), "is_foreign")
    assert dict(summary.frequencies) == {
        "false": int((~frame["is_foreign"]).sum()),
        "true": int(frame["is_foreign"].sum()),
    }


def test_mixed_object_column_is_profiled_as_text() -> None:
    frame = pd.DataFrame({"k": pd.Series(["a", 1, 2.5, None, "a"], dtype="object")})
    summary = _categorical(profile_frame(frame), "k")
    assert dict(summary.frequencies) == {"a": 2, "1": 1, "2.5": 1} and summary.nulls == 1


def test_current_profile_uses_the_reference_bins_and_counts_unseen_categories() -> None:
    reference = profile_frame(_frame(), score="score")
    window = _frame(500, seed=1)
    window.loc[:99, "merchant"] = "crypto"  # a category the reference never saw
    window["amount"] = window["amount"] * 100  # far outside the reference's range
    current = profile_frame(window, score="score", reference=reference)
    amount = _numeric(current, "amount")
    assert amount.edges == _numeric(reference, "amount").edges
    assert amount.counts[-1] == amount.count  # every value in the open upper bin
    merchant = _categorical(current, "merchant")
    assert list(merchant.frequencies) == list(_categorical(reference, "merchant").frequencies)
    assert merchant.unseen == merchant.other == 100
    assert current.score is not None and reference.score is not None
    assert current.score.edges == reference.score.edges


def test_unseen_against_a_truncated_reference_uses_its_sample() -> None:
    reference_frame = pd.DataFrame({"k": ["a"] * 50 + ["b"] * 30 + ["rare"] * 2})
    reference = profile_frame(reference_frame, max_categories=2)
    assert _categorical(reference, "k").other == 2
    current = profile_frame(pd.DataFrame({"k": ["a", "rare", "new", "new"]}), reference=reference)
    summary = _categorical(current, "k")
    # "rare" was in the reference's other bucket (and its sample); "new" never was.
    assert (dict(summary.frequencies), summary.other, summary.unseen) == ({"a": 1, "b": 0}, 3, 2)


def test_sample_is_bounded_seeded_and_made_of_whole_rows() -> None:
    frame = _frame()
    frame["row"] = np.arange(len(frame), dtype="float64")
    first = profile_frame(frame, sample_size=300, seed=5).sample
    again = profile_frame(frame, sample_size=300, seed=5).sample
    other = profile_frame(frame, sample_size=300, seed=6).sample
    assert len(first) == 300
    pd.testing.assert_frame_equal(first, again)
    assert not first["row"].equals(other["row"])
    rows = frame.iloc[first["row"].astype(int)].reset_index(drop=True)
    np.testing.assert_array_equal(first["amount"], rows["amount"])
    assert first["merchant"].tolist() == [None if pd.isna(v) else v for v in rows["merchant"]]
    assert first["is_foreign"].tolist() == ["true" if v else "false" for v in rows["is_foreign"]]
    assert first["amount"].dtype == "float64" and first["merchant"].dtype == object
    assert len(profile_frame(frame.head(10), sample_size=300).sample) == 10


def test_columns_default_to_all_but_the_score_and_datetimes() -> None:
    frame = _frame(100)
    frame["event_time"] = pd.Timestamp("2026-01-01", tz="UTC")
    profile = profile_frame(frame, score="score")
    assert list(profile.features) == ["amount", "count_1h", "merchant", "is_foreign"]
    assert list(profile.sample.columns) == [*profile.features, "score"]
    with pytest.raises(MonitoringError, match="'event_time' is datetime64"):
        profile_frame(frame, ["event_time"])


def test_bad_columns_are_refused_naming_them() -> None:
    frame = _frame(100)
    with pytest.raises(MonitoringError, match="no column 'missing'"):
        profile_frame(frame, ["amount", "missing"])
    with pytest.raises(MonitoringError, match="score column 'merchant'"):
        profile_frame(frame, ["amount"], score="merchant")
    with pytest.raises(MonitoringError, match="not unique text"):
        profile_frame(pd.DataFrame({0: [1.0], 1: [2.0]}))
    reference = profile_frame(frame)
    with pytest.raises(MonitoringError, match=r"'amount' is \w+ \(categorical\) here and numeric"):
        profile_frame(frame.assign(amount="x"), reference=reference)


def test_a_frame_of_no_rows_has_an_empty_profile() -> None:
    profile = profile_frame(_frame().head(0), score="score")
    assert profile.rows == 0 and len(profile.sample) == 0
    assert _numeric(profile, "amount").counts == (0,)


def test_json_bytes_round_trip_summaries_and_sample() -> None:
    frame = _frame(300)
    frame.loc[0, "amount"] = np.inf
    profile = profile_frame(frame, score="score", sample_size=50)
    data = profile.to_json_bytes()
    json.loads(data)  # strict JSON: no NaN or Infinity tokens
    assert b"NaN" not in data and b"Infinity" not in data
    back = Profile.from_json_bytes(data)
    assert back == profile
    pd.testing.assert_frame_equal(back.sample, profile.sample)
    assert back.to_json_bytes() == data  # canonical: what a sha256 covers


def test_format_1_file_is_still_read() -> None:
    # Written by the first format; never regenerate it: it is what old readers' files hold.
    profile = Profile.from_json_bytes((DATA / "profile_format_1.json").read_bytes())
    assert profile.format_version == 1 and profile.rows == 12 and profile.score_name == "score"
    amount = _numeric(profile, "amount")
    assert amount.edges == (2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
    assert amount.maximum == math.inf and math.isnan(amount.std) and amount.nulls == 1
    merchant = _categorical(profile, "merchant")
    assert dict(merchant.frequencies) == {"fuel": 6, "grocery": 3} and merchant.other == 2
    assert profile.score is not None and profile.score.mean == 0.5
    assert profile.sample["amount"].iloc[-1] == math.inf
    assert profile.sample["merchant"].tolist() == ["fuel", "fuel", "grocery", "grocery", "online"]


def test_newer_or_broken_formats_are_refused() -> None:
    raw = json.loads((DATA / "profile_format_1.json").read_text())
    raw["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(MonitoringError, match="format_version 2; this tether reads"):
        Profile.from_dict(raw)
    with pytest.raises(MonitoringError, match="not JSON"):
        Profile.from_json_bytes(b"{not json")
    del raw["rows"]
    raw["format_version"] = 1
    with pytest.raises(MonitoringError, match="not a valid profile"):
        Profile.from_dict(raw, what="the reference profile of fraud v3")


def test_profiles_on_an_engine_cursor_equal_those_on_their_own_database() -> None:
    frame = _frame(3_000)
    engine = DuckDBEngine(threads=1)
    alone = profile_frame(frame, score="score", sample_size=500, seed=2)
    shared = profile_frame(frame, score="score", sample_size=500, seed=2, engine=engine)
    # A database of its own sums on several threads, in any order: equal to the last bits.
    assert _rounded(shared.to_dict()) == _rounded(alone.to_dict())
    # The engine does not keep insertion order: the sample is ordered by position anyway.
    pd.testing.assert_frame_equal(shared.sample, alone.sample)
    current = profile_frame(_frame(800, seed=3), reference=alone, engine=engine)
    again = profile_frame(_frame(800, seed=3), reference=alone)
    assert _rounded(current.to_dict()) == _rounded(again.to_dict())


def test_pandas_categoricals_and_text_dtypes_profile_alike() -> None:
    values = ["fuel", None, "grocery", "fuel", "travel", None]
    frame = pd.DataFrame(
        {
            "object": pd.Series(values, dtype="object"),
            "category": pd.Series(values, dtype="category"),
            "string": pd.Series(values, dtype="string"),
        }
    )
    profile = profile_frame(frame)
    summaries = [_categorical(profile, name) for name in frame.columns]
    assert all(s == summaries[0] for s in summaries)
    assert dict(summaries[0].frequencies) == {"fuel": 2, "grocery": 1, "travel": 1}
    assert summaries[0].nulls == 2
    for name in frame.columns:
        assert profile.sample[name].tolist() == values


@pytest.mark.parametrize("seed", range(8))
def test_bins_of_any_numeric_column_equal_numpys_on_the_reference_edges(seed: int) -> None:
    # Random shapes: ties, NaN, infinities, integers, a current frame outside the range.
    rng = np.random.default_rng(100 + seed)
    rows = int(rng.integers(1, 400))
    values = np.round(rng.normal(0, 10, rows), int(rng.integers(0, 3)))
    values[rng.random(rows) < 0.1] = np.nan
    values[rng.random(rows) < 0.02] = np.inf
    reference = profile_frame(pd.DataFrame({"x": values}))
    current_values = rng.normal(5, 20, 300)
    current = _numeric(profile_frame(pd.DataFrame({"x": current_values}), reference=reference), "x")
    for summary, data in ((_numeric(reference, "x"), values), (current, current_values)):
        present = data[~np.isnan(data)]
        bins = np.searchsorted(np.asarray(summary.edges), present, side="right")
        assert summary.counts == tuple(np.bincount(bins, minlength=len(summary.edges) + 1))
        assert summary.nulls == int(np.isnan(data).sum())
        assert all(np.isfinite(summary.edges)) and list(summary.edges) == sorted(set(summary.edges))


def _rounded(value: Any) -> Any:
    """``value`` with every float rounded to 9 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value
