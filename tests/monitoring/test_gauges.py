"""The server's /metrics exports each model's latest monitoring results as gauges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tether.monitoring import MonitorResults, SeriesPoint
from tether.server._metrics import ServerMetrics

START = datetime(2026, 4, 1, tzinfo=UTC)


def _samples(metrics: ServerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("tether_monitor")
        for sample in family.samples
    }


def _record(results: MonitorResults, psi: float) -> None:
    results.record_run(
        model="fraud",
        window=(START, START + timedelta(days=7)),
        time=START + timedelta(days=7),
        wall_time=START,
        action="wait",
        report={},
        points=[
            SeriesPoint("2", "drift", "amount", psi, 5000, role="champion"),
            SeriesPoint("2", "performance", "precision", 0.78, 400, role="champion"),
            SeriesPoint("2", "estimate", "precision", 0.86, 5000, role="champion"),
            SeriesPoint("2", "labels", "completeness", 0.4, 5000, role="champion"),
            SeriesPoint("2", "quality", "amount", 1.0, 5000, role="champion"),
        ],
        alerts=[],
        delivery="none",
    )


def test_latest_psi_precision_and_completeness_are_gauges(tmp_path: Path) -> None:
    with MonitorResults(f"sqlite:///{tmp_path / 't.db'}") as results:
        metrics = ServerMetrics()
        metrics.watch_monitoring(results)
        _record(results, 0.31)
        _record(results, 0.12)  # only the latest run is exported
        samples = _samples(metrics)
    base = (("cohort", ""), ("model", "fraud"), ("role", "champion"), ("version", "2"))
    assert samples[("tether_monitor_psi", tuple(sorted((*base, ("feature", "amount")))))] == 0.12
    realized = tuple(sorted((*base, ("metric", "precision"), ("source", "realized"))))
    estimated = tuple(sorted((*base, ("metric", "precision"), ("source", "estimated"))))
    assert samples[("tether_monitor_metric", realized)] == 0.78
    assert samples[("tether_monitor_metric", estimated)] == 0.86
    assert samples[("tether_monitor_label_completeness", base)] == 0.4
    assert samples[("tether_monitor_results_up", ())] == 1.0


def test_a_monitoring_database_that_fails_is_shown_not_a_failed_scrape(tmp_path: Path) -> None:
    results = MonitorResults(f"sqlite:///{tmp_path / 't.db'}")
    metrics = ServerMetrics()
    metrics.watch_monitoring(results)
    (tmp_path / "t.db").unlink()
    (tmp_path / "t.db").mkdir()  # the file is gone and cannot be recreated: every read fails
    results.close()
    samples = _samples(metrics)
    assert samples == {("tether_monitor_results_up", ()): 0.0}
