"""``tether demo --loop`` on a reduced world: six months replayed through the real server with a
loop tick a day, the month table's two sides agreeing where they must, and the same table from
a second run.

The served side (the prediction log's decisions) and the counterfactual side (version 1 scored
offline on the feature store's values for each payment's time) are computed by different paths;
in a month that only version 1 served, and that no incident touched, they must count the same
cells: online = offline, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.examples.fraud import loop_demo
from tether.project import Project
from tether.server import create_app

pytestmark = pytest.mark.slow
TRANSACTIONS = 20_000


def _run(folder: Path) -> loop_demo.DemoOutcome:
    return loop_demo.run(
        folder, loop_demo.scenario(TRANSACTIONS),
        open_project=lambda folder, clock: Project.open(folder, clock=clock),
        create_app=create_app,
    )  # fmt: skip


def test_the_loop_demo_ticks_daily_and_its_table_agrees_online_and_offline(
    tmp_path: Path,
) -> None:
    outcome = _run(tmp_path / "demo")
    # The same table twice for the same seed: the replay drives the clock and flushes the log
    # at each day's end, so nothing in it may depend on the machine's timing. (One test, so
    # that the suite pays for two runs, not three.)
    again = _run(tmp_path / "again")
    assert [m.to_dict() for m in again.months] == [m.to_dict() for m in outcome.months]
    assert again.counts == outcome.counts
    counts = outcome.counts
    assert counts["ticks"] == counts["days"] == 183
    # Every replayed payment was scored once; every outcome arrived, in the replay or after.
    assert counts["predictions"] == counts["feedbacks"] + counts["outcomes after the replay"]
    assert [m.month for m in outcome.months] == [f"2026-{m:02d}" for m in range(4, 10)]
    incident = f"{loop_demo.INCIDENT_DAY:%Y-%m}"
    with Project.open(tmp_path / "demo") as project:
        model = project.settings.model_name
        events = project.events.events(model)
        history = project.loop_store.history(model, limit=10_000)
    registered_during = [
        e for e in events if e.action == "register" and f"{e.time:%Y-%m}" == incident
    ]
    assert registered_during == [], "the incident month saw a retrain"
    assert len(history) >= counts["ticks"]
    for month in outcome.months:
        if month.versions == (outcome.version_1,) and month.month != incident:
            for name in ("tp", "fp", "fn", "tn"):
                served, alone = month.on.cells.cell(name), month.off.cells.cell(name)
                assert served.count == alone.count, (month.month, name)
                # Sums of the same amounts in another order: equal to the last bits or so.
                assert served.sums["amount"] == pytest.approx(alone.sums["amount"], rel=1e-9)
