"""The online feature store as the server's :class:`FeatureLookup`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from tether.features import OnlineFeatureStore
from tether.serving._features import FeatureRow, FeatureValue


class OnlineLookup:
    """Features of request entities from an :class:`OnlineFeatureStore`, at each request's time.

    Instances of one request may carry different event times (a replay); the store answers
    one time per call, so instances are grouped by time. Each value keeps the status the
    store gave it (``FeatureVector.statuses``), as plain text.
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
        by_time: dict[datetime, list[int]] = defaultdict(list)
        for index, moment in enumerate(at):
            by_time[moment].append(index)
        rows: list[FeatureRow] = [_EMPTY for _ in entities]
        for moment, indexes in by_time.items():
            vectors = self._online.get_online_features(
                [entities[i] for i in indexes], [request_data[i] for i in indexes], at=moment
            )
            for index, vector in zip(indexes, vectors, strict=True):
                values = {name: _plain(value) for name, value in vector.values.items()}
                statuses = {name: status.value for name, status in vector.statuses.items()}
                rows[index] = FeatureRow(values, statuses)
        return rows

    def ping(self) -> None:
        """Read a watermark: raises StoreUnavailableError when the store is down."""
        if not self._online.views:
            return  # request views only: computed from the request, no store to reach
        view = self._online.views[0]
        self._online.store.watermark(self._online.namespace(view))


_EMPTY = FeatureRow({}, {})


def _plain(value: object) -> FeatureValue:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
