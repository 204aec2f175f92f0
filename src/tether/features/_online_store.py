"""The contract of an online store: event versions per view namespace, and watermarks.

What ``SQLiteOnlineStore`` and ``RedisOnlineStore`` implement, and all that
:class:`~tether.features.OnlineFeatureStore` asks of a backend; the tests every backend
must pass are ``tests/features/test_online_contract.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from tether.features._online_rows import StoredVersion

__all__ = ["OnlineStore"]


class OnlineStore(ABC):
    """Where online features live: a set of event versions per view namespace, and watermarks.

    A store knows nothing of features: it keeps :class:`StoredVersion` rows, indexed so that
    one read returns every version of every event an entity was ever the key of. All methods
    raise :class:`~tether.errors.StoreUnavailableError` (naming :attr:`url`) when the store
    cannot be reached. Implementations: ``SQLiteOnlineStore``, ``RedisOnlineStore``; the
    contract every one must meet is ``tests/features/test_online_contract.py``.
    """

    url: str
    """Where the store is (a path or a URL without password), for messages."""

    @abstractmethod
    def write(self, namespace: str, versions: Sequence[StoredVersion]) -> int:
        """Add ``versions`` atomically; a version already stored is left as it is.

        Returns how many of ``versions`` the store did not hold before (a version given
        twice counts once). Afterwards, :meth:`read` of any entity that was ever the key of a
        version of an event returns every version of that event, including versions under
        another key.
        """

    @abstractmethod
    def read(
        self, namespace: str, entities: Sequence[str], since_us: int
    ) -> list[list[str] | None]:
        """Return, per entity, the rows of every version of every event it was ever key of,
        leaving out the events none of whose versions has an event time at or after
        ``since_us`` (they cannot feed a window at the request time).

        None means the store holds no event of that entity at all, however old; an empty list,
        that it holds only older ones. Order is unspecified.
        """

    @abstractmethod
    def watermark(self, namespace: str) -> int | None:
        """The created time (microseconds) up to which the namespace is materialized."""

    @abstractmethod
    def set_watermark(self, namespace: str, created_us: int) -> None:
        """Record a materialization up to ``created_us``; the watermark never moves back."""

    @abstractmethod
    def compact(self, namespace: str, before_us: int) -> int:
        """Delete every event whose versions all have an event time before ``before_us``.

        Returns how many events were deleted.
        """

    @abstractmethod
    def clear(self) -> None:
        """Delete everything this store holds (every namespace, every watermark)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
