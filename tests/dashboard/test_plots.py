"""The figures: what each trace holds, and JSON that no page content can break out of."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from tether.dashboard import _plots as plots
from tether.dashboard import _views as views
from tether.dashboard._views import (
    DriftCell,
    DriftGrid,
    Marker,
    MetricPoint,
    Timeline,
    mlflow_run_url,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _point(day: int, value: float, role: str = "champion") -> MetricPoint:
    end = T0 + timedelta(days=day)
    return MetricPoint(end - timedelta(days=28), end, "1", role, value, value - 0.05,
                       value + 0.04, 300)  # fmt: skip


def test_the_timeline_has_the_threshold_line_and_one_marker_per_change_of_state() -> None:
    markers = (
        Marker("registry-1", T0, "registry", "deploy", "deploy by ana", "first"),
        Marker("loop-4", T0 + timedelta(days=3), "loop", "train", "loop: train", "drift"),
        Marker("alert-2", T0 + timedelta(days=5), "alert", "drift", "alert: drift x", "<b>x</b>"),
    )
    completeness = (_point(1, 0.6), _point(2, 0.4), _point(2, 1.0, "challenger"))
    view = Timeline("fraud", "precision", 0.8, True, (_point(1, 0.9), _point(2, 0.7)),
                    (_point(2, 0.85),), completeness, markers)  # fmt: skip
    figure = plots.timeline_figure(view, lambda key: f"/e/{key}")
    threshold = [t for t in figure["data"] if t.get("meta") == "threshold"]
    assert len(threshold) == 1 and threshold[0]["y"] == [0.8, 0.8]
    assert threshold[0]["x"] == [T0.isoformat(), (T0 + timedelta(days=5)).isoformat()]
    placed = [
        link for t in figure["data"] if t.get("meta") == "markers" for link in t["customdata"]
    ]
    assert sorted(placed) == ["/e/alert-2", "/e/loop-4", "/e/registry-1"]
    alert = next(t for t in figure["data"] if t.get("name") == "alert events")
    assert alert["text"] == ["alert: drift x<br>&lt;b&gt;x&lt;/b&gt;"]  # a message is not markup
    realized = next(t for t in figure["data"] if t["name"] == "precision realized (champion)")
    assert realized["y"] == [0.9, 0.7]
    assert realized["error_y"]["array"] == pytest.approx([0.04, 0.04])
    assert realized["error_y"]["arrayminus"] == pytest.approx([0.05, 0.05])
    # Hover shows the evidence's plain values, escaped (the event's page has the rest).
    loop = Marker(
        "loop-5",
        T0,
        "loop",
        "train",
        "loop: train",
        "drift",
        {"version": "2", "psi": 0.31, "reasons": ["a", "b"], "note": "<i>n</i>"},
    )
    hover = plots.timeline_figure(
        Timeline("fraud", "precision", 0.8, True, (), (), (), (loop,)), str
    )["data"][-1]["text"][0]
    assert hover == "loop: train<br>drift<br>version: 2<br>psi: 0.31<br>note: &lt;i&gt;n&lt;/i&gt;"
    labels = next(t for t in figure["data"] if t.get("meta") == "completeness")
    assert labels["y"] == [0.6, 0.4] and labels["yaxis"] == "y3"  # the champion's, a share
    assert figure["layout"]["yaxis3"]["range"] == [0, 1.02]


def test_the_heatmap_has_a_row_per_feature_and_crosses_each_drifted_cell() -> None:
    windows = (T0, T0 + timedelta(days=1))
    cells = {
        ("amount", windows[0]): DriftCell(0.01, 0.4, "ks", False, 500),
        ("amount", windows[1]): DriftCell(0.3, 1e-9, "ks", True, 500),
        ("country", windows[1]): DriftCell(0.02, 0.3, "chi2", False, 500),
    }
    figure = plots.drift_figure(DriftGrid("fraud", windows, ("amount", "country"), cells),
                                lambda name: f"/f/{name}")  # fmt: skip
    heatmap, crosses = figure["data"]
    assert heatmap["y"] == ["amount", "country"]
    assert heatmap["z"] == [[0.01, 0.3], [None, 0.02]]
    assert "chi-square p 0.3" in heatmap["text"][1][1]
    assert list(zip(crosses["x"], crosses["y"], strict=True)) == [
        (windows[1].isoformat(), "amount")
    ]


def test_figure_json_cannot_close_its_script_element() -> None:
    text = plots.script_json({"data": [{"name": "</script><script>alert(1)</script>&"}]})
    assert "</script" not in text and "<" not in text and "&" not in text
    assert json.loads(text)["data"][0]["name"] == "</script><script>alert(1)</script>&"


def test_the_bundled_plotly_script_can_be_inlined() -> None:
    script = plots.plotly_js()
    assert len(script) > 3_000_000  # the whole bundle, not a loader that fetches the rest
    assert b"</script" not in script.lower()


def test_the_mlflow_link_is_the_servers_run_page_without_its_credentials() -> None:
    url = mlflow_run_url("https://ana:s3cret@mlflow.example:5443/", "7", "abc123")
    assert url == "https://mlflow.example:5443/#/experiments/7/runs/abc123"
    assert mlflow_run_url("sqlite:////srv/p/.tether/mlflow.db", "7", "abc123") == ""


def test_a_metric_without_a_floor_has_no_line_and_money_no_share_axis() -> None:
    marker = Marker("registry-1", T0, "registry", "deploy", "deploy", "first")
    view = Timeline("fraud", "net_value", None, False, (_point(1, 1200.0),), (), (), (marker,))
    figure = plots.timeline_figure(view, lambda key: key)
    assert not [t for t in figure["data"] if t.get("meta") == "threshold"]
    assert "range" not in figure["layout"]["yaxis"]  # money: plotly fits the axis
    markers = next(t for t in figure["data"] if t.get("meta") == "markers")
    assert markers["yaxis"] == "y2"  # at the top of the plot whatever the metric's scale


def test_a_stored_nan_reaches_a_page_as_no_value() -> None:
    evidence = {"always_valid_p": math.nan, "confidence_sequence": [-math.inf, 0.2], "n": 3}
    assert views._without_nan(evidence) == {"always_valid_p": None,
                                            "confidence_sequence": [None, 0.2], "n": 3}  # fmt: skip
    assert views._floats([0.5, math.nan, "x"]) == (0.5, None, None)
