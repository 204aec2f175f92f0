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


def _spine_csv(path: Path, times: list[str]) -> Path:
    rows = "".join(f"a,{time},40.0\n" for time in times)
    path.write_text(f"customer_id,event_time,amount\n{rows}")
    return path


def test_build_reads_a_csv_spine_with_iso_times(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    cli = ["-C", str(feature_project), "features", "build"]
    spine = _spine_csv(
        tmp_path / "spine.csv", ["2026-01-20T12:00:00Z", "2026-01-20T14:00:00+02:00"]
    )
    out_file = tmp_path / "training.parquet"
    code, out, err = run_cli([*cli, "--spine", str(spine), "--out", str(out_file)])
    assert code == 0, err
    training = pd.read_parquet(out_file)
    noon = pd.Timestamp("2026-01-20T12:00:00Z")
    assert training["event_time"].tolist() == [noon, noon]  # +02:00 honoured
    assert training["n_1d"].iloc[0] == training["n_1d"].iloc[1]
    assert out.startswith("2 rows with 3 features written to")


def test_build_refuses_a_naive_csv_spine_unless_the_config_says_utc(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    spine = _spine_csv(tmp_path / "spine.csv", ["2026-01-20T12:00:00"])
    args = ["features", "build", "--spine", str(spine), "--out", str(tmp_path / "t.parquet")]
    code, _, err = run_cli(["-C", str(feature_project), *args])
    assert code == 2
    assert "holds naive timestamps" in err
    toml = feature_project / "tether.toml"
    toml.write_text(toml.read_text() + 'naive_timestamps = "utc"\n')  # [features] is last
    code, _, err = run_cli(["-C", str(feature_project), *args])
    assert code == 0, err
    training = pd.read_parquet(tmp_path / "t.parquet")
    assert training["event_time"].tolist() == [pd.Timestamp("2026-01-20T12:00:00")]  # as given
    aware = _spine_csv(tmp_path / "aware.csv", ["2026-01-20T12:00:00Z"])
    args = ["features", "build", "--spine", str(aware), "--out", str(tmp_path / "z.parquet")]
    assert run_cli(["-C", str(feature_project), *args])[0] == 0
    same = pd.read_parquet(tmp_path / "z.parquet")  # naive read as UTC: the same features
    assert training[["n_1d", "mean_7d"]].equals(same[["n_1d", "mean_7d"]])


def test_a_malformed_csv_time_names_the_file_column_and_row(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    spine = _spine_csv(tmp_path / "spine.csv", ["2026-01-20T12:00:00Z", "2026-01-20 25:00Z"])
    args = ["features", "build", "--spine", str(spine), "--out", str(tmp_path / "t.parquet")]
    code, _, err = run_cli(["-C", str(feature_project), *args])
    assert code == 2
    assert f"column 'event_time' of {spine}, row 2: '2026-01-20 25:00Z'" in err
    assert "Traceback" not in err


def test_push_reads_a_csv_of_events_with_iso_times(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    cli = ["-C", str(feature_project), "features"]
    events = tmp_path / "push.csv"
    events.write_text(
        "event_id,customer_id,event_time,amount,label\nx1,new,2026-01-20T11:00:00Z,5,0\n"
    )
    code, _, err = run_cli([*cli, "push", str(events)])
    assert code == 0, err
    at = ["--at", "2026-01-20T12:00:00+00:00", "--request", "amount=1", "--json"]
    code, out, err = run_cli([*cli, "get", "new", *at])
    assert code == 0, err
    vector = json.loads(out)["vectors"][0]
    assert vector["values"]["n_1d"] == 1 and vector["statuses"]["n_1d"] == "value"
    code, out, err = run_cli([*cli, "get", "new", *at[:-1]])  # as a person reads it
    assert code == 0, err
    assert "customer_id=new" in out and "{" not in out  # the entity, not a dict's repr


def test_materialize_and_push_say_what_was_read_and_what_was_new(
    feature_project: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    cli = ["-C", str(feature_project), "features"]
    code, out, err = run_cli([*cli, "materialize"])
    assert code == 0, err
    assert out.startswith("400 source rows read, 400 new event versions stored in ")
    code, out, err = run_cli([*cli, "materialize", "--incremental"])  # no created times: all
    assert code == 0, err
    assert out.startswith("400 source rows read, 0 new event versions")
    assert "(customer: 400 rows, nothing new)" in out
    events = tmp_path / "push.csv"
    events.write_text(
        "event_id,customer_id,event_time,amount,label\nx1,a,2026-01-20T11:00:00Z,5,0\n"
    )
    code, out, err = run_cli([*cli, "push", str(events)])
    assert code == 0, err
    assert out.strip() == "1 event pushed into 1 view (customer: 1 new)"
    code, out, err = run_cli([*cli, "push", str(events), "--json"])
    assert code == 0, err
    view = {"view": "customer", "rows": 1, "skipped": 0, "new": 0}
    assert json.loads(out) == {"rows": 1, "new": 0, "views": [view]}
