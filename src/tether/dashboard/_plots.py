"""The views as plotly figures: plain JSON (``data`` and ``layout``) for ``Plotly.newPlot``.

The figures are built as dictionaries, not with plotly's Python graph objects: they hold
nothing but what the view holds, and a year of daily windows over 50 features (18,250
heatmap cells) builds in milliseconds. The script that draws them is plotly's own bundled
``plotly.min.js`` (:func:`plotly_js`), served from the installed package or inlined in the
report: never a CDN. Every figure is progressive enhancement: its page says the same in text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from tether.dashboard._views import DriftGrid, Experiments, FeatureBins, MetricPoint, Timeline

Figure = dict[str, Any]
ROLE_COLOURS = {"champion": "#1f77b4", "challenger": "#ff7f0e"}
"""A serving role's line colour (plotly's first two)."""
MARKER_COLOURS = {"alert": "#d62728", "loop": "#9467bd", "registry": "#2ca02c"}
"""A marker's colour by its source, drawn in this order (the few on top of the many)."""
MARKER_HEIGHTS = {"alert": 0.2, "loop": 0.5, "registry": 0.8}
"""Each source's row in the strip above the metric: six months of daily alerts (some 1,500)
would otherwise hide the loop's and the registry's few markers, and over the metric's own
axis they hid its line (seen on the --quick demo's project)."""
P_TICKS = (0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0)
"""The p-value axis's ticks: decades, and the usual alphas."""
MARKER_STRIP = 0.2
"""The share of the plot's height the markers' strip takes, at its top."""


@cache
def plotly_js() -> bytes:
    """plotly.js as the installed plotly package bundles it (about 4.8 MB)."""
    return resources.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()


