"""The decision of a champion-challenger experiment: promote, keep the champion, or continue.

:func:`decide` reads the experiment's **looks**: at each look (a day of the monitoring
clock), each arm's cumulative aggregates since the experiment began, as the prediction log
computes them from the feedback that had arrived by that day (so a decision on day d uses
only what was known on day d). It decides on one metric, the policy's, with the
always-valid test of :mod:`._sequential`, at the **first** look that is decisive (the
experiment stops there, so the decision of a history never changes when looks are added):

1. ``promote`` when each arm has ``min_samples`` and the always-valid p-value is below
   ``alpha`` with a positive lift;
2. ``keep_champion`` when it is below alpha with a negative lift (the challenger is worse);
   or when the confidence sequence of the lift lies wholly below ``min_lift`` (futility:
   the challenger cannot be worth it; if its true lift were at least ``min_lift`` this would
   happen with probability at most alpha); or at ``max_days`` without a promotion;
3. ``continue`` otherwise, including while an arm has fewer than ``min_samples``: the
   sequential test starts at the first look where both arms have them (the looks before
   carry no evidence, so a tiny arm's noisy variance cannot leave a spurious p behind).

The lift is challenger - champion for a metric where higher is better, champion -
challenger for a cost. The evidence holds the numbers behind the decision (the arms'
values, the difference with its fixed-horizon interval, the always-valid p and interval,
the classic test for reference, the sample size the minimum lift needs, and every other
metric the arms share), as JSON, so the loop can store it with the decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from tether._storage import JSONValue
from tether.errors import MonitoringError
from tether.monitoring._experiments import (
    ArmAggregate,
    MeanMoments,
    arm_difference,
    difference_variance,
    fixed_horizon_test,
    required_sample_size,
)
from tether.monitoring._sequential import (
    MIXING_SD,
    AlwaysValidPath,
    always_valid_path,
    effective_n,
)

EXPERIMENT_ALPHA = 0.05
EXPERIMENT_MIN_SAMPLES = 1000
"""Rows per arm before any decision: the plug-in variance (and, for a proportion, the
normal approximation) needs them; at 1,000 a proportion of 0.05 has 50 successes."""
EXPERIMENT_MAX_DAYS = 60.0
"""An experiment that has not promoted after two months keeps its champion."""
EXPERIMENT_METRIC = "net_value"
"""The fraud example's business metric: net value per prediction."""

Action = Literal["promote", "keep_champion", "continue"]


class DecisionCode(IntEnum):
    """What :func:`decision_path` decides at a look: why an experiment would stop there."""

    CONTINUE = 0
    PROMOTE = 1
    WORSE = 2
    """Significantly worse: keep the champion."""
    FUTILE = 3
    """The confidence sequence rules out the minimum lift: keep the champion."""
    EXPIRED = 4
    """``max_days`` reached: keep the champion."""

    @property
    def action(self) -> Action:
        """The action this code stands for."""
        if self is DecisionCode.CONTINUE:
            return "continue"
        return "promote" if self is DecisionCode.PROMOTE else "keep_champion"


@dataclass(frozen=True)
class ExperimentPolicy:
    """What decides an experiment (``[monitoring.experiment]`` in tether.toml).

    ``mixing_sd`` is the mSPRT's ``tau`` in standard deviations of one observation;
    ``min_lift`` is in the metric's own units (0: any improvement is worth it).
    """

    metric: str = EXPERIMENT_METRIC
    alpha: float = EXPERIMENT_ALPHA
    min_samples: int = EXPERIMENT_MIN_SAMPLES
    mixing_sd: float = MIXING_SD
    max_days: float = EXPERIMENT_MAX_DAYS
    min_lift: float = 0.0
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        problems = [
            f"alpha={self.alpha} (expected 0 < alpha < 1)" * (not 0 < self.alpha < 1),
            f"min_samples={self.min_samples} (expected >= 2)" * (self.min_samples < 2),
            f"mixing_sd={self.mixing_sd} (expected > 0)" * (not self.mixing_sd > 0),
            f"max_days={self.max_days} (expected > 0)" * (not self.max_days > 0),
            f"min_lift={self.min_lift} (expected >= 0)" * (not self.min_lift >= 0),
        ]
        if any(problems):
            raise MonitoringError(f"experiment policy: {', '.join(p for p in problems if p)}")


@dataclass(frozen=True)
class ExperimentLook:
    """The arms' cumulative aggregates by metric name at ``day`` days into the experiment."""

    day: float
    champion: Mapping[str, ArmAggregate]
    challenger: Mapping[str, ArmAggregate]


@dataclass(frozen=True)
class ExperimentDecision:
    """A decision with the evidence that led to it and a sentence a person can check."""

    action: Action
    reason: str
    evidence: dict[str, JSONValue] = field(default_factory=dict)


