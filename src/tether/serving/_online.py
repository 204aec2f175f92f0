"""The online feature store as the server's :class:`FeatureLookup`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from tether.features import OnlineFeatureStore
from tether.serving._features import FeatureRow, FeatureValue


class OnlineLookup:
    """Features of request entities from an :class:`OnlineFeatureStore`, at each request's time.

    Instances of one request may carry different event times (a replay): the store takes one
    time per instance in a single call, so a batch of a thousand costs one store read per
    view (it cost one per distinct time, that is per instance, before). Each value keeps the
    status the store gave it (``FeatureVector.statuses``), as plain text.
    """

    def __init__(self, online: OnlineFeatureStore) -> None:
        self._online = online

    def lookup(
        self,
        entities: Sequence[Mapping[str, str]],
        request_data: Sequence[Mapping[str, FeatureValue]],
        at: Sequence[datetime],
    ) -> list[FeatureRow]:
        """One feature row per instance, computed as of its own time."""
        vectors = self._online.get_online_features(entities, request_data, at=list(at))
        return [
            FeatureRow(
                {name: _plain(value) for name, value in vector.values.items()},
                {name: status.value for name, status in vector.statuses.items()},
            )
            for vector in vectors
        ]

    def ping(self) -> None:
        """Read a watermark: raises StoreUnavailableError when the store is down."""
        if not self._online.views:
            return  # request views only: computed from the request, no store to reach
        view = self._online.views[0]
        self._online.store.watermark(self._online.namespace(view))


def _plain(value: object) -> FeatureValue:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
