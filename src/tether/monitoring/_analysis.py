"""A reference frame against an analysis frame, chunk by chunk: drift and data quality.

The Evidently / NannyML use on DataFrames, and what ``tether drift`` runs on two files.
:func:`compare_frames` profiles the reference once (:func:`~tether.monitoring.profile_frame`,
DuckDB), then each chunk of the analysis frame on the reference's bins, and gives each chunk
the same verdicts the monitor gives a window of served traffic: the drift report of
:func:`~tether.monitoring.compare` (per feature, the score, the dataset rule, and the domain
classifier) and the data-quality findings of :func:`~tether.monitoring.check_quality`.

Chunks : the whole frame, ``chunk_size`` rows each
in the frame's order, or one per value of the ``by`` column. The features are the
reference's columns but the label, the score, the ``by`` column and time columns; the
analysis frame must have each, of the same kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from tether._progress import Progress, no_progress
from tether.errors import MonitoringError
from tether.monitoring._drift import compare
from tether.monitoring._frames import feature_columns, frame_chunks, require_column
from tether.monitoring._profiling import profile_frame
from tether.monitoring._quality import QualityFinding, QualityThresholds, check_quality
from tether.monitoring._report import DriftReport, DriftThresholds


@dataclass(frozen=True)
class ChunkReport:
    """One chunk of the analysis frame: its name, rows, drift report and quality findings."""

    chunk: str
    rows: int
    drift: DriftReport
    quality: tuple[QualityFinding, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: what ``tether drift --json`` prints per chunk."""
        return {
            "chunk": self.chunk,
            "rows": self.rows,
            "drift": self.drift.to_dict(),
            "quality": [finding.to_dict() for finding in self.quality],
        }


@dataclass(frozen=True)
class FramesReport:
    """A reference frame against an analysis frame: the features compared, one report a chunk."""

    reference_rows: int
    features: tuple[str, ...]
    score: str | None
    chunks: tuple[ChunkReport, ...]

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
    seed: int = 0,
    progress: Progress = no_progress,
) -> FramesReport:
    """Drift and data quality of each chunk of ``current`` against ``reference``.

    >>> report = compare_frames(train, last_month, score="score", by="day")  # doctest: +SKIP
    >>> [(c.chunk, c.drift.drifted) for c in report.chunks]  # doctest: +SKIP
    [('2026-03-01', ()), ('2026-03-02', ('amount',))]

    Raises:
        MonitoringError: an empty frame, a missing or mistyped column, both ``chunk_size``
            and ``by``, a ``chunk_size`` below 1.
    """
    _check_options(reference, current, label=label, score=score, chunk_size=chunk_size, by=by)
    excluded = [name for name in (label, score, by) if name is not None]
    columns = feature_columns(reference, current, exclude=excluded)
    progress("profiling the reference", 0, len(reference))
    reference_profile = profile_frame(reference, columns, score=score, seed=seed)
    parts = list(frame_chunks(current, chunk_size=chunk_size, by=by))
    reports = []
    for index, part in enumerate(parts):
        progress(f"chunk {part.name} ({index + 1} of {len(parts)})", index, len(parts))
        profile = profile_frame(
            part.frame, columns, score=score, reference=reference_profile, seed=seed + 1
        )
        drift = compare(reference_profile, profile, drift_thresholds, seed=seed, multivariate=True)
        findings = check_quality(reference_profile, profile, quality_thresholds)
        reports.append(ChunkReport(part.name, len(part.frame), drift, tuple(findings)))
    return FramesReport(len(reference), tuple(columns), score, tuple(reports))


def _check_options(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    label: str | None,
    score: str | None,
    chunk_size: int | None,
    by: str | None,
) -> None:
    for role, frame in (("reference", reference), ("current", current)):
        if frame.empty:
            raise MonitoringError(f"the {role} frame has no rows; expected at least one")
    if chunk_size is not None and by is not None:
        raise MonitoringError(
            f"chunk_size {chunk_size} and by {by!r}: chunk by rows or by a column, not both"
        )
    if chunk_size is not None and chunk_size < 1:
        raise MonitoringError(f"chunk_size is {chunk_size}; expected at least 1 row")
    if by is not None:
        require_column(current, by, role="current", option="by")
    named = [(option, name) for option, name in (("score", score), ("label", label)) if name]
    for option, name in named:
        frames = {"reference": reference, "current": current}
        if option == "label":  # labels in either file: the reference's, the current's, both
            frames = {role: frame for role, frame in frames.items() if name in frame.columns}
        _require_numbers(frames or {"reference": reference}, name, option=option)


def _require_numbers(frames: Mapping[str, pd.DataFrame], name: str, *, option: str) -> None:
    for role, frame in frames.items():
        require_column(frame, name, role=role, option=option)
        series = frame[name]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise MonitoringError(
                f"{option} {name!r}: the {role} frame's column is {series.dtype}; "
                "expected numbers (a score in [0, 1], a label 0 or 1)"
            )
