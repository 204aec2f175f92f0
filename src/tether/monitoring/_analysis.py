"""A reference frame against an analysis frame, chunk by chunk: drift and data quality.

The Evidently / NannyML use on DataFrames, and what ``tether drift`` runs on two files.
:func:`compare_frames` profiles the reference once (:func:`~tether.monitoring.profile_frame`,
DuckDB), then each chunk of the analysis frame on the reference's bins, and gives each chunk
the same verdicts the monitor gives a window of served traffic: the drift report of
:func:`~tether.monitoring.compare` (per feature, the score, the dataset rule, and the domain
classifier) and the data-quality findings of :func:`~tether.monitoring.check_quality`.

Chunks: the whole frame, ``chunk_size`` rows each in the frame's order, or one per value of
the ``by`` column (nulls are a chunk of their own). The features are the reference's columns
but the label, the score, the ``by`` column and time columns; the analysis frame must have
each, of the same kind. With a score, each chunk also gets its performance at the decision
threshold: estimated by CBPE (:func:`~tether.monitoring.estimate`, the score calibrated on
the reference's labelled rows, as NannyML calibrates on its reference period; in-sample, so
the reference should be data the model did not train on) and realized
(:func:`~tether.monitoring.realized`) where the chunk has labels, with the concept-drift gaps
between the two. :func:`compare_files` does the same on two files, holding one frame at a time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tether._progress import Progress, no_progress
from tether.config import DEFAULT_THRESHOLD
from tether.errors import MonitoringError
from tether.monitoring._drift import compare
from tether.monitoring._estimate import (
    ESTIMATED_METRICS,
    MIN_CALIBRATION_ROWS,
    Calibration,
    EstimatedPerformance,
    GapSignal,
    estimate,
)
from tether.monitoring._estimate import compare_with_realized as performance_gaps
from tether.monitoring._frames import (
    column_kind,
    feature_columns,
    frame_chunks,
    read_frame,
    require_column,
)
from tether.monitoring._performance import METRICS, RealizedPerformance, realized
from tether.monitoring._profile import Profile
from tether.monitoring._profiling import profile_frame
from tether.monitoring._quality import QualityFinding, QualityThresholds, check_quality
from tether.monitoring._report import DriftReport, DriftThresholds

# The decision threshold on the score when none is given is training's default (0.5): a
# model version has its own, chosen at training time; two files do not carry it.


@dataclass(frozen=True)
class ChunkReport:
    """One chunk of the analysis frame: its drift report and quality findings, and with a
    score, its estimated performance (labels in the reference) and its realized one (labels
    in the chunk), with the gaps between them (realized below estimate: concept drift)."""

    chunk: str
    rows: int
    drift: DriftReport
    quality: tuple[QualityFinding, ...]
    estimated: EstimatedPerformance | None = None
    realized: RealizedPerformance | None = None
    gaps: tuple[GapSignal, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: what ``tether drift --json`` prints per chunk."""
        return {
            "chunk": self.chunk,
            "rows": self.rows,
            "drift": self.drift.to_dict(),
            "quality": [finding.to_dict() for finding in self.quality],
            "estimated": _metrics(self.estimated),
            "realized": _metrics(self.realized),
            "gaps": [
                {"metric": gap.metric, "fired": gap.fired, "message": gap.message}
                for gap in self.gaps
            ],
        }


