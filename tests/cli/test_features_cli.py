"""``tether features ...`` on a small project with feature definitions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

RunCli = Callable[[list[str]], tuple[int, str, str]]


def test_list_build_materialize_get_and_skew(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    cli = ["-C", str(feature_project), "features"]
    code, out, _ = run_cli([*cli, "list", "--json"])
    assert code == 0
    listed = json.loads(out)
    assert [f["feature"] for f in listed["features"]] == ["n_1d", "mean_7d", "ratio"]

    events = pd.read_parquet(feature_project / "data" / "events.parquet")
    spine = events[["customer_id", "event_time", "amount"]].tail(20)
    spine.to_parquet(tmp_path / "spine.parquet")
    out_file = tmp_path / "training.parquet"
    code, _, err = run_cli(
        [*cli, "build", "--spine", str(tmp_path / "spine.parquet"), "--out", str(out_file)]
    )
    assert code == 0, err
    training = pd.read_parquet(out_file)
    assert len(training) == 20 and "mean_7d" in training.columns

    code, out, err = run_cli([*cli, "materialize"])
    assert code == 0, err
    at = "2026-01-20T00:00:00+00:00"
    code, out, err = run_cli(
        [*cli, "get", "a", "zz", "--at", at, "--request", "amount=10", "--json"]
    )
    assert code == 0, err
    vectors = json.loads(out)["vectors"]
    assert vectors[0]["statuses"]["n_1d"] in {"value", "empty"}
    assert vectors[1]["statuses"]["n_1d"] == "unknown_entity"

    served = training.rename(columns={"event_time": "request_time"})
    served.to_parquet(tmp_path / "served.parquet")
    code, out, _ = run_cli([*cli, "skew", "--served", str(tmp_path / "served.parquet")])
    assert code == 0
    served.loc[served.index[0], "n_1d"] = 99
    served.to_parquet(tmp_path / "served.parquet")
    code, out, err = run_cli([*cli, "skew", "--served", str(tmp_path / "served.parquet"), "--json"])
    assert code == 1
    assert "skew above the bound" in err
    report = {f["feature"]: f for f in json.loads(out)["features"]}
    assert report["n_1d"]["mismatch_rate"] == pytest.approx(1 / 20)
