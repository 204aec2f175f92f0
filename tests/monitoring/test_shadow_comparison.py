"""Shadow against champion on paired requests, against scipy, statsmodels and hand counts."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from tether.errors import MonitoringError
from tether.monitoring import compare_shadow


@pytest.fixture
def pairs() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 3000
    latent = rng.normal(size=n)
    champion = 1 / (1 + np.exp(-(latent - 2.0)))
    shadow = 1 / (1 + np.exp(-(0.9 * latent + 0.3 * rng.normal(size=n) - 1.8)))
    return pd.DataFrame(
        {
            "instance_id": [f"tx-{i:05d}" for i in range(n)],
            "champion_score": champion,
            "shadow_score": shadow,
            "amount": rng.gamma(2.0, 30.0, n),
        }
    )


def test_statistics_match_scipy_and_statsmodels(pairs: pd.DataFrame) -> None:
    report = compare_shadow(pairs, champion_threshold=0.3, shadow_threshold=0.35)
    a, b = pairs["champion_score"].to_numpy(), pairs["shadow_score"].to_numpy()
    assert report.pairs == 3000 and report.unpaired == 0
    assert report.pearson == pytest.approx(stats.pearsonr(a, b).statistic, rel=1e-12)
    assert report.spearman == pytest.approx(stats.spearmanr(a, b).statistic, rel=1e-12)
    ks = stats.ks_2samp(a, b, method="asymp")
    assert (report.ks_statistic, report.ks_p_value) == (ks.statistic, ks.pvalue)
    assert report.wasserstein == pytest.approx(stats.wasserstein_distance(a, b) / a.std())
    assert report.mean_difference == pytest.approx((b - a).mean())
    agreement = report.agreement
    assert agreement is not None
    same = int(((a >= 0.3) == (b >= 0.35)).sum())
    assert agreement.rate == same / 3000
    low, high = proportion_confint(same, 3000, 0.05, method="wilson")
    assert (agreement.low, agreement.high) == pytest.approx((low, high), abs=1e-12)
    table = agreement.both_flagged + agreement.champion_only + agreement.shadow_only
    assert table + agreement.neither == 3000
    assert agreement.both_flagged == int(((a >= 0.3) & (b >= 0.35)).sum())
    assert agreement.shadow_only == int(((a < 0.3) & (b >= 0.35)).sum())


def test_a_decision_is_score_at_or_above_the_threshold() -> None:
    pairs = pd.DataFrame(
        {"instance_id": ["a", "b", "c", "d"], "champion_score": [0.5, 0.49, 0.9, 0.1]}
        | {"shadow_score": [0.5, 0.6, 0.2, 0.1]}
    )
    agreement = compare_shadow(pairs, champion_threshold=0.5, shadow_threshold=0.5).agreement
    assert agreement is not None
    # a: both at the threshold (flagged); b: shadow only; c: champion only; d: neither.
    assert (agreement.both_flagged, agreement.shadow_only, agreement.champion_only) == (1, 1, 1)
    assert agreement.neither == 1 and agreement.rate == 0.5


def test_logged_decisions_are_used_as_logged_and_a_missing_one_is_left_out() -> None:
    pairs = pd.DataFrame(
        {
            "instance_id": ["a", "b", "c", "d", "e"],
            "score_a": [0.9, 0.1, 0.8, 0.2, 0.7],
            "score_b": [0.8, 0.2, 0.1, 0.9, 0.6],
            "decision_a": pd.array([1, 0, 1, 0, None], dtype="Int64"),
            "decision_b": pd.array([1, 0, 0, 1, 1], dtype="Int64"),
        }
    )
    report = compare_shadow(
        pairs, decisions=("decision_a", "decision_b"), champion="score_a", shadow="score_b"
    )
    agreement = report.agreement
    assert agreement is not None
    table = (agreement.both_flagged, agreement.champion_only, agreement.shadow_only)
    assert (*table, agreement.neither) == (1, 1, 1, 1)  # "e" has no champion decision
    assert agreement.rate == 0.5
    assert report.pairs == 5, "a missing decision still leaves a pair of scores"
    top = report.disagreements.set_index("instance_id")
    assert pd.isna(top.loc["e", "champion_decision"]) and top.loc["d", "shadow_decision"] == 1
    records = {r["instance_id"]: r for r in report.to_dict()["disagreements"]}  # type: ignore[union-attr,index]
    assert records["e"]["champion_decision"] is None and records["e"]["shadow_decision"] == 1
    json.dumps(report.to_dict(), allow_nan=False)
    with pytest.raises(MonitoringError, match=r"lack the column\(s\) \['decided'\]"):
        compare_shadow(
            pairs, decisions=("decided", "decision_b"), champion="score_a", shadow="score_b"
        )


def test_the_top_disagreements_are_the_largest_gaps_ties_by_instance_id() -> None:
    pairs = pd.DataFrame(
        {
            "instance_id": ["e", "d", "c", "b", "a"],
            "champion_score": [0.1, 0.9, 0.5, 0.2, 0.3],
            "shadow_score": [0.1, 0.1, 0.6, 0.6, 0.7],
            "country": ["FR", "DE", "FR", "IT", "ES"],
        }
    )
    report = compare_shadow(pairs, champion_threshold=0.5, shadow_threshold=0.5, top_k=3)
    top = report.disagreements
    assert top["instance_id"].tolist() == ["d", "a", "b"]  # |gap| 0.8, 0.4, 0.4 (a before b)
    assert top["difference"].tolist() == pytest.approx([-0.8, 0.4, 0.4])
    assert top["country"].tolist() == ["DE", "ES", "IT"], "the request's own columns are kept"
    assert top["champion_decision"].tolist() == [1, 0, 0]
    assert top["shadow_decision"].tolist() == [0, 1, 1]


def test_a_failed_shadow_is_unpaired_not_a_disagreement(pairs: pd.DataFrame) -> None:
    broken = pairs.copy()
    broken.loc[:99, "shadow_score"] = np.nan
    broken.loc[100:109, "champion_score"] = None
    report = compare_shadow(broken, champion_threshold=0.3, shadow_threshold=0.35)
    rest = compare_shadow(broken.iloc[110:], champion_threshold=0.3, shadow_threshold=0.35)
    assert (report.pairs, report.unpaired) == (2890, 110)
    assert report.spearman == rest.spearman
    assert report.agreement == rest.agreement


def test_identical_models_agree_everywhere_and_constant_scores_have_no_correlation() -> None:
    scores = np.linspace(0, 1, 50)
    same = pd.DataFrame({"instance_id": range(50), "champion_score": scores})
    same["shadow_score"] = scores
    report = compare_shadow(same, champion_threshold=0.5, shadow_threshold=0.5)
    assert report.agreement is not None and report.agreement.rate == 1.0
    assert report.pearson == pytest.approx(1.0) and report.spearman == pytest.approx(1.0)
    assert report.ks_statistic == 0.0 and report.wasserstein == 0.0
    flat = same.assign(shadow_score=0.5)
    constant = compare_shadow(flat, champion_threshold=0.5, shadow_threshold=0.5)
    assert math.isnan(constant.pearson) and math.isnan(constant.spearman)


def test_without_thresholds_there_is_no_agreement_but_the_rest_is_there(
    pairs: pd.DataFrame,
) -> None:
    report = compare_shadow(pairs, champion_threshold=None, shadow_threshold=0.3)
    assert report.agreement is None
    assert "champion_decision" not in report.disagreements.columns
    assert report.pearson > 0.5


def test_the_report_is_json(pairs: pd.DataFrame) -> None:
    pairs = pairs.assign(seen=pd.Timestamp("2026-03-01", tz="UTC"), note=None)
    report = compare_shadow(pairs, champion_threshold=0.3, shadow_threshold=0.35, top_k=2)
    data = report.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["pairs"] == 3000
    first = data["disagreements"][0]  # type: ignore[index]
    assert first["seen"] == "2026-03-01 00:00:00+00:00" and first["note"] is None  # type: ignore[index]
    assert data["agreement"]["interval"][0] == report.agreement.low  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"instance_id": [1], "champion_score": [0.1]}), r"\['shadow_score'\]"),
        (
            pd.DataFrame({"instance_id": [1], "champion_score": [0.1], "shadow_score": [None]}),
            "no request of the 1 rows",
        ),
    ],
)
def test_unusable_pairs_are_refused(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(MonitoringError, match=message):
        compare_shadow(frame, champion_threshold=0.5, shadow_threshold=0.5)
