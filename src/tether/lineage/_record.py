"""The run record: everything a training run read and made, as one versioned JSON artifact.

``record.json`` is what ``tether reproduce`` rebuilds from and what ``tether audit``
reports. It carries a ``format_version``; readers refuse versions they do not know, and
every older version stays readable (tested).

Format 2 (issue 10) adds, compatibly: ``decision``, the decision threshold the run chose
and its held-out precision, recall and decision rate (``lineage/_threshold.py``; null for a
regressor), and ``reference``, the reference profile and held-out scores with their sha256
(``lineage/_reference.py``). A format-1 record reads with both None. The record's own sha256
is kept in the run's tag :data:`RECORD_SHA256_TAG` from format 2 on, and checked on load.

Format 3 (issue 11) adds ``window``, the run's :class:`~tether.lineage.TrainWindow` as ISO
strings, and ``known_time``, the datasets cut at its cut-off and their columns. A format-1
or -2 record reads with both empty: it trained on the whole data. A window other than the
whole data is part of the run key; a plain run's cut-off is not (its effect on the data is
in the data digests, and the key stays the same from one day to the next).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tether.config import ParamValue
from tether.errors import ReproducibilityError
from tether.lineage._reference import ArtifactRecord, ReferenceRecord
from tether.lineage._threshold import DecisionRecord
from tether.lineage._window import TrainWindow

RECORD_FORMAT_VERSION = 3
READABLE_FORMAT_VERSIONS = (1, 2, 3)
RECORD_SHA256_TAG = "tether.record.sha256"
"""The run (and version) tag holding the sha256 of the run's ``record.json``."""
RECORD_ARTIFACT = "tether/record.json"
CODE_ARTIFACT_DIR = "code"
ENVIRONMENT_ARTIFACT_DIR = "environment"


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset a run read (or, with context ``evaluation``, produced)."""

    name: str
    context: str
    digest: str
    size: int
    rows: int
    format: str
    source: str
    uri: str
    schema: Mapping[str, str]
    time_ranges: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CodeRecord:
    """The code version: commit (empty outside git), the archive and the patch."""

    commit: str
    dirty: bool
    repository: str
    subdirectory: str
    branch: str
    archive_sha256: str
    patch_sha256: str


@dataclass(frozen=True)
class ModelRecord:
    """The serialized model file and how it was written."""

    sha256: str
    uri: str
    file: str
    flavor: str
    serialization: str


@dataclass(frozen=True)
class RunRecord:
    """A training run, complete enough to rebuild and to explain it."""

    run_id: str
    project: str
    model_name: str
    entry_point: str
    label: str
    seed: int
    threads: int
    params: Mapping[str, ParamValue]
    code: CodeRecord
    datasets: tuple[DatasetRecord, ...]
    evaluation: DatasetRecord
    python: str
    platform: str
    machine: str
    model: ModelRecord
    metrics: Mapping[str, float]
    feature_version: str = ""
    features: Mapping[str, str] = field(default_factory=dict)
    decision: DecisionRecord | None = None
    reference: ReferenceRecord | None = None
    window: Mapping[str, str] = field(default_factory=dict)
    known_time: Mapping[str, str] = field(default_factory=dict)
    format_version: int = RECORD_FORMAT_VERSION

    @property
    def run_key(self) -> str:
        """A digest of what determines the result: code, config and data, not the run id."""
        return run_key(
            self.code,
            self.entry_point,
            self.label,
            self.seed,
            self.threads,
            self.params,
            [d.digest for d in self.datasets],
            self.feature_version,
            self.train_window,
        )

    @property
    def train_window(self) -> TrainWindow | None:
        """The recorded window; None for a run on the whole data (and before format 3)."""
        if not self.window:
            return None
        window = TrainWindow.from_dict(dict(self.window))
        return None if window.whole else window

    def to_json(self) -> str:
        """Serialize, keys sorted, for the ``record.json`` artifact."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def dataset(self, name: str) -> DatasetRecord:
        """The recorded input named ``name``."""
        for record in self.datasets:
            if record.name == name:
                return record
        read = ", ".join(d.name for d in self.datasets) or "(none)"
        raise ReproducibilityError(
            f"The entry point asked for dataset {name!r}, which the recorded run {self.run_id} "
            f"never read (it read: {read}). The code being reproduced differs from the "
            "recorded code."
        )


def run_key(
    code: CodeRecord,
    entry_point: str,
    label: str,
    seed: int,
    threads: int,
    params: Mapping[str, ParamValue],
    data_digests: list[str],
    feature_version: str,
    window: TrainWindow | None = None,
) -> str:
    """The identity of a run's inputs, as hamilton keys its cache: a hash of all of them."""
    identity = {
        "code": [code.commit, code.archive_sha256, code.patch_sha256],
        "entry_point": entry_point,
        "label": label,
        "seed": seed,
        "threads": threads,
        "params": dict(sorted(params.items())),
        "data": sorted(data_digests),
        "features": feature_version,
    }
    if window is not None:  # absent for the whole data, so older run keys stay the same
        identity["window"] = [window.start.isoformat(), window.end.isoformat(),
                              window.to_dict()["excluded"]]  # fmt: skip
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_from_json(text: str) -> RunRecord:
    """Read a ``record.json``, refusing a format this tether does not know."""
    raw: dict[str, Any] = json.loads(text)
    version = raw.get("format_version")
    if version not in READABLE_FORMAT_VERSIONS:
        raise ReproducibilityError(
            f"record.json has format_version {version!r}; this tether reads versions "
            f"{', '.join(map(str, READABLE_FORMAT_VERSIONS))}. Upgrade tether to read this run."
        )
    return RunRecord(
        run_id=raw["run_id"],
        project=raw["project"],
        model_name=raw["model_name"],
        entry_point=raw["entry_point"],
        label=raw["label"],
        seed=raw["seed"],
        threads=raw["threads"],
        params=raw["params"],
        code=CodeRecord(**raw["code"]),
        datasets=tuple(_dataset(d) for d in raw["datasets"]),
        evaluation=_dataset(raw["evaluation"]),
        python=raw["python"],
        platform=raw["platform"],
        machine=raw["machine"],
        model=ModelRecord(**raw["model"]),
        metrics=raw["metrics"],
        feature_version=raw.get("feature_version", ""),
        features=raw.get("features", {}),
        decision=DecisionRecord(**raw["decision"]) if raw.get("decision") else None,
        reference=_reference(raw["reference"]) if raw.get("reference") else None,
        window=raw.get("window", {}),
        known_time=raw.get("known_time", {}),
        format_version=version,
    )


def _reference(raw: dict[str, Any]) -> ReferenceRecord:
    profile = raw.get("profile")
    return ReferenceRecord(
        profile=ArtifactRecord(**profile) if profile else None,
        held_out=ArtifactRecord(**raw["held_out"]),
        rows=raw["rows"],
        features=tuple(raw["features"]),
        score=raw["score"],
        profile_format=raw.get("profile_format", 0),
        calibration=ArtifactRecord(**raw["calibration"]) if raw.get("calibration") else None,
    )


def _dataset(raw: dict[str, Any]) -> DatasetRecord:
    ranges = {k: (v[0], v[1]) for k, v in raw.get("time_ranges", {}).items()}
    return DatasetRecord(**{**raw, "time_ranges": ranges})
