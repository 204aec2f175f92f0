"""Fixtures of the dashboard's tests: a real browser (``browser.py``) and a project with a month
of history to show (``dashboard_history.py`` tells its story).

Tests import the helpers by module name, as the other test folders do::

    from browser import PageRecord, assert_clean, open_page
    from dashboard_history import DashboardProject
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from browser import browser_page, chromium, playwright_driver  # noqa: F401  (fixtures)
from dashboard_history import METRIC_FLOOR, START, DashboardProject, run_cli, write_history

from tether import Project, ReplayClock
from tiny_project import TOML as TINY_TOML
from tiny_project import write_tiny_project

# tests/tiny_project.py's project, with a decision threshold and a metric floor that are not
# the defaults (0.5 and 0.8), so a page showing them shows the project's own.
TOML = f"""{TINY_TOML}
[train.threshold]
rule = "fixed"
value = 0.4

[monitoring]
metric = "precision"
metric_floor = {METRIC_FLOOR}
"""


# One per test process: the pages' and the browser's tests read the same stores, never write.
@pytest.fixture(scope="session")
def dashboard_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardProject]:
    """A tiny project with three versions and a month of monitoring, registry and loop
    history (``dashboard_history.py`` tells the story), shared by the tests of a process."""
    root = write_tiny_project(tmp_path_factory.mktemp("dashboard") / "tiny", TOML)
    clock = ReplayClock(START)
    with Project.open(root, clock=clock) as project:
        built = write_history(project, clock)
    code, out, err = run_cli(["-C", str(root), "audit", f"tiny/{built.champion}", "--format",
                              "json"])  # fmt: skip
    assert code == 0, err
    yield replace(built, audit=json.loads(out))