@dataclass(frozen=True)
class FramesReport:
    """A reference frame against an analysis frame: the features compared, one report a chunk."""

    reference_rows: int
    features: tuple[str, ...]
    score: str | None
    chunks: tuple[ChunkReport, ...]
    threshold: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def drifted_chunks(self) -> tuple[str, ...]:
        """The chunks whose dataset drifted (the share rule of the drift thresholds)."""
        return tuple(c.chunk for c in self.chunks if c.drift.dataset_drift)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: what ``tether drift --json`` prints."""
        return {
            "reference_rows": self.reference_rows,
            "features": list(self.features),
            "score": self.score,
            "threshold": self.threshold,
            "notes": list(self.notes),
            "drifted_chunks": list(self.drifted_chunks),
            "chunks": [chunk.to_dict() for chunk in self.chunks],
        }


def compare_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    label: str | None = None,
    score: str | None = None,
    chunk_size: int | None = None,
    by: str | None = None,
    drift_thresholds: DriftThresholds | None = None,
    quality_thresholds: QualityThresholds | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    progress: Progress = no_progress,
) -> FramesReport:
    """Drift and data quality of each chunk of ``current`` against ``reference``, and with a
    ``score``, performance at ``threshold``: estimated (CBPE) when the reference has labels,
    realized when the chunk has.

    >>> report = compare_frames(train, last_month, score="score", by="day")  # doctest: +SKIP
    >>> [(c.chunk, c.drift.drifted) for c in report.chunks]  # doctest: +SKIP
    [('2026-03-01', ()), ('2026-03-02', ('amount',))]

    Raises:
        MonitoringError: an empty frame, a missing or mistyped column, both ``chunk_size``
            and ``by``, a ``chunk_size`` below 1.
    """
    options = _Options(label, score, chunk_size, by, drift_thresholds, quality_thresholds,
                       threshold, seed)  # fmt: skip
    return _compare(_prepare(reference, options, progress), current, options, progress)


def compare_files(
    reference: str | Path,
    current: str | Path,
    *,
    label: str | None = None,
    score: str | None = None,
    chunk_size: int | None = None,
    by: str | None = None,
    drift_thresholds: DriftThresholds | None = None,
    quality_thresholds: QualityThresholds | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    progress: Progress = no_progress,
) -> FramesReport:
    """:func:`compare_frames` on two Parquet or CSV files (what ``tether drift`` runs).

    The reference is read, profiled and let go before the current file is read, so the two
    frames are never in memory together: at 1M rows x 25 columns a file is about 230 MiB
    as a frame, and profiling one costs about 400 MiB more at its peak.

    >>> compare_files("train.parquet", "last_week.csv", by="day")  # doctest: +SKIP

    Raises:
        MonitoringError: as :func:`compare_frames`, and as :func:`read_frame`.
    """
    options = _Options(label, score, chunk_size, by, drift_thresholds, quality_thresholds,
                       threshold, seed)  # fmt: skip
    progress("reading the reference")
    prepared = _prepare(read_frame(reference, role="reference"), options, progress)
    progress("reading the current file")
    return _compare(prepared, read_frame(current, role="current"), options, progress)


@dataclass(frozen=True)
class _Options:
    label: str | None
    score: str | None
    chunk_size: int | None
    by: str | None
    drift_thresholds: DriftThresholds | None
    quality_thresholds: QualityThresholds | None
    threshold: float
    seed: int

    def __post_init__(self) -> None:
        if self.chunk_size is not None and self.by is not None:
            raise MonitoringError(
                f"chunk_size {self.chunk_size} and by {self.by!r}: chunk by rows or by a "
                "column, not both"
            )
        if self.chunk_size is not None and self.chunk_size < 1:
            raise MonitoringError(f"chunk_size is {self.chunk_size}; expected at least 1 row")

    @property
    def excluded(self) -> list[str]:
        """The columns that are no features: the label, the score, the chunking column."""
        return [name for name in (self.label, self.score, self.by) if name is not None]


@dataclass(frozen=True)
class _Reference:
    """What a comparison keeps of the reference: its profile, calibration and column types."""

    profile: Profile
    head: pd.DataFrame  # no rows: the reference's columns and their types
    calibration: Calibration | None
    notes: tuple[str, ...]


def _prepare(reference: pd.DataFrame, options: _Options, progress: Progress) -> _Reference:
    _check_frame(reference, "reference", options)
    columns = [
        str(name)
        for name in reference.columns
        if name not in options.excluded and column_kind(reference[name]) != "time"
    ]
    progress("profiling the reference", 0, len(reference))
    profile = profile_frame(reference, columns, score=options.score, seed=options.seed)
    notes: list[str] = []
    calibration = _calibration(reference, options.label, options.score, notes)
    # A copy: a slice would be a view keeping the whole frame alive (copy-on-write).
    return _Reference(profile, reference.iloc[:0].copy(), calibration, tuple(notes))


def _compare(
    reference: _Reference, current: pd.DataFrame, options: _Options, progress: Progress
) -> FramesReport:
    _check_frame(current, "current", options)
    label, score, seed = options.label, options.score, options.seed
    if label is not None and label not in reference.head.columns:
        require_column(current, label, role="current", option="label")
    columns = feature_columns(reference.head, current, exclude=options.excluded)
    parts = list(frame_chunks(current, chunk_size=options.chunk_size, by=options.by))
    reports = []
    for index, part in enumerate(parts):
        progress(f"chunk {part.name} ({index + 1} of {len(parts)})", index, len(parts))
        profile = profile_frame(
            part.frame, columns, score=score, reference=reference.profile, seed=seed + 1
        )
        drift = compare(
            reference.profile, profile, options.drift_thresholds, seed=seed, multivariate=True
        )
        findings = tuple(check_quality(reference.profile, profile, options.quality_thresholds))
        report = ChunkReport(part.name, len(part.frame), drift, findings)
        if score is not None:
            report = _with_performance(
                report, part.frame, label, score, reference.calibration, options.threshold
            )
        reports.append(report)
    used = options.threshold if score is not None else None
    rows = reference.profile.rows
    return FramesReport(rows, tuple(columns), score, tuple(reports), used, reference.notes)


def _check_frame(frame: pd.DataFrame, role: str, options: _Options) -> None:
    """One frame's own columns: rows, the score (numbers), the label (numbers, if there)."""
    if frame.empty:
        raise MonitoringError(f"the {role} frame has no rows; expected at least one")
    if options.by is not None and role == "current":
        require_column(frame, options.by, role=role, option="by")
    if options.score is not None:
        _require_numbers(frame, options.score, role=role, option="score")
    if options.label is not None and options.label in frame.columns:
        _require_numbers(frame, options.label, role=role, option="label")


