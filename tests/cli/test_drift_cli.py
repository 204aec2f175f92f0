"""``tether drift REFERENCE CURRENT``: two files, no project, the monitor's verdicts.

The files are seeded frames with drift injected into exactly two features (a numeric mean
shift of half a standard deviation, a category's share moved), and a third day of the
current file whose amounts are in cents: the report must flag those and nothing else, agree
with :func:`tether.monitoring.drift_report` on the same frames, and read Parquet and CSV
alike. Bad input ends with exit code 2 and a sentence naming the file or column.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tether.monitoring import compare_frames, drift_report

RunCli = Callable[[list[str]], tuple[int, str, str]]
ROWS = 3_000
INJECTED = ["shifted", "shop"]


def world(rows: int, seed: int, drifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shops = np.array(["grocery", "fuel", "travel", "online"])
    shares = [0.1, 0.3, 0.2, 0.4] if drifted else [0.4, 0.3, 0.2, 0.1]
    frame = pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3.5, 0.8, rows), 2),
            "shifted": rng.normal(1.0 if drifted else 0.0, 2.0, rows),
            "steady": rng.normal(5.0, 1.0, rows),
            "count": rng.poisson(4.0, rows).astype(np.int64),
            "shop": pd.Series(shops[rng.choice(4, rows, p=shares)], dtype="str"),
        }
    )
    frame["score"] = 1 / (1 + np.exp(-(frame["steady"] - 5.0)))
    frame["is_fraud"] = (rng.random(rows) < frame["score"] * 0.1).astype(np.int64)
    return frame


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = world(ROWS, seed=1, drifted=False)
    current = world(ROWS, seed=2, drifted=True)
    current["day"] = np.repeat(["2026-03-01", "2026-03-02", "2026-03-03"], ROWS // 3)
    cents = current["day"] == "2026-03-03"
    current.loc[cents, "amount"] = current.loc[cents, "amount"] * 100  # a unit change
    return reference, current


@pytest.fixture(scope="module")
def files(
    frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("drift")
    reference, current = frames
    paths = {
        "reference": folder / "reference.parquet",
        "current": folder / "current.parquet",
        "reference_csv": folder / "reference.csv",
        "current_csv": folder / "current.csv",
    }
    reference.to_parquet(paths["reference"], index=False)
    current.to_parquet(paths["current"], index=False)
    reference.to_csv(paths["reference_csv"], index=False)
    current.to_csv(paths["current_csv"], index=False)
    return paths


def drift_json(run_cli: RunCli, *args: str) -> dict[str, Any]:
    code, out, err = run_cli(["drift", *args, "--json"])
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_the_injected_features_drift_and_nothing_else(
    files: dict[str, Path], run_cli: RunCli
) -> None:
    report = drift_json(run_cli, str(files["reference"]), str(files["current"]),
                        "--label", "is_fraud", "--score", "score")  # fmt: skip
    assert report["features"] == ["amount", "shifted", "steady", "count", "shop"]
    (chunk,) = report["chunks"]
    assert chunk["chunk"] == "all" and chunk["rows"] == ROWS
    # The cents day moves a third of amount's rows by x100: drift, as well as a quality break.
    assert chunk["drift"]["drifted"] == ["amount", *INJECTED]
    assert chunk["drift"]["score"]["name"] == "score"
    assert chunk["drift"]["score"]["drifted"] is False
    assert chunk["drift"]["multivariate"]["auc"] > 0.55
    assert {f["feature"] for f in chunk["quality"]} == {"amount"}


def test_the_verdicts_are_drift_reports_on_the_same_frames(
    frames: tuple[pd.DataFrame, pd.DataFrame], files: dict[str, Path], run_cli: RunCli
) -> None:
    reference, current = frames
    columns = ["amount", "shifted", "steady", "count", "shop"]
    oracle = drift_report(reference, current, columns=columns, score="score").to_dict()
    report = drift_json(run_cli, str(files["reference"]), str(files["current"]),
                        "--label", "is_fraud", "--score", "score")  # fmt: skip
    # Tuples as lists; DuckDB's threaded sums equal to 9 digits, not bit for bit, between runs.
    assert _rounded(report["chunks"][0]["drift"]) == _rounded(json.loads(json.dumps(oracle)))


def test_csv_files_give_the_parquet_files_verdicts(files: dict[str, Path], run_cli: RunCli) -> None:
    parquet = drift_json(run_cli, str(files["reference"]), str(files["current"]),
                         "--label", "is_fraud")  # fmt: skip
    csv = drift_json(run_cli, str(files["reference_csv"]), str(files["current_csv"]),
                     "--label", "is_fraud")  # fmt: skip
    assert csv["chunks"][0]["drift"]["drifted"] == parquet["chunks"][0]["drift"]["drifted"]
    psi = [f["psi"] for f in parquet["chunks"][0]["drift"]["features"]]
    assert [f["psi"] for f in csv["chunks"][0]["drift"]["features"]] == pytest.approx(psi)


def test_by_a_column_each_value_is_a_chunk_and_the_cents_day_is_a_unit_shift(
    files: dict[str, Path], run_cli: RunCli
) -> None:
    report = drift_json(run_cli, str(files["reference"]), str(files["current"]),
                        "--label", "is_fraud", "--by", "day")  # fmt: skip
    chunks = {chunk["chunk"]: chunk for chunk in report["chunks"]}
    assert list(chunks) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [c["rows"] for c in chunks.values()] == [ROWS // 3] * 3
    for day in ("2026-03-01", "2026-03-02"):
        assert chunks[day]["drift"]["drifted"] == INJECTED
        assert chunks[day]["quality"] == []
    broken = chunks["2026-03-03"]
    assert "unit_shift" in {f["check"] for f in broken["quality"] if f["feature"] == "amount"}
    assert report["drifted_chunks"] == list(chunks)  # 2 of 5 features: above 10%


def test_chunk_size_cuts_the_current_file_in_order(files: dict[str, Path], run_cli: RunCli) -> None:
    report = drift_json(run_cli, str(files["reference"]), str(files["current"]),
                        "--chunk-size", "1200", "--label", "is_fraud")  # fmt: skip
    names = [(c["chunk"], c["rows"]) for c in report["chunks"]]
    assert names == [("rows 0-1199", 1200), ("rows 1200-2399", 1200), ("rows 2400-2999", 600)]
    # The day column is text in the current file only: no feature, never compared.
    assert "day" not in report["features"]


def test_the_text_view_names_the_drifted_features_and_the_html_report_is_self_contained(
    files: dict[str, Path], run_cli: RunCli, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    code, out, err = run_cli(["drift", str(files["reference"]), str(files["current"]),
                              "--label", "is_fraud", "--html", str(page)])  # fmt: skip
    assert code == 0, err
    assert "shifted: drifted: PSI" in out and "out_of_range on amount" in out
    assert "dataset drift in 1 of 1 chunk(s)" in out
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and '<tr class="drifted"><td>shop</td>' in text
    assert "<script" not in text and "http" not in text  # no CDN, nothing fetched


def test_the_python_api_on_dataframes_gives_the_same_report(
    frames: tuple[pd.DataFrame, pd.DataFrame], files: dict[str, Path], run_cli: RunCli
) -> None:
    reference, current = frames
    api = json.loads(
        json.dumps(compare_frames(reference, current, label="is_fraud", by="day").to_dict())
    )
    cli = drift_json(run_cli, str(files["reference"]), str(files["current"]),
                     "--label", "is_fraud", "--by", "day")  # fmt: skip
    # DuckDB sums on several threads in any order: equal to the last few bits, not exactly.
    cli = {key: value for key, value in cli.items() if key not in ("reference", "current")}
    assert _rounded(cli) == _rounded(api)


def write(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing column", ["lacks column(s) 'steady'", "reference"]),
        ("empty file", ["empty.parquet", "has no rows"]),
        ("empty csv", ["empty.csv", "cannot be read as csv"]),
        ("type differs", ["column 'count' is numeric in the reference", "categorical"]),
        ("unsupported suffix", ["current.json", "'.json'", ".csv, .parquet, .pq"]),
        ("no such file", ["nowhere.parquet", "does not exist"]),
        ("missing score", ["score 'proba'", "no such column"]),
        ("text label", ["label 'shop'", "expected numbers"]),
        ("missing by", ["by 'hour'", "no such column"]),
    ],
)
def test_bad_input_is_a_usage_error_naming_it(
    case: str,
    expected: list[str],
    frames: tuple[pd.DataFrame, pd.DataFrame],
    files: dict[str, Path],
    run_cli: RunCli,
    tmp_path: Path,
) -> None:
    current = frames[1]
    args = [str(files["reference"]), str(files["current"])]
    if case == "missing column":
        args[1] = str(write(tmp_path / "current.parquet", current.drop(columns="steady")))
    elif case == "empty file":
        args[1] = str(write(tmp_path / "empty.parquet", current.iloc[:0]))
    elif case == "empty csv":
        (tmp_path / "empty.csv").write_text("")
        args[1] = str(tmp_path / "empty.csv")
    elif case == "type differs":
        args[1] = str(write(tmp_path / "current.csv", current.assign(count="twelve")))
    elif case == "unsupported suffix":
        args[1] = str(tmp_path / "current.json")
    elif case == "no such file":
        args[0] = str(tmp_path / "nowhere.parquet")
    elif case == "missing score":
        args += ["--score", "proba"]
    elif case == "text label":
        args += ["--label", "shop"]
    elif case == "missing by":
        args += ["--by", "hour"]
    code, out, err = run_cli(["drift", *args])
    assert code == 2, (out, err)
    message = " ".join(err.split())  # rich folds long lines
    for part in expected:
        assert part in message, message
    assert "Traceback" not in err


def test_chunk_size_and_by_together_are_refused(files: dict[str, Path], run_cli: RunCli) -> None:
    code, _, err = run_cli(["drift", str(files["reference"]), str(files["current"]),
                            "--chunk-size", "10", "--by", "day"])  # fmt: skip
    assert code == 2
    assert "not both" in " ".join(err.split())


def test_with_a_score_each_chunk_has_its_estimated_and_realized_performance(
    frames: tuple[pd.DataFrame, pd.DataFrame], files: dict[str, Path], run_cli: RunCli
) -> None:
    report = drift_json(run_cli, str(files["reference"]), str(files["current"]),
                        "--label", "is_fraud", "--score", "score", "--by", "day",
                        "--threshold", "0.6")  # fmt: skip
    assert report["threshold"] == 0.6 and report["notes"] == []
    current = frames[1]
    for chunk in report["chunks"]:
        rows = current[current["day"] == chunk["chunk"]]
        flagged, fraud = rows["score"] >= 0.6, rows["is_fraud"] == 1
        # The oracle: precision and recall counted by hand at the threshold.
        realized = chunk["realized"]
        assert realized["labelled"] == len(rows)
        assert realized["precision"]["value"] == pytest.approx(
            (flagged & fraud).sum() / flagged.sum()
        )
        assert realized["recall"]["value"] == pytest.approx((flagged & fraud).sum() / fraud.sum())
        # Only the inputs moved (the score's relation to fraud is the reference's): the
        # estimate, calibrated on the reference, holds the realized value in its interval.
        estimated = chunk["estimated"]["precision"]
        assert estimated["low"] <= realized["precision"]["value"] <= estimated["high"]
        assert chunk["estimated"]["rows"] == len(rows)
        assert [gap["fired"] for gap in chunk["gaps"]] == [False] * len(chunk["gaps"])


def test_without_labels_in_the_current_file_only_the_estimate_is_given(
    frames: tuple[pd.DataFrame, pd.DataFrame], run_cli: RunCli, tmp_path: Path
) -> None:
    reference, current = frames
    unlabelled = write(tmp_path / "current.parquet", current.drop(columns="is_fraud"))
    ref = write(tmp_path / "reference.parquet", reference)
    report = drift_json(run_cli, str(ref), str(unlabelled), "--label", "is_fraud",
                        "--score", "score")  # fmt: skip
    (chunk,) = report["chunks"]
    assert chunk["realized"] is None and chunk["estimated"]["precision"]["value"] > 0
    # Without --label, is_fraud would be a feature; a reference without labels:
    bare = write(tmp_path / "bare.parquet", reference.drop(columns="is_fraud"))
    nolabel = drift_json(run_cli, str(bare), str(unlabelled), "--score", "score")
    assert nolabel["chunks"][0]["estimated"] is None
    assert nolabel["notes"] == ["no estimated performance: the reference has no labels (--label)"]


def test_a_changed_relation_between_inputs_and_outcome_is_a_gap(
    frames: tuple[pd.DataFrame, pd.DataFrame], run_cli: RunCli, tmp_path: Path
) -> None:
    # Concept drift: fraud no longer follows the score; the estimate (from the scores) cannot
    # see it, the labels do.
    reference, current = frames
    rng = np.random.default_rng(5)
    changed = current.assign(is_fraud=(rng.random(len(current)) < 0.03).astype(np.int64))
    ref = write(tmp_path / "reference.parquet", reference)
    cur = write(tmp_path / "current.parquet", changed)
    code, out, err = run_cli(["drift", str(ref), str(cur), "--label", "is_fraud",
                              "--score", "score"])  # fmt: skip
    assert code == 0, err
    assert "realized below estimate: the relation between inputs and outcome changed" in out


def test_time_columns_and_a_written_index_are_no_features_and_a_null_key_is_a_chunk(
    frames: tuple[pd.DataFrame, pd.DataFrame], run_cli: RunCli, tmp_path: Path
) -> None:
    reference, current = frames
    stamped = reference.assign(event_time=pd.Timestamp("2026-02-01", tz="UTC"))
    stamped.index = stamped.index + 1_000  # written to the file as __index_level_0__
    stamped.to_parquet(tmp_path / "reference.parquet")
    keyed = current.assign(region=["north", None, "south"] * (len(current) // 3))
    write(tmp_path / "current.parquet", keyed)
    report = drift_json(run_cli, str(tmp_path / "reference.parquet"),
                        str(tmp_path / "current.parquet"), "--label", "is_fraud",
                        "--by", "region")  # fmt: skip
    assert report["features"] == ["amount", "shifted", "steady", "count", "shop", "score"]
    assert [(c["chunk"], c["rows"]) for c in report["chunks"]] == [
        ("north", ROWS // 3), ("south", ROWS // 3), ("null", ROWS // 3),
    ]  # fmt: skip


def _rounded(value: Any) -> Any:
    """``value`` with every float rounded to 9 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value
