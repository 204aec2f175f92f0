"""The public surface of tether.features: curated, sorted, documented."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import tether.features


def isort_order(name: str) -> tuple[int, str]:
    """Ruff's order for ``__all__`` (RUF022): CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_every_name_exists() -> None:
    names = tether.features.__all__
    assert names == sorted(names, key=isort_order)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(tether.features, name), name


def test_every_exported_class_and_function_has_a_docstring() -> None:
    for name in tether.features.__all__:
        value = getattr(tether.features, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_pyspark_is_imported_lazily_inside_the_spark_engine_only() -> None:
    # tether.features must not pay PySpark's import (or need it installed) to use DuckDB.
    source = Path(tether.features.__file__).with_name("_spark.py").read_text()
    top_level = ast.parse(source).body
    imported = [
        node
        for node in top_level
        if isinstance(node, ast.Import | ast.ImportFrom) and "pyspark" in ast.unparse(node)
    ]
    assert imported == []
