"""Fixtures of the feature-store tests: random adversarial cases, and one shared SparkSession."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from feature_cases import (
    WINDOWS,
    RandomCase,
    random_events,
    random_spine,
    random_view,
    write_parquet,
)


@pytest.fixture
def make_random_case(tmp_path: Path) -> Callable[..., RandomCase]:
    """Return a builder of random cases (keyword options as :func:`random_view`)."""

    def build(
        seed: int,
        *,
        ttl: str | None = None,
        created: bool = True,
        windows: tuple[str, ...] = WINDOWS,
    ) -> RandomCase:
        rng = np.random.default_rng(seed)
        events = random_events(rng)
        path = write_parquet(events, tmp_path / f"events_{seed}.parquet")
        view = random_view(path, ttl=ttl, created=created, windows=windows)
        return RandomCase(view, events, random_spine(rng, events))

    return build


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local SparkSession for every Spark test: one core, two shuffle partitions, no UI."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("tether-features-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
