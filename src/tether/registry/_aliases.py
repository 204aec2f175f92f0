"""Champion, challenger and shadows: the transitions of one registered model.

The event log is authoritative: every transition is an event (time, actor, reason, the
aliases before and after) appended under the model's lock, so two transitions racing on
one model are serialized and neither acts on a stale state. The MLflow aliases follow the
log: each transition then sets and deletes MLflow aliases to match its ``after`` state,
and :meth:`ModelAliases.sync` repairs them from the log if they ever disagree (a crash
between the two writes, or someone editing aliases in the MLflow UI).

Aliases: ``champion`` answers by default; ``challenger`` answers a share of units;
``shadow-<version>`` sees a copy of traffic; ``previous-champion`` is what a rollback
returns to, so a rollback is always one alias change away. A version holds at most one
serving role: the champion's version cannot also be the challenger or a shadow, and a
challenger cannot also be a shadow (its traffic would be scored twice, and the shadow's
log would duplicate the challenger's). Versions are canonical (``01`` is ``1``, see
``tether/_versions.py``), so two spellings never make two roles of one version.

The event decides what happened. If MLflow cannot follow (it is down, or a version was
deleted), the transition still took effect: it returns an :class:`AppliedEvent` whose
``aliases_error`` says so, and ``tether models sync`` repairs MLflow later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tether import _mlflow
from tether._names import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, ROLES, SHADOW_PREFIX
from tether._uris import mask_uri
from tether._versions import canonical_version
from tether.errors import (
    RegistryError,
    TrackingError,
    TrackingNotFoundError,
    TransitionError,
    UnknownVersionError,
)
from tether.registry._events import AliasState, Event, EventLog
from tether.registry._integrity import MANIFEST_ACTIONS

if TYPE_CHECKING:
    from tether.lineage import HistoryEntry

DEFAULT_TRAFFIC = 0.05
SYNC_COMMAND = "tether models sync"

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppliedEvent(Event):
    """The event a transition appended, and whether MLflow's aliases followed it.

    ``aliases_error`` is empty when MLflow's aliases and tags match the event; otherwise
    it says what failed: the transition took effect (the event log is the authority) and
    ``tether models sync`` brings MLflow in step.
    """

    aliases_error: str = ""

    @property
    def aliases_stale(self) -> bool:
        """Whether MLflow's aliases lag behind this event until ``tether models sync``."""
        return bool(self.aliases_error)


@dataclass(frozen=True)
class ModelStatus:
    """A model's serving state, from the event log."""

    model: str
    aliases: Mapping[str, str]
    challenger_share: float
    experiment_id: str
    latest_event_id: int

    @property
    def shadows(self) -> list[str]:
        """The versions deployed as shadows."""
        return sorted(v for a, v in self.aliases.items() if a.startswith(SHADOW_PREFIX))


