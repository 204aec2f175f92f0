"""The environment record and its comparison."""

from __future__ import annotations

import random

import numpy as np

from tether.lineage._environment import (
    Environment,
    apply_seed,
    capture_environment,
    compare_environments,
    parse_frozen,
)


def test_the_frozen_list_round_trips_and_pins_every_distribution() -> None:
    environment = capture_environment()
    assert "scikit-learn" in environment.packages
    assert parse_frozen(environment.frozen()) == dict(environment.packages)


def test_every_difference_is_listed_interpreter_first() -> None:
    recorded = Environment("3.11.7", "CPython", "linux", "x86_64", {"a": "1", "b": "2"})
    current = Environment("3.11.9", "CPython", "linux", "x86_64", {"a": "1", "b": "3", "c": "1"})
    found = [str(d) for d in compare_environments(recorded, current)]
    assert found == [
        "python: recorded 3.11.7, now 3.11.9",
        "b: recorded 2, now 3",
        "c: recorded (absent), now 1",
    ]


def test_the_seed_makes_python_and_numpy_repeat() -> None:
    apply_seed(5)
    first = (random.random(), np.random.rand())
    apply_seed(5)
    assert (random.random(), np.random.rand()) == first
