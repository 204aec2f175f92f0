"""The diagnosis on synthetic daily evidence: one case per verdict and per cause, the priority
between them, and evidence a person (and ``json``) can read."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tether import ReplayClock
from tether.errors import MonitoringError
from tether.monitoring import (
    DayEvidence,
    DiagnosisInput,
    DiagnosisPolicy,
    QualityEvidence,
    RegistryChange,
    diagnose,
)
from tether.registry import EventLog

START = date(2025, 3, 1)
DAYS = 30


def _day(n: int) -> date:
    return START + timedelta(days=n)


def _at(n: int, hour: int = 10) -> datetime:
    return datetime(START.year, START.month, START.day, hour, tzinfo=UTC) + timedelta(days=n)


def _days(
    seed: int,
    *,
    realized: np.ndarray | None = None,
    estimated: np.ndarray | None = None,
    score_psi: np.ndarray | None = None,
    drifted: np.ndarray | None = None,
    predictions: int = 5_000,
    labelled: int = 1_000,
    completeness: float = 0.95,
) -> tuple[DayEvidence, ...]:
    """30 healthy days (precision ~0.90, PSI ~0.03, 0-4% of features drifted) unless told."""
    rng = np.random.default_rng(seed)
    realized = rng.normal(0.90, 0.01, DAYS) if realized is None else realized
    estimated = rng.normal(0.90, 0.005, DAYS) if estimated is None else estimated
    score_psi = np.abs(rng.normal(0.03, 0.008, DAYS)) if score_psi is None else score_psi
    drifted = rng.choice([0.0, 0.04], DAYS) if drifted is None else drifted
    return tuple(
        DayEvidence(
            _day(n),
            predictions,
            labelled,
            completeness,
            realized=float(realized[n]),
            estimated=float(estimated[n]),
            score_psi=float(score_psi[n]),
            drifted_share=float(drifted[n]),
        )
        for n in range(DAYS)
    )


def _deploy(n: int) -> RegistryChange:
    return RegistryChange(_at(n), "deploy", "promote (champion 3 -> 4) by loop", event_id=9)


def _unit_shift(n: int) -> QualityEvidence:
    return QualityEvidence(_day(n), "unit_shift", "amount", 4210.0, 42.1)


def _psi_step(at: int, seed: int = 1) -> np.ndarray:
    psi = np.abs(np.random.default_rng(seed).normal(0.03, 0.008, DAYS))
    psi[at:] += 0.25
    return psi


def _json(diagnosis: object) -> str:
    return json.dumps(diagnosis, allow_nan=False)


def test_a_step_in_the_score_right_after_a_deploy_is_a_rollback() -> None:
    evidence = DiagnosisInput("fraud", _days(1, score_psi=_psi_step(16)), changes=(_deploy(15),))

    diagnosis = diagnose(evidence)

    assert (diagnosis.action, diagnosis.cause) == ("rollback", "step_after_deploy")
    assert "score_psi: a step from" in diagnosis.reasons[0]
    assert "1 day(s) after promote (champion 3 -> 4) by loop on 2025-03-16" in diagnosis.reasons[0]
    assert diagnosis.evidence["deploys"] == [_deploy(15).to_dict()]
    _json(diagnosis.to_dict())


def test_a_step_down_in_precision_at_a_deploy_is_a_rollback_even_if_the_score_holds() -> None:
    precision = np.random.default_rng(2).normal(0.90, 0.01, DAYS)
    precision[12:] -= 0.12
    evidence = DiagnosisInput("fraud", _days(2, realized=precision), changes=(_deploy(12),))

    diagnosis = diagnose(evidence)

    assert diagnosis.action == "rollback"
    assert diagnosis.reasons[0].startswith("realized precision: a step from 0.9")
    assert "the same day promote" in diagnosis.reasons[0]


def test_a_step_dated_the_day_before_a_deploy_is_still_the_deploys() -> None:
    # The locator is good to a day: a deploy at 00:30 on day 16 may show as a step on day 15.
    late = RegistryChange(_at(16, hour=0), "deploy", "promote (champion 3 -> 4) by loop")
    evidence = DiagnosisInput("fraud", _days(22, score_psi=_psi_step(15)), changes=(late,))

    diagnosis = diagnose(evidence)

    assert diagnosis.action == "rollback"
    assert "1 day(s) before promote (champion 3 -> 4) by loop on 2025-03-17" in diagnosis.reasons[0]


def test_a_step_long_after_a_deploy_is_not_the_deploys() -> None:
    evidence = DiagnosisInput("fraud", _days(3, score_psi=_psi_step(20)), changes=(_deploy(5),))

    diagnosis = diagnose(evidence)

    assert (diagnosis.action, diagnosis.cause) == ("wait", "unexplained_change")
    assert "no deploy and no data break explains it" in diagnosis.reasons[-1]


def test_a_better_score_after_a_deploy_is_no_rollback() -> None:
    precision = np.random.default_rng(4).normal(0.80, 0.01, DAYS)
    precision[15:] += 0.10  # the new version is better

    diagnosis = diagnose(
        DiagnosisInput("fraud", _days(4, realized=precision), changes=(_deploy(15),))
    )

    assert diagnosis.action == "wait"


def test_a_one_day_unit_shift_with_its_score_spike_is_fix_the_data() -> None:
    psi = np.abs(np.random.default_rng(5).normal(0.03, 0.008, DAYS))
    psi[20] = 0.9  # the cents incident: one day of amounts x100
    evidence = DiagnosisInput(
        "fraud", _days(5, score_psi=psi), quality=(_unit_shift(20),), changes=(_deploy(2),)
    )

    diagnosis = diagnose(evidence)

    assert (diagnosis.action, diagnosis.cause) == ("fix_data", "data_break")
    assert diagnosis.reasons[0] == (
        "data break on 2025-03-21: unit_shift on 'amount': 4210 against 42.1 in the reference"
        " (not seen in the 9 day(s) since, to 2025-03-30)"
    )
    assert "one-day break in score_psi on 2025-03-21" in diagnosis.reasons[1]
    assert "retraining on it would learn the corruption" in diagnosis.reasons[-1]
    assert diagnosis.evidence["one_day_breaks"]["score_psi"] == ["2025-03-21"]  # type: ignore[index]


def test_a_day_off_a_mostly_constant_series_is_a_break_only_when_far_off() -> None:
    mostly_zero = np.zeros(DAYS)
    mostly_zero[[3, 9, 17]] = 0.04  # one feature in 25 drifted on three days: noise
    spike = mostly_zero.copy()
    spike[22] = 0.6  # 15 of 25 features at once: the cents incident's signature

    quiet = diagnose(DiagnosisInput("fraud", _days(21, drifted=mostly_zero)))
    loud = diagnose(DiagnosisInput("fraud", _days(21, drifted=spike)))

    assert quiet.evidence["one_day_breaks"]["drifted_share"] == []  # type: ignore[index]
    assert loud.evidence["one_day_breaks"]["drifted_share"] == ["2025-03-23"]  # type: ignore[index]


def test_a_break_over_several_days_and_features_is_one_reason_per_feature() -> None:
    quality = tuple(
        QualityEvidence(_day(n), "unit_shift", feature, 4210.0, 42.1)
        for n in (27, 28, 29)
        for feature in ("amount", "amount_max_30d")
    )

    diagnosis = diagnose(DiagnosisInput("fraud", _days(20), quality=quality))

    assert diagnosis.action == "fix_data"
    assert diagnosis.reasons[:2] == [
        f"data break on 3 days from 2025-03-28 to 2025-03-30: unit_shift on {name!r}: 4210 "
        "against 42.1 in the reference"
        for name in ("amount", "amount_max_30d")
    ]
    assert len(diagnosis.evidence["quality"]) == 6  # type: ignore[arg-type]


def test_fix_the_data_comes_before_retrain_on_a_declining_drifting_model() -> None:
    # A gradual decline with broad drift and labels to spare would be a retrain; a null flood
    # in the same window means the training data would be corrupted: fix it first.
    evidence = _retraining_case(seed=6)
    flood = QualityEvidence(_day(27), "null_rate", "merchant_category", 0.62, 0.01)

    diagnosis = diagnose(replace(evidence, quality=(flood,)))

    assert diagnosis.action == "fix_data"
    assert "no metric or score has moved with it yet" in diagnosis.reasons


def test_a_data_break_right_after_a_deploy_is_the_deploys_fault() -> None:
    evidence = DiagnosisInput("fraud", _days(7), quality=(_unit_shift(20),), changes=(_deploy(19),))

    diagnosis = diagnose(evidence)

    assert diagnosis.action == "rollback"
    assert "the new version asks for broken inputs" in diagnosis.reasons[0]


def test_a_data_break_after_a_feature_definition_change_names_it() -> None:
    change = RegistryChange(_at(19), "features", "feature definitions v7 -> v8")
    evidence = DiagnosisInput("fraud", _days(8), quality=(_unit_shift(20),), changes=(change,))

    diagnosis = diagnose(evidence)

    assert diagnosis.action == "fix_data"
    assert any(
        "feature-definition change feature definitions v7 -> v8" in r for r in diagnosis.reasons
    )


def test_values_outside_the_reference_range_are_drift_not_a_data_break() -> None:
    out_of_range = QualityEvidence(_day(25), "out_of_range", "amount", 0.08, 0.0)

    diagnosis = diagnose(replace(_retraining_case(seed=9), quality=(out_of_range,)))

    assert diagnosis.action == "retrain"
    assert diagnosis.evidence["quality"] == []  # only breaking checks are evidence


def _retraining_case(seed: int, new_labels: int = 40_000) -> DiagnosisInput:
    rng = np.random.default_rng(seed)
    precision = np.linspace(0.94, 0.78, DAYS) + rng.normal(0.0, 0.01, DAYS)
    drifted = np.linspace(0.0, 0.35, DAYS)  # the world moves a bit more every day
    return DiagnosisInput(
        "fraud", _days(seed, realized=precision, drifted=drifted), new_labelled_rows=new_labels
    )


def test_a_gradual_decline_with_broad_drift_and_labels_is_a_retrain() -> None:
    diagnosis = diagnose(_retraining_case(seed=10))

    assert (diagnosis.action, diagnosis.cause) == ("retrain", "gradual_decline")
    assert diagnosis.reasons[0].startswith("realized precision: a gradual trend of -0.00")
    assert "31% of the monitored features drifted over the last 7 days" in diagnosis.reasons[1]
    assert "40,000 new labelled rows" in diagnosis.reasons[2]
    assert "concept drift" in diagnosis.reasons[3]


def test_a_decline_with_too_few_new_labels_waits_and_says_so() -> None:
    diagnosis = diagnose(_retraining_case(seed=11, new_labels=500))

    assert (diagnosis.action, diagnosis.cause) == ("wait", "not_enough_labels")
    assert "only 500 new labelled rows exist; a retrain needs 2,000" in diagnosis.reasons[-1]


def test_a_decline_without_broad_drift_waits_for_a_person() -> None:
    evidence = _retraining_case(seed=12)
    narrow = tuple(replace(d, drifted_share=0.04) for d in evidence.days)

    diagnosis = diagnose(replace(evidence, days=narrow))

    assert (diagnosis.action, diagnosis.cause) == ("wait", "narrow_drift")
    # The estimate holds near 0.90 while the realized precision fell to ~0.80: concept drift.
    assert diagnosis.reasons[-1].startswith("realized below estimate by 0.1")
    assert diagnosis.reasons[-1].endswith("inputs and outcome changed (concept drift)")
    gap = diagnosis.evidence["realized_minus_estimated"]
    assert isinstance(gap, float) and -0.15 < gap < -0.05


def test_a_decline_of_the_estimate_counts_when_labels_are_thin() -> None:
    estimate = np.linspace(0.94, 0.78, DAYS) + np.random.default_rng(13).normal(0, 0.005, DAYS)
    days = _days(13, estimated=estimate, drifted=np.linspace(0.0, 0.35, DAYS), labelled=5)

    diagnosis = diagnose(DiagnosisInput("fraud", days, new_labelled_rows=3_000))

    assert diagnosis.action == "retrain"
    assert diagnosis.reasons[0].startswith("estimated precision: a gradual trend")
    assert not any("concept drift" in r for r in diagnosis.reasons)  # no realized to compare


def test_too_few_rows_is_thin_evidence() -> None:
    diagnosis = diagnose(
        DiagnosisInput("fraud", _days(14, score_psi=_psi_step(16), predictions=20, labelled=2),
                       changes=(_deploy(15),))
    )  # fmt: skip

    assert (diagnosis.action, diagnosis.cause) == ("wait", "thin_evidence")
    assert diagnosis.reasons == [
        "too few rows: 600 predictions in 30 day(s), fewer than the 1,000 needed"
    ]


def test_incomplete_labels_and_no_estimate_is_thin_evidence() -> None:
    days = tuple(
        replace(d, label_completeness=0.3, estimated=math.nan, score_psi=math.nan)
        for d in _days(15)
    )

    diagnosis = diagnose(DiagnosisInput("fraud", days))

    assert (diagnosis.action, diagnosis.cause) == ("wait", "thin_evidence")
    assert (
        "labels incomplete: 0 labelled rows on days at least 90% complete" in diagnosis.reasons[0]
    )


def test_a_healthy_model_waits_because_nothing_is_wrong() -> None:
    diagnosis = diagnose(DiagnosisInput("fraud", _days(16), changes=(_deploy(3),)))

    assert (diagnosis.action, diagnosis.cause) == ("wait", "nothing_wrong")
    assert diagnosis.reasons[0].startswith("realized precision: no change (CUSUM")
    assert diagnosis.reasons[-1].startswith("no step, trend, data break")


def test_healthy_models_are_rarely_told_to_act() -> None:
    diagnoses = [diagnose(DiagnosisInput("fraud", _days(seed))) for seed in range(100, 160)]
    actions = [d.action for d in diagnoses]
    for diagnosis in diagnoses:
        json.dumps(diagnosis.to_dict(), allow_nan=False)  # strict JSON, whatever was seen

    # Three noise series per model, each with a ~1% false-change rate: at most a few act.
    assert sum(a != "wait" for a in actions) <= 2


def test_the_policy_moves_the_deploy_window() -> None:
    evidence = DiagnosisInput("fraud", _days(17, score_psi=_psi_step(20)), changes=(_deploy(15),))

    assert diagnose(evidence).action == "wait"  # 5 days after: outside the 3-day default
    assert diagnose(evidence, DiagnosisPolicy(deploy_window_days=5)).action == "rollback"


def test_deploys_come_from_the_event_log_on_the_replay_clock(tmp_path: Path) -> None:
    clock = ReplayClock(_at(0))
    log = EventLog(f"sqlite:///{tmp_path / 'tether.db'}", clock=clock)
    log.append("fraud", "deploy", actor="ana", reason="first", after={"champion": "1"})
    clock.set(_at(15, hour=9))
    log.append(
        "fraud", "deploy", actor="loop", reason="r", after={"champion": "1", "challenger": "2"}
    )
    log.append("fraud", "note", actor="ana", reason="r", after={"champion": "1", "challenger": "2"})
    shadow = {"champion": "1", "challenger": "2", "shadow-3": "3"}
    log.append("fraud", "deploy", actor="ana", reason="a shadow answers nobody", after=shadow)
    log.append("churn", "deploy", actor="ana", reason="r", after={"champion": "5"})
    events = log.events()
    log.close()

    changes = RegistryChange.of_events(events, "fraud")
    diagnosis = diagnose(
        DiagnosisInput("fraud", _days(18, score_psi=_psi_step(16)), changes=changes)
    )

    assert [(c.day, c.event_id) for c in changes] == [(_day(0), 1), (_day(15), 2)]
    assert changes[1].description == "deploy (challenger - -> 2) by loop"
    assert diagnosis.action == "rollback"
    assert "deploy (challenger - -> 2) by loop on 2025-03-16" in diagnosis.reasons[0]


def test_no_days_at_all_is_thin_evidence() -> None:
    diagnosis = diagnose(DiagnosisInput("fraud", ()))

    assert (diagnosis.action, diagnosis.cause) == ("wait", "thin_evidence")
    assert diagnosis.reasons == [
        "too few rows: 0 predictions in 0 day(s), fewer than the 1,000 needed"
    ]
    json.dumps(diagnosis.to_dict(), allow_nan=False)


def test_bad_evidence_is_refused_with_what_was_seen() -> None:
    day = DayEvidence(START, 100, 10)
    with pytest.raises(MonitoringError, match="one per day in day order"):
        DiagnosisInput("fraud", (day, day))
    with pytest.raises(MonitoringError, match="11 labelled of 10 predictions"):
        DayEvidence(START, 10, 11)
    assert day.completeness == 0.1


def test_a_matured_window_below_the_floor_with_broad_drift_is_a_retrain_without_a_trend() -> None:
    # A flat, noisy daily series (no change found) but the rule fired on the matured window:
    # a slow slide the daily series cannot show is still a decline.
    flat = _retraining_case(seed=13)
    noisy = tuple(replace(d, realized=0.9, estimated=0.9) for d in flat.days)
    fired = "precision 0.742 [0.70, 0.78] on 520 flagged rows, below 0.80"

    diagnosis = diagnose(replace(flat, days=noisy, below_floor=fired))
    assert (diagnosis.action, diagnosis.cause) == ("retrain", "gradual_decline")
    assert diagnosis.reasons[0] == fired
    # Without the rule's finding the same evidence has nothing to act on.
    assert diagnose(replace(flat, days=noisy)).action == "wait"
