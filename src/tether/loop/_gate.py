"""The offline gate: a retrained candidate must rank at least as well as the champion on
the candidate's own held-out frame, and decide precisely enough, before it serves a request.

Both versions are loaded as a server loads them (:func:`tether.serving.load_version`: the
manifest verified before a byte is unpickled). The frame is the candidate's recorded
evaluation snapshot (features and label, read back verified by its sha256), tied to the
verified reference (``held_out.parquet``, checked by :func:`tether.lineage.load_reference`):
its labels must be the reference's and the candidate's scores on it the recorded ones, so
the gate scores exactly the rows the candidate was evaluated on. Each version decides at
its own recorded threshold (0.5 for a run that chose none, as scikit-learn's ``predict``).

The rule (:class:`GateSettings`), two keys and nothing else:

- ``average_precision_margin``: pass only if the candidate's average precision is at least
  the champion's minus this margin (ranking, independent of thresholds);
- ``min_precision``: and the candidate's precision at its threshold is at least this floor
  (None: ``[monitoring] metric_floor`` when the monitored metric is precision, else none).

The frame is the candidate's most recent held-out data, which the champion never saw (it
was trained earlier), so the comparison does not favour the champion; it may favour the
candidate, which chose its threshold on this very frame: the sequential test in service is
what decides promotion, this gate only keeps a broken candidate away from traffic.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score

from tether.config import DEFAULT_THRESHOLD, Settings
from tether.errors import ConfigError, IntegrityError, ProjectError
from tether.lineage import SnapshotStore, load_record, load_reference
from tether.registry import EventLog
from tether.serving import ServedModel, load_version

DEFAULT_AVERAGE_PRECISION_MARGIN = 0.0
"""The candidate may not rank worse than the champion on the candidate's own recent data."""


@dataclass(frozen=True)
class GateSettings:
    """The two keys of the offline gate (``[loop] gate_average_precision_margin`` and
    ``[loop] gate_min_precision`` in the loop's config)."""

    average_precision_margin: float = DEFAULT_AVERAGE_PRECISION_MARGIN
    min_precision: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.average_precision_margin <= 1:
            raise ConfigError(
                f"gate average_precision_margin is {self.average_precision_margin!r}: "
                "expected a number in [0, 1]."
            )
        if self.min_precision is not None and not 0 <= self.min_precision <= 1:
            raise ConfigError(
                f"gate min_precision is {self.min_precision!r}: expected a number in [0, 1] "
                "(or none for [monitoring] metric_floor)."
            )


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict, why, and each version's metrics on the candidate's frame."""

    passed: bool
    reason: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """``{"candidate": {...}, "champion": {...}}``: precision, recall, average precision,
    threshold, flagged and rows."""


class GateProject(Protocol):
    """What the gate needs of a :class:`tether.Project`."""

    @property
    def settings(self) -> Settings: ...
    @property
    def tracking_uri(self) -> str: ...
    @property
    def events(self) -> EventLog: ...


def gate(
    project: GateProject,
    candidate: str,
    champion: str,
    settings: GateSettings | None = None,
) -> GateResult:
    """Compare versions ``candidate`` and ``champion`` of the project's model offline.

    Example::

        result = gate(project, candidate="4", champion="3")
        if not result.passed:
            print(result.reason)

    Raises:
        IntegrityError: a version, its record or the evaluation snapshot does not verify.
        ProjectError: the candidate recorded no held-out frame, or the champion needs a
            feature the frame lacks.
    """
    settings = settings or GateSettings()
    model = project.settings.model_name
    frame, truth, new = _candidate_frame(project, model, candidate)
    old = load_version(project.tracking_uri, model, champion, events=project.events)
    metrics = {"candidate": _metrics(new, frame, truth), "champion": _metrics(old, frame, truth)}
    floor = settings.min_precision
    monitoring = project.settings.monitoring
    if floor is None:
        floor = monitoring.metric_floor if monitoring.metric == "precision" else 0.0
    return _verdict(metrics, settings.average_precision_margin, floor, candidate, champion)


def _candidate_frame(
    project: GateProject, model: str, version: str
) -> tuple[pd.DataFrame, npt.NDArray[np.int64], ServedModel]:
    """The candidate's evaluation frame, its labels, and the candidate, all verified."""
    served = load_version(project.tracking_uri, model, version, events=project.events)
    reference = load_reference(project.tracking_uri, served.run_id)
    with tempfile.TemporaryDirectory(prefix="tether-gate-") as scratch:
        record = load_record(project.tracking_uri, served.run_id, Path(scratch))
    store = SnapshotStore(project.settings.stores.snapshot_uri)
    frame = _read_frame(store, record.evaluation.digest)
    truth = frame[record.label].to_numpy(dtype=np.int64)
    held_out = reference.held_out
    recorded = held_out["score"].to_numpy(dtype=np.float64)
    if len(held_out) != len(frame) or not np.array_equal(
        held_out["label"].to_numpy(dtype=np.int64), truth
    ):
        raise IntegrityError(
            f"The evaluation snapshot of {model}/{version} ({len(frame)} rows) is not the "
            f"held-out frame its verified reference records ({len(held_out)} rows): expected "
            "the same rows and labels. Refusing to gate on it."
        )
    if not np.allclose(_scores(served, frame), recorded, rtol=0, atol=1e-12):
        raise IntegrityError(
            f"{model}/{version} does not score its own evaluation snapshot as its reference "
            "records: expected the recorded scores. Refusing to gate on it."
        )
    return frame, truth, served


