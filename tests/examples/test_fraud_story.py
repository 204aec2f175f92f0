"""The demo's month table: its arithmetic against hand-worked cells."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from tether.examples.fraud.story import Side, cells_of, month_starts, month_table, value_of
from tether.monitoring import BusinessMetric
from tether.registry import Event

NET = BusinessMetric("net_value", "tp.amount - 5 * fp.count")


def test_month_starts_cut_at_the_given_ends() -> None:
    bounds = month_starts(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC))
    assert [f"{b:%m-%d}" for b in bounds] == ["02-01", "03-01", "04-01", "04-15"]


def test_cells_and_value_by_hand() -> None:
    predicted = np.array([1, 1, 1, 0, 0, 0])
    actual = np.array([1, 1, 0, 1, 0, 0])
    amounts = np.array([100.0, 50.0, 7.0, 30.0, 1.0, 2.0])
    cells = cells_of(predicted, actual, amounts)
    assert (cells.tp.count, cells.fp.count, cells.fn.count, cells.tn.count) == (2, 1, 1, 2)
    side = Side(cells, value_of(cells, NET))
    assert side.precision == pytest.approx(2 / 3)
    assert side.recall == pytest.approx(2 / 3)
    assert side.value == pytest.approx(150.0 - 5.0)


def test_month_table_counts_the_registry_by_month() -> None:
    bounds = month_starts(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    off = pd.DataFrame({
        "event_time": pd.to_datetime(["2026-02-03", "2026-03-04"], utc=True),
        "decision": [1, 0], "is_fraud": [1, 1], "amount": [10.0, 20.0],
    })  # fmt: skip
    on = [cells_of(np.array([1]), np.array([0]), np.array([3.0]))] * 2

    def event(action: str, day: str, version: str = "") -> Event:
        return Event(1, datetime.fromisoformat(day).replace(tzinfo=UTC), "m", action, "loop",
                     "", {}, {}, details={"version": version})  # fmt: skip

    # Version 1's own registration, at the replay's start, is not a retrain.
    events = [event("register", "2026-02-01", "1"), event("register", "2026-03-02", "2"),
              event("promote", "2026-03-20")]  # fmt: skip
    rows = month_table(bounds=bounds, off_frame=off, on_cells=on, on_versions=[("1",), ("1", "2")],
                       events=events, alert_times=[bounds[0]], metric=NET,
                       first_version="1")  # fmt: skip
    assert [r.month for r in rows] == ["2026-02", "2026-03"]
    assert rows[0].off.value == pytest.approx(10.0) and rows[1].off.recall == 0.0
    assert rows[0].on.value == pytest.approx(-5.0)
    assert (rows[1].retrains, rows[1].promotions, rows[0].alerts) == (1, 1, 1)
    assert rows[0].retrains == 0
