"""Every package's public surface is exactly its sorted ``__all__`` (as httpx checks its own)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "tether",
    "tether.cli",
    "tether.dashboard",
    "tether.features",
    "tether.lineage",
    "tether.monitoring",
    "tether.registry",
    "tether.server",
    "tether.serving",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_every_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    # Sorted as ruff's RUF022 sorts: CONSTANTS, then Classes, then functions.
    expected = sorted(exported, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    assert exported == expected, f"{name}.__all__ is not sorted"
    for member in exported:
        assert hasattr(module, member), f"{name}.{member} is in __all__ but missing"


@pytest.mark.parametrize("name", PACKAGES)
def test_no_public_name_escapes_all(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", name).startswith("tether")
        and not isinstance(v, type(importlib))
    }  # fmt: skip
    assert public <= set(module.__all__), f"{name} exposes {public - set(module.__all__)}"
