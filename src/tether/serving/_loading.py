"""Loading a registered version for serving: verified before a single byte is unpickled.

At registration ``tether train`` records the manifest of every file of the model's
artifact (``lineage/_artifacts.py``), its digest in the run's and the version's tags and
in a ``register`` event of the event log. Loading downloads the version's files and
refuses them unless the three digests agree, the manifest hashes to them, the files are
exactly the manifest's and each matches its digest; then only the verified model file is
unpickled, from the bytes that were hashed (never through MLflow's ``MLmodel``, whose
``pickled_model`` could name another file). It also compares the feature-definition
version the model was trained on with the one the feature store serves now, refusing (or,
by config, warning about) a mismatch, since a changed definition silently changes inputs.
The version's decision threshold comes from its run's ``record.json``, read only after the
model verified and itself checked against the sha256 in the run's tag (and the version's).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tether import _mlflow
from tether._versions import canonical_version
from tether.errors import FeatureVersionMismatchError, IntegrityError
from tether.lineage import RECORD_SHA256_TAG, load_record, load_registered_model
from tether.registry import EventLog, registered_digest
from tether.serving._deployment import ServedModel

_LOGGER = logging.getLogger(__name__)


def load_version(
    tracking_uri: str,
    model: str,
    version: str,
    *,
    events: EventLog,
    served_feature_version: str = "",
    feature_mismatch: str = "refuse",
) -> ServedModel:
    """Download, verify and load ``model/version`` as a :class:`ServedModel`.

    ``events`` is the event log whose ``register`` (or ``trust``) event holds the version's
    manifest digest.

    Raises:
        IntegrityError: the version's files or digests do not verify, or it has none.
        FeatureVersionMismatchError: trained on other feature definitions (policy refuse).
        TrackingError: the tracking store failed or has no such version.
    """
    version = canonical_version(version, model)
    info = _mlflow.get_model_version(tracking_uri, model, version)
    run = _mlflow.get_run(tracking_uri, info.run_id)
    label = f"{model}/{version}"
    with tempfile.TemporaryDirectory(prefix="tether-load-") as scratch:
        work = Path(scratch)
        estimator, manifest = load_registered_model(
            tracking_uri, info.source, label=label, version=version, run_tags=run.tags,
            version_tags=info.tags, event_digest=registered_digest(events, model, version),
            work=work / "model",
        )  # fmt: skip
        # Read after the model verified: record.json is an artifact, trusted only for the
        # metadata it carries (feature version, label), never for what gets unpickled.
        record = load_record(tracking_uri, info.run_id, work / "record")
    _check_feature_version(model, version, record.feature_version, served_feature_version,
                           feature_mismatch)  # fmt: skip
    # The estimator knows its input columns in order; the record's schema is sorted by name.
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [c for c in record.evaluation.schema if c != record.label]
    features = tuple(str(c) for c in names)
    _check_record_digest(label, run.tags, info.tags)
    return ServedModel(
        name=model,
        version=version,
        model=estimator,
        features=features,
        sha256=manifest.files[manifest.model_file],
        run_id=info.run_id,
        feature_version=record.feature_version,
        threshold=record.decision.threshold if record.decision is not None else None,
    )


def _check_record_digest(
    label: str, run_tags: Mapping[str, str], version_tags: Mapping[str, str]
) -> None:
    """The record's digest in the version's tag (when it has one) must be the run's.

    ``load_record`` checked the record against the run's tag; the version keeps a copy from
    registration, so rewriting one tag (and the record) is not enough to change the
    threshold a server decides with.
    """
    run_digest = run_tags.get(RECORD_SHA256_TAG, "")
    version_digest = version_tags.get(RECORD_SHA256_TAG, "")
    if version_digest and version_digest != run_digest:
        raise IntegrityError(
            f"The record digests of {label} disagree (the run tag {run_digest or '(none)'}, "
            f"the version tag {version_digest}): one was rewritten. Refusing to load it."
        )


def _check_feature_version(
    model: str, version: str, trained: str, served: str, policy: str
) -> None:
    if not trained or not served or trained == served:
        return
    message = (
        f"{model}/{version} was trained on feature definitions {trained[:12]}, but the "
        f"feature store serves {served[:12]}: its inputs would be computed differently. "
        "Retrain on the current definitions, or re-materialize the old ones."
    )
    if policy == "refuse":
        raise FeatureVersionMismatchError(message)
    _LOGGER.warning("%s (serving.feature_mismatch = 'warn')", message)
