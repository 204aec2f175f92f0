"""``tether predictions``: the log joined to feedback, as a table, JSON or Parquet."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tether.cli._predictions import parse_since
from tether.config import load_settings
from tether.serving import Prediction, PredictionLog

RunCli = Callable[[list[str]], tuple[int, str, str]]
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose prediction log holds five predictions, two with feedback."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "tether.toml").write_text(
        '[project]\nname = "tiny"\n[train]\nentry_point = "train:train"\nlabel = "label"\n'
    )
    with PredictionLog(load_settings(root).store.url) as log:
        for n in range(5):
            log.record(
                Prediction(
                    request_id=f"r{n}", instance_id=f"tx-{n}", time=NOW - timedelta(hours=n),
                    model="fraud", version="2" if n == 1 else "1",
                    role="challenger" if n == 1 else "champion",
                    features={"amount": 10.0 * n, "n_1d": 1.0 if n else math.nan},
                    output=n / 10, latency_ms=1.0,
                    cohort="challenger" if n == 1 else "champion",
                    entity={"customer_id": f"c{n}"},
                    statuses={"amount": "request", "n_1d": "value"},
                )
            )  # fmt: skip
        log.flush()
        log.record_feedback("tx-0", 1, {"loss": 42.0})
        log.record_feedback("tx-3", 0)
    return root


def test_the_table_lists_the_latest_predictions_newest_first(
    project: Path, run_cli: RunCli
) -> None:
    code, out, err = run_cli(["-C", str(project), "predictions", "--limit", "3"])
    assert code == 0, err
    assert out.index("tx-0") < out.index("tx-1") < out.index("tx-2")
    assert "tx-3" not in out
    assert "3 predictions from sqlite:///" in out and "tether.db" in out


def test_json_has_every_column_with_feedback_joined(project: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli(["-C", str(project), "predictions", "--json"])
    assert code == 0, err
    body = json.loads(out, parse_constant=_refuse)  # strict JSON: no NaN literal
    rows = {row["instance_id"]: row for row in body["predictions"]}
    assert rows["tx-0"]["features"] == {"amount": 0.0, "n_1d": None}  # NaN: no value
    assert [row["instance_id"] for row in body["predictions"]] == [f"tx-{n}" for n in range(5)]
    assert (rows["tx-0"]["label"], rows["tx-0"]["business"]) == (1, {"loss": 42.0})
    assert rows["tx-3"]["label"] == 0 and rows["tx-2"]["label"] is None
    assert rows["tx-2"]["feedback_time"] is None
    assert rows["tx-1"]["statuses"] == {"amount": "request", "n_1d": "value"}
    assert rows["tx-1"]["entity"] == {"customer_id": "c1"}
    assert datetime.fromisoformat(rows["tx-0"]["time"]) == NOW


def _refuse(literal: str) -> None:
    raise AssertionError(f"{literal} is not JSON")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--version", "2"], ["tx-1"]),
        (["--cohort", "champion", "--limit", "2"], ["tx-0", "tx-2"]),
        (["--model", "churn"], []),
        (["--since", "150m"], ["tx-0", "tx-1", "tx-2"]),
        (["--since", (NOW - timedelta(hours=1)).isoformat()], ["tx-0", "tx-1"]),
    ],
)
def test_filters(project: Path, run_cli: RunCli, options: list[str], expected: list[str]) -> None:
    code, out, err = run_cli(["-C", str(project), "predictions", *options, "--json"])
    assert code == 0, err
    assert [row["instance_id"] for row in json.loads(out)["predictions"]] == expected


def test_out_writes_parquet_with_json_columns_as_text(
    project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    target = tmp_path / "predictions.parquet"
    code, out, err = run_cli(["-C", str(project), "predictions", "--out", str(target)])
    assert code == 0, err
    assert "5 predictions from" in out and str(target) in out
    frame = pd.read_parquet(target)
    assert list(frame["instance_id"]) == [f"tx-{n}" for n in range(5)]
    assert json.loads(frame["features"].iloc[2]) == {"amount": 20.0, "n_1d": 1.0}
    assert json.loads(frame["label"].iloc[0]) == 1 and pd.isna(frame["label"].iloc[2])
    assert str(frame["time"].dtype).startswith("datetime64")
    assert frame["score"].tolist() == [0.0, 0.1, 0.2, 0.3, 0.4]

    # Under --json the file is written all the same, and stdout says what was written.
    again = tmp_path / "again.parquet"
    code, out, err = run_cli(["-C", str(project), "--json", "predictions", "--out", str(again)])
    assert code == 0, err
    assert json.loads(out) == {"log": json.loads(out)["log"], "predictions": 5, "out": str(again)}
    assert pd.read_parquet(again).equals(frame)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--since", "yesterday"], "'--since'"),
        (["--since", "2026-01-20T09:30:00"], "'--since'"),  # no timezone
        (["--limit", "0"], "'--limit'"),
        (["--out", "predictions.csv"], "'--out'"),  # Parquet bytes under a CSV name: refused
    ],
)
def test_a_bad_option_is_exit_2_naming_it(
    project: Path, run_cli: RunCli, options: list[str], words: str
) -> None:
    code, out, err = run_cli(["-C", str(project), "predictions", *options])
    assert code == 2
    assert words in err and out == ""


def test_since_takes_durations_and_aware_times() -> None:
    now = datetime(2026, 1, 20, 12, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-01-20T09:30:00Z", now) == datetime(2026, 1, 20, 9, 30, tzinfo=UTC)
    assert parse_since("2026-01-20T11:30:00+02:00", now) == datetime(2026, 1, 20, 9, 30, tzinfo=UTC)
