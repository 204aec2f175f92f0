"""The loop demo's month table reads in an 80-column terminal (no row is wrapped) and says
where the loop stood at the end."""

from __future__ import annotations

import pytest
from rich.console import Console

from tether.cli import _demo, _render
from tether.examples.fraud.loop_demo import DemoOutcome
from tether.examples.fraud.story import Month, Side
from tether.monitoring import CellAggregate, ConfusionCells


def _side(tp: int, fp: int, fn: int, tn: int, value: float) -> Side:
    cells = ConfusionCells(*(CellAggregate(n, {"amount": 250.0 * n}) for n in (tp, fp, fn, tn)))
    return Side(cells, value)


def test_the_month_table_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    # At 400,000 payments a month's value reaches six figures and its alerts three.
    months = [
        Month(f"2026-{m:02d}", _side(812, 96, 190, 33_000, 1_234_567.0),
              _side(900, 80, 120, 33_000, 1_345_678.0), ("1", "2"), 298, 1, 1, 0)
        for m in range(4, 10)
    ]  # fmt: skip
    end = {"phase": "challenger", "since": "2026-07-28", "candidate": "2", "step": "experimenting",
           "evidence": "experiment continue: waiting for 1000 rows per arm"}  # fmt: skip
    outcome = DemoOutcome(None, "1", months, {"ticks": 183}, {"replay": 1165.0}, end)
    console = Console(width=80, record=True, highlight=False, markup=False, emoji=False)
    monkeypatch.setattr(_render, "out", console)
    _render.show_part(_demo.demo_report(outcome))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "precision loop" in line)
    assert "served" in header
    row = next(line for line in lines if "1,345,678" in line)
    assert "2026-04" in row and "298" in row  # month, values and counts on one line
    said = " ".join(" ".join(lines).split())
    assert "in phase challenger since 2026-07-28 (candidate version 2)" in said
    assert "waiting for 1000 rows per arm" in said
