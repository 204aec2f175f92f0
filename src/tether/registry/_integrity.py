"""The registry's copy of each version's artifact manifest digest, and ``models verify``.

``tether train`` appends a ``register`` event per new version with the digest of its
artifact manifest (``lineage/_artifacts.py``); the server compares that digest with the
run's and the version's tags before it loads anything, so rewriting a tag or an artifact
alone is not enough to get a model loaded. A version registered before manifests existed
has neither: :func:`verify_version` with ``trust=True`` is the explicit, recorded step a
person takes to accept its files as they are now (a ``trust`` event naming the actor, the
reason and the digest, and the tags set to match). Without ``trust`` it only verifies.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tether import _mlflow
from tether._clock import Clock
from tether._storage import JSONValue
from tether._versions import canonical_version
from tether.errors import IntegrityError, RegistryError
from tether.registry._events import EventLog

REGISTER = "register"
"""The action of the event ``tether train`` appends for a new version."""
TRUST = "trust"
"""The action of the event ``tether models verify VERSION --trust`` appends."""
MANIFEST_ACTIONS = (REGISTER, TRUST)


def record_registration(
    store_url: str,
    model: str,
    version: str,
    *,
    actor: str,
    reason: str,
    details: Mapping[str, JSONValue],
    clock: Clock | None = None,
) -> None:
    """Append a ``register`` event (aliases unchanged) to the event log in the store at
    ``store_url`` (``[store] url``), stamped with ``clock``'s time (the wall clock's by
    default)."""
    log = EventLog(store_url, clock=clock)
    try:
        _append_manifest_event(log, model, REGISTER, version, actor, reason, details)
    finally:
        log.close()


def registered_digest(log: EventLog, model: str, version: str) -> str:
    """The manifest digest of the latest ``register`` or ``trust`` event of the version."""
    for event in reversed(log.events(model)):
        if event.action in MANIFEST_ACTIONS and event.details.get("version") == version:
            return str(event.details.get("manifest_sha256", ""))
    return ""


@dataclass(frozen=True)
class VerifyReport:
    """What ``tether models verify`` found, and what it recorded."""

    model: str
    version: str
    verified: bool
    detail: str
    manifest_sha256: str
    trusted_event: int | None = None


# tether.lineage (pandas, numpy: about a second) is imported by the functions that verify
# files, so that `tether models status`, which reads only the event log, never pays for it.


def verify_version(
    log: EventLog,
    tracking_uri: str,
    model: str,
    version: str,
    *,
    trust: bool = False,
    actor: str = "",
    reason: str = "",
) -> VerifyReport:
    """Verify ``model/version``'s files against its manifest; with ``trust``, record them.

    ``trust`` computes the manifest of the files as they are now, appends a ``trust`` event
    (actor, reason, digest) and sets the run's and version's tags to it: a person's explicit
    decision, after which the version loads. Nothing is unpickled to compute it.

    Raises:
        RegistryError: ``trust`` without an actor or reason, or an invalid version.
        TrackingError: the tracking store failed or has no such version.
    """
    from tether.lineage import load_registered_model

    version = canonical_version(version, model)
    info = _mlflow.get_model_version(tracking_uri, model, version)
    label = f"{model}/{version}"
    if trust:
        if not actor.strip() or not reason.strip():
            raise RegistryError(
                f"Trusting {label} is recorded: give --reason (and --actor, default the "
                "current user)."
            )
        return _trust(log, tracking_uri, info, actor, reason)
    run = _mlflow.get_run(tracking_uri, info.run_id)
    with tempfile.TemporaryDirectory(prefix="tether-verify-") as scratch:
        try:
            _, manifest = load_registered_model(
                tracking_uri, info.source, label=label, version=version, run_tags=run.tags,
                version_tags=info.tags, event_digest=registered_digest(log, model, version),
                work=Path(scratch), unpickle=False,
            )  # fmt: skip
        except IntegrityError as exc:
            return VerifyReport(model, version, False, str(exc), "")
    detail = f"all {len(manifest.files)} files match the manifest recorded at registration"
    return VerifyReport(model, version, True, detail, manifest.sha256)


def _trust(
    log: EventLog, tracking_uri: str, info: _mlflow.ModelVersionInfo, actor: str, reason: str
) -> VerifyReport:
    from tether.lineage import MANIFEST_SHA256_TAG, MANIFEST_TAG, manifest_of

    with tempfile.TemporaryDirectory(prefix="tether-trust-") as scratch:
        folder = _mlflow.download_model(tracking_uri, info.source, Path(scratch))
        manifest = manifest_of(folder, _mlflow.MODEL_FILE)
    details: dict[str, JSONValue] = {
        "run_id": info.run_id,
        "manifest_sha256": manifest.sha256,
        "model_file": manifest.model_file,
    }
    event = _append_manifest_event(log, info.name, TRUST, info.version, actor, reason, details)
    _mlflow.set_run_tag(tracking_uri, info.run_id, MANIFEST_TAG, manifest.to_json())
    _mlflow.set_run_tag(tracking_uri, info.run_id, MANIFEST_SHA256_TAG, manifest.sha256)
    _mlflow.set_version_tag(tracking_uri, info.name, info.version, MANIFEST_SHA256_TAG,
                            manifest.sha256)  # fmt: skip
    detail = (
        f"trusted {len(manifest.files)} files as they are now (event {event}); "
        f"{info.name}/{info.version} now loads"
    )
    return VerifyReport(info.name, info.version, True, detail, manifest.sha256, event)


def _append_manifest_event(
    log: EventLog,
    model: str,
    action: str,
    version: str,
    actor: str,
    reason: str,
    details: Mapping[str, JSONValue],
) -> int:
    with log.transition(model) as tx:
        event = tx.append(
            action,
            actor=actor,
            reason=reason,
            after=tx.state,  # registering or trusting a version changes no alias
            details={"version": version, **details},
        )
    return event.id
