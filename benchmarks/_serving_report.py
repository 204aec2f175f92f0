"""Tables, target checks and the README block of the serving benchmark.

A cell is the median over the rounds, with each round's value in brackets (in round order).
Requests per second are what the load generator saw; CPU per request is what the server's
process group spent (``/proc``), warm-up and any shadow backlog included, divided by the
requests it answered: the capacity of one core is 1000 / that. On a machine shared with
other work, CPU per request moves less than requests per second, which also depend on how
much of the core the scheduler gave the server (a server with more threads gets more).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _readme import table

SECTION = "## Serving (issue 4)"
SCRIPT = "serving.py"
TARGET_VS_MLFLOW = 4.0
TARGET_VS_FLOOR = 0.5
TARGET_ENQUEUE_US = 50.0
LAYER_HEADER = ["deployment", "champion score()", "Router p50", "Router p99", "Router CPU",
                "ASGI app p50", "ASGI app p99", "ASGI app CPU"]  # fmt: skip


@dataclass
class Cell:
    """The runs of one contender at one concurrency."""

    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    errors: int = 0
    capped: int = 0

    def add(self, result: dict[str, Any]) -> None:
        """Add one load-generator run."""
        self.rps.append(float(result["rps"]))
        self.p50.append(float(result["p50_ms"] or 0.0))
        self.p99.append(float(result["p99_ms"] or 0.0))
        self.cpu.append(float(result["server_cpu_ms_per_request"]))
        self.errors += sum(int(n) for n in result["errors"].values())
        self.capped += bool(result["capped"])


def median(values: Sequence[float]) -> float:
    """The median (0 for no values)."""
    return statistics.median(values) if values else 0.0


def runs(values: Sequence[float], digits: int = 0) -> str:
    """``"123 (120, 123, 131)"``: the median, then each run."""
    text = f"{median(values):,.{digits}f}"
    if len(values) > 1:
        text += " (" + ", ".join(f"{v:,.{digits}f}" for v in values) + ")"
    return text


def results_table(
    cells: dict[tuple[str, int], Cell], labels: dict[str, str], concurrencies: Sequence[int]
) -> str:
    """One row per contender and concurrency."""
    header = ["contender", "conc.", "requests/s", "p50 ms", "p99 ms", "server CPU ms/request",
              "errors"]  # fmt: skip
    rows = []
    for key, label in labels.items():
        for concurrency in concurrencies:
            cell = cells.get((key, concurrency))
            if cell is None:
                continue
            errors = f"{cell.errors}" + (f", {cell.capped} capped" if cell.capped else "")
            rows.append([label, str(concurrency), runs(cell.rps), runs(cell.p50, 1),
                         runs(cell.p99, 1), runs(cell.cpu, 2), errors])  # fmt: skip
    return table(header, rows, right=1)


def _ratio(
    cells: dict[tuple[str, int], Cell], top: str, bottom: str, concurrency: int
) -> tuple[float, float] | None:
    """(requests/s ratio, capacity ratio from CPU per request) of ``top`` over ``bottom``."""
    a, b = cells.get((top, concurrency)), cells.get((bottom, concurrency))
    if a is None or b is None or not median(b.rps) or not median(a.cpu):
        return None
    return median(a.rps) / median(b.rps), median(b.cpu) / median(a.cpu)


def target_rows(
    cells: dict[tuple[str, int], Cell], concurrencies: Sequence[int], enqueue_us: float | None
) -> list[list[str]]:
    """The issue's targets: measured ratio (requests/s and CPU capacity) against the target."""
    rows = []
    checks = [
        ("full", "mlflow", TARGET_VS_MLFLOW, "tether full / mlflow models serve"),
        ("full", "floor", TARGET_VS_FLOOR, "tether full / floor"),
    ]
    for top, bottom, target, what in checks:
        for concurrency in concurrencies:
            found = _ratio(cells, top, bottom, concurrency)
            if found is None:
                continue
            rps, capacity = found
            verdict = f"{_verdict(rps, target)} (CPU: {_verdict(capacity, target)})"
            rows.append([what, str(concurrency), f"{rps:.2f}", f"{capacity:.2f}",
                         f">= {target:g}", verdict])  # fmt: skip
    if enqueue_us is not None:
        verdict = "met" if enqueue_us < TARGET_ENQUEUE_US else "missed"
        rows.append(["shadow enqueue on the request path (us)", "-", f"{enqueue_us:.1f}", "-",
                     f"< {TARGET_ENQUEUE_US:g}", verdict])  # fmt: skip
    return rows


def _verdict(measured: float, target: float) -> str:
    return "met" if measured >= target else f"missed, {measured / target:.0%} of it"


