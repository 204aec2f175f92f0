"""The recalibrated world (issue 11) rewards an honest retrain: the table as a test.

On the 400,000-payment scenario, ``benchmarks/world_table.py`` (its functions, imported
here so that the benchmark and the test measure the same thing) scores version 1 (trained
on January) against a model retrained at the start of each month from April on the 60 days
whose labels had all arrived (60-120 days back), at the threshold catching 85% of that
window's last fortnight of fraud (the rule of the example's ``[train.threshold]``). The
world must allow: the retrain holds 85% precision in that month at a recall no lower than
version 1's, while a naive retrain on the last 30 days with the labels known at the
month's start flags payments by the tens of thousands at a few percent precision.
Measured at the default seed (``docs/decisions.md``, "The recalibrated world"): the retrain's
precision 0.86-0.95 at recall 0.73-0.82, version 1's recall 0.51-0.70.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "world_table.py"
MONTHS = (4, 5, 6, 7, 8)


def _world_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("world_table", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[int, Any]]:
    world_table = _world_table()
    scenario = world_table.scenario_for(400_000, 7)
    frame = world_table.feature_frame(scenario, tmp_path_factory.mktemp("world"))
    table: dict[str, dict[int, Any]] = world_table.table(frame, months=MONTHS)
    return table


@pytest.mark.slow
@pytest.mark.parametrize("month", MONTHS)
def test_matured_retrain_holds_85_percent_precision_at_no_less_recall_than_version_1(
    result: dict[str, dict[int, Any]], month: int
) -> None:
    retrain, v1 = result["c"][month], result["v1"][month]
    assert retrain.precision >= 0.85, (month, retrain, v1)
    assert retrain.recall >= v1.recall, (month, retrain, v1)


@pytest.mark.slow
@pytest.mark.parametrize("month", MONTHS)
def test_naive_retrain_on_unmatured_labels_floods_the_team_with_false_alarms(
    result: dict[str, dict[int, Any]], month: int
) -> None:
    naive, retrain = result["naive"][month], result["c"][month]
    assert naive.precision < 0.05, (month, naive)
    assert naive.flagged > 10 * retrain.flagged, (month, naive, retrain)
