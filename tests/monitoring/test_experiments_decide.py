"""The experiment decision: its rules, its evidence, and its refusals."""

from __future__ import annotations

import json
import math

import pytest
from statsmodels.stats.power import NormalIndPower

from tether.errors import MonitoringError
from tether.monitoring import (
    ExperimentLook,
    ExperimentPolicy,
    MeanMoments,
    ProportionCounts,
    decide,
)

POLICY = ExperimentPolicy(metric="precision", min_samples=1000, max_days=30)


def looks(
    rates: list[tuple[float, float]], per_day: int = 2000, metric: str = "precision"
) -> list[ExperimentLook]:
    """Cumulative looks whose daily proportions are exactly the given (champion, challenger)."""
    history, a, b = [], 0, 0
    for day, (rate_a, rate_b) in enumerate(rates, start=1):
        a += round(rate_a * per_day)
        b += round(rate_b * per_day)
        n = day * per_day
        decision_rate = ProportionCounts(n // 10, n)
        history.append(
            ExperimentLook(
                float(day),
                {metric: ProportionCounts(a, n), "decision_rate": decision_rate},
                {metric: ProportionCounts(b, n), "decision_rate": decision_rate},
            )
        )
    return history


def test_a_clearly_better_challenger_is_promoted_with_its_evidence() -> None:
    decision = decide(looks([(0.80, 0.86)] * 10), POLICY)
    assert decision.action == "promote"
    evidence = decision.evidence
    assert evidence["look"] < 10, "it stops at the first decisive look"  # type: ignore[operator]
    assert evidence["always_valid_p"] < 0.05  # type: ignore[operator]
    assert evidence["lift"] == pytest.approx(0.06)
    assert evidence["champion"] == pytest.approx(0.80)
    low, high = evidence["confidence_sequence"]  # type: ignore[misc]
    assert 0 < low < 0.06 < high
    assert evidence["metrics"]["decision_rate"]["difference"] == 0.0  # type: ignore[index]
    assert "promote: the challenger is better" in decision.reason
    assert "precision" in decision.reason
    json.dumps(evidence, allow_nan=False)  # storable as it is


def test_a_worse_challenger_keeps_the_champion() -> None:
    decision = decide(looks([(0.86, 0.80)] * 10), POLICY)
    assert decision.action == "keep_champion"
    assert "the challenger is worse" in decision.reason
    assert decision.evidence["rule"] == "worse"


def test_nothing_is_decided_before_min_samples_even_on_a_huge_difference() -> None:
    decision = decide(looks([(0.5, 0.9)], per_day=500), POLICY)
    assert decision.action == "continue"
    assert "waiting for 1000 rows per arm" in decision.reason


def test_a_spurious_early_look_before_min_samples_leaves_no_trace() -> None:
    # Day 1: 200 rows per arm and a wild difference (its p alone would be 1e-70); then
    # 20,000 rows a day of equal arms, which dilute it to nothing.
    def arm(early: int, look: ExperimentLook, side: str) -> dict[str, ProportionCounts]:
        counts = getattr(look, side)["precision"]
        return {"precision": ProportionCounts(counts.successes + early, counts.trials + 200)}

    history = [
        ExperimentLook(
            1.0, {"precision": ProportionCounts(10, 200)}, {"precision": ProportionCounts(190, 200)}
        ),
        *[
            ExperimentLook(look.day + 1, arm(10, look, "champion"), arm(190, look, "challenger"))
            for look in looks([(0.8, 0.8)] * 5, per_day=20_000)
        ],
    ]
    decision = decide(history, POLICY)
    assert decision.action == "continue", decision.reason
    assert decision.evidence["always_valid_p"] > 0.05  # type: ignore[operator]


def test_no_difference_continues_then_keeps_the_champion_at_max_days() -> None:
    flat = [(0.8, 0.8)] * 29
    assert decide(looks(flat), POLICY).action == "continue"
    expired = decide(looks([*flat, (0.8, 0.8)]), POLICY)
    assert expired.action == "keep_champion"
    assert "max_days 30" in expired.reason
    assert expired.evidence["rule"] == "expired"


def test_a_challenger_that_cannot_reach_the_minimum_lift_is_stopped_for_futility() -> None:
    policy = ExperimentPolicy(metric="precision", min_samples=1000, max_days=60, min_lift=0.05)
    decision = decide(looks([(0.8, 0.8)] * 25, per_day=4000), policy)
    assert decision.action == "keep_champion"
    assert "rules out the minimum lift 0.05" in decision.reason
    assert decision.evidence["rule"] == "futile"
    high = decision.evidence["confidence_sequence"][1]  # type: ignore[index]
    assert high < 0.05  # type: ignore[operator]
    # A fixed-horizon test would need this many per arm to see 0.80 -> 0.85 at 80% power:
    # h = 2 asin(sqrt(.85)) - 2 asin(sqrt(.80)) = 0.131897; 2 (2.80159 / h)^2 = 902.35.
    assert decision.evidence["required_n_per_arm"] == 903
    assert decision.evidence["required_days"] == pytest.approx(903 / 4000)


def test_the_decision_of_a_history_does_not_change_as_looks_are_added() -> None:
    history = looks([(0.80, 0.86)] * 3 + [(0.86, 0.70)] * 20)
    first = decide(history[:5], POLICY)
    later = decide(history, POLICY)
    assert first.action == later.action == "promote"
    assert first.reason == later.reason
    assert (first.evidence["looks"], later.evidence["looks"]) == (5, 23)
    assert {**first.evidence, "looks": 0} == {**later.evidence, "looks": 0}


def test_for_a_cost_lower_is_better() -> None:
    cost = ExperimentPolicy(metric="precision", min_samples=1000, higher_is_better=False)
    decision = decide(looks([(0.20, 0.14)] * 10), cost)
    assert decision.action == "promote"
    assert decision.evidence["lift"] == pytest.approx(0.06)


def test_a_mean_business_metric_is_decided_on_welch_moments() -> None:
    def arm(mean: float, n: int) -> MeanMoments:
        # n values of mean `mean` and variance 4 (ddof=1).
        return MeanMoments(n, mean * n, 4.0 * (n - 1) + mean * mean * n)

    history = [
        ExperimentLook(
            float(d), {"net_value": arm(1.0, 3000 * d)}, {"net_value": arm(1.4, 3000 * d)}
        )
        for d in range(1, 8)
    ]
    decision = decide(history, ExperimentPolicy(min_lift=0.1))
    assert decision.action == "promote"
    assert decision.evidence["fixed_horizon_method"] == "welch"
    assert decision.evidence["difference"] == pytest.approx(0.4)
    # Means: lift 0.1 over sd 2 -> d = 0.05; 2 (2.80159 / 0.05)^2 = 6279.3.
    assert decision.evidence["required_n_per_arm"] == 6280


def test_the_fixed_horizon_size_follows_the_arms_ratio() -> None:
    # A sticky challenger cohort of a tenth of the traffic: 9,000 against 1,000 rows by day 10.
    champion = MeanMoments(9000, 9000.0, 4.0 * 8999 + 9000.0)  # mean 1, variance 4
    challenger = MeanMoments(1000, 1000.0, 4.0 * 999 + 1000.0)
    policy = ExperimentPolicy(min_lift=0.2, min_samples=500)
    look = ExperimentLook(10.0, {"net_value": champion}, {"net_value": challenger})
    evidence = decide([look], policy).evidence
    expected = NormalIndPower().solve_power(
        effect_size=0.2 / 2.0, alpha=0.05, power=0.8, ratio=1 / 9
    )
    assert evidence["required_n_per_arm"] == math.ceil(expected)
    assert evidence["required_days"] == pytest.approx(10 * math.ceil(expected) / 9000)


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([], "no looks"),
        (looks([(0.8, 0.8)] * 2)[::-1], "expected them in day order"),
        (looks([(0.8, 0.8)], metric="recall"), "has no metric 'precision'"),
        (
            [
                ExperimentLook(1.0, {"precision": ProportionCounts(5, 10)}, {"precision": p})
                for p in (ProportionCounts(5, 10), ProportionCounts(3, 8))
            ],
            r"challenger's precision rows by look are \[10, 8\]: expected cumulative",
        ),
    ],
)
def test_unusable_histories_are_refused(history: list[ExperimentLook], message: str) -> None:
    with pytest.raises(MonitoringError, match=message):
        decide(history, POLICY)


def test_a_policy_names_every_bad_value() -> None:
    with pytest.raises(MonitoringError, match=r"alpha=1.5 .*min_lift=-1"):
        ExperimentPolicy(alpha=1.5, min_lift=-1)
