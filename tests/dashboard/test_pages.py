"""The pages as HTML text (JavaScript off): every number in a table, a 404 page for what the
stores do not hold, the token, and the report's single file."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_history import DashboardProject, run_cli
from markupsafe import escape

from tether import Project
from tether.dashboard import Dashboard
from tether.dashboard import _views as dashboard_views
from tether.errors import TrackingError
from tether.server import create_dashboard_app

with warnings.catch_warnings():
    # Starlette asks for httpx2, which the lock file does not have; httpx works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def opened(dashboard_project: DashboardProject) -> Iterator[Project]:
    with Project.open(dashboard_project.directory) as project:
        yield project


@pytest.fixture(scope="module")
def client(opened: Project) -> TestClient:
    return TestClient(create_dashboard_app(Dashboard(opened)))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_models_page_says_who_serves_since_when_and_the_loops_phase(
    client: TestClient, dashboard_project: DashboardProject
) -> None:
    response = client.get("/dashboard/")
    assert response.status_code == 200
    text = _text(response.text)
    assert dashboard_project.model in text
    for version in dashboard_project.versions:
        assert f'/dashboard/models/{dashboard_project.model}/versions/{version}"' in response.text
    assert "champion 1" in text
    assert "Loop: phase" in text
    # Registered when the register event says, on the project's clock, as the timeline has it
    # (MLflow's creation time is today's wall clock).
    registered = {m.time.isoformat(sep=" ", timespec="minutes") for m in dashboard_project.markers
                  if m.kind == "register"}  # fmt: skip
    shown = set(re.findall(r'versions/\d+">\d+</a></td>\n<td>([^<]+)</td>', response.text))
    assert shown and shown <= {t[:16] for t in registered}


def test_the_timeline_lists_every_window_and_every_change_of_state_without_javascript(
    client: TestClient, dashboard_project: DashboardProject
) -> None:
    response = client.get(f"/dashboard/models/{dashboard_project.model}/timeline")
    assert response.status_code == 200
    expected = {m.key for m in dashboard_project.markers}
    expected |= {a.key for a in dashboard_project.alerts if a.kind != "loop"}
    listed = set(
        re.findall(r'<tr class="marker" id="marker-[^"]+" data-key="([^"]+)"', response.text)
    )
    assert listed == expected
    text = _text(response.text)
    assert f"the dashed line is the threshold, {dashboard_project.threshold:g}" in text
    assert text.count(" champion ") >= len(dashboard_project.window_ends)
    # A table over 50 rows is folded, still in the page; the month's 30 windows are not.
    assert f'<details class="folded"><summary>{len(expected)} changes of state' in response.text
    assert "windows: show the table" not in response.text


def test_the_drift_page_has_a_row_per_monitored_feature(
    client: TestClient, dashboard_project: DashboardProject
) -> None:
    response = client.get(f"/dashboard/models/{dashboard_project.model}/drift")
    rows = set(re.findall(r'<tr class="feature" data-feature="([^"]+)"', response.text))
    assert set(dashboard_project.features) <= rows
    for feature in (*dashboard_project.features, "score"):  # every row's link opens
        page = client.get(f"/dashboard/models/{dashboard_project.model}/drift/{feature}")
        assert page.status_code == 200, feature
        assert _text(page.text).count("[") >= 2, feature  # the bins, as text


def test_the_experiments_page_has_every_look_the_other_metrics_and_the_shadows(
    client: TestClient, dashboard_project: DashboardProject
) -> None:
    response = client.get(f"/dashboard/models/{dashboard_project.model}/experiments")
    assert response.status_code == 200
    looks = re.findall(r"<tr><td>(2026-[^<]+)</td><td>(continue|promote)</td>", response.text)
    # Days 14-20 continue and day 21 promotes (dashboard_history's module docstring).
    assert [decision for _, decision in looks] == ["continue"] * 7 + ["promote"]
    text = _text(response.text)
    assert "0.0100" in text  # the promoting look's always-valid p, to four places
    # The business and model metrics of the latest look, each arm and the interval.
    dash = "\N{EN DASH}"
    assert f"net_value 1.500 2.250 0.750 0.250 {dash} 1.250" in text
    assert f"recall 0.700 0.720 0.020 -0.010 {dash} 0.050" in text
    shadows = re.findall(r"<tr><td>2026-[^<]+</td><td>2</td>", response.text)
    assert len(shadows) == 3  # the shadow phase's three days


def test_the_lineage_page_shows_the_digests_the_audit_gives(
    client: TestClient, dashboard_project: DashboardProject
) -> None:
    model, version = dashboard_project.model, dashboard_project.champion
    response = client.get(f"/dashboard/models/{model}/versions/{version}")
    assert response.status_code == 200
    record = dashboard_project.audit["record"]
    digests = [d["digest"] for d in record["datasets"]] + [record["evaluation"]["digest"]]
    for digest in digests:
        assert f"sha256:{digest}" in response.text
    assert record["run_id"] in response.text


def test_what_the_stores_do_not_hold_is_a_404_page_naming_it(
    client: TestClient, dashboard_project: DashboardProject
) -> None:
    model = dashboard_project.model
    for path, named in (
        (f"/dashboard/models/{model}/events/registry-99999", "registry-99999"),
        (f"/dashboard/models/{model}/versions/77", "version &#x27;77&#x27;"),
        (f"/dashboard/models/{model}/versions/abc", "version &#x27;abc&#x27;"),
        (f"/dashboard/models/{model}/drift/no_such_feature", "no_such_feature"),
        ("/dashboard/models/nope/timeline", "model &#x27;nope&#x27;"),
        ("/dashboard/models/nope/drift", "model &#x27;nope&#x27;"),
        (f"/dashboard/models/{model}/timeline?metric=bogus", "metric &#x27;bogus&#x27;"),
        ("/dashboard/nosuchpage", "/dashboard/nosuchpage"),  # as a page, not the API's JSON
        ("/dashboard/models/nope/", "/dashboard/models/nope/"),
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert named in response.text
        assert ".tether" not in response.text  # no store location reaches a viewer


def test_a_store_that_fails_is_said_without_its_location(
    opened: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: object) -> None:
        raise TrackingError("the tracking store at http://mlflow.internal:5000 is unreachable")

    monkeypatch.setattr(dashboard_views, "list_versions", unreachable)
    response = TestClient(create_dashboard_app(Dashboard(opened))).get("/dashboard/")
    assert response.status_code == 200  # the rest of the page still shows
    assert str(escape(dashboard_views.STORE_PROBLEM)) in response.text
    assert "mlflow.internal" not in response.text


def test_a_page_answers_head_as_it_answers_get(client: TestClient) -> None:
    assert client.head("/dashboard/").status_code == 200
    assert client.head("/dashboard/models/nope/drift").status_code == 404


def test_the_commands_refuse_an_unknown_model_and_an_impossible_port(
    dashboard_project: DashboardProject, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    root = str(dashboard_project.directory)
    code, _, err = run_cli(["-C", root, "report", "--model", "nope", "--out", str(out)])
    assert code == 2 and "no model 'nope'" in err
    assert not out.exists()
    code, _, err = run_cli(["-C", root, "dashboard", "--port", "80000"])
    assert code == 2 and "--port" in err and "65535" in err


def test_with_a_token_every_page_needs_it(opened: Project) -> None:
    guarded = TestClient(create_dashboard_app(Dashboard(opened), token="s3cret"))
    for path in ("/dashboard/", "/dashboard/static/plotly.min.js"):
        assert guarded.get(path).status_code == 401
        assert guarded.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/dashboard/", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_the_report_is_one_file_with_everything_inline(
    dashboard_project: DashboardProject, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"

    code, stdout, stderr = run_cli(["-C", str(dashboard_project.directory), "report", "--out",
                                    str(out)])  # fmt: skip
    assert code == 0, stderr
    assert f"written to {out}" in stdout
    html = out.read_text(encoding="utf-8")
    # Nothing the page's own elements fetch (plotly.js holds link texts of its own, which the
    # browser test shows it never follows offline).
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert "Plotly.newPlot" in html and len(html) > 4_000_000  # plotly.js inline
    for section in ("models", "timeline", "drift", "experiments", "lineage"):
        assert f'<section id="{section}">' in html