def _read_frame(store: SnapshotStore, digest: str) -> pd.DataFrame:
    """The evaluation snapshot (always Parquet: a frame the run produced), verified."""
    return pd.read_parquet(io.BytesIO(store.read_bytes(digest)))


def _scores(served: ServedModel, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    missing = [name for name in served.features if name not in frame.columns]
    if missing:
        raise ProjectError(
            f"{served.name}/{served.version} needs features {', '.join(missing)}, which the "
            "candidate's held-out frame lacks: expected both versions on the same features."
        )
    estimator: Any = served.model
    proba = estimator.predict_proba(frame[list(served.features)])
    return np.asarray(proba[:, 1], dtype=np.float64)


def _metrics(
    served: ServedModel, frame: pd.DataFrame, truth: npt.NDArray[np.int64]
) -> dict[str, float]:
    """Precision and recall at the version's threshold, and average precision (sklearn)."""
    scores = _scores(served, frame)
    threshold = served.threshold if served.threshold is not None else DEFAULT_THRESHOLD
    flagged = scores >= threshold
    positives = truth == 1
    caught = int((flagged & positives).sum())
    return {
        "precision": caught / int(flagged.sum()) if flagged.any() else 0.0,
        "recall": caught / int(positives.sum()) if positives.any() else 0.0,
        "average_precision": float(average_precision_score(truth, scores))
        if positives.any()
        else 0.0,
        "threshold": float(threshold),
        "flagged": float(flagged.sum()),
        "rows": float(len(truth)),
    }


def _verdict(
    metrics: dict[str, dict[str, float]],
    margin: float,
    floor: float,
    candidate: str,
    champion: str,
) -> GateResult:
    new, old = metrics["candidate"], metrics["champion"]
    ranks = new["average_precision"] >= old["average_precision"] - margin
    precise = new["precision"] >= floor
    said = (
        f"on {int(new['rows'])} held-out rows of version {candidate}: average precision "
        f"{new['average_precision']:.3f} against version {champion}'s "
        f"{old['average_precision']:.3f} (margin {margin:g}), precision "
        f"{new['precision']:.3f} at threshold {new['threshold']:.4f} (floor {floor:g})"
    )
    if ranks and precise:
        return GateResult(True, f"passed {said}", metrics)
    failed = [why for why, ok in (("ranks worse", ranks), ("precision below floor", precise))
              if not ok]  # fmt: skip
    return GateResult(False, f"failed ({', '.join(failed)}) {said}", metrics)