class ModelAliases:
    """Deploy, promote, roll back and retire versions of one registered model.

    Example::

        aliases = ModelAliases(EventLog("sqlite:///.tether/tether.db"), tracking_uri, "fraud")
        aliases.deploy("2", "challenger", traffic=0.1, actor="ana", reason="retrained on May")
        aliases.promote(actor="loop", reason="challenger won on loss per 1k transactions")
        aliases.rollback(actor="ana", reason="alert: precision fell after the promotion")
    """

    def __init__(self, log: EventLog, tracking_uri: str, model: str) -> None:
        self.log = log
        self.tracking_uri = tracking_uri
        self.model = model

    def deploy(
        self,
        version: str,
        role: str,
        *,
        actor: str,
        reason: str,
        traffic: float = DEFAULT_TRAFFIC,
    ) -> AppliedEvent:
        """Deploy ``version`` as a shadow, a challenger (with a traffic share) or the first
        champion."""
        if role not in ROLES:
            raise RegistryError(f"Role {role!r}: expected one of {', '.join(ROLES)}.")
        if role == CHALLENGER and not 0.0 < traffic <= 1.0:
            raise RegistryError(f"--traffic {traffic}: expected a share in (0, 1], e.g. 0.05.")
        version = canonical_version(version, self.model)
        self._require_version(version)
        with self.log.transition(self.model) as tx:
            after = dict(tx.state)
            _require_free_role(self.model, version, role, tx.state)
            if role == CHAMPION:
                if CHAMPION in tx.state:
                    raise TransitionError(
                        f"{self.model} has a champion ({tx.state[CHAMPION]}); deploy "
                        f"{version} as a challenger and promote it, so the change is measured."
                    )
                after[CHAMPION] = version
            elif role == CHALLENGER:
                if CHALLENGER in tx.state:
                    raise TransitionError(
                        f"{self.model} already has a challenger ({tx.state[CHALLENGER]}); "
                        "promote or retire it before deploying another."
                    )
                after[CHALLENGER] = version
            else:
                after[f"{SHADOW_PREFIX}{version}"] = version
            details = {"version": version, "role": role}
            if role == CHALLENGER:
                details["traffic"] = str(traffic)
            event = tx.append("deploy", actor=actor, reason=reason, after=after, details=details)
        return self._follow(event)

    def promote(
        self, *, actor: str, reason: str, evidence: Mapping[str, object] | None = None
    ) -> AppliedEvent:
        """Make the challenger the champion; the old champion becomes ``previous-champion``."""
        with self.log.transition(self.model) as tx:
            if CHALLENGER not in tx.state:
                raise TransitionError(f"{self.model} has no challenger to promote.")
            after = dict(tx.state)
            winner = after.pop(CHALLENGER)
            if CHAMPION in after:
                after[PREVIOUS_CHAMPION] = after[CHAMPION]
            after[CHAMPION] = winner
            after.pop(f"{SHADOW_PREFIX}{winner}", None)
            details = {
                "version": winner,
                "evidence": json.loads(json.dumps(evidence or {}, default=str)),
            }
            event = tx.append("promote", actor=actor, reason=reason, after=after, details=details)
        return self._follow(event)

    def rollback(self, *, actor: str, reason: str) -> AppliedEvent:
        """Put the previous champion back, in one step."""
        with self.log.transition(self.model) as tx:
            if PREVIOUS_CHAMPION not in tx.state:
                raise TransitionError(
                    f"{self.model} has no previous champion to roll back to (no promotion "
                    "since the first deployment, or a rollback already used it)."
                )
            after = dict(tx.state)
            demoted = after.get(CHAMPION, "")
            after[CHAMPION] = after.pop(PREVIOUS_CHAMPION)
            details = {"version": after[CHAMPION], "demoted": demoted}
            event = tx.append("rollback", actor=actor, reason=reason, after=after, details=details)
        return self._follow(event)

    def retire(self, version: str, *, actor: str, reason: str) -> AppliedEvent:
        """Remove every alias of ``version`` but the champion's."""
        version = canonical_version(version, self.model)
        with self.log.transition(self.model) as tx:
            held = sorted(a for a, v in tx.state.items() if v == version)
            if CHAMPION in held:
                raise TransitionError(
                    f"{self.model}/{version} is the champion; promote another version or roll "
                    "back before retiring it."
                )
            if not held:
                raise TransitionError(f"{self.model}/{version} holds no alias; nothing to retire.")
            after = {a: v for a, v in tx.state.items() if v != version}
            details = {"version": version, "aliases": ",".join(held)}
            event = tx.append("retire", actor=actor, reason=reason, after=after, details=details)
        return self._follow(event)

    def status(self) -> ModelStatus:
        """The model's aliases, challenger share and experiment id, from the event log."""
        events = self.log.events(self.model)
        state = events[-1].after if events else {}
        share, experiment = 0.0, ""
        challenger = state.get(CHALLENGER)
        for event in reversed(events):
            if (
                challenger is not None
                and event.action == "deploy"
                and event.details.get("role") == CHALLENGER
                and event.after.get(CHALLENGER) == challenger
            ):
                share, experiment = float(str(event.details["traffic"])), str(event.id)
                break
        return ModelStatus(
            model=self.model,
            aliases=dict(state),
            challenger_share=share,
            experiment_id=experiment,
            latest_event_id=events[-1].id if events else 0,
        )

    def sync(self) -> list[str]:
        """Make MLflow's aliases equal the event log's; return what was changed."""
        wanted = self.log.latest_state(self.model)
        found = _mlflow.get_aliases(self.tracking_uri, self.model)
        return self._apply(found, wanted)

    def _follow(self, event: Event) -> AppliedEvent:
        """Make MLflow follow a committed event; a failure is reported, not raised."""
        record = json.dumps(
            {"event": event.id, "action": event.action, "actor": event.actor,
             "reason": event.reason, "time": event.time.isoformat()}
        )  # fmt: skip
        try:
            self._apply(event.before, event.after)
            # Only the versions whose aliases this event changed: the tag on version 1 must
            # not name the event that deployed version 3.
            for version in sorted(changed_versions(event)):
                _mlflow.set_version_tag(
                    self.tracking_uri, self.model, version, "tether.last_transition", record
                )
        except TrackingError as exc:
            error = mask_uri(str(exc))
            _LOGGER.warning(
                "%s of %s took effect (event %d), but MLflow did not follow: %s; run `%s`",
                event.action, self.model, event.id, error, SYNC_COMMAND,
            )  # fmt: skip
            return _applied(event, error)
        return _applied(event, "")

    def _apply(self, found: AliasState, wanted: AliasState) -> list[str]:
        changes = []
        for alias in sorted(set(found) - set(wanted)):
            _mlflow.delete_alias(self.tracking_uri, self.model, alias)
            changes.append(f"deleted {alias}")
        for alias, version in sorted(wanted.items()):
            if found.get(alias) != version:
                _mlflow.set_alias(self.tracking_uri, self.model, alias, version)
                changes.append(f"{alias} -> {version}")
        return changes

    def _require_version(self, version: str) -> None:
        try:
            _mlflow.get_model_version(self.tracking_uri, self.model, version)
        except TrackingNotFoundError as exc:
            # The tracking error quotes the store's URI (a database path, a host): logged
            # masked for the operator, kept out of the message a client sees.
            _LOGGER.info("looking up %s/%s: %s", self.model, version, mask_uri(str(exc)))
            raise UnknownVersionError(
                f"{self.model}/{version} is not a version in the model registry; "
                "`tether train` registers versions, and the MLflow UI lists them."
            ) from exc


