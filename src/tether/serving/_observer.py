"""What the router, the shadow worker and the prediction log report as they work, for metrics.

The serving code knows nothing of Prometheus: it calls a :class:`ServingObserver` at each
event, and the server implements the observer with its metrics (``tether.server``). The
calls happen on the request path or in the shadow worker, so an implementation must be
cheap (an increment) and must not raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, TypeAlias

from tether._names import Role

ModelRole: TypeAlias = Role
"""The role a model played in a call: answered for a cohort, or shadowed."""
FallbackReason: TypeAlias = Literal["error", "timeout"]
"""Why the champion answered for a challenger: the challenger raised, or was too slow."""


class ServingObserver(Protocol):
    """Receives the router's and the shadow worker's events (see :class:`NullObserver`)."""

    def model_called(self, version: str, role: ModelRole, seconds: float, instances: int) -> None:
        """A model answered ``instances`` instances in ``seconds``."""
        ...

    def model_failed(self, version: str, role: ModelRole) -> None:
        """A model raised (or, for a challenger, exceeded its timeout)."""
        ...

    def fallback(self, version: str, reason: FallbackReason, instances: int) -> None:
        """The champion answered ``instances`` instances for challenger ``version``."""
        ...

    def features_served(self, model: str, counts: Mapping[tuple[str, str], int]) -> None:
        """A request of ``model`` was assembled: ``counts[(feature, status)]`` of its
        instances had ``feature`` with ``status`` (one of ``SERVED_STATUSES``)."""
        ...

    def shadow_queued(self, depth: int) -> None:
        """A shadow job was queued or taken; ``depth`` jobs are waiting now."""
        ...

    def shadow_dropped(self, version: str) -> None:
        """The shadow queue was full: shadow ``version`` skipped a request."""
        ...

    def prediction_dropped(self) -> None:
        """The prediction log's queue was full: one prediction was not logged."""
        ...

    def predictions_logged(self, inserted: int, retries: int, rejected: int) -> None:
        """The prediction log committed a batch: ``inserted`` rows stored, ``retries`` not
        stored as the same prediction was already, ``rejected`` not storable (logged)."""
        ...

    def reloaded(self, succeeded: bool, event_id: int) -> None:
        """A deployment reload finished; ``event_id`` is the one being served now."""
        ...


class NullObserver:
    """An observer that ignores every event (the default)."""

    def model_called(self, version: str, role: ModelRole, seconds: float, instances: int) -> None:
        """Ignore the event."""

    def model_failed(self, version: str, role: ModelRole) -> None:
        """Ignore the event."""

    def fallback(self, version: str, reason: FallbackReason, instances: int) -> None:
        """Ignore the event."""

    def features_served(self, model: str, counts: Mapping[tuple[str, str], int]) -> None:
        """Ignore the event."""

    def shadow_queued(self, depth: int) -> None:
        """Ignore the event."""

    def shadow_dropped(self, version: str) -> None:
        """Ignore the event."""

    def prediction_dropped(self) -> None:
        """Ignore the event."""

    def predictions_logged(self, inserted: int, retries: int, rejected: int) -> None:
        """Ignore the event."""

    def reloaded(self, succeeded: bool, event_id: int) -> None:
        """Ignore the event."""
