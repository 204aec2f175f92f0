"""The manifest of a model artifact, and the only way tether deserializes a model.

Pickle runs code when it loads, and MLflow's loader unpickles whatever file the artifact's
own ``MLmodel`` names (``pickled_model``): hashing ``model.pkl`` and then calling MLflow's
loader checks one file and runs another. So tether records, at registration, a manifest of
every file of the model's artifact folder (relative path -> sha256, canonical JSON with a
``format_version``) and keeps the manifest's own sha256 where someone who can write
artifacts cannot rewrite it: the run's tag and the registered version's tag (the tracking
database), and a ``register`` event in tether's event log (the registry cross-checks that
one). Before anything is deserialized, :func:`load_verified_model`:

1. requires the trusted digests to be present and equal, and the manifest to hash to them;
2. lists every file of the downloaded folder: the set must equal the manifest's (a file
   added, such as a second pickle, or one missing is refused);
3. hashes every file and compares it with the manifest;
4. unpickles only the manifest's model file, from the very bytes that were hashed (no
   second read an attacker could race), never through ``MLmodel``.

One file may appear that the manifest does not list: ``registered_model_meta``, which
MLflow's own loader writes into the artifact folder when it loads ``models:/NAME/VERSION``
from a local store (``mlflow models serve`` does). It is accepted only in MLflow's exact
two-line form (a model name and a version number), and never read by tether's loader;
anything else under that name is refused like any added file.

Any refusal is an :class:`~tether.errors.IntegrityError` naming the version, the file and
both digests. Versions registered before manifests existed carry no manifest: they are
refused until a person runs ``tether models verify VERSION --trust``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether import _mlflow
from tether.errors import IntegrityError

MANIFEST_FORMAT_VERSION = 1
"""The version of the manifest's JSON form; readers refuse a newer one."""
MANIFEST_TAG = "tether.model.manifest"
"""The run tag holding the manifest itself (canonical JSON)."""
MANIFEST_SHA256_TAG = "tether.model.manifest_sha256"
"""The run and version tag holding the manifest's sha256."""
MLFLOW_REGISTRATION_FILE = "registered_model_meta"
"""The file MLflow's loader adds to a local model folder (see the module docstring)."""
_REGISTRATION_FORM = re.compile(rb"model_name: [^\n\r]{1,256}\nmodel_version: '?[0-9]{1,12}'?\n")
_REGISTRATION_MAX_BYTES = 512
SERIALIZATION = "cloudpickle"
"""The one serialization tether loads (cloudpickle's loader is the standard library's)."""


def trust_command(version: str) -> str:
    """The command a person runs to record the manifest of a version's files as they are."""
    return f"tether models verify {version} --trust"


