"""The expression language: one evaluator for columns and scalars, and SQL that agrees with it."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from sqlglot import exp

from tether.errors import FeatureError
from tether.features import (
    Vector,
    evaluate,
    evaluate_scalar,
    parse_expression,
    to_sql,
    vector_from_values,
)
from tether.features._evaluate import vector_to_series
from tether.features._expressions import canonical_text

ROWS = pd.DataFrame(
    {
        "a": [1.0, -2.5, 0.0, None, 7.0, 3.0, None, 0.5],
        "b": [2.0, 0.0, 0.0, 1.0, None, 3.0, None, -4.0],
        "s": ["US", "FR", None, "US", "DE", "", "US", None],
        "n": pd.array([1, 2, 3, None, 5, 0, 7, 8], dtype="Int64"),
        "f": pd.array([True, False, None, True, False, None, True, False], dtype="boolean"),
    }
)
EXPRESSIONS = [
    "a + b",
    "a - b * 2",
    "a / b",
    "-a",
    "n / 2 + a",
    "abs(a - 10)",
    "min(a, b)",
    "max(a, b, 1.5)",
    "coalesce(a, b, 0)",
    "coalesce(s, 'unknown')",
    "a > b",
    "a <= b",
    "0 < a < 5",
    "s == 'US'",
    "s != 'US'",
    "s < 'G'",
    "s in ('US', 'DE')",
    "s not in ('US',)",
    "n in (1, 2, 5)",
    "a is None",
    "s is not None",
    "a > 0 and s == 'US'",
    "a > 0 or s == 'US'",
    "not (a > 0)",
    "f and a > 0",
    "f or b is None",
    "not f",
    "f == True",
    "min(s, 'M')",
    "a / 0",
    "number(f)",
    "number(a > b) + number(s == 'US')",
    "number(a)",
]


def columns() -> dict[str, Vector]:
    return {name: vector_from_values(ROWS[name], what=name) for name in ROWS.columns}


def python_values(text: str) -> list[object]:
    result = evaluate(parse_expression(text, what="test"), columns(), length=len(ROWS))
    return [None if pd.isna(v) else v for v in vector_to_series(result)]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_scalar_evaluation_is_the_vectorised_evaluation_row_by_row(text: str) -> None:
    parsed = parse_expression(text, what="test")
    expected = python_values(text)
    for position, row in enumerate(ROWS.to_dict("records")):
        scalars = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        assert evaluate_scalar(parsed, scalars) == expected[position], f"row {position}"


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_the_sql_rendering_computes_what_the_evaluator_computes(text: str) -> None:
    rendered = to_sql(parse_expression(text, what="test"), lambda name: exp.column(name, "r"))
    query = exp.select(rendered.as_("v")).from_(exp.to_table("rows").as_("r"))
    with duckdb.connect() as connection:
        connection.register("rows", ROWS)
        got = [row[0] for row in connection.execute(query.sql("duckdb")).fetchall()]
    expected = python_values(text)
    for position, (value, wanted) in enumerate(zip(got, expected, strict=True)):
        if isinstance(wanted, float) and value is not None:
            assert value == pytest.approx(wanted, rel=1e-12), f"row {position}"
        else:
            assert value == wanted, f"row {position}: SQL {value!r}, Python {wanted!r}"


def test_canonical_text_parses_back_to_the_same_tree() -> None:
    for text in EXPRESSIONS:
        parsed = parse_expression(text, what="test")
        assert parse_expression(canonical_text(parsed), what="again") == parsed


def test_division_by_zero_is_null_on_scalars() -> None:
    assert evaluate_scalar(parse_expression("a / b", what="t"), {"a": 3.0, "b": 0}) is None
    assert evaluate_scalar(parse_expression("a / b", what="t"), {"a": 3.0, "b": 2}) == 1.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s + 1", "'\\+' takes number values, got string"),
        ("a == s", "cannot mix number and string"),
        ("f < True", "orders numbers or strings"),
        ("s in (1, 2)", "'in' compares string values with number constants"),
        ("missing + 1", "no column named 'missing'"),
        ("abs(s)", "'abs' takes number values"),
    ],
)
def test_a_kind_error_names_the_expression_and_the_kinds(text: str, message: str) -> None:
    with pytest.raises(FeatureError, match=message):
        evaluate(parse_expression(text, what="t"), columns(), length=len(ROWS))


@pytest.mark.parametrize(
    "text",
    ["a if b else c", "x[0]", "lambda: 1", "f(x)", "a ** 2", "a // 2", "x is 1", "x in y", "1e999"],
)
def test_anything_outside_the_grammar_is_refused(text: str) -> None:
    with pytest.raises(FeatureError, match=r"expression 'e'"):
        parse_expression(text, what="expression 'e'")


def test_numbers_in_any_pandas_dtype_evaluate_alike() -> None:
    parsed = parse_expression("x * 2", what="t")
    outputs = []
    for values in (
        pd.Series([1, 2, 3], dtype="int64"),
        pd.Series([1.0, 2.0, 3.0]),
        pd.Series([1, 2, 3], dtype="Int64"),
        pd.Series([1, 2, 3], dtype=object),
    ):
        vector = vector_from_values(values, what="x")
        outputs.append(list(evaluate(parsed, {"x": vector}, length=3).values))
    assert all(out == [2.0, 4.0, 6.0] for out in outputs)
    assert np.array_equal(outputs[0], outputs[-1])