def script_json(figure: Figure) -> str:
    """``figure`` as JSON safe inside a ``<script>`` element (no ``</script>`` can close it)."""
    text = json.dumps(figure, allow_nan=False, default=str, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def is_empty(figure: Figure) -> bool:
    """Whether no trace of ``figure`` has a point."""
    return not any(trace.get("x") for trace in figure["data"])


def timeline_figure(view: Timeline, link: Callable[[str], str]) -> Figure:
    """Realized (solid, with its interval) and estimated (dotted) metric per window end, the
    champion's label completeness, the threshold line, and one marker per stored change of
    state (``link(key)`` on click)."""
    data: list[Figure] = []
    for role in ("champion", "challenger"):
        realized = [p for p in view.realized if p.role == role]
        estimated = [p for p in view.estimated if p.role == role]
        if realized:
            data.append(_line(realized, f"{escape(view.metric)} realized ({role})", role, "solid"))
        if estimated:
            data.append(_line(estimated, f"{escape(view.metric)} estimated ({role})", role, "dot"))
    completeness = [p for p in view.completeness if p.role == "champion"]
    if completeness:
        # On an axis of its own (a share, whatever the metric is), faint: it says how far the
        # estimate is all there is, and when the realized metric's labels arrived.
        data.append({
            "type": "scatter", "mode": "lines", "name": "label completeness (champion)",
            "x": [p.end.isoformat() for p in completeness],
            "y": [p.value for p in completeness], "yaxis": "y3",
            "line": {"color": "#aaa", "width": 1, "shape": "hv"}, "meta": "completeness",
            "hovertemplate": "%{x}<br>labels known: %{y:.0%}<extra></extra>",
        })  # fmt: skip
    ends = [p.end for p in (*view.realized, *view.estimated)] + [m.time for m in view.markers]
    if ends and view.threshold is not None:
        first, last = min(ends), max(ends)
        if last - first < timedelta(days=1):  # one moment: the line would have no length
            first, last = first - timedelta(days=1), last + timedelta(days=1)
        data.append({
            "type": "scatter", "mode": "lines", "name": f"threshold {view.threshold:g}",
            "x": [first.isoformat(), last.isoformat()],
            "y": [view.threshold, view.threshold],
            "line": {"color": "#555", "dash": "dash"}, "hoverinfo": "name",
            "meta": "threshold",
        })  # fmt: skip
    for source, colour in MARKER_COLOURS.items():
        chosen = [m for m in view.markers if m.source == source]
        if not chosen:
            continue
        data.append({
            "type": "scatter", "mode": "markers", "name": f"{source} events",
            # In a strip of their own above the metric, one row per source, whatever the
            # metric's scale (a business metric is money, not a share).
            "x": [m.time.isoformat() for m in chosen], "y": [MARKER_HEIGHTS[source]] * len(chosen),
            "yaxis": "y2",
            # plotly reads a few HTML tags in hover text: a stored message is shown, not parsed.
            "text": [f"{escape(m.title)}<br>{escape(m.summary[:300])}{_brief(m.evidence)}"
                     for m in chosen],
            "customdata": [link(m.key) for m in chosen],
            "hovertemplate": "%{x}<br>%{text}<extra></extra>",
            "marker": {"color": colour, "size": 11, "symbol": "diamond"},
            "meta": "markers",
        })  # fmt: skip
    metric_axis: Figure = {"title": {"text": escape(view.metric)},
                           "domain": [0, 1 - MARKER_STRIP - 0.03]}  # fmt: skip
    if view.share:
        metric_axis["range"] = [0, 1.02]
    sources = sorted(MARKER_HEIGHTS, key=MARKER_HEIGHTS.__getitem__)
    layout = {
        "title": {"text": f"{escape(view.model)}: {escape(view.metric)} per window"},
        "yaxis": metric_axis,
        "yaxis2": {"domain": [1 - MARKER_STRIP, 1], "range": [0, 1], "fixedrange": True,
                   "tickvals": [MARKER_HEIGHTS[s] for s in sources], "ticktext": sources,
                   "showgrid": False, "zeroline": False},
        "yaxis3": {"overlaying": "y", "side": "right", "range": [0, 1.02], "tickformat": ".0%",
                   "title": {"text": "label completeness"}, "showgrid": False,
                   "fixedrange": True},
        "xaxis": {"title": {"text": "window end"}},
        "hovermode": "closest", "height": 520, "legend": {"orientation": "h", "y": -0.2},
    }  # fmt: skip
    return {"data": data, "layout": layout}


def _brief(evidence: Mapping[str, object], limit: int = 6) -> str:
    """A marker's evidence on hover: its first few plain values (the event's page has all)."""
    shown = [f"{escape(str(key))}: {escape(str(value))[:60]}" for key, value in evidence.items()
             if isinstance(value, str | int | float)][:limit]  # fmt: skip
    return "<br>" + "<br>".join(shown) if shown else ""


def _line(points: Sequence[MetricPoint], name: str, role: str, dash: str) -> Figure:
    values = [p.value for p in points]
    above = [None if p.upper is None or p.value is None else p.upper - p.value for p in points]
    below = [None if p.lower is None or p.value is None else p.value - p.lower for p in points]
    return {
        "type": "scatter", "mode": "lines+markers", "name": name,
        "x": [p.end.isoformat() for p in points], "y": values,
        "error_y": {"type": "data", "symmetric": False, "array": above, "arrayminus": below,
                    "visible": dash == "solid", "thickness": 1},
        "text": [f"version {p.version}, {p.n} rows" for p in points],
        "line": {"color": ROLE_COLOURS[role], "dash": dash},
    }  # fmt: skip


def drift_figure(view: DriftGrid, link: Callable[[str], str]) -> Figure:
    """Features x windows of PSI; KS or chi-square on hover; drifted cells crossed."""
    x = [w.isoformat() for w in view.windows]
    z, text = [], []
    crossed_x, crossed_y = [], []
    for feature in view.features:
        row, hover = [], []
        for window, label in zip(view.windows, x, strict=True):
            cell = view.cells.get((feature, window))
            row.append(None if cell is None else cell.psi)
            hover.append("" if cell is None else _cell_text(cell))
            if cell is not None and cell.flagged:
                crossed_x.append(label)
                crossed_y.append(feature)
        z.append(row)
        text.append(hover)
    data: list[Figure] = [{
        "type": "heatmap", "x": x, "y": [escape(f) for f in view.features], "z": z, "text": text,
        "hovertemplate": "%{y} at %{x}<br>PSI %{z:.4f}<br>%{text}<extra></extra>",
        # Plotly's YlOrRd runs from red to yellow: reversed, a drifted cell is the darker one.
        "colorscale": "YlOrRd", "reversescale": True, "zmin": 0, "zmax": 0.5,
        "colorbar": {"title": {"text": "PSI"}},
        "customdata": [[link(f)] * len(x) for f in view.features], "meta": "heatmap",
    }, {
        "type": "scatter", "mode": "markers", "name": "drifted", "x": crossed_x,
        "y": [escape(f) for f in crossed_y], "marker": {"symbol": "x", "color": "#000", "size": 7},
        "hoverinfo": "skip", "meta": "drifted",
    }]  # fmt: skip
    layout = {
        "title": {"text": f"{escape(view.model)}: PSI per feature and window (x: drifted)"},
        # A row tall enough for its label: plotly drops every other label of a crowded axis.
        "height": max(300, 160 + 24 * len(view.features)),
        "yaxis": {"automargin": True, "type": "category", "dtick": 1},
        "xaxis": {"title": {"text": "window end"}},
    }  # fmt: skip
    return {"data": data, "layout": layout}


def _cell_text(cell: Any) -> str:
    test = "KS" if cell.test == "ks" else "chi-square" if cell.test == "chi2" else cell.test
    p = "no test" if cell.p_value is None else f"{test} p {cell.p_value:.3g}"
    served = f"; version {escape(cell.version)}" if cell.version else ""
    return f"{p}; {cell.rows} rows{served}" + ("; drifted" if cell.flagged else "")


def feature_figure(view: FeatureBins) -> Figure:
    """The reference's and the current window's shares of each bin, side by side."""
    bins = [escape(label) for label in view.bins]
    data = [
        {"type": "bar", "name": "reference", "x": bins, "y": list(view.reference)},
        {"type": "bar", "name": "current", "x": bins, "y": list(view.current)},
    ]
    title = f"{escape(view.feature)}: share of rows per bin"
    layout = {"title": {"text": title}, "barmode": "group", "height": 460,
              "xaxis": {"title": {"text": "bin"}, "automargin": True},
              "yaxis": {"title": {"text": "share of rows"}}}  # fmt: skip
    return {"data": data, "layout": layout}


def experiment_figure(view: Experiments) -> Figure:
    """The always-valid p-value at each look, against the test's alpha."""
    looks = [look for look in view.looks if "always_valid_p" in look.evidence]
    x = [look.time.isoformat() for look in looks]
    data: list[Figure] = [{
        "type": "scatter", "mode": "lines+markers", "name": "always-valid p", "x": x,
        "y": [look.evidence.get("always_valid_p") for look in looks],
        "text": [f"{look.action}: lift {look.evidence.get('lift')}" for look in looks],
    }]  # fmt: skip
    alphas = {look.evidence.get("alpha") for look in looks} - {None}
    if x and len(alphas) == 1:
        alpha = alphas.pop()
        data.append({"type": "scatter", "mode": "lines", "name": f"alpha {alpha}",
                     "x": [x[0], x[-1]], "y": [alpha, alpha],
                     "line": {"dash": "dash", "color": "#555"}})  # fmt: skip
    layout = {"title": {"text": f"{escape(view.model)}: sequential test, always-valid p per look"},
              "yaxis": {"type": "log", "title": {"text": "always-valid p"},
                        # plotly's own log ticks label the minor ones "2" and "5"
                        "tickvals": P_TICKS, "ticktext": [f"{t:g}" for t in P_TICKS]},
              "height": 400}  # fmt: skip
    return {"data": data, "layout": layout}
