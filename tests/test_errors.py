"""The error tree: one module defines every exception class, and its docstring draws them all."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
from pathlib import Path

import pytest

import tether
from test_exported_members import PACKAGES
from tether import errors

SOURCES = Path(tether.__file__).parent

# An HTTP response in exception form (status, code, headers), raised by the server's own
# endpoints: it belongs to the HTTP front, and errors.py must not know HTTP.
HTTP_FRONT_EXCEPTIONS = {("server/_errors.py", "ApiError")}


def _error_classes() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException | Warning)
        and value.__module__ == errors.__name__
    }


def _drawn_tree() -> dict[str, int]:
    """Class name -> depth, read from the box drawing of the module docstring."""
    depths: dict[str, int] = {}
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^    ((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+(?:Error|Warning))\b", line)
        if match:
            prefix = match.group(1)
            drawn = 0 if not line.strip().startswith(("├", "└", "│")) else len(prefix) // 4 + 1
            depths[match.group(2)] = drawn
    return depths


def test_every_error_class_has_a_docstring_and_ends_in_error() -> None:
    for name, cls in _error_classes().items():
        assert cls.__doc__ and cls.__doc__.strip(), f"{name} has no docstring"
        assert name.endswith(("Error", "Warning")), name


def test_the_drawn_tree_is_exactly_the_classes_with_their_parents() -> None:
    classes = _error_classes()
    drawn = _drawn_tree()
    assert set(drawn) == set(classes), (
        f"drawn but not defined: {set(drawn) - set(classes)}; "
        f"defined but not drawn: {set(classes) - set(drawn)}"
    )
    # The parent in the drawing is the nearest line above at one level less: the class's base.
    lines = [name for name in drawn]
    for index, name in enumerate(lines):
        depth = drawn[name]
        if depth == 0:
            continue
        parent = next(n for n in reversed(lines[:index]) if drawn[n] == depth - 1)
        assert classes[name].__bases__ == (classes[parent],), f"{name} is drawn under {parent}"


def test_every_error_is_reachable_from_tether_error() -> None:
    for name, cls in _error_classes().items():
        if issubclass(cls, Warning):
            continue
        assert issubclass(cls, errors.TetherError), f"{name} is not a TetherError"


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    known = {name for name in dir(builtins) if name.endswith(("Error", "Exception", "Warning"))}
    known |= {"Exception", "BaseException"} | set(_error_classes())
    found = []
    for path in sorted(SOURCES.rglob("*.py")):
        relative = path.relative_to(SOURCES).as_posix()
        if relative == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {ast.unparse(base).rpartition(".")[2] for base in node.bases}
            exceptional = bases & known or node.name.endswith(("Error", "Exception"))
            if exceptional and (relative, node.name) not in HTTP_FRONT_EXCEPTIONS:
                found.append(f"{relative}:{node.lineno} {node.name}")
    assert found == [], f"exception classes outside tether/errors.py: {found}"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_error_is_the_errors_module_class(name: str) -> None:
    module = importlib.import_module(name)
    exported = [getattr(module, member) for member in module.__all__]
    for value in exported:
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert value.__module__ == errors.__name__, f"{name}.{value.__name__}"
            assert getattr(errors, value.__name__) is value


def test_domain_docstrings_name_no_http_status() -> None:
    # The HTTP mapping lives in server/_errors.py; domain code speaks of its own failures.
    found = []
    for path in sorted(SOURCES.rglob("*.py")):
        relative = path.relative_to(SOURCES).as_posix()
        if relative.startswith(("server/", "cli/")):
            continue
        text = path.read_text(encoding="utf-8")
        found += [f"{relative}: {m.group(0)}" for m in re.finditer(r"\(HTTP \d{3}\)", text)]
    assert found == []
