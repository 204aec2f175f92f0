"""The offline gate on two real versions of a small fraud project."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from tether import ReplayClock
from tether.errors import ConfigError
from tether.lineage import TrainResult, choose_window, load_reference
from tether.loop import GateSettings, gate
from tether.project import Project

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def project(
    make_fraud_project: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    directory = make_fraud_project(tmp_path_factory.mktemp("gate") / "project")
    with Project.open(directory, clock=ReplayClock(NOW)) as opened:
        yield opened


@pytest.fixture(scope="module")
def versions(project: Project) -> tuple[TrainResult, TrainResult]:
    champion = project.train()  # January, as `tether train` does
    window = choose_window(
        NOW, days=60, outcome_window_days=project.settings.monitoring.outcome_window_days,
        reach=project.feature_reach(),
    )  # fmt: skip
    return champion, project.train(window=window)


@pytest.mark.slow
def test_both_versions_are_scored_on_the_candidates_held_out_frame(
    project: Project, versions: tuple[TrainResult, TrainResult]
) -> None:
    champion, candidate = versions
    result = gate(project, candidate.model_version, champion.model_version)
    new, old = result.metrics["candidate"], result.metrics["champion"]
    assert new["rows"] == old["rows"] == candidate.record.evaluation.rows
    # The oracle: the candidate's own recorded held-out scores, through scikit-learn.
    held_out = load_reference(project.tracking_uri, candidate.run_id).held_out
    expected = average_precision_score(held_out["label"], held_out["score"])
    assert new["average_precision"] == pytest.approx(expected, abs=1e-12)
    decision = candidate.record.decision
    assert decision is not None
    assert new["threshold"] == decision.threshold
    assert new["precision"] == pytest.approx(decision.precision, abs=1e-12)
    assert new["recall"] == pytest.approx(decision.recall, abs=1e-12)
    champion_decision = champion.record.decision
    assert champion_decision is not None
    assert old["threshold"] == champion_decision.threshold  # each at its own threshold
    flagged = held_out["score"] >= decision.threshold
    assert new["flagged"] == float(np.sum(flagged))


@pytest.mark.slow
def test_the_rule_passes_on_margin_and_floor_and_says_why_it_fails(
    project: Project, versions: tuple[TrainResult, TrainResult]
) -> None:
    champion, candidate = versions
    lenient = gate(project, candidate.model_version, champion.model_version,
                   GateSettings(average_precision_margin=1.0, min_precision=0.0))  # fmt: skip
    assert lenient.passed and lenient.reason.startswith("passed")
    strict = gate(project, candidate.model_version, champion.model_version,
                  GateSettings(average_precision_margin=0.0, min_precision=1.0))  # fmt: skip
    assert not strict.passed
    assert "precision below floor" in strict.reason
    new, old = strict.metrics["candidate"], strict.metrics["champion"]
    ranks = new["average_precision"] >= old["average_precision"]
    assert ("ranks worse" in strict.reason) is not ranks
    # A version against itself ranks equal: it never fails on the margin.
    itself = gate(project, candidate.model_version, candidate.model_version,
                  GateSettings(min_precision=0.0))  # fmt: skip
    assert itself.passed
    assert itself.metrics["candidate"] == itself.metrics["champion"]


@pytest.mark.slow
def test_the_default_floor_is_the_monitoring_metric_floor(
    project: Project, versions: tuple[TrainResult, TrainResult]
) -> None:
    champion, candidate = versions
    result = project.gate(candidate.model_version, champion.model_version)
    floor = project.settings.monitoring.metric_floor
    assert f"floor {floor:g}" in result.reason
    new, old = result.metrics["candidate"], result.metrics["champion"]
    expected = new["precision"] >= floor and new["average_precision"] >= old["average_precision"]
    assert result.passed is expected


@pytest.mark.parametrize(
    "settings",
    [{"average_precision_margin": -0.1}, {"min_precision": 1.5}],
)
def test_gate_settings_refuse_values_outside_zero_one(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="expected a number in"):
        GateSettings(**settings)