def decision_path(
    estimates: npt.ArrayLike,
    variances: npt.ArrayLike,
    n_champion: npt.ArrayLike,
    n_challenger: npt.ArrayLike,
    days: npt.ArrayLike,
    policy: ExperimentPolicy,
) -> tuple[npt.NDArray[np.int64], AlwaysValidPath]:
    """The :class:`DecisionCode` of every look, and the mSPRT it rests on.

    Arrays as :func:`~tether.monitoring.always_valid_path` takes them (looks on the last
    axis; ``days`` broadcast against them); :func:`decide` runs this on one experiment, a
    simulation on thousands at once. The first code other than ``CONTINUE`` of a row decides it.
    """
    n1 = np.asarray(n_champion, dtype=np.float64)
    n2 = np.asarray(n_challenger, dtype=np.float64)
    ready = (n1 >= policy.min_samples) & (n2 >= policy.min_samples)
    # The test starts once both arms are ready: a look before it carries no evidence, or a
    # spurious p from a tiny arm's plug-in variance would survive in the running minimum.
    informative = np.where(ready, np.asarray(variances, dtype=np.float64), 0.0)
    path = always_valid_path(
        estimates, informative, effective_n(n1, n2), alpha=policy.alpha, mixing_sd=policy.mixing_sd
    )
    sign = 1.0 if policy.higher_is_better else -1.0
    lift = sign * np.asarray(estimates, dtype=np.float64)
    lift_high = path.high if policy.higher_is_better else -path.low
    significant = ready & (path.p_values < policy.alpha)
    codes = np.select(
        [
            significant & (lift > 0),
            significant & (lift < 0),
            ready & (lift_high < policy.min_lift),
            np.asarray(days, dtype=np.float64) >= policy.max_days,
        ],
        [DecisionCode.PROMOTE, DecisionCode.WORSE, DecisionCode.FUTILE, DecisionCode.EXPIRED],
        default=DecisionCode.CONTINUE,
    )
    return codes.astype(np.int64), path


def decide(looks: Sequence[ExperimentLook], policy: ExperimentPolicy) -> ExperimentDecision:
    """Decide a champion-challenger experiment from its looks (see the module for the rules).

    Example::

        looks = [
            ExperimentLook(day, {"net_value": champion}, {"net_value": challenger})
            for day, champion, challenger in daily_moments  # MeanMoments, cumulative
        ]
        decision = decide(looks, ExperimentPolicy(metric="net_value", min_lift=0.05))
        decision.action  # "promote", "keep_champion" or "continue"
    """
    champion, challenger = _metric_series(looks, policy.metric)
    estimates = [b.estimate - a.estimate for a, b in zip(champion, challenger, strict=True)]
    variances = [difference_variance(a, b) for a, b in zip(champion, challenger, strict=True)]
    codes, path = decision_path(
        estimates,
        variances,
        [a.n for a in champion],
        [b.n for b in challenger],
        [look.day for look in looks],
        policy,
    )
    decisive = np.flatnonzero(codes != DecisionCode.CONTINUE)
    at = int(decisive[0]) if decisive.size else len(looks) - 1
    code = DecisionCode(int(codes[at]))
    evidence = _evidence(looks[at], policy, path, at, len(looks))
    evidence["rule"] = code.name.lower()  # which rule decided: promote, worse, futile...
    rows = min(champion[at].n, challenger[at].n)
    return ExperimentDecision(code.action, _reason(code, evidence, policy, rows), evidence)


def _metric_series(
    looks: Sequence[ExperimentLook], metric: str
) -> tuple[list[ArmAggregate], list[ArmAggregate]]:
    if not looks:
        raise MonitoringError("deciding an experiment with no looks: expected at least one")
    days = [look.day for look in looks]
    if days != sorted(days):
        raise MonitoringError(f"experiment looks on days {days}: expected them in day order")
    for look in looks:
        for arm, aggregates in (("champion", look.champion), ("challenger", look.challenger)):
            if metric not in aggregates:
                raise MonitoringError(
                    f"the {arm} at day {look.day} has no metric {metric!r}: "
                    f"expected one of {sorted(aggregates)}"
                )
    champion = [look.champion[metric] for look in looks]
    challenger = [look.challenger[metric] for look in looks]
    for arm, series in (("champion", champion), ("challenger", challenger)):
        sizes = [aggregate.n for aggregate in series]
        if sizes != sorted(sizes):
            # A look must hold everything since the start; a daily window is not a look.
            raise MonitoringError(
                f"the {arm}'s {metric} rows by look are {sizes}: expected cumulative "
                "aggregates since the experiment began (never decreasing)"
            )
    return champion, challenger