def targets_table(rows: list[list[str]]) -> str:
    """The target rows as a table."""
    header = ["target", "conc.", "measured (requests/s)", "from CPU/request", "target", "verdict"]
    return table(header, rows, right=1)


def shadow_rows(cells: dict[tuple[str, int], Cell], concurrencies: Sequence[int]) -> list[str]:
    """p50/p99 without and with the shadow (champion alone against champion + shadow)."""
    lines = []
    for concurrency in concurrencies:
        a, b = cells.get(("solo", concurrency)), cells.get(("shadow", concurrency))
        if a is None or b is None:
            continue
        lines.append(
            f"- concurrency {concurrency}: p50 {median(a.p50):.1f} -> {median(b.p50):.1f} ms, "
            f"p99 {median(a.p99):.1f} -> {median(b.p99):.1f} ms, requests/s "
            f"{median(a.rps):,.0f} -> {median(b.rps):,.0f}, server CPU per request "
            f"{median(a.cpu):.2f} -> {median(b.cpu):.2f} ms"
        )
    return lines


def inprocess_tables(found: dict[str, Any]) -> str:
    """The in-process measurements: model call, router, app, enqueue, profile."""
    call = found["model_call"]
    model_rows = [
        [name, f"{v['cpu_us']:,.0f}", f"{v['wall_us']:,.0f}", f"{v['wall_p99_us']:,.0f}"]
        for name, v in call.items()
        if "cpu_us" in v
    ]
    unpinned = found.get("model_call_unpinned", {})
    model_rows += [
        [f"{name}, not pinned ({found.get('openmp_threads_unpinned', '?')} OpenMP threads)",
         f"{v['cpu_us']:,.0f}", f"{v['wall_us']:,.0f}", f"{v['wall_p99_us']:,.0f}"]
        for name, v in unpinned.items()
        if "cpu_us" in v and "rows" not in name and "pd." not in name
    ]  # fmt: skip
    same = call.get("same_outputs", {}).get("first_200_rows_identical") == 1.0
    parts = [
        "**Model call alone**, version 1 (microseconds; pinned to the server core, so one "
        f"OpenMP thread, unless said; DataFrame and ndarray outputs identical: {same})",
        table(["call", "CPU median (calling thread)", "wall median", "wall p99"], model_rows),
    ]
    layer_rows = []
    for name in found["router"]:
        router, app = found["router"][name], found["app"][name]
        model = router.get("model_ms_champion", 0.0)
        layer_rows.append([
            name, f"{model:.2f}", f"{router['wall_p50_ms']:.2f}", f"{router['wall_p99_ms']:.2f}",
            f"{router['cpu_ms_per_request']:.2f}", f"{app['wall_p50_ms']:.2f}",
            f"{app['wall_p99_ms']:.2f}", f"{app['cpu_ms_per_request']:.2f}",
        ])  # fmt: skip
    parts += [
        "**Layers, in process** (one instance per request, sequential; milliseconds; CPU is the "
        "whole process's per request, off-path threads included)",
        table(LAYER_HEADER, layer_rows),
    ]
    concurrent = found.get("app_concurrent", {})
    if concurrent:
        cells = ", ".join(
            f"{n} in flight {v['cpu_ms_per_request']:.2f}" for n, v in concurrent.items()
        )
        parts.append(f"**ASGI app, champion, CPU ms per request by requests in flight**: {cells}.")
    enqueue = found["enqueue"]
    router = enqueue["router"]
    parts.append(
        "**Shadow enqueue** (instant models, shadow thread not started): `Router.predict` "
        f"{router['without shadow']['cpu_us']:.1f} us CPU without a shadow, "
        f"{router['with shadow']['cpu_us']:.1f} us with one: the shadow adds "
        f"**{enqueue['added_cpu_us']:.1f} us** ({enqueue['added_wall_us']:.1f} us wall) to the "
        f"request handler; `ShadowWorker.submit` alone {enqueue['submit_alone']['cpu_us']:.1f} "
        f"us (p99 {enqueue['submit_alone']['wall_p99_us']:.1f} us wall)."
    )
    profile = found["profile"]
    profile_rows = [
        ["&nbsp;" * (len(label) - len(label.lstrip())) + label.lstrip(), f"{ms:.3f}"]
        for label, ms in profile["ms_per_call"].items()
    ]
    parts += [
        f"**cProfile of `Router.predict`**, champion only, {profile['calls']:,} calls "
        "(cumulative ms per call; the profiler inflates Python-level calls, so read proportions)",
        table(["function", "ms per call"], profile_rows),
    ]
    return "\n\n".join(parts)
