"""``tether drift REFERENCE CURRENT``: drift and data quality between two files, no project.

The Evidently / NannyML use: a reference frame (the training data) and an analysis frame
(last week's traffic), as Parquet or CSV files, compared with the very statistics and
verdicts the monitor applies to served traffic (:func:`tether.monitoring.compare_files`):
per feature PSI, KS or chi-square with an effect size and a verdict with its reason, the
dataset rule, the domain classifier, and the data-quality findings, for the whole current
file or per chunk (``--chunk-size N`` rows, or ``--by COLUMN``, one chunk per value).
With ``--score`` (and ``--threshold``, 0.5 by default: two files do not carry a model
version's threshold), each chunk also gets its performance: estimated by CBPE when the
reference has the ``--label`` column (the score calibrated on the reference's labels),
realized when the chunk has it, and the gap when realized falls below the estimate.
``--json`` prints the report as one JSON document; ``--html FILE`` also writes it as a small
self-contained HTML page (no script, no CDN). Bad input (a missing column, a file with no
rows, a column numeric in one file and text in the other, an unsupported suffix) ends with
exit code 2 and one sentence naming it, as every other usage error.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tether.cli import _render
from tether.cli._app import app

if TYPE_CHECKING:
    from tether.monitoring import ChunkReport, FramesReport

MAX_REASONS = 20
"""Drifted features whose reasons the text view spells out (``--json`` has all)."""


@app.command("drift")
def drift_command(
    reference: Path = typer.Argument(..., help="The reference file (Parquet or CSV)."),
    current: Path = typer.Argument(..., help="The file to analyse (Parquet or CSV)."),
    label: str = typer.Option("", "--label", help="The label column (0/1), not a feature."),
    score: str = typer.Option("", "--score", help="The model's score column: its drift too."),
    chunk_size: int | None = typer.Option(None, "--chunk-size", min=1,
                                          help="Analyse the current file N rows at a time."),
    by: str = typer.Option("", "--by", help="One chunk per value of this column (a day...)."),
    threshold: float = typer.Option(0.5, "--threshold", min=0.0, max=1.0,
                                    help="Decision threshold on --score (for performance)."),
    html_out: Path | None = typer.Option(None, "--html", help="Also write an HTML report."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples and the classifier."),
) -> _render.Report:  # fmt: skip
    """Compare CURRENT with REFERENCE: drift per feature and overall, and data quality."""
    if chunk_size is not None and by:
        raise typer.BadParameter(
            f"--chunk-size {chunk_size} and --by {by!r}: chunk by rows or by a column, not both",
            param_hint="'--chunk-size' / '--by'",
        )
    # Imported here: `tether --help` must not import pandas, DuckDB or scikit-learn.
    from tether.monitoring import compare_files

    with _render.steps("drift") as progress:
        report = compare_files(
            reference, current, label=label or None, score=score or None,
            chunk_size=chunk_size, by=by or None, threshold=threshold, seed=seed,
            progress=progress,
        )  # fmt: skip
    data: dict[str, Any] = {"reference": str(reference), "current": str(current),
                            **report.to_dict()}  # fmt: skip
    view = _view(report)
    if html_out is not None:
        html_out.write_text(html_page(report, reference, current), encoding="utf-8")
        data["html"] = str(html_out)
        view.append(f"HTML report written to {html_out}")
    return _render.Report(data, view)


def _view(report: FramesReport) -> list[_render.Block]:
    view: list[_render.Block] = []
    if len(report.chunks) == 1:
        view.append(_features_grid(report.chunks[0]))
    view.append(
        _render.Grid(
            ("chunk", "rows", "drifted", "dataset drift", "domain AUC", "quality"),
            [_chunk_cells(chunk) for chunk in report.chunks],
        )
    )
    reasons = [
        f"{chunk.chunk}: {feature.name}: {feature.reason}"
        for chunk in report.chunks
        for feature in chunk.drift.features
        if feature.drifted
    ]
    view += reasons[:MAX_REASONS]
    if len(reasons) > MAX_REASONS:
        view.append(f"... and {len(reasons) - MAX_REASONS} more drifted features (--json)")
    view += [f"{c.chunk}: {f.check} on {f.feature}: {f.message}" for c in report.chunks
             for f in c.quality]  # fmt: skip
    performance = _performance_grid(report)
    if performance is not None:
        view.append(performance)
    view += [f"{c.chunk}: {gap.message}" for c in report.chunks for gap in c.gaps if gap.fired]
    view += list(report.notes)
    drifted = len(report.drifted_chunks)
    view.append(
        f"{len(report.features)} features of {report.reference_rows:,} reference rows; "
        f"dataset drift in {drifted} of {len(report.chunks)} chunk(s)"
    )
    return view


PERFORMANCE_METRICS = ("precision", "recall", "roc_auc")
"""The metrics the text view shows per chunk, estimated and realized (``--json`` has all)."""


def _performance_grid(report: FramesReport) -> _render.Grid | None:
    """Per chunk, each metric estimated (CBPE) and realized, with its 95% interval."""
    chunks = [c for c in report.chunks if c.estimated is not None or c.realized is not None]
    if not chunks:
        return None
    columns = ["chunk"]
    for name in PERFORMANCE_METRICS:
        columns += [f"{name} estimated", f"{name} realized"]
    rows = []
    for chunk in chunks:
        cells = [chunk.chunk]
        for name in PERFORMANCE_METRICS:
            for side in (chunk.estimated, chunk.realized):
                value = None if side is None else side.metric(name)
                cells.append("-" if value is None else
                             f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}]")  # fmt: skip
        rows.append(cells)
    return _render.Grid(columns, rows)


def _features_grid(chunk: ChunkReport) -> _render.Grid:
    drift = chunk.drift
    rows = [*drift.features, *([drift.score] if drift.score is not None else [])]
    return _render.Grid(
        ("feature", "kind", "PSI", "test", "p-value", "effect", "verdict"),
        [
            [f.name, f.kind, f"{f.psi:.4f}", f.test, f"{f.p_value:.3g}",
             f"{f.effect:.4f}", _verdict(f.drifted, f.warning)]
            for f in rows
        ],
    )  # fmt: skip


def _chunk_cells(chunk: ChunkReport) -> list[str]:
    drift = chunk.drift
    auc = "-" if drift.multivariate is None else f"{drift.multivariate.auc:.3f}"
    checks = ", ".join(f"{f.check}:{f.feature}" for f in chunk.quality) or "-"
    return [
        chunk.chunk,
        f"{chunk.rows:,}",
        ", ".join(drift.drifted) or "-",
        "yes" if drift.dataset_drift else "no",
        auc,
        checks,
    ]


def _verdict(drifted: bool, warning: bool) -> str:
    return "drifted" if drifted else "warning" if warning else "stable"


def html_page(report: FramesReport, reference: Path, current: Path) -> str:
    """The report as one self-contained HTML page: tables and inline CSS, no script."""
    title = f"tether drift: {current.name} against {reference.name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}"
        ".drifted{background:#fdd}.warning{background:#ffe9b3}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(report.features)} features, {report.reference_rows:,} reference rows; "
        f"dataset drift in {len(report.drifted_chunks)} of {len(report.chunks)} chunk(s).</p>",
        _table(
            ("chunk", "rows", "drifted", "dataset drift", "domain AUC", "quality"),
            [_chunk_cells(chunk) for chunk in report.chunks],
        ),
    ]
    for chunk in report.chunks:
        parts.append(f"<h2>Chunk {html.escape(chunk.chunk)}</h2>")
        parts.append(f"<p>{html.escape(chunk.drift.reason)}</p>")
        grid = _features_grid(chunk)
        parts.append(_table(grid.columns, grid.rows, marked=True))
        if chunk.quality:
            findings = [[f.check, f.feature, f.message] for f in chunk.quality]
            parts.append(_table(("quality check", "feature", "finding"), findings))
    performance = _performance_grid(report)
    if performance is not None:
        parts.append(f"<h2>Performance at threshold {report.threshold:g}</h2>")
        parts.append(_table(performance.columns, performance.rows))
    parts += [f"<p>{html.escape(note)}</p>" for note in report.notes]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _table(columns: Any, rows: Any, *, marked: bool = False) -> str:
    """An HTML table; with ``marked``, a row is classed by its last cell (the verdict)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row)
        mark = f' class="{row[-1]}"' if marked and row[-1] in ("drifted", "warning") else ""
        body.append(f"<tr{mark}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
