"""The registry as the prediction server's source of deployments.

The champion is loaded strictly: without it nothing can be served, so a failure raises and
the server stays not ready (or keeps its previous deployment). A challenger or shadow that
cannot be loaded (a deleted version, an integrity refusal, a failed download) is dropped
from routing, logged as an error, and named in :attr:`Deployment.dropped`: an experiment
that cannot run must not take the champion's traffic down with it. A dropped version is
tried again at the next registry event.
"""

from __future__ import annotations

import logging
import threading

from tether._names import CHALLENGER, CHAMPION, SHADOW
from tether._uris import mask_uri
from tether.errors import RegistryError, TetherError
from tether.registry import ModelAliases
from tether.serving._deployment import Deployment, ServedModel
from tether.serving._loading import load_version

_LOGGER = logging.getLogger(__name__)


class RegistryDeploymentSource:
    """Builds :class:`Deployment` objects from the event log, loading verified models.

    A version is downloaded, verified and loaded once per process and then reused, so a
    reload after an alias change loads only the version that is new.
    """

    def __init__(
        self,
        aliases: ModelAliases,
        *,
        served_feature_version: str = "",
        feature_mismatch: str = "refuse",
    ) -> None:
        self._aliases = aliases
        self._feature_version = served_feature_version
        self._mismatch = feature_mismatch
        self._loaded: dict[str, ServedModel] = {}
        self._lock = threading.Lock()
        self._seen = 0

    def latest_event_id(self) -> int:
        """The newest event id of the model (reads only events after the last one seen)."""
        newer = self._aliases.log.events(self._aliases.model, since_id=self._seen)
        if newer:
            self._seen = newer[-1].id
        return self._seen

    def load(self) -> Deployment:
        """The deployment the event log describes now, every model loaded and verified."""
        status = self._aliases.status()
        if CHAMPION not in status.aliases:
            raise RegistryError(
                f"{status.model} has no champion: deploy one with `tether models deploy "
                "VERSION --as champion` before serving."
            )
        champion = self._model(status.aliases[CHAMPION])
        dropped: list[str] = []
        challenger_version = status.aliases.get(CHALLENGER)
        challenger = None
        if challenger_version:
            challenger = self._optional(CHALLENGER, challenger_version, dropped)
        shadows = [self._optional(SHADOW, v, dropped) for v in status.shadows]
        return Deployment(
            model_name=status.model,
            champion=champion,
            challenger=challenger,
            challenger_share=status.challenger_share if challenger is not None else 0.0,
            experiment_id=status.experiment_id if challenger is not None else "",
            shadows=tuple(s for s in shadows if s is not None),
            event_id=status.latest_event_id,
            dropped=tuple(dropped),
        )

    def _optional(self, role: str, version: str, dropped: list[str]) -> ServedModel | None:
        try:
            return self._model(version)
        except TetherError as exc:
            reason = mask_uri(f"{role} {self._aliases.model}/{version} is not served: {exc}")
            _LOGGER.error("%s (the champion keeps serving)", reason)
            dropped.append(reason)
            return None

    def _model(self, version: str) -> ServedModel:
        with self._lock:
            if version not in self._loaded:
                self._loaded[version] = load_version(
                    self._aliases.tracking_uri,
                    self._aliases.model,
                    version,
                    events=self._aliases.log,
                    served_feature_version=self._feature_version,
                    feature_mismatch=self._mismatch,
                )
            return self._loaded[version]
