"""What the prediction server serves: loaded models in their roles, and where they come from.

A :class:`Deployment` is an immutable snapshot of one registered model's serving state:
the champion, at most one challenger with its traffic share and experiment id, and any
shadows. The router holds one deployment and swaps the whole object when the registry
changes, so a request sees either the old state or the new one, never a mix, and never
a half-loaded model (models are loaded before the deployment that names them is built).

A deployment may be *degraded*: a challenger or shadow the registry names but that could not
be loaded (its version deleted, its files refused by the integrity check, its download
failed) is left out, so the champion keeps serving, and ``dropped`` says what was left out
and why (``/readyz`` reports it). Without a champion there is no deployment at all.

A :class:`DeploymentSource` produces deployments: the registry implements it from the
authoritative event log; tests implement it in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ServedModel:
    """One loaded, verified model version.

    ``model`` is the fitted estimator (scikit-learn API: ``predict_proba`` for a
    classifier, else ``predict``); ``features`` are its input columns in order;
    ``feature_version`` is the digest of the feature definitions it was trained on
    (empty when it was trained on a plain frame); ``threshold`` is the decision threshold its
    run chose (a score at or above it decides 1), None when the run recorded none (a
    regressor, or a run trained before tether chose thresholds): its decisions are null.
    """

    name: str
    version: str
    model: Any
    features: tuple[str, ...]
    sha256: str
    run_id: str = ""
    feature_version: str = ""
    threshold: float | None = None


@dataclass(frozen=True)
class Deployment:
    """The serving state of one registered model at one point of the event log."""

    model_name: str
    champion: ServedModel
    challenger: ServedModel | None = None
    challenger_share: float = 0.0
    experiment_id: str = ""
    shadows: tuple[ServedModel, ...] = field(default_factory=tuple)
    event_id: int = 0
    dropped: tuple[str, ...] = field(default_factory=tuple)
    """Why each challenger or shadow the registry names is not served, e.g.
    ``"challenger 4: ..."``; empty when everything named is served."""

    def models(self) -> Sequence[ServedModel]:
        """Every model this deployment serves, champion first."""
        extra = [self.challenger] if self.challenger is not None else []
        return [self.champion, *extra, *self.shadows]


class DeploymentSource(Protocol):
    """Where the server gets its deployment from (the registry, in production)."""

    def latest_event_id(self) -> int:
        """The id of the newest registry event for the served model (cheap to call)."""
        ...

    def load(self) -> Deployment:
        """Build the current deployment, loading and verifying every model it names."""
        ...


def describe_deployment(deployment: Deployment) -> str:
    """``fraud-detector champion 1, challenger 2 at 10.0% (experiment 7), shadow 3 (event 9)``."""
    parts = [f"{deployment.model_name} champion {deployment.champion.version}"]
    if deployment.challenger is not None:
        parts.append(
            f"challenger {deployment.challenger.version} at {deployment.challenger_share:.1%} "
            f"(experiment {deployment.experiment_id})"
        )
    parts.extend(f"shadow {shadow.version}" for shadow in deployment.shadows)
    return ", ".join(parts) + f" (event {deployment.event_id})"