def _require_numbers(frame: pd.DataFrame, name: str, *, role: str, option: str) -> None:
    require_column(frame, name, role=role, option=option)
    series = frame[name]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise MonitoringError(
            f"{option} {name!r}: the {role} frame's column is {series.dtype}; "
            "expected numbers (a score in [0, 1], a label 0 or 1)"
        )


def _calibration(
    reference: pd.DataFrame, label: str | None, score: str | None, notes: list[str]
) -> Calibration | None:
    """The score's calibration on the reference's labelled rows (as NannyML's CBPE fits it
    on its reference period), or None, with a note saying why."""
    if score is None or label is None or label not in reference.columns:
        if score is not None:
            notes.append("no estimated performance: the reference has no labels (--label)")
        return None
    rows = reference.loc[reference[label].notna() & reference[score].notna()]
    if len(rows) < MIN_CALIBRATION_ROWS:
        notes.append(
            f"no estimated performance: {len(rows)} labelled reference rows; calibrating the "
            f"score needs at least {MIN_CALIBRATION_ROWS}"
        )
        return None
    labels = rows[label].to_numpy(dtype=float)
    if not np.isin(labels, (0.0, 1.0)).all():
        raise MonitoringError(f"label {label!r} of the reference holds values other than 0 and 1")
    return Calibration.fit(rows[score].to_numpy(dtype=float), labels.astype(np.int64))


def _with_performance(
    report: ChunkReport,
    frame: pd.DataFrame,
    label: str | None,
    score: str,
    calibration: Calibration | None,
    threshold: float,
) -> ChunkReport:
    scores = frame[score].dropna().to_numpy(dtype=float)
    estimated = estimate(scores, calibration, threshold) if calibration and scores.size else None
    labelled = label is not None and label in frame.columns and bool(frame[label].notna().any())
    real = realized(frame, threshold=threshold, score=score, label=str(label)) if labelled else None
    gaps = performance_gaps(estimated, real) if estimated and real else ()
    return ChunkReport(
        report.chunk, report.rows, report.drift, report.quality, estimated, real, gaps
    )


def _metrics(performance: EstimatedPerformance | RealizedPerformance | None) -> object:
    """Each metric as ``{value, low, high, n, method}`` (None where undefined, NaN as None)."""
    if performance is None:
        return None
    names = ESTIMATED_METRICS if isinstance(performance, EstimatedPerformance) else METRICS
    rows = performance.rows if isinstance(performance, EstimatedPerformance) else None
    labelled = performance.labelled if isinstance(performance, RealizedPerformance) else None
    metrics: dict[str, object] = {"rows": rows, "labelled": labelled}
    for name in names:
        value = performance.metric(name)
        metrics[name] = None if value is None else {
            key: None if isinstance(item, float) and not math.isfinite(item) else item
            for key, item in asdict(value).items()
        }  # fmt: skip
    return metrics