def _evidence(
    look: ExperimentLook, policy: ExperimentPolicy, path: AlwaysValidPath, at: int, looks: int
) -> dict[str, JSONValue]:
    champion, challenger = look.champion[policy.metric], look.challenger[policy.metric]
    diff = arm_difference(champion, challenger, 1 - policy.alpha)
    test = fixed_horizon_test(champion, challenger)
    sign = 1.0 if policy.higher_is_better else -1.0
    low, high = float(path.low[at]), float(path.high[at])
    evidence: dict[str, JSONValue] = {
        "metric": policy.metric,
        "higher_is_better": policy.higher_is_better,
        "day": look.day,
        "look": at + 1,
        "looks": looks,
        "n_champion": champion.n,
        "n_challenger": challenger.n,
        "champion": _number(diff.champion),
        "challenger": _number(diff.challenger),
        "difference": _number(diff.estimate),
        "difference_interval": [_number(diff.low), _number(diff.high)],
        "lift": _number(sign * diff.estimate),
        "always_valid_p": float(path.p_values[at]),
        "confidence_sequence": [_number(low), _number(high)],
        "fixed_horizon_p": _number(test.p_value),
        "fixed_horizon_method": test.method,
        "alpha": policy.alpha,
        "mixing_sd": policy.mixing_sd,
        "min_lift": policy.min_lift,
        "min_samples": policy.min_samples,
        "max_days": policy.max_days,
    }
    evidence |= _required(champion, challenger, look.day, policy)
    evidence["metrics"] = {
        name: _difference_json(look.champion[name], look.challenger[name], 1 - policy.alpha)
        for name in sorted(set(look.champion) & set(look.challenger))
        if name != policy.metric
    }
    return evidence


def _difference_json(
    champion: ArmAggregate, challenger: ArmAggregate, confidence: float
) -> JSONValue:
    if type(champion) is not type(challenger):
        return None
    diff = arm_difference(champion, challenger, confidence)
    return {
        "champion": _number(diff.champion),
        "challenger": _number(diff.challenger),
        "difference": _number(diff.estimate),
        "interval": [_number(diff.low), _number(diff.high)],
        "n_champion": champion.n,
        "n_challenger": challenger.n,
    }


def _required(
    champion: ArmAggregate, challenger: ArmAggregate, day: float, policy: ExperimentPolicy
) -> dict[str, JSONValue]:
    """What a fixed-horizon test would need to see ``min_lift`` at 80% power: the champion's
    rows (the challenger's in the arms' current ratio), and the days at the pace so far."""
    none: dict[str, JSONValue] = {"required_n_per_arm": None, "required_days": None}
    if policy.min_lift <= 0 or champion.n < 2 or challenger.n < 2:
        return none
    lift = policy.min_lift if policy.higher_is_better else -policy.min_lift
    ratio = challenger.n / champion.n
    try:
        if isinstance(champion, MeanMoments):
            sd = math.sqrt(champion.variance)
            n = required_sample_size(
                baseline=0.0, lift=lift, alpha=policy.alpha, ratio=ratio, sd=sd
            )
        else:
            n = required_sample_size(
                baseline=champion.estimate, lift=lift, alpha=policy.alpha, ratio=ratio
            )
    except MonitoringError:  # a baseline + lift outside [0, 1], or no spread: no answer
        return none
    days = day * n / champion.n if day > 0 else None
    return {"required_n_per_arm": n, "required_days": days}


def _reason(
    code: DecisionCode, evidence: Mapping[str, JSONValue], policy: ExperimentPolicy, rows: int
) -> str:
    arms = (
        f"{policy.metric}: challenger {_text(evidence['challenger'])} against champion "
        f"{_text(evidence['champion'])} (lift {_text(evidence['lift'])}) after "
        f"{_days(evidence['day'])}, {evidence['n_challenger']} and {evidence['n_champion']} rows"
    )
    p = f"always-valid p = {_text(evidence['always_valid_p'])}"
    sequence = evidence["confidence_sequence"]
    assert isinstance(sequence, list)
    interval = f"[{_text(sequence[0])}, {_text(sequence[1])}]"
    if code is DecisionCode.PROMOTE:
        return f"promote: the challenger is better, {p} < alpha {policy.alpha}; {arms}"
    if code is DecisionCode.WORSE:
        return f"keep the champion: the challenger is worse, {p} < alpha {policy.alpha}; {arms}"
    if code is DecisionCode.FUTILE:
        return (
            f"keep the champion: the confidence sequence {interval} of the difference rules out "
            f"the minimum lift {policy.min_lift}; {arms}"
        )
    if code is DecisionCode.EXPIRED:
        return f"keep the champion: max_days {policy.max_days} reached with {p}; {arms}"
    if rows < policy.min_samples:
        return f"continue: waiting for {policy.min_samples} rows per arm; {arms}"
    return f"continue: {p} >= alpha {policy.alpha}, confidence sequence {interval}; {arms}"


def _days(value: JSONValue) -> str:
    """How long the experiment has run, in words a person reads (not 0.0002171 days)."""
    days = float(value) if isinstance(value, int | float) else 0.0
    if days < 1:
        return f"{days * 24:.1f} hours"
    return f"{days:.1f} days"


def _number(value: float) -> float | None:
    """A float for JSON: nan and infinities (which JSON cannot hold) become None."""
    return float(value) if math.isfinite(value) else None


def _text(value: JSONValue) -> str:
    if value is None:  # a metric undefined so far (no flagged row yet, for precision)
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
