"""The reference a run leaves for monitoring: a profile of the model's inputs and score, and
the held-out scores and labels, each an artifact of the run verified by its sha256.

At training, ``train_project`` scores the held-out frame the entry point returned and hands
that frame (the model's input columns plus the score) to a *profiler*: a function that
summarises it in one pass and returns the profile's bytes (``tether.monitoring``'s
``profile_frame(...).to_json_bytes()``, a versioned JSON format). Lineage comes before
monitoring in the order of packages (``tests/test_import_order.py``), so it never imports it:
the profiler is passed in by :class:`tether.project.Project`, which composes the two (see
docs/decisions.md, "Monitoring"). Without a profiler (``train_project`` called alone) no
profile is stored and the record says so; the threshold is recorded either way.

Why the held-out frame: it is the one frame tether knows holds exactly the model's inputs
(the columns the model takes, no more), from the period just before the model is deployed,
and never fitted on, so the scores on it are the honest reference of the score's
distribution and of its calibration (NannyML's reference period is the same thing). Profiling
features and score over the same rows keeps the profile's sample whole rows.

Three artifacts, under ``tether/``:

- ``reference.json``: the profile bytes, as the profiler wrote them;
- ``held_out.parquet``: one row per held-out row, the columns ``score`` and ``label``
  (1 for the positive class), which monitoring calibrates the scores on (CBPE);
- ``calibration.json``: that calibration, fitted at training by the *calibrator* the project
  passes (monitoring's ``Calibration.fit(...).to_dict()``), for a binary classifier whose
  held-out rows can calibrate it;
- ``record.json`` references them with their sha256 (:class:`ReferenceRecord`).

Trust: ``record.json`` is an artifact too, so its own sha256 is kept in the run's tag
``tether.record.sha256`` (the tracking database, where the model manifest's digest is kept,
out of reach of whoever can write artifacts); :func:`load_reference` checks the record
against that tag, then each artifact against the record, *before* a byte is parsed.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether import _mlflow
from tether.errors import IntegrityError, TrackingError

REFERENCE_ARTIFACT = "tether/reference.json"
HELD_OUT_ARTIFACT = "tether/held_out.parquet"
CALIBRATION_ARTIFACT = "tether/calibration.json"
SCORE_COLUMN = "score"
"""The score's column in the profiled frame, unless a feature has that name (then
``tether_score``, then more underscores: :func:`score_column`)."""
HELD_OUT_COLUMNS = ("score", "label")

Profiler = Callable[[pd.DataFrame, Sequence[str], str, int], bytes]
"""``(frame, feature_columns, score_column, seed) -> profile bytes``: one pass over ``frame``
summarising each feature column and the score column, with a sample seeded by ``seed``."""
Calibrator = Callable[[npt.NDArray[np.float64], npt.NDArray[np.bool_]], bytes | None]
"""``(held-out scores, positive) -> calibration bytes``, or None when the rows cannot
calibrate a score (too few, or one class): a binary classifier's map from score to
probability, which monitoring's performance estimate (CBPE) applies to unlabelled windows."""


@dataclass(frozen=True)
class ArtifactRecord:
    """One artifact of the run: its path under the run's artifacts, sha256 and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ReferenceRecord:
    """What ``record.json`` says of the run's reference (format 2 of the record).

    ``profile`` is the profile artifact (None: no profiler ran), ``held_out`` the scores and
    labels; ``rows`` held-out rows were profiled, over ``features`` and the column ``score``;
    ``profile_format`` is the profile's own ``format_version`` (0 when it has none).
    """

    profile: ArtifactRecord | None
    held_out: ArtifactRecord
    rows: int
    features: tuple[str, ...]
    score: str
    profile_format: int = 0
    calibration: ArtifactRecord | None = None
    """The fitted calibration of a binary classifier's score (None: none was fitted)."""