def _require_free_role(model: str, version: str, role: str, state: AliasState) -> None:
    """Refuse a role the version cannot hold alongside the ones it has."""
    held = sorted(a for a, v in state.items() if v == version and a != PREVIOUS_CHAMPION)
    if CHAMPION in held:
        raise TransitionError(
            f"{model}/{version} is the champion; it cannot also be deployed as {role} (an "
            "experiment would compare the champion with itself)."
        )
    if held:
        raise TransitionError(
            f"{model}/{version} is already deployed as {', '.join(held)}; a version holds one "
            f"serving role at a time. Retire it (`tether models retire {version}`) before "
            f"deploying it as {role}."
        )


def changed_versions(event: Event) -> set[str]:
    """The versions that gained or lost an alias in ``event``."""
    changed = {
        a for a in {*event.before, *event.after} if event.before.get(a) != event.after.get(a)
    }
    moved = {event.before.get(a) for a in changed} | {event.after.get(a) for a in changed}
    return {v for v in moved if v}


def _applied(event: Event, error: str) -> AppliedEvent:
    return AppliedEvent(
        event.id, event.time, event.model, event.action, event.actor, event.reason,
        event.before, event.after, event.details, event.wall_time, aliases_error=error,
    )  # fmt: skip


def version_history(log: EventLog, model: str, versions: set[str]) -> list[HistoryEntry]:
    """The transitions of ``model`` that gave or took an alias of one of ``versions``."""
    from tether.lineage import HistoryEntry  # pandas: only for an audit, never for status

    entries = []
    for event in log.events(model):
        moved = changed_versions(event)
        if event.action in MANIFEST_ACTIONS:
            moved = {str(event.details.get("version", ""))}
        if moved & versions:
            after = ", ".join(f"{a}={v}" for a, v in sorted(event.after.items())) or "(none)"
            entries.append(
                HistoryEntry(event.id, event.time.isoformat(), event.action, event.actor,
                             event.reason, after)
            )  # fmt: skip
    return entries
