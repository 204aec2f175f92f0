"""The words several packages share: the roles a model version serves in, and its tags.

One home, so that the registry (which writes aliases), serving (which routes and logs by
role), the server (which validates a deploy's role) and the CLI spell each word once. The
role names are MLflow alias names too: ``champion`` and ``challenger`` as they are,
shadows as ``shadow-<version>``.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

Role: TypeAlias = Literal["champion", "challenger", "shadow"]
"""The part a version plays: answers by default, answers a share of units, or shadows."""
Cohort: TypeAlias = Literal["champion", "challenger"]
"""The cohort a unit is assigned to: the champion's or the challenger's."""

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
SHADOW: Final = "shadow"
ROLES: Final[tuple[Role, ...]] = (SHADOW, CHALLENGER, CHAMPION)
"""Every role, in the order a version usually takes them (messages list them so)."""
PREVIOUS_CHAMPION: Final = "previous-champion"
"""The alias a rollback returns to."""
SHADOW_PREFIX: Final = "shadow-"
"""A shadow's alias is this prefix and its version: ``shadow-4``."""

MODEL_SHA256_TAG: Final = "tether.model.sha256"
"""The run tag holding the sha256 of the trained model file."""
