"""The dashboard's pages over a year of daily monitor windows and 50 features, served by the server.

A fraud project's stores are filled directly: ``--days`` daily monitor runs of the champion
(default 365), each with the PSI and test of ``--features`` features (default 50), realized and
estimated precision with intervals, and label completeness; about ``--alerts-per-day``
alerts a day, a deploy, shadow, challenger, promotion or rollback every two weeks, and the
loop's steps beside them. Then each page is fetched ``--repeats`` times through the
dashboard's app on a real uvicorn server on 127.0.0.1 and the median is printed.

The peer is plotly's own Python way of making the same heatmap:
``plotly.graph_objects.Figure(Heatmap(...)).to_json()`` over the same cells, the figure a
page built with plotly's graph objects would embed; tether builds its figure as plain
dictionaries (see ``tether/dashboard/_plots.py``). Both are timed in this run, interleaved.

    .venv/bin/python benchmarks/dashboard.py
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")

import httpx
import numpy as np
import plotly.graph_objects as go
import uvicorn

from tether.dashboard import Dashboard
from tether.dashboard import _plots as plots
from tether.dashboard import _views as views
from tether.examples import init_project
from tether.examples.fraud.simulate import ScenarioConfig
from tether.monitoring import NewAlert, SeriesPoint
from tether.project import Project
from tether.server import create_dashboard_app

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = ("deploy", "promote", "rollback", "retire")


def fill(project: Project, days: int, features: int, alerts_per_day: int) -> str:
    """Write the stores; return the model's name."""
    model = project.settings.model_name
    rng = np.random.default_rng(11)
    names = [f"feature_{i:02d}" for i in range(features)]
    results = project.monitor_results
    for day in range(days):
        end = T0 + timedelta(days=day + 1)
        psi = rng.gamma(1.0, 0.04 + day / days * 0.1, features)
        points = [
            SeriesPoint("1", "drift", name, float(value), 2_000, role="champion",
                        flagged=bool(value > 0.2),
                        detail={"p_value": float(rng.uniform()), "effect": 0.1, "test": "ks"})
            for name, value in zip(names, psi, strict=True)
        ]  # fmt: skip
        precision = 0.94 - 0.2 * day / days + rng.normal(0, 0.01)
        points += [
            SeriesPoint("1", "performance", "precision", precision, 300, role="champion",
                        lower=precision - 0.04, upper=precision + 0.03),
            SeriesPoint("1", "estimate", "precision", precision + 0.05, 2_000, role="champion",
                        lower=precision + 0.02, upper=precision + 0.08),
            SeriesPoint("1", "labels", "completeness", 0.95, 2_000, role="champion"),
        ]  # fmt: skip
        alerts = [
            NewAlert("drift", names[k % features], f"feature {names[k % features]} drifted")
            for k in range(alerts_per_day)
        ]
        results.record_run(model=model, window=(end - timedelta(days=28), end), time=end,
                           wall_time=end, action="wait", report={"model": model},
                           points=points, alerts=alerts, delivery="none")  # fmt: skip
        if day % 14 == 0:
            after = {"champion": "1", "challenger": "2"} if day % 28 == 0 else {"champion": "1"}
            project.events.append(model, ACTIONS[day // 14 % len(ACTIONS)], actor="bench",
                                  reason=f"day {day}", after=after)  # fmt: skip
    return model


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _median_seconds(action: object, repeats: int) -> tuple[float, list[float]]:
    found = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()  # type: ignore[operator]
        found.append(time.perf_counter() - began)
    return statistics.median(found), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--alerts-per-day", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tether-bench-dashboard-") as scratch:
        made = init_project(Path(scratch) / "project", ScenarioConfig(n_transactions=5_000))
        with Project.open(made.directory) as project:
            began = time.perf_counter()
            model = fill(project, args.days, args.features, args.alerts_per_day)
            alerts = args.days * args.alerts_per_day
            print(f"stores filled in {time.perf_counter() - began:.1f} s: {args.days} runs x "
                  f"{args.features} features, {alerts} alerts")  # fmt: skip
            port = _free_port()
            config = uvicorn.Config(create_dashboard_app(Dashboard(project)), host="127.0.0.1",
                                    port=port, log_level="warning")  # fmt: skip
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            base = f"http://127.0.0.1:{port}/dashboard/models/{model}"
            grid = views.drift(project, model)
            with httpx.Client(timeout=60.0) as client:
                pages = {"timeline": f"{base}/timeline", "drift": f"{base}/drift",
                         "experiments": f"{base}/experiments"}  # fmt: skip
                for name, url in pages.items():
                    response = client.get(url)
                    response.raise_for_status()

                    def fetch(url: str = url) -> None:
                        client.get(url).raise_for_status()

                    median, each = _median_seconds(fetch, args.repeats)
                    print(f"GET {name:<12} {len(response.content) / 1e3:8.0f} kB  median "
                          f"{median:.3f} s  ({', '.join(f'{s:.3f}' for s in each)})")  # fmt: skip

                def ours() -> None:
                    plots.script_json(plots.drift_figure(grid, lambda name: name))

                def peer() -> None:
                    figure = plots.drift_figure(grid, lambda name: name)["data"][0]
                    go.Figure(go.Heatmap(x=figure["x"], y=figure["y"], z=figure["z"],
                                         text=figure["text"])).to_json()  # fmt: skip

                tether_s, _ = _median_seconds(ours, args.repeats)
                peer_s, _ = _median_seconds(peer, args.repeats)
                print(f"heatmap figure JSON ({len(grid.features)} x {len(grid.windows)} cells): "
                      f"tether dictionaries {tether_s:.3f} s, plotly graph objects "
                      f"{peer_s:.3f} s, ratio {peer_s / tether_s:.1f}x")  # fmt: skip
            server.should_exit = True
            thread.join(timeout=10)


if __name__ == "__main__":
    main()
