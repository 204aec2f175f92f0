"""What the router answers and counts: plain values, built by :mod:`._router`, read by the server.

A :class:`PredictResult` answers one request: one :class:`InstanceResult` per instance, in
the order the instances came, each naming the version that answered it, its cohort, and the
features and statuses that version received as they were logged. A :class:`ReloadResult` says
what one refresh did; :class:`RouterStats` counts what went wrong without failing a request.
None of them knows HTTP: ``tether.server`` turns them into response bodies and metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tether._names import Cohort
from tether._storage import JSONValue


@dataclass(frozen=True)
class InstanceResult:
    """The answer for one instance: its id, output, the version that answered, its cohort.

    ``fallback`` is True when the instance's cohort is the challenger's but the champion
    answered because the challenger failed or was too slow. ``features`` and ``statuses``
    are what the answering model received: each feature's value and its status (one of
    ``SERVED_STATUSES``), as logged. ``decision`` is the output at the answering version's
    own threshold (1 at or above it, else 0; None when that version has none).
    """

    instance_id: str
    output: JSONValue
    version: str
    cohort: Cohort
    fallback: bool = False
    features: Mapping[str, float | None] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)
    decision: int | None = None


@dataclass(frozen=True)
class PredictResult:
    """The answer to one request: one :class:`InstanceResult` per instance, in order."""

    request_id: str
    model: str
    event_id: int
    results: list[InstanceResult]


@dataclass(frozen=True)
class ReloadResult:
    """What :meth:`~tether.serving.Router.refresh` did, and the event id of the deployment
    served after it."""

    outcome: Literal["unchanged", "reloaded", "failed"]
    event_id: int
    error: str = ""


@dataclass
class RouterStats:
    """Counters of the things that went wrong without failing a request."""

    fallbacks: int = 0
    reloads: int = 0
    reload_failures: int = 0
    predictions_dropped: int = 0
