"""Redaction settings: keyed hashes that an auditor can recompute, and refused configurations."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tether.errors import ConfigError
from tether.serving._redaction import Redaction


def _hmac(salt: str, message: str) -> str:
    return hmac.new(salt.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_strings_hash_as_their_bytes_and_other_values_as_their_json() -> None:
    redaction = Redaction(hash=["customer_id", "zip", "tags"], salt="s")
    features = {"customer_id": "c-1", "zip": 75001, "tags": {"b": 1, "a": 2}, "amount": 3.5}

    assert redaction.features(features) == {
        "customer_id": _hmac("s", "c-1"),
        "zip": _hmac("s", "75001"),
        "tags": _hmac("s", '{"a":2,"b":1}'),
        "amount": 3.5,
    }


def test_null_stays_null_and_an_inactive_redaction_changes_nothing() -> None:
    assert Redaction(hash=["customer_id"], salt="s").features({"customer_id": None}) == {
        "customer_id": None
    }
    assert not Redaction().active
    assert Redaction().unit_id("u-1") == "u-1"
    assert Redaction(hash=["unit_id"], salt="s").unit_id("u-1") == _hmac("s", "u-1")
    assert Redaction(drop=["unit_id"]).unit_id("u-1") is None


def test_hashing_without_a_salt_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs a salt"):
        Redaction(hash=["customer_id"])


def test_a_key_both_hashed_and_dropped_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\['email'\] are both hashed and dropped"):
        Redaction(hash=["email"], drop=["email"], salt="s")


def test_a_dropped_feature_loses_its_status_and_a_hashed_one_keeps_it() -> None:
    redaction = Redaction(hash=["customer_id"], drop=["email"], salt="s")
    statuses = {"customer_id": "request", "email": "request", "n_1d": "stale"}
    assert redaction.statuses(statuses) == {"customer_id": "request", "n_1d": "stale"}
    assert statuses["email"] == "request"  # a copy: the served statuses are not changed
