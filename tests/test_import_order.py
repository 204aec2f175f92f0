"""The order in which tether's packages may import each other, checked over every import.

A package may import those to its left (and the shared core: ``tether.config``,
``tether.errors`` and the root's private seams such as ``tether._mlflow``), through their
public names only: never another package's private module (``tether.lineage._code`` from
``tether.examples``). The order and why are in docs/decisions.md ("Issue 9: one project
seam"). Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import tether

ORDER = (
    "features",
    "lineage",
    "registry",
    "serving",
    "monitoring",
    "loop",
    "examples",
    "project",
    "dashboard",
    "server",
    "cli",
)
"""Left to right: each package may import the ones before it. The fronts come last: the
server serves the dashboard's pages, and ``tether serve`` runs the server."""

AGAINST_THE_FLOW = {("lineage", "registry")}
"""The one import against the order, inside a function: ``train_project`` appends the
``register`` event (the manifest digest) to the registry's event log, since registering a
version is part of training (see ``lineage/_train.py``, ``_record_registration``)."""

CORE = {"config", "errors", "__main__"}
"""Modules every package may import; the root's private modules (``_mlflow``...) too."""

SOURCE = Path(tether.__file__).parent


def _rank() -> dict[str, int]:
    ranks: dict[str, int] = {}
    for position, entry in enumerate(ORDER):
        for name in (entry,) if isinstance(entry, str) else entry:
            ranks[name] = position
    return ranks


RANK = _rank()


def _package(module: str) -> str:
    """``tether.lineage._code`` -> ``lineage``; ``tether._mlflow`` -> ``_mlflow``."""
    return module.split(".")[1] if module.count(".") else ""


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            # ``from tether import _mlflow`` names a module through its parent.
            if node.module == "tether":
                yield from ((node.lineno, f"tether.{alias.name}") for alias in node.names)


def _violations() -> list[str]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE.parent).with_suffix("")
        importer = ".".join(relative.parts)
        home = _package(importer) if len(relative.parts) > 2 else relative.parts[-1]
        for line, module in _imports(path):
            if not module.startswith("tether.") or module == "tether":
                continue
            target = _package(module)
            where = f"{path.relative_to(SOURCE.parent)}:{line} imports {module}"
            if target == home or target in CORE or target.startswith("_"):
                continue
            if any(part.startswith("_") for part in module.split(".")[2:]):
                found.append(f"{where}: a private module of another package")
            elif (home, target) in AGAINST_THE_FLOW:
                continue
            elif home in RANK and target in RANK and RANK[target] >= RANK[home]:
                found.append(f"{where}: {target} is not to the left of {home}")
            elif target not in RANK:
                found.append(f"{where}: {target} has no place in ORDER")
    return found


def test_packages_import_only_to_their_left_and_only_public_names() -> None:
    assert _violations() == []


def test_every_package_has_a_place_in_the_order() -> None:
    packages = {p.name for p in SOURCE.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in SOURCE.glob("*.py") if not p.stem.startswith("_")}
    assert packages | modules <= set(RANK) | CORE


@pytest.mark.parametrize(
    ("importer", "statement", "reason"),
    [
        ("registry/_x.py", "from tether.serving import Router", "not to the left"),
        ("cli/_x.py", "from tether.lineage._code import inspect_code", "a private module"),
        ("features/_x.py", "from tether.project import Project", "not to the left"),
    ],
)
def test_the_check_finds_what_it_forbids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importer: str, statement: str, reason: str
) -> None:
    root = tmp_path / "tether"
    (root / importer).parent.mkdir(parents=True)
    (root / importer).write_text(statement + "\n")
    monkeypatch.setattr(__import__(__name__), "SOURCE", root)
    assert [v for v in _violations() if reason in v]
