"""The registry as the prediction server's source of deployments."""

from __future__ import annotations

import threading

from tether.errors import RegistryError
from tether.registry._aliases import CHALLENGER, CHAMPION, ModelAliases
from tether.registry._loading import load_version
from tether.serving._deployment import Deployment, ServedModel


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
        challenger_version = status.aliases.get(CHALLENGER)
        shadows = tuple(self._model(v) for v in status.shadows)
        return Deployment(
            model_name=status.model,
            champion=champion,
            challenger=self._model(challenger_version) if challenger_version else None,
            challenger_share=status.challenger_share,
            experiment_id=status.experiment_id,
            shadows=shadows,
            event_id=status.latest_event_id,
        )

    def _model(self, version: str) -> ServedModel:
        with self._lock:
            if version not in self._loaded:
                self._loaded[version] = load_version(
                    self._aliases.tracking_uri,
                    self._aliases.model,
                    version,
                    served_feature_version=self._feature_version,
                    feature_mismatch=self._mismatch,
                )
            return self._loaded[version]