@dataclass(frozen=True)
class ArtifactManifest:
    """The sha256 of every file of a model artifact folder, and which file is the model.

    ``files`` maps each relative POSIX path to its sha256 (hex); ``model_file`` is the
    path of the serialized model among them.
    """

    files: Mapping[str, str]
    model_file: str
    serialization: str = SERIALIZATION
    format_version: int = MANIFEST_FORMAT_VERSION

    def to_json(self) -> str:
        """The canonical JSON form: sorted keys, no spaces, ASCII; what the digest covers."""
        return json.dumps(
            {
                "files": dict(sorted(self.files.items())),
                "format_version": self.format_version,
                "model_file": self.model_file,
                "serialization": self.serialization,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )

    @property
    def sha256(self) -> str:
        """The sha256 of :meth:`to_json`: the digest kept in trusted places."""
        return hashlib.sha256(self.to_json().encode("ascii")).hexdigest()


def manifest_from_json(text: str, label: str) -> ArtifactManifest:
    """Parse a manifest written by :meth:`ArtifactManifest.to_json`.

    Raises:
        IntegrityError: the text is not a manifest, or one of a newer format.
    """
    try:
        raw = json.loads(text)
        files = {str(k): str(v) for k, v in dict(raw["files"]).items()}
        manifest = ArtifactManifest(
            files=files,
            model_file=str(raw["model_file"]),
            serialization=str(raw["serialization"]),
            format_version=int(raw["format_version"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise IntegrityError(
            f"The artifact manifest of {label} cannot be read ({type(exc).__name__}: {exc}); "
            "expected the JSON that tether records at registration."
        ) from exc
    if manifest.format_version > MANIFEST_FORMAT_VERSION:
        raise IntegrityError(
            f"The artifact manifest of {label} has format_version {manifest.format_version}; "
            f"this tether reads up to {MANIFEST_FORMAT_VERSION}: upgrade tether."
        )
    return manifest


def manifest_of(folder: Path, model_file: str = _mlflow.MODEL_FILE) -> ArtifactManifest:
    """The manifest of every file under ``folder`` as it is now.

    Raises:
        IntegrityError: the folder holds a symbolic link or lacks ``model_file``.
    """
    files = _file_digests(folder, str(folder))
    if model_file not in files:
        raise IntegrityError(
            f"The model folder {folder} has no {model_file}; found {', '.join(sorted(files))}."
        )
    return ArtifactManifest(files=files, model_file=model_file)


@dataclass(frozen=True)
class TrustedDigests:
    """Where the manifest's digest was recorded, each as found ("" when absent)."""

    run_tag: str
    version_tag: str
    event_log: str | None = None
    """None when the caller has no event log to consult (``reproduce`` without a config)."""


def require_trusted_digest(label: str, trusted: TrustedDigests, version: str) -> str:
    """The one manifest digest that every trusted home agrees on.

    Raises:
        IntegrityError: a home lacks the digest (a version registered before manifests), or
            two homes disagree (one was rewritten).
    """
    homes = {"the run tag": trusted.run_tag, "the version tag": trusted.version_tag}
    if trusted.event_log is not None:
        homes["the event log"] = trusted.event_log
    missing = [name for name, digest in homes.items() if not digest]
    if missing:
        raise IntegrityError(
            f"{label} has no artifact manifest digest in {' and '.join(missing)}: it was "
            "registered before tether recorded manifests (or its record was removed), so its "
            "files cannot be verified and it is not loaded. If you trust its files as they "
            f"are now, run `{trust_command(version)}` (recorded as an event)."
        )
    digests = set(homes.values())
    if len(digests) != 1:
        found = ", ".join(f"{name} {digest}" for name, digest in homes.items())
        raise IntegrityError(
            f"The artifact manifest digests of {label} disagree ({found}): one of them was "
            "rewritten. Refusing to load it."
        )
    return digests.pop()


def trusted_manifest(tags: Mapping[str, str], digest: str, label: str) -> ArtifactManifest:
    """The manifest held in the run's tags, checked against the trusted ``digest``.

    Raises:
        IntegrityError: the manifest tag is missing or does not hash to ``digest``.
    """
    text = tags.get(MANIFEST_TAG, "")
    manifest = manifest_from_json(text, label) if text else None
    found = manifest.sha256 if manifest is not None else "(no manifest)"
    if manifest is None or found != digest:
        raise IntegrityError(
            f"The artifact manifest of {label} (run tag {MANIFEST_TAG}) has sha256 {found}, "
            f"but {digest} was recorded at registration. Refusing to load it."
        )
    return manifest


def verified_model_bytes(folder: Path, manifest: ArtifactManifest, label: str) -> bytes:
    """Check every file of ``folder`` against ``manifest``; return the model file's bytes.

    The bytes returned are the very bytes that were hashed, so a loader never reads the
    file a second time (which an attacker could race).

    Raises:
        IntegrityError: a file was added, removed or changed, or the serialization is not
            cloudpickle.
    """
    if manifest.serialization != SERIALIZATION:
        raise IntegrityError(
            f"{label} is serialized with {manifest.serialization!r}; tether loads only "
            f"{SERIALIZATION!r} models."
        )
    found = set(_relative_files(folder, label))
    expected = set(manifest.files)
    if MLFLOW_REGISTRATION_FILE in found - expected and _is_mlflow_registration(
        folder / MLFLOW_REGISTRATION_FILE
    ):
        found.discard(MLFLOW_REGISTRATION_FILE)
    if found != expected:
        added, missing = sorted(found - expected), sorted(expected - found)
        raise IntegrityError(
            f"The files of {label} differ from its manifest recorded at registration: added "
            f"{added or 'none'}, missing {missing or 'none'}. Refusing to load it (a file the "
            "manifest does not list may be what a loader would run)."
        )
    model_bytes = b""
    for name in sorted(expected):
        data = (folder / name).read_bytes()
        _require_digest(label, name, hashlib.sha256(data).hexdigest(), manifest.files[name])
        if name == manifest.model_file:
            model_bytes = data
    return model_bytes


def load_verified_model(folder: Path, manifest: ArtifactManifest, label: str) -> Any:
    """Check every file of ``folder`` against ``manifest``, then unpickle the model file.

    Only the manifest's model file is unpickled: ``MLmodel`` (verified like every other
    file) is never interpreted, so its ``pickled_model`` cannot redirect the load.

    Raises:
        IntegrityError: see :func:`verified_model_bytes`.
    """
    data = verified_model_bytes(folder, manifest, label)
    # cloudpickle.loads is pickle.loads (cloudpickle only adds a pickler); the bytes are
    # verified against the trusted manifest, so what runs is what was registered.
    return pickle.loads(data)


def _is_mlflow_registration(path: Path) -> bool:
    """Whether ``path`` holds exactly what MLflow writes there, and nothing else."""
    data = path.read_bytes()
    return len(data) <= _REGISTRATION_MAX_BYTES and _REGISTRATION_FORM.fullmatch(data) is not None


def _require_digest(label: str, name: str, found: str, expected: str) -> None:
    if found != expected:
        raise IntegrityError(
            f"The file {name} of {label} has sha256 {found}, but {expected} was recorded at "
            "registration: its bytes changed; refusing to load it (unpickling a modified "
            "artifact runs arbitrary code)."
        )


def _relative_files(folder: Path, label: str) -> list[str]:
    names = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise IntegrityError(
                f"{label} holds a symbolic link, {path.relative_to(folder).as_posix()}: model "
                "artifacts are plain files, so it is refused."
            )
        if path.is_file():
            names.append(path.relative_to(folder).as_posix())
    return names


def _file_digests(folder: Path, label: str) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in _relative_files(folder, label)
    }


def load_registered_model(
    tracking_uri: str,
    model_uri: str,
    *,
    label: str,
    version: str,
    run_tags: Mapping[str, str],
    version_tags: Mapping[str, str],
    event_digest: str | None,
    work: Path,
    unpickle: bool = True,
) -> tuple[Any, ArtifactManifest]:
    """Download, verify and load a registered model: the one door for every loader.

    ``event_digest`` is the manifest digest the event log holds for the version (None when
    no event log is consulted). Returns the estimator (None when not ``unpickle``: verify
    only) and its verified manifest.

    Raises:
        IntegrityError: see :func:`require_trusted_digest` and :func:`load_verified_model`.
        TrackingError: the tracking store failed.
    """
    trusted = TrustedDigests(
        run_tag=run_tags.get(MANIFEST_SHA256_TAG, ""),
        version_tag=version_tags.get(MANIFEST_SHA256_TAG, ""),
        event_log=event_digest,
    )
    digest = require_trusted_digest(label, trusted, version)
    manifest = trusted_manifest(run_tags, digest, label)
    folder = _mlflow.download_model(tracking_uri, model_uri, work)
    if not unpickle:
        verified_model_bytes(folder, manifest, label)
        return None, manifest
    return load_verified_model(folder, manifest, label), manifest
