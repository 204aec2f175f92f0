"""What a run leaves for monitoring and serving: its decision threshold and its reference
profile, recorded, shown by the audit, verified on load, and identical on a rerun."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tether import _mlflow
from tether.config import load_settings
from tether.errors import IntegrityError, TrackingError
from tether.lineage import (
    CALIBRATION_ARTIFACT,
    HELD_OUT_ARTIFACT,
    RECORD_SHA256_TAG,
    REFERENCE_ARTIFACT,
    TrainResult,
    choose_threshold,
    load_reference,
    render_json,
    render_markdown,
    reproduce,
    train_project,
)
from tether.lineage._code import commit_new_repository
from tether.monitoring import Calibration, Profile, reference_profiler
from tether.project import Project
from tether.serving import load_version

TRAIN_PY = """
from sklearn.linear_model import LogisticRegression

FEATURES = ["amount", "age", "hour"]

def train(ctx):
    frame = ctx.dataset("payments")
    fit, held_out = frame.iloc[:300], frame.iloc[300:]
    model = LogisticRegression(C=float(ctx.params["C"])).fit(fit[FEATURES], fit["label"])
    return model, held_out[[*FEATURES, "label"]].reset_index(drop=True)
"""

TOML = """
[project]
name = "tiny"

[datasets]
payments = "data/payments.parquet"

[train]
entry_point = "train:train"
label = "label"
seed = 7

[train.params]
C = 1.0