@dataclass(frozen=True)
class VerifiedReference:
    """A run's reference, every byte checked against the recorded sha256."""

    run_id: str
    record: ReferenceRecord
    profile: bytes
    """The profile's bytes (parse with ``tether.monitoring.Profile.from_json_bytes``)."""
    held_out: pd.DataFrame
    """``score`` and ``label`` of each held-out row, in the frame's order."""
    calibration: bytes | None = None
    """The calibration's JSON bytes (``Calibration.from_dict(json.loads(...))``), if fitted."""
    threshold: float | None = None
    """The run's decision threshold, from the same verified record (None: it chose none)."""


def score_column(features: Sequence[str]) -> str:
    """A name for the score that no feature has."""
    name = SCORE_COLUMN
    while name in features:
        name = f"tether_{name}" if name == SCORE_COLUMN else f"_{name}"
    return name


def held_out_bytes(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_] | npt.NDArray[np.float64]
) -> bytes:
    """The held-out scores and labels as Parquet bytes (deterministic for the same values).

    A classifier's labels are 1 for the positive class and 0 otherwise (int8); a
    regressor's are its label values.
    """
    label = labels.astype(np.int8) if labels.dtype == np.bool_ else labels
    frame = pd.DataFrame({"score": scores, "label": label})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def artifact_record(path: str, data: bytes) -> ArtifactRecord:
    """The record of ``data`` stored at ``path``."""
    return ArtifactRecord(path, hashlib.sha256(data).hexdigest(), len(data))


def profile_format(data: bytes) -> int:
    """The ``format_version`` at the top of a JSON profile (0 when absent or unreadable)."""
    import json

    try:
        value = json.loads(data).get("format_version", 0)
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def load_reference(tracking_uri: str, run_id: str) -> VerifiedReference:
    """Download a run's reference and verify it before anything is parsed.

    The run's ``record.json`` must match the sha256 of the run's tag, and each artifact the
    sha256 the record holds for it.

    Example::

        reference = load_reference(settings.stores.tracking_uri, run_id)
        profile = Profile.from_json_bytes(reference.profile)

    Raises:
        IntegrityError: a digest does not match (the artifact was modified after training),
            or the record's own digest is missing from the run's tags.
        TrackingError: the run has no reference (trained before tether recorded one, or
            without a profiler), or the tracking store failed.
    """
    from tether.lineage._reproduce import load_record

    with tempfile.TemporaryDirectory(prefix="tether-reference-") as scratch:
        work = Path(scratch)
        record = load_record(tracking_uri, run_id, work / "record")
        reference = record.reference
        if reference is None or reference.profile is None:
            what = "no reference" if reference is None else "no profile (trained without one)"
            raise TrackingError(
                f"Run {run_id} has {what}: retrain it with `tether train` (a Project's "
                "train), which stores the reference profile with the model."
            )
        profile = verified_artifact(tracking_uri, run_id, reference.profile, work / "p")
        held_out = verified_artifact(tracking_uri, run_id, reference.held_out, work / "h")
        calibration = reference.calibration
        fitted = None
        if calibration is not None:
            fitted = verified_artifact(tracking_uri, run_id, calibration, work / "c")
    frame = pd.read_parquet(io.BytesIO(held_out))
    threshold = None if record.decision is None else record.decision.threshold
    return VerifiedReference(run_id, reference, profile, frame, fitted, threshold)


def verified_artifact(
    tracking_uri: str, run_id: str, artifact: ArtifactRecord, work: Path
) -> bytes:
    """The bytes of ``artifact``, refused unless they hash to its recorded sha256."""
    path = _mlflow.download_run_artifact(tracking_uri, run_id, artifact.path, work)
    data = path.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != artifact.sha256:
        raise IntegrityError(
            f"The artifact {artifact.path} of run {run_id} has sha256 {found}, but the run "
            f"recorded {artifact.sha256}: it was modified after training. Refusing to read it."
        )
    return data
