"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against the real
server on 127.0.0.1 (``tether serve``), and the report opened from ``file://`` offline."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import PageRecord, assert_clean, open_page, screenshot
from dashboard_history import DashboardProject, Marker, run_cli
from playwright.sync_api import Page

from subprocess_servers import free_port, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(dashboard_project: DashboardProject) -> Iterator[str]:
    """``tether serve`` of the project: the prediction server, with the dashboard on it."""
    port = free_port()
    command = [sys.executable, "-m", "tether", "-C", str(dashboard_project.directory), "serve",
               "--port", str(port), "--no-access-log"]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with running_server(command, f"{base}/healthz", name="tether serve"):
        yield f"{base}/dashboard"


def _figure(page: Page, element: str, script: str) -> object:
    page.wait_for_selector(f"#{element}.js-plotly-plot")
    return page.evaluate(f"(div => {script})(document.getElementById('{element}'))")


def test_every_page_loads_with_no_console_error_and_no_failed_request(
    server: str, browser_page: PageRecord, dashboard_project: DashboardProject
) -> None:
    model = f"{server}/models/{dashboard_project.model}"
    pages = {
        "models": (f"{server}/", None),
        "timeline": (f"{model}/timeline", "timeline-figure"),
        "event": (f"{model}/events/{dashboard_project.markers[0].key}", None),
        "drift": (f"{model}/drift", "drift-figure"),
        "feature": (f"{model}/drift/{dashboard_project.features[0]}", "feature-figure"),
        "experiments": (f"{model}/experiments", "experiment-figure"),
        "lineage": (f"{model}/versions/{dashboard_project.champion}", None),
    }
    for name, (url, figure) in pages.items():
        page = open_page(browser_page, url, name=name)
        if figure is not None:  # drawn by plotly.js, served by the server itself
            page.wait_for_selector(f"#{figure}.js-plotly-plot .main-svg")
            screenshot(browser_page, f"{name}-drawn")
        assert_clean(browser_page)
        assert page.title()


def test_the_timeline_has_the_threshold_line_and_one_marker_per_stored_event(
    server: str, browser_page: PageRecord, dashboard_project: DashboardProject
) -> None:
    page = open_page(browser_page, f"{server}/models/{dashboard_project.model}/timeline")
    threshold = _figure(page, "timeline-figure",
                        "div.data.filter(t => t.meta === 'threshold').map(t => t.y)")  # fmt: skip
    assert threshold == [[dashboard_project.threshold, dashboard_project.threshold]]
    markers = "div.data.filter(t => t.meta === 'markers').flatMap(t => t.customdata)"
    placed = _figure(page, "timeline-figure", markers)
    assert isinstance(placed, list)
    keys = sorted(str(url).rsplit("/", 1)[1] for url in placed)
    expected = [m.key for m in dashboard_project.markers]
    expected += [a.key for a in dashboard_project.alerts if a.kind != "loop"]
    assert keys == sorted(expected)
    assert_clean(browser_page)


def test_clicking_a_marker_opens_its_event(
    server: str, browser_page: PageRecord, dashboard_project: DashboardProject
) -> None:
    page = open_page(browser_page, f"{server}/models/{dashboard_project.model}/timeline")
    first = _lonely_marker(dashboard_project)
    point = _marker_point(page, f"/{first.key}")
    page.mouse.move(point[0], point[1])
    with page.expect_navigation():
        page.mouse.click(point[0], point[1])
    assert page.url.endswith(f"/events/{first.key}")
    assert first.key in page.inner_text("table.event")
    screenshot(browser_page, "event-after-click")
    assert_clean(browser_page)


def test_the_drift_heatmap_has_every_monitored_feature(
    server: str, browser_page: PageRecord, dashboard_project: DashboardProject
) -> None:
    page = open_page(browser_page, f"{server}/models/{dashboard_project.model}/drift")
    rows = _figure(page, "drift-figure", "div.data.find(t => t.meta === 'heatmap').y")
    assert isinstance(rows, list)
    assert set(dashboard_project.features) <= set(rows)
    assert_clean(browser_page)


def test_the_lineage_page_shows_the_digests_of_the_audit(
    server: str, browser_page: PageRecord, dashboard_project: DashboardProject
) -> None:
    url = f"{server}/models/{dashboard_project.model}/versions/{dashboard_project.champion}"
    page = open_page(browser_page, url)
    text = page.inner_text("body")
    record = dashboard_project.audit["record"]
    for dataset in [*record["datasets"], record["evaluation"]]:
        assert f"sha256:{dataset['digest']}" in text
    assert record["code"]["commit"] in text
    assert_clean(browser_page)


def test_the_report_opens_from_a_file_with_no_network(
    browser_page: PageRecord, dashboard_project: DashboardProject, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    code, _, err = run_cli(["-C", str(dashboard_project.directory), "report", "-o", str(out)])
    assert code == 0, err
    page = open_page(browser_page, out.as_uri(), name="report")
    page.wait_for_selector("#timeline-figure.js-plotly-plot .main-svg")
    page.wait_for_selector("#drift-figure.js-plotly-plot .main-svg")
    screenshot(browser_page, "report-drawn")
    assert page.inner_text("#lineage").count("sha256:") >= 2
    # A marker's click goes to its row in the changes table, folded (54 rows): it unfolds.
    first = _lonely_marker(dashboard_project)
    row = page.locator(f"#marker-{first.key}")
    assert not row.is_visible()
    point = _marker_point(page, f"-{first.key}")
    page.mouse.click(point[0], point[1])
    row.wait_for(state="visible")
    assert page.url.endswith(f"#marker-{first.key}")
    assert_clean(browser_page)  # a request beyond the file would be blocked and listed here


def _lonely_marker(dashboard_project: DashboardProject) -> Marker:
    """The marker farthest in time from any other: the mouse lands on it alone."""
    placed = [
        *dashboard_project.markers,
        *(a for a in dashboard_project.alerts if a.kind != "loop"),
    ]
    return max(dashboard_project.markers, key=lambda m: min(
        abs((m.time - other.time).total_seconds()) for other in placed if other.key != m.key
    ))  # fmt: skip


def _marker_point(page: Page, link_end: str) -> list[float]:
    """The pixel of the marker whose link ends with ``link_end``, from the plot's own axes:
    a real mouse click where it is drawn."""
    point = _figure(page, "timeline-figure", f"""(() => {{
        const layout = div._fullLayout;
        const trace = div.data.findIndex(t => t.meta === 'markers' &&
                                              t.customdata.some(u => u.endsWith('{link_end}')));
        const at = div.data[trace].customdata.findIndex(u => u.endsWith('{link_end}'));
        const box = div.getBoundingClientRect();
        return [box.left + layout.xaxis._offset + layout.xaxis.d2p(div.data[trace].x[at]),
                box.top + layout.yaxis2._offset + layout.yaxis2.d2p(div.data[trace].y[at])];
    }})()""")  # fmt: skip
    assert isinstance(point, list)
    return point