[train.threshold]
rule = "recall"
target = 0.8
"""


def _project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    rng = np.random.default_rng(5)
    n = 500
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 30.0, n),
            "age": rng.integers(18, 90, n).astype(float),
            "hour": rng.integers(0, 24, n).astype(float),
        }
    )
    odds = 0.03 * (frame["amount"] - 60) - 0.02 * (frame["age"] - 50)
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-odds))).astype(int)
    frame.to_parquet(root / "data" / "payments.parquet")
    (root / "train.py").write_text(TRAIN_PY)
    (root / "tether.toml").write_text(TOML)
    (root / ".gitignore").write_text(".tether/\n")
    commit_new_repository(root, "tiny project")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    project = _project(tmp_path_factory.mktemp("reference") / "tiny")
    with Project.open(project) as opened:
        return project, opened.train()


def _artifact(project: Path, run_id: str, path: str) -> Path:
    [found] = (project / ".tether" / "artifacts").glob(f"{run_id}/artifacts/{path}")
    return found


def test_the_threshold_is_the_rules_on_the_held_out_scores(
    trained: tuple[Path, TrainResult],
) -> None:
    project, result = trained
    record = result.record
    assert record.format_version == 3
    reference = load_reference(load_settings(project).stores.tracking_uri, result.run_id)
    held_out = reference.held_out
    assert list(held_out.columns) == ["score", "label"] and len(held_out) == 200
    expected = choose_threshold(held_out["score"], held_out["label"] == 1,
                                load_settings(project).train.threshold)  # fmt: skip
    assert record.decision == expected
    assert record.decision is not None and record.decision.rule == "recall"
    assert record.decision.recall >= 0.8
    # The held-out metrics are measured at that threshold, not at 0.5.
    assert record.metrics["threshold"] == expected.threshold
    assert record.metrics["precision_at_threshold"] == expected.precision
    assert record.metrics["recall_at_threshold"] == expected.recall
    assert record.metrics["decision_rate"] == expected.decision_rate
    assert "precision_at_0_5" not in record.metrics


def test_the_reference_profile_covers_every_input_and_the_score(
    trained: tuple[Path, TrainResult],
) -> None:
    project, result = trained
    loaded = load_reference(load_settings(project).stores.tracking_uri, result.run_id)
    profile = Profile.from_json_bytes(loaded.profile)
    assert profile.rows == 200 == loaded.record.rows
    assert set(profile.features) == {"amount", "age", "hour"}
    assert loaded.record.features == ("amount", "age", "hour")
    assert profile.score is not None and profile.score.count == 200
    # The score profiled is the held-out score, the one stored beside the labels.
    assert profile.score.minimum == pytest.approx(loaded.held_out["score"].min())
    assert profile.score.maximum == pytest.approx(loaded.held_out["score"].max())
    assert result.record.reference is not None
    assert result.record.reference.profile_format == json.loads(loaded.profile)["format_version"]


def test_the_score_calibration_is_fitted_on_the_held_out_scores_and_stored(
    trained: tuple[Path, TrainResult],
) -> None:
    project, result = trained
    loaded = load_reference(load_settings(project).stores.tracking_uri, result.run_id)
    assert loaded.calibration is not None
    stored = Calibration.from_dict(json.loads(loaded.calibration))
    held_out = loaded.held_out
    assert stored == Calibration.fit(held_out["score"].to_numpy(), held_out["label"].to_numpy())
    assert (stored.rows, stored.positives) == (200, int(held_out["label"].sum()))


def test_the_audit_shows_the_threshold_its_rule_and_the_profile(
    trained: tuple[Path, TrainResult],
) -> None:
    project, result = trained
    with Project.open(project) as opened:
        report = opened.audit(result.run_id)
    decision, reference = result.record.decision, result.record.reference
    assert decision is not None and reference is not None and reference.profile is not None
    text = render_markdown(report)
    assert "## Monitoring reference" in text
    assert f"| decision threshold | {decision.threshold:.6g} |" in text
    assert "| threshold rule | recall >= 0.8 |" in text
    assert f"sha256:{reference.profile.sha256}" in text
    assert "| profiled rows | 200 |" in text
    assert "| profiled features | 3 | amount, age, hour; score as 'score' |" in text
    assert reference.calibration is not None
    assert f"| score calibration | sha256:{reference.calibration.sha256} |" in text
    data = json.loads(render_json(report))
    assert data["decision"]["threshold"] == decision.threshold
    assert data["decision"]["rule"] == "recall" and data["decision"]["target"] == 0.8
    assert data["reference"]["profile"]["sha256"] == reference.profile.sha256
    assert data["reference"]["rows"] == 200


def test_a_rerun_writes_the_same_reference_and_reproduces(
    trained: tuple[Path, TrainResult],
) -> None:
    project, first = trained
    with Project.open(project) as opened:
        second = opened.train()
        report = opened.reproduce(first.run_id)
    assert report.reproduced, report.reason
    assert report.reference_identical is True  # the rerun profiled the same bytes
    one, two = first.record.reference, second.record.reference
    assert one is not None and two is not None
    # Deterministic for a seed: the same bytes, so the same digests.
    assert one.profile == two.profile and one.held_out == two.held_out
    assert first.record.decision == second.record.decision


def test_a_tampered_reference_artifact_is_refused_before_it_is_parsed(
    tmp_path: Path, trained: tuple[Path, TrainResult]
) -> None:
    project, result = trained
    tracking = load_settings(project).stores.tracking_uri
    for artifact in (REFERENCE_ARTIFACT, HELD_OUT_ARTIFACT, CALIBRATION_ARTIFACT):
        path = _artifact(project, result.run_id, artifact)
        original = path.read_bytes()
        path.write_bytes(original.replace(b"0", b"1", 1))
        try:
            with pytest.raises(IntegrityError, match=f"{artifact} of run .* modified"):
                load_reference(tracking, result.run_id)
        finally:
            path.write_bytes(original)
    load_reference(tracking, result.run_id)  # restored: verifies again


def test_a_rewritten_record_is_refused_though_its_digests_match_the_new_files(
    trained: tuple[Path, TrainResult],
) -> None:
    # Whoever rewrites the reference and the record's digest of it is caught by the record's
    # own digest, kept in the run's tag.
    project, result = trained
    path = _artifact(project, result.run_id, "tether/record.json")
    original = path.read_bytes()
    raw = json.loads(original)
    raw["decision"]["threshold"] = 0.0001  # a server would flag everything
    path.write_text(json.dumps(raw, indent=2, sort_keys=True))
    tracking = load_settings(project).stores.tracking_uri
    try:
        with pytest.raises(IntegrityError, match="record was modified after training"):
            load_reference(tracking, result.run_id)
    finally:
        path.write_bytes(original)
    _mlflow.set_run_tag(tracking, result.run_id, "tether.record.sha256", "")
    try:
        with pytest.raises(IntegrityError, match=r"no tether\.record\.sha256 tag"):
            load_reference(tracking, result.run_id)
    finally:
        _mlflow.set_run_tag(
            tracking, result.run_id, "tether.record.sha256",
            _mlflow.get_model_version(tracking, "tiny", "1").tags["tether.record.sha256"],
        )  # fmt: skip


def test_without_a_profiler_the_run_keeps_its_threshold_and_says_it_has_no_profile(
    trained: tuple[Path, TrainResult],
) -> None:
    project, with_profile = trained
    result = train_project(load_settings(project))
    reference = result.record.reference
    assert reference is not None and reference.profile is None
    assert reference.held_out == dataclasses.replace(
        with_profile.record.reference.held_out  # type: ignore[union-attr]
    )
    assert result.record.decision == with_profile.record.decision
    with pytest.raises(TrackingError, match="no profile"):
        load_reference(load_settings(project).stores.tracking_uri, result.run_id)


def test_a_served_version_decides_at_its_recorded_threshold_verified_like_its_model(
    trained: tuple[Path, TrainResult],
) -> None:
    project, result = trained
    settings = load_settings(project)
    tracking = settings.stores.tracking_uri
    decision = result.record.decision
    assert decision is not None
    with Project.open(project) as opened:
        loaded = load_version(tracking, "tiny", result.model_version, events=opened.events)
        assert loaded.threshold == decision.threshold
        # The version's copy of the record's digest must agree with the run's.
        name, version = "tiny", result.model_version
        genuine = _mlflow.get_model_version(tracking, name, version).tags[RECORD_SHA256_TAG]
        _mlflow.set_version_tag(tracking, name, version, RECORD_SHA256_TAG, "0" * 64)
        try:
            with pytest.raises(IntegrityError, match="record digests of tiny/1 disagree"):
                load_version(tracking, name, version, events=opened.events)
        finally:
            _mlflow.set_version_tag(tracking, name, version, RECORD_SHA256_TAG, genuine)


def test_a_run_recorded_before_thresholds_serves_null_decisions_and_audits_as_such(
    trained: tuple[Path, TrainResult],
) -> None:
    # A format-1 run: its record has no decision or reference, and no digest tag exists.
    project, result = trained
    tracking = load_settings(project).stores.tracking_uri
    name, version = "tiny", result.model_version
    path = _artifact(project, result.run_id, "tether/record.json")
    original = path.read_bytes()
    raw = json.loads(original)
    del raw["decision"], raw["reference"]
    raw["format_version"] = 1
    path.write_text(json.dumps(raw, indent=2, sort_keys=True))
    run_tag = _mlflow.get_run(tracking, result.run_id).tags[RECORD_SHA256_TAG]
    version_tag = _mlflow.get_model_version(tracking, name, version).tags[RECORD_SHA256_TAG]
    _mlflow.set_run_tag(tracking, result.run_id, RECORD_SHA256_TAG, "")
    _mlflow.set_version_tag(tracking, name, version, RECORD_SHA256_TAG, "")
    try:
        with Project.open(project) as opened:
            assert load_version(tracking, name, version, events=opened.events).threshold is None
            text = render_markdown(opened.audit(result.run_id))
        assert "| decision threshold | none: recorded before tether chose thresholds" in text
        assert "| reference profile | none |" in text
        with pytest.raises(TrackingError, match="has no reference"):
            load_reference(tracking, result.run_id)
    finally:
        path.write_bytes(original)
        _mlflow.set_run_tag(tracking, result.run_id, RECORD_SHA256_TAG, run_tag)
        _mlflow.set_version_tag(tracking, name, version, RECORD_SHA256_TAG, version_tag)


def test_the_project_profiler_writes_the_same_bytes_for_the_same_frame_and_seed() -> None:
    # Large enough for DuckDB to split the scan over threads (row groups of 122,880 rows): with
    # its default threads, 4 runs over 1M rows gave 4 different digests (a mean's last bits).
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.lognormal(size=(500_000, 3)) * 1000.123, columns=["a", "b", "c"])
    frame["score"] = rng.random(len(frame))
    first = reference_profiler(frame, ["a", "b", "c"], "score", 3)
    assert reference_profiler(frame, ["a", "b", "c"], "score", 3) == first
    assert reference_profiler(frame, ["a", "b", "c"], "score", 4) != first  # the sample's seed


def test_reproduce_reports_a_reference_that_differs(trained: tuple[Path, TrainResult]) -> None:
    project, result = trained
    settings = load_settings(project)

    def other_profiler(frame: pd.DataFrame, columns: object, score: str, seed: int) -> bytes:
        return reference_profiler(frame, list(frame.columns)[:1], score, seed)  # fewer columns

    report = reproduce(settings.stores, result.run_id, profiler=other_profiler)
    assert report.reproduced, report.reason  # the predictions are still identical
    assert report.reference_identical is False
    assert reproduce(settings.stores, result.run_id).reference_identical is None  # unchecked
