"""record.json: round trip, versioning, and the run key."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from tether.errors import ReproducibilityError
from tether.lineage import (
    ArtifactRecord,
    DecisionRecord,
    ReferenceRecord,
    TrainWindow,
    whole_data,
)
from tether.lineage._record import (
    CodeRecord,
    DatasetRecord,
    ModelRecord,
    RunRecord,
    record_from_json,
)

DATA = DatasetRecord("events", "training", "a" * 64, 10, 5, "parquet", "data/e.parquet",
                     "file:///s", {"x": "int64"}, {"t": ("2026-01-01", "2026-02-01")})  # fmt: skip
RECORD = RunRecord(
    run_id="f" * 32, project="p", model_name="m", entry_point="train:train", label="y",
    seed=1, threads=1, params={"max_iter": 3},
    code=CodeRecord("c" * 40, False, "/repo", "", "main", "b" * 64, ""),
    datasets=(DATA,), evaluation=dataclasses.replace(DATA, name="evaluation"),
    python="3.11.7", platform="linux", machine="x86_64",
    model=ModelRecord("d" * 64, "models:/m-1", "model.pkl", "sklearn", "cloudpickle"),
    metrics={"roc_auc": 0.9},
)  # fmt: skip
REFERENCE = ReferenceRecord(
    profile=ArtifactRecord("tether/reference.json", "1" * 64, 2048),
    held_out=ArtifactRecord("tether/held_out.parquet", "2" * 64, 512),
    rows=5, features=("x",), score="score", profile_format=1,
    calibration=ArtifactRecord("tether/calibration.json", "3" * 64, 256),
)  # fmt: skip
WITH_REFERENCE = dataclasses.replace(
    RECORD,
    decision=DecisionRecord(0.42, "recall", 0.85, 0.5, 0.9, 0.1, 5, 2),
    reference=REFERENCE,
)


def test_a_record_round_trips_through_json() -> None:
    assert record_from_json(RECORD.to_json()) == RECORD


def test_version_one_records_written_by_an_older_release_stay_readable() -> None:
    # The format-1 layout: no decision, no reference. Readers must keep accepting it.
    raw = json.loads(RECORD.to_json())
    del raw["decision"], raw["reference"]
    raw["format_version"] = 1
    old = record_from_json(json.dumps(raw))
    assert old.format_version == 1
    assert old.decision is None and old.reference is None
    assert old.run_key == RECORD.run_key


def test_a_format_two_record_round_trips_its_decision_and_reference() -> None:
    raw = json.loads(WITH_REFERENCE.to_json())
    del raw["window"], raw["known_time"]
    raw["format_version"] = 2
    old = record_from_json(json.dumps(raw))
    assert old.format_version == 2 and old.window == {} and old.train_window is None
    assert record_from_json(WITH_REFERENCE.to_json()) == WITH_REFERENCE
    # The threshold and reference are outputs: they do not change what identifies the run.
    assert WITH_REFERENCE.run_key == RECORD.run_key


def test_a_format_three_record_round_trips_its_window_and_keys_it_unless_whole() -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    window = TrainWindow(start, start + timedelta(days=60), start + timedelta(days=120))
    windowed = dataclasses.replace(
        WITH_REFERENCE, window=window.to_dict(), known_time={"labels": "label_time"}
    )
    assert json.loads(windowed.to_json())["format_version"] == 3
    assert record_from_json(windowed.to_json()) == windowed
    assert windowed.train_window == window
    assert windowed.run_key != RECORD.run_key  # the window decides which rows trained
    whole = dataclasses.replace(RECORD, window=whole_data(start).to_dict())
    assert whole.run_key == RECORD.run_key  # a plain run's cut-off is not part of its key


def test_a_record_without_a_profile_keeps_its_held_out_scores() -> None:
    reference = dataclasses.replace(REFERENCE, profile=None, profile_format=0, calibration=None)
    record = dataclasses.replace(WITH_REFERENCE, reference=reference)
    assert record_from_json(record.to_json()) == record


def test_an_unknown_format_version_is_refused() -> None:
    raw = json.loads(RECORD.to_json())
    raw["format_version"] = 99
    with pytest.raises(ReproducibilityError, match="format_version 99"):
        record_from_json(json.dumps(raw))


def test_the_run_key_changes_with_data_params_or_code_but_not_the_run_id() -> None:
    assert dataclasses.replace(RECORD, run_id="0" * 32).run_key == RECORD.run_key
    assert dataclasses.replace(RECORD, params={"max_iter": 4}).run_key != RECORD.run_key
    other_data = dataclasses.replace(DATA, digest="e" * 64)
    assert dataclasses.replace(RECORD, datasets=(other_data,)).run_key != RECORD.run_key
    other_code = dataclasses.replace(RECORD.code, commit="0" * 40)
    assert dataclasses.replace(RECORD, code=other_code).run_key != RECORD.run_key


def test_asking_for_an_unread_dataset_names_what_was_read() -> None:
    with pytest.raises(ReproducibilityError, match="it read: events"):
        RECORD.dataset("labels")
