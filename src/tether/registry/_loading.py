"""Loading a registered version for serving: verified before a single byte is unpickled.

The sha256 of the model file is recorded at registration (``tether train``). Loading
downloads the version's files, hashes the model file and refuses one whose bytes changed:
unpickling a tampered file runs its code. It also compares the feature-definition version
the model was trained on with the one the feature store serves now, refusing (or, by
config, warning about) a mismatch, since a changed definition silently changes inputs.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from tether import _mlflow
from tether.errors import IntegrityError, RegistryError
from tether.lineage import sha256_file
from tether.lineage._reproduce import load_record
from tether.serving._deployment import ServedModel

_LOGGER = logging.getLogger(__name__)
SHA256_TAG = "tether.model.sha256"


class FeatureVersionMismatchError(RegistryError):
    """A model trained on feature definitions other than those the store serves now."""


def load_version(
    tracking_uri: str,
    model: str,
    version: str,
    *,
    served_feature_version: str = "",
    feature_mismatch: str = "refuse",
) -> ServedModel:
    """Download, verify and load ``model/version`` as a :class:`ServedModel`."""
    info = _mlflow.get_model_version(tracking_uri, model, version)
    expected = info.tags.get(SHA256_TAG, "")
    if not expected:
        raise IntegrityError(
            f"{model}/{version} has no {SHA256_TAG} tag: it was not registered by tether, so "
            "its file cannot be verified; refusing to load it."
        )
    with tempfile.TemporaryDirectory(prefix="tether-load-") as scratch:
        work = Path(scratch)
        record = load_record(tracking_uri, info.run_id, work / "record")
        folder = _mlflow.download_model(tracking_uri, record.model.uri, work / "model")
        found = sha256_file(folder / record.model.file)
        if found != expected:
            raise IntegrityError(
                f"The model file of {model}/{version} has sha256 {found}, but {expected} was "
                "recorded at registration: its bytes changed. Refusing to load it (unpickling "
                "a modified file runs arbitrary code)."
            )
        estimator = _mlflow.load_sklearn_model(folder)
    _check_feature_version(model, version, record.feature_version, served_feature_version,
                           feature_mismatch)  # fmt: skip
    # The estimator knows its input columns in order; the record's schema is sorted by name.
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [c for c in record.evaluation.schema if c != record.label]
    features = tuple(str(c) for c in names)
    return ServedModel(
        name=model,
        version=version,
        model=estimator,
        features=features,
        sha256=found,
        run_id=info.run_id,
        feature_version=record.feature_version,
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
