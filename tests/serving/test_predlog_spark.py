"""Spark parity: the aggregates' generated SQL, run by Spark (local[1]) over a Parquet copy of
a small log (export_parquet, partitioned by day), gives what SQLite gives on the log itself."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import predlog_cases as cases
import pytest
from predlog_cases import KNOWN_BY, MODEL, OUTCOME_WINDOW, WINDOW

from tether.errors import ServingError
from tether.serving import LogAggregates, SparkLogAggregates, export_parquet


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local SparkSession, one core; stopped only if this module started it."""
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession()
    session = (
        SparkSession.builder.master("local[1]")
        .appName("tether-predlog-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    if existing is None:
        session.stop()


def _same(left: object, right: object) -> None:
    """Equal, NaN equal to NaN, floats to 1e-9 (the engines sum in different orders)."""
    if isinstance(left, float) and isinstance(right, float):
        assert (math.isnan(left) and math.isnan(right)) or left == pytest.approx(right, rel=1e-9)
    elif isinstance(left, dict) and isinstance(right, dict):
        assert left.keys() == right.keys()
        for key in left:
            _same(left[key], right[key])
    elif isinstance(left, tuple | list) and isinstance(right, tuple | list):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            _same(a, b)
    else:
        assert left == right


def test_spark_over_the_parquet_copy_equals_sqlite(
    sqlite_url: str, tmp_path: Path, spark: Any
) -> None:
    cases.build(sqlite_url, instances=140)
    whole = (cases.T0, cases.T0 + pd.Timedelta(days=cases.DAYS + 1).to_pytimedelta())
    written = export_parquet(sqlite_url, tmp_path / "copy", *whole)
    assert written["tether_predictions"] > 240 and written["tether_feedback"] > 50
    days = sorted(p.name for p in (tmp_path / "copy" / "tether_predictions").iterdir())
    assert days[0].startswith("day=2025-0") and len(days) >= cases.DAYS
    with pytest.raises(ServingError, match="not empty"):
        export_parquet(sqlite_url, tmp_path / "copy", *whole)

    engines = [LogAggregates(sqlite_url), SparkLogAggregates(spark, tmp_path / "copy")]
    results = []
    for engine in engines:
        summary = engine.feature_summary(
            *WINDOW, MODEL, numeric={"amount": (10.0, 40.0), "channel": (2.0,)},
            categorical={"country": ("FR", "O'Brien; DROP TABLE x")}, score_edges=(0.5,),
            filters={"role": "shadow"}, sample_size=20, seed=4,
        )  # fmt: skip
        pairs = engine.score_pairs(*WINDOW, MODEL, ("1", "3"), sample_size=10, seed=2)
        results.append({
            "counts": engine.counts(*WINDOW, bucket="day", known_by=KNOWN_BY,
                                    outcome_window=OUTCOME_WINDOW),
            "summary": {name: asdict(value) for name, value in summary.features.items()},
            "rows": (summary.rows, dict(summary.other_kind), asdict(summary.score or summary)),
            "sample": summary.sample,
            "confusion": engine.confusion(*WINDOW, MODEL, threshold=0.5, business=("loss",),
                                          known_by=KNOWN_BY),
            "decisions": engine.confusion(*WINDOW, MODEL, by=("cohort",), known_by=KNOWN_BY),
            "labelled": engine.labelled_sample(*WINDOW, MODEL, business=("loss",), size=30),
            "scores": {key: asdict(value) for key, value in
                       engine.scores(*WINDOW, MODEL, edges=(0.3, 0.6)).items()},
            "pairs": ({k: v for k, v in asdict(pairs).items() if k != "sample"}, pairs.sample),
        })  # fmt: skip
    engines[0].close()
    sqlite, on_spark = results
    for name in ("counts", "confusion", "decisions", "labelled", "sample"):
        pd.testing.assert_frame_equal(sqlite[name], on_spark[name], check_dtype=False)
    for name in ("summary", "rows", "scores"):
        _same(sqlite[name], on_spark[name])
    _same(sqlite["pairs"][0], on_spark["pairs"][0])
    pd.testing.assert_frame_equal(sqlite["pairs"][1], on_spark["pairs"][1], check_dtype=False)
    assert len(sqlite["sample"]) == 20 and sqlite["counts"]["labelled"].sum() > 0
