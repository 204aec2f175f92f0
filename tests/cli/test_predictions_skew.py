"""``tether features skew`` reads the served vectors from the prediction log by default."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from tether.cli import _features
from tether.config import load_settings
from tether.project import Project
from tether.serving import SKIP_REASONS, Prediction, PredictionLog, PredictionReader
from tether.serving._predlog_read import DEFAULT_SKEW_LIMIT

RunCli = Callable[[list[str]], tuple[int, str, str]]
FEATURES = ["n_1d", "mean_7d", "ratio"]


def _log_served(project: Path, *, corrupt: int | None = None, raw_only: int = 0) -> int:
    """Log 20 predictions whose features are the offline values (the oracle), as a server
    would; ``corrupt`` changes one served value; ``raw_only`` more have no entity."""
    settings = load_settings(project)
    store = Project.open(settings).feature_store
    events = pd.read_parquet(project / "data" / "events.parquet")
    spine = events[["customer_id", "event_time", "amount"]].tail(20).reset_index(drop=True)
    offline = store.build_training_set(spine, timestamp="event_time")
    with PredictionLog(settings.store.url) as log:
        for n, row in offline.iterrows():
            features = {name: float(row[name]) for name in FEATURES}
            features["amount"] = float(row["amount"])
            if n == corrupt:
                features["n_1d"] += 1
            log.record(_prediction(int(n), row, features))  # type: ignore[arg-type]
        for n, row in offline.head(raw_only).iterrows():
            raw = _prediction(100 + int(n), row, {"n_1d": 0.0})  # type: ignore[arg-type]
            log.record(replace(raw, entity=None, statuses={"n_1d": "request"}))
    return len(offline)


def _prediction(number: int, row: pd.Series, features: dict[str, float]) -> Prediction:
    time = row["event_time"].to_pydatetime()
    return Prediction(
        request_id=f"r{number}", instance_id=f"tx-{number}", time=time + timedelta(seconds=1),
        model="tiny", version="1", role="champion", features=features, output=0.5,
        latency_ms=1.0, event_time=time, entity={"customer_id": str(row["customer_id"])},
        statuses={**dict.fromkeys(FEATURES, "value"), "amount": "request"}, request_data={},
    )  # fmt: skip


def test_the_log_is_the_default_source_and_agrees_with_offline(
    feature_project: Path, run_cli: RunCli
) -> None:
    rows = _log_served(feature_project, raw_only=3)
    code, out, err = run_cli(["-C", str(feature_project), "features", "skew", "--json"])
    assert code == 0, out
    report = json.loads(out)
    assert report["rows"] == rows
    assert "prediction log" in report["source"]
    assert {f["feature"] for f in report["features"]} == set(FEATURES)
    assert all(f["mismatch_rate"] == 0.0 for f in report["features"])
    # Nothing was looked up for an instance without an entity: counted, never silently.
    assert report["skipped"] == {"no_entity": 3}
    code, out, err = run_cli(["-C", str(feature_project), "features", "skew"])
    assert code == 0, err
    assert f"{rows} served vectors from the prediction log" in out
    assert f"3 skipped: {SKIP_REASONS['no_entity']}" in out


def test_a_served_value_that_differs_from_offline_fails_the_audit(
    feature_project: Path, run_cli: RunCli
) -> None:
    rows = _log_served(feature_project, corrupt=4)
    code, out, err = run_cli(["-C", str(feature_project), "features", "skew", "--json"])
    assert code == 1
    assert "skew above the bound" in err
    report = {f["feature"]: f for f in json.loads(out)["features"]}
    assert report["n_1d"]["mismatch_rate"] == pytest.approx(1 / rows)
    assert report["n_1d"]["examples"][0]["served"] == report["n_1d"]["examples"][0]["offline"] + 1
    # Filters narrow what is read: another version has nothing to audit (exit 2, said so).
    code, _, err = run_cli(["-C", str(feature_project), "features", "skew", "--version", "9"])
    assert code == 2
    assert "no served vector" in err and "--served" in err


def test_a_hashed_entity_key_is_said_to_be_unrecoverable(
    feature_project: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _log_served(feature_project)
    toml = feature_project / "tether.toml"
    toml.write_text(toml.read_text() + '\n[serving]\nhash_columns = ["customer_id"]\n')
    monkeypatch.setenv("TETHER_REDACTION_SALT", "s3cret")
    code, _, err = run_cli(["-C", str(feature_project), "features", "skew"])
    assert code == 2
    assert f"{rows} predictions read; {rows} skipped: {SKIP_REASONS['hashed']}" in err


def test_a_window_with_nothing_served_says_so(feature_project: Path, run_cli: RunCli) -> None:
    _log_served(feature_project, raw_only=2)
    settings = load_settings(feature_project)
    with PredictionReader(settings.store.url) as reader:
        assert len(reader.recent(limit=1000)) == 22
    code, _, err = run_cli(
        ["-C", str(feature_project), "features", "skew", "--since", "2100-01-01T00:00:00Z"]
    )
    assert code == 2
    assert "0 predictions read" in err


def test_a_bad_since_is_exit_2_naming_it(feature_project: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli(["-C", str(feature_project), "features", "skew", "--since", "soon"])
    assert code == 2 and "'--since'" in err


def test_the_cli_default_limit_is_the_readers() -> None:
    assert _features.DEFAULT_SKEW_LIMIT == DEFAULT_SKEW_LIMIT


def test_a_bad_or_naive_at_is_exit_2_naming_it(feature_project: Path, run_cli: RunCli) -> None:
    cli = ["-C", str(feature_project), "features", "get", "a", "--request", "amount=1", "--at"]
    code, _, err = run_cli([*cli, "yesterday"])
    assert code == 2 and "'--at'" in err and "'yesterday' is not a time" in err
    code, _, err = run_cli([*cli, "2026-08-31T12:00:00"])
    assert code == 2 and "without a timezone" in err and "2026-01-20T09:30:00Z" in err
