"""The prediction log's aggregates, one contract over SQLite and PostgreSQL: every number the
engine computes equals pandas on the same rows (the oracle), built from what was served."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import predlog_cases as cases
import pytest
from predlog_cases import KNOWN_BY, MODEL, OUTCOME_WINDOW, WINDOW, Case

from tether.serving import LogAggregates, Prediction, PredictionLog

AMOUNT_EDGES = (10.0, 20.0, 40.0, 80.0)
COUNT_EDGES = (5.0, 10.0, 20.0)
SCORE_EDGES = (0.25, 0.5, 0.75)
COUNTRIES = ("FR", "DE", "O'Brien; DROP TABLE x")


@pytest.fixture
def case(database_url: str) -> Case:
    return cases.build(database_url)


@pytest.fixture
def aggregates(database_url: str, case: Case) -> Iterator[LogAggregates]:
    with LogAggregates(database_url) as opened:
        yield opened


def _bins(values: pd.Series, edges: tuple[float, ...]) -> tuple[int, ...]:
    """Rows per bin (-inf, e1), [e1, e2), ..., [ek, inf) of the non-null ``values``."""
    kept = values.dropna().to_numpy(dtype=float)
    positions = np.searchsorted(np.asarray(edges), kept, side="right")
    return tuple(int(n) for n in np.bincount(positions, minlength=len(edges) + 1))


def test_counts_per_group_and_day_equal_pandas(aggregates: LogAggregates, case: Case) -> None:
    found = aggregates.counts(*WINDOW, model=MODEL, bucket="day", known_by=KNOWN_BY,
                              outcome_window=OUTCOME_WINDOW)  # fmt: skip
    rows = cases.in_window(case.predictions).copy()
    rows["day"] = rows["window"].dt.floor("D")
    keys = ["version", "role", "cohort", "experiment_id", "day"]
    expected = rows.groupby(keys).size().rename("predictions").to_frame()
    labelled = cases.in_window(cases.labelled(case, KNOWN_BY)).copy()
    labelled["day"] = labelled["window"].dt.floor("D")
    expected["labelled"] = labelled.groupby(keys).size()
    current = rows[rows["current"]]
    ids = set(labelled["instance_id"])
    closed = current[current["instance_id"].isin(ids) |
                     (current["window"] < KNOWN_BY - OUTCOME_WINDOW)]  # fmt: skip
    expected["matured"] = closed.groupby(keys).size()
    expected = expected.fillna(0).astype("int64").reset_index()
    got = found.astype({"experiment_id": "int64"}).sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected[got.columns], check_dtype=False)
    assert expected["labelled"].sum() > 20 and (expected["matured"] > expected["labelled"]).any()


def test_labels_count_when_known_and_received(aggregates: LogAggregates, case: Case) -> None:
    everything = aggregates.counts(*WINDOW, by=("version",))
    cut = WINDOW[0] + timedelta(days=3)
    early = aggregates.counts(*WINDOW, by=("version",), known_by=cut)
    assert everything["predictions"].tolist() == early["predictions"].tolist()
    expected_all = cases.in_window(cases.labelled(case, None)).groupby("version").size()
    assert everything["labelled"].tolist() == expected_all.tolist()
    known = cases.in_window(cases.labelled(case, cut)).groupby("version").size()
    assert early["labelled"].tolist() == known.reindex(early["version"], fill_value=0).tolist()
    assert 0 < early["labelled"].sum() < everything["labelled"].sum()
    by_model = aggregates.counts(*WINDOW, by=("model", "role"))
    assert by_model["model"].tolist() == [MODEL] * 3
    assert by_model["predictions"].sum() == everything["predictions"].sum()
    with pytest.raises(ValueError, match="take the model as their own argument"):
        aggregates.feature_summary(*WINDOW, MODEL, filters={"model": MODEL})
    with pytest.raises(ValueError, match="outcome_window needs known_by"):
        aggregates.counts(*WINDOW, outcome_window=OUTCOME_WINDOW)
    with pytest.raises(ValueError, match="cannot group by 'features'"):
        aggregates.counts(*WINDOW, by=("features",))


def test_feature_summary_equals_pandas(aggregates: LogAggregates, case: Case) -> None:
    summary = aggregates.feature_summary(
        *WINDOW, MODEL,
        numeric={"amount": AMOUNT_EDGES, "count": COUNT_EDGES, "channel": (1.0, 3.0)},
        categorical={"country": COUNTRIES, "known": ("true",)},
        seen={"country": (*COUNTRIES, "ES")},
        score_edges=SCORE_EDGES, filters={"version": "3"},
    )  # fmt: skip
    rows = cases.in_window(case.predictions)
    rows = rows[rows["version"] == "3"]
    assert summary.rows == len(rows)
    for name, edges in (("amount", AMOUNT_EDGES), ("count", COUNT_EDGES)):
        values = rows[name].astype(float)
        got = summary.features[name]
        assert (got.count, got.nulls) == (values.notna().sum(), values.isna().sum())
        assert got.counts == _bins(values, edges)
        assert got.minimum == values.min() and got.maximum == values.max()
        assert got.mean == pytest.approx(values.mean(), rel=1e-12)
        assert got.std == pytest.approx(values.std(ddof=0), rel=1e-9)
    assert summary.features["amount"].nulls > 0  # NaN and inf are missing, never dropped
    channel = summary.features["channel"]
    numbers = rows["channel"].map(lambda v: v if isinstance(v, float) else np.nan)
    assert channel.counts == _bins(numbers, (1.0, 3.0))
    assert summary.other_kind["channel"] == (rows["channel"] == "web").sum() > 0
    country = summary.features["country"]
    present = rows["country"].dropna()
    assert country.frequencies == {c: int((present == c).sum()) for c in COUNTRIES}
    assert country.other == int((~present.isin(COUNTRIES)).sum())
    assert country.unseen == int((present == "IT").sum()) and 0 < country.unseen < country.other
    assert country.nulls == rows["country"].isna().sum() > 0
    assert summary.features["known"].frequencies == {"true": int((rows["known"] == "true").sum())}
    assert summary.score is not None and summary.score.counts == _bins(rows["score"], SCORE_EDGES)
    assert summary.score.mean == pytest.approx(rows["score"].mean(), rel=1e-12)


def test_the_seeded_sample_is_stable_bounded_and_real(
    aggregates: LogAggregates, case: Case
) -> None:
    def sample(seed: int, size: int = 25) -> pd.DataFrame:
        return aggregates.feature_summary(
            *WINDOW, MODEL, numeric={"amount": AMOUNT_EDGES}, categorical={"country": COUNTRIES},
            filters={"role": "shadow"}, sample_size=size, seed=seed,
        ).sample  # fmt: skip

    first, again, other = sample(1), sample(1), sample(2)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 25 and not first.equals(other)
    assert list(first.columns) == ["amount", "country", "score"]
    assert first["amount"].dtype == "float64" and first["country"].dtype == object
    rows = cases.in_window(case.predictions)
    rows = rows[rows["role"] == "shadow"]
    assert set(first["score"]) <= set(rows["score"])
    assert len(sample(1, size=10_000)) == len(rows)


def test_confusion_and_business_sums_equal_pandas(aggregates: LogAggregates, case: Case) -> None:
    labelled = cases.in_window(cases.labelled(case, KNOWN_BY))
    labelled = labelled.assign(
        loss=labelled["business"].map(lambda b: b["loss"]),
        cost=labelled["business"].map(lambda b: b.get("cost", np.nan)),
    )
    for threshold in (0.6, None):
        found = aggregates.confusion(*WINDOW, MODEL, threshold=threshold, by=("version",),
                                     business=("loss", "cost"), known_by=KNOWN_BY)  # fmt: skip
        rows = labelled
        if threshold is None:
            rows = rows[rows["decision"].notna()]
            predicted = rows["decision"].astype(int) == 1
        else:
            predicted = rows["score"] >= threshold
        actual = rows["label"] == 1
        cell = np.select([predicted & actual, predicted, actual], ["tp", "fp", "fn"], "tn")
        grouped = rows.assign(cell=cell).groupby(["version", "cell"])
        expected = grouped.size().rename("rows").to_frame()
        expected["loss:sum"] = grouped["loss"].sum()
        expected["loss:sumsq"] = grouped["loss"].apply(lambda s: float((s * s).sum()))
        expected["cost:count"] = grouped["cost"].count()
        got = found.set_index(["version", "cell"])
        assert got["rows"].to_dict() == expected["rows"].to_dict()
        assert got["cost:count"].to_dict() == expected["cost:count"].to_dict()
        for column in ("loss:sum", "loss:sumsq"):
            pd.testing.assert_series_equal(got[column], expected[column], check_names=False)
    assert set(found["cell"]) == {"tp", "fp", "fn", "tn"}


def test_the_labelled_sample_joins_the_current_label(aggregates: LogAggregates, case: Case) -> None:
    sample = aggregates.labelled_sample(*WINDOW, MODEL, business=("loss",), known_by=KNOWN_BY,
                                        size=1_000, seed=3)  # fmt: skip
    expected = cases.in_window(cases.labelled(case, KNOWN_BY))
    assert len(sample) == len(expected)
    merged = sample.merge(expected, on=["instance_id", "version"], suffixes=("", "_oracle"))
    assert len(merged) == len(expected)
    assert (merged["label"] == merged["label_oracle"]).all()
    assert (merged["score"] == merged["score_oracle"]).all()
    assert (merged["loss"] == merged["business"].map(lambda b: b["loss"])).all()
    assert 999.0 not in set(sample["score"])  # superseded revisions have no label


def test_scores_per_group_and_pairs_equal_pandas(aggregates: LogAggregates, case: Case) -> None:
    found = aggregates.scores(*WINDOW, MODEL, edges=SCORE_EDGES, by=("role", "cohort"))
    rows = cases.in_window(case.predictions)
    for (role, cohort), group in rows.groupby(["role", "cohort"]):
        got = found[(role, cohort)]
        assert got.count == len(group) and got.counts == _bins(group["score"], SCORE_EDGES)
        assert got.std == pytest.approx(group["score"].std(ddof=0), rel=1e-9)
    pairs = aggregates.score_pairs(*WINDOW, MODEL, ("1", "3"), sample_size=5, seed=1)
    champion = rows[rows["version"] == "1"].set_index(["instance_id", "time"])
    shadow = rows[rows["version"] == "3"].set_index(["instance_id", "time"])
    joined = champion.join(shadow, suffixes=("", "_s"), how="inner")
    assert pairs.pairs == len(joined) > 50
    expected = np.corrcoef(joined["score"], joined["score_s"])[0, 1]
    assert pairs.correlation == pytest.approx(expected, rel=1e-9)
    decided = joined.dropna(subset=["decision", "decision_s"])
    assert pairs.decided == len(decided)
    assert pairs.agreed == int((decided["decision"] == decided["decision_s"]).sum())
    assert len(pairs.sample) == 5 and pairs.sample["distance"].is_monotonic_decreasing


def test_a_model_never_logged_has_empty_aggregates(aggregates: LogAggregates) -> None:
    summary = aggregates.feature_summary(*WINDOW, "other'model", numeric={"x": (1.0,)},
                                         categorical={"c": ("a",)}, score_edges=(0.5,))  # fmt: skip
    assert summary.rows == 0 and summary.features["x"].counts == (0, 0)
    assert math.isnan(summary.features["x"].mean) and summary.sample.empty
    assert aggregates.confusion(*WINDOW, "other'model").empty
    assert aggregates.counts(*WINDOW, model="other'model").empty


def test_a_new_feature_adds_a_column_the_next_batch_uses(database_url: str) -> None:
    start = cases.T0
    with PredictionLog(database_url, flush_interval=cases.NEVER) as log:
        for number, features in enumerate(({"a": 1.0}, {"a": 2.0, "b": "x"}, {"b": "y"})):
            log.record(Prediction(
                request_id="r", instance_id=f"i{number}", time=start, model="m", version="1",
                role="champion", features=features, output=0.1, latency_ms=1.0,
            ))  # fmt: skip
            log.flush()  # one batch each: the second adds a column, the third reuses it
    with LogAggregates(database_url) as aggregates:
        summary = aggregates.feature_summary(
            start, start + timedelta(days=1), "m", numeric={"a": ()}, categorical={"b": ("x",)}
        )
    assert summary.features["a"].count == 2 and summary.features["a"].nulls == 1
    assert summary.features["b"].frequencies == {"x": 1} and summary.features["b"].other == 1


def test_a_window_cut_across_connections_gives_the_same_summary(
    database_url: str, case: Case
) -> None:
    summaries = []
    for parallel in (1, 3):
        with LogAggregates(database_url, parallel=parallel) as aggregates:
            summaries.append(aggregates.feature_summary(
                *WINDOW, MODEL, numeric={"amount": AMOUNT_EDGES, "count": COUNT_EDGES},
                categorical={"country": COUNTRIES}, score_edges=SCORE_EDGES,
            ))  # fmt: skip
    serial, split = summaries
    assert serial.rows == split.rows == len(cases.in_window(case.predictions))
    assert serial.features["country"] == split.features["country"]
    for name in ("amount", "count"):
        one, other = serial.features[name], split.features[name]
        assert (one.count, one.nulls, one.counts) == (other.count, other.nulls, other.counts)
        assert (one.minimum, one.maximum) == (other.minimum, other.maximum)
        assert one.mean == pytest.approx(other.mean, rel=1e-12)
        assert one.std == pytest.approx(other.std, rel=1e-9)
    pd.testing.assert_frame_equal(serial.sample, split.sample)
    counted = []
    for parallel in (1, 3):
        with LogAggregates(database_url, parallel=parallel) as aggregates:
            counted.append(aggregates.counts(*WINDOW, bucket="day", known_by=KNOWN_BY,
                                             outcome_window=OUTCOME_WINDOW))  # fmt: skip
    pd.testing.assert_frame_equal(*counted)
