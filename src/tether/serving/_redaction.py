"""Redaction: personal data hashed or dropped before a prediction is written.

The prediction log keeps the feature vector as served, so that skew audits and monitoring see
what the model saw; but a feature such as ``customer_id`` or ``email`` must not sit in a log
kept for months. A :class:`Redaction` names, per key, what to do:

- ``hash``: replace the value by ``HMAC-SHA256(salt, value)``, 64 hex characters. The same value
  always gives the same hash (for one salt), so rows of one customer still group together and
  join with another table redacted with the same salt, but the value cannot be read back, nor
  found by hashing guesses without the salt. A ``str`` is hashed as its UTF-8 bytes; any other
  value as its JSON text (``42`` as ``b"42"``). HMAC rather than ``sha256(salt + value)``: it is
  the standard keyed hash, computable with ``openssl dgst -sha256 -hmac SALT``.
- ``drop``: remove the key from the feature vector.

The names apply to the keys of the feature vector, of the instance's entity keys and of its
request data (one name means one column wherever it appears), and to the prediction's
``unit_id`` (named ``"unit_id"``): hashing it keeps sticky-cohort analysis possible; dropping
it stores NULL. A dropped feature's status goes too, so a dropped column leaves no trace.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tether._storage import JSONValue, dump_json
from tether.errors import ConfigError

UNIT_ID = "unit_id"
"""The name that redacts a prediction's unit id."""


@dataclass(frozen=True, init=False)
class Redaction:
    """Which keys to hash and which to drop before a prediction is written.

    >>> redaction = Redaction(hash=["customer_id", "unit_id"], drop=["email"], salt="s3cret")
    >>> redaction.features({"customer_id": "c-1", "email": "a@b.c", "amount": 9.5})["amount"]
    9.5

    Raises:
        ConfigError: a key is both hashed and dropped, or keys are hashed without a salt.
    """

    hash: frozenset[str]
    drop: frozenset[str]
    salt: str

    def __init__(
        self, *, hash: Iterable[str] = (), drop: Iterable[str] = (), salt: str = ""
    ) -> None:
        hashed, dropped = frozenset(hash), frozenset(drop)
        if both := sorted(hashed & dropped):
            raise ConfigError(f"Redaction: {both} are both hashed and dropped; choose one each.")
        if hashed and not salt:
            raise ConfigError(
                f"Redaction: hashing {sorted(hashed)} needs a salt; without one, an id can be "
                "recovered by hashing candidate values. Configure a secret salt."
            )
        object.__setattr__(self, "hash", hashed)
        object.__setattr__(self, "drop", dropped)
        object.__setattr__(self, "salt", salt)

    @property
    def active(self) -> bool:
        """Whether anything is redacted at all."""
        return bool(self.hash or self.drop)

    def features(self, features: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
        """A copy of ``features`` with hashed keys hashed (null stays null) and dropped keys
        removed."""
        return {
            key: self.digest(value) if key in self.hash and value is not None else value
            for key, value in features.items()
            if key not in self.drop
        }

    def statuses(self, statuses: Mapping[str, str]) -> dict[str, str]:
        """A copy of ``statuses`` without the dropped keys (a status is no personal value,
        so a hashed key keeps its status)."""
        return {key: status for key, status in statuses.items() if key not in self.drop}

    def unit_id(self, unit_id: str | None) -> str | None:
        """``unit_id`` as it may be written: itself, its hash, or None when dropped."""
        if unit_id is None or UNIT_ID in self.drop:
            return None
        return self.digest(unit_id) if UNIT_ID in self.hash else unit_id

    def digest(self, value: JSONValue) -> str:
        """The hex HMAC-SHA256 of ``value`` under the salt (see the module docstring)."""
        message = value if isinstance(value, str) else dump_json(value, canonical=True)
        return hmac.new(self.salt.encode(), message.encode(), hashlib.sha256).hexdigest()
