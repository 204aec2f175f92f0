"""The one evaluator of expressions: vectorised on numpy, and on scalars by the same code.

Offline, a transformation runs once over whole training-set columns; online, it runs on the
scalar values of one request. Both go through :func:`evaluate`: :func:`evaluate_scalar` wraps
each scalar in a length-1 :class:`Vector` and unwraps the result, so there is no second
implementation whose numbers could drift from the first.

A :class:`Vector` is a column of one kind (``number``, ``string``, ``boolean``, ``time``, or
``null`` when nothing is known but that every value is missing) with an explicit null mask.
Times are int64 microseconds since the epoch (UTC), exact like the SQL side's; they compare
and feed ``hour`` and ``day_of_week``, but are never a feature's value. Numbers are
float64, so integer arithmetic beyond 2**53 is not exact (the SQL rendering of filters casts
arithmetic operands to DOUBLE to match). Null semantics are SQL's: see
:mod:`tether.features._expressions`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from tether.errors import FeatureError
from tether.features._definitions import NaiveTimestamps
from tether.features._expressions import (
    EPOCH_WEEKDAY,
    MICROS_PER_DAY,
    MICROS_PER_HOUR,
    Arithmetic,
    Call,
    Compare,
    Constant,
    Expression,
    InList,
    IsNull,
    Logical,
    Name,
    Negate,
    Not,
    Scalar,
    canonical_text,
)
from tether.features._timestamps import series_micros

__all__ = [
    "Kind",
    "Vector",
    "evaluate",
    "evaluate_scalar",
    "first_value",
    "scalar_vector",
    "time_vector",
    "vector_from_values",
    "vector_to_series",
]

Kind = Literal["number", "string", "boolean", "time", "null"]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Vector:
    """A column of one kind; ``values`` holds a placeholder wherever ``null`` is true."""

    kind: Kind
    values: npt.NDArray[Any]
    null: Mask

    def __len__(self) -> int:
        return len(self.null)


_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_PLACEHOLDER: dict[Kind, Any] = {
    "number": 0.0,
    "string": "",
    "boolean": False,
    "time": 0,
    "null": False,
}
_DTYPE: dict[Kind, Any] = {
    "number": np.float64,
    "string": object,
    "boolean": np.bool_,
    "time": np.int64,
}


def _scalar_kind(value: object) -> Kind | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _make(kind: Kind, raw: Any, null: Mask) -> Vector:
    """Build a vector of ``kind`` from raw values, putting placeholders at nulls."""
    if kind == "null":
        return Vector("null", np.zeros(len(null), dtype=np.bool_), np.ones(len(null), np.bool_))
    values = np.array(raw, dtype=_DTYPE[kind])
    if null.any():
        values[null] = _PLACEHOLDER[kind]
    return Vector(kind, values, null)


def time_vector(micros: npt.NDArray[np.int64]) -> Vector:
    """A column of times (microseconds since the epoch, UTC), none of them null."""
    return Vector("time", np.asarray(micros, dtype=np.int64), np.zeros(len(micros), np.bool_))


def vector_from_values(
    values: pd.Series | npt.NDArray[Any], *, what: str, naive: NaiveTimestamps = "reject"
) -> Vector:
    """Turn a pandas column (or numpy array) into a :class:`Vector`, inferring its kind.

    A column of times is a ``time`` vector; naive times are refused unless ``naive="utc"``.

    Raises:
        FeatureError: the column holds something other than numbers, strings, booleans or
            times.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        series.dtype
    ):
        micros, null = series_micros(series, what=what, naive=naive)
        return Vector("time", micros, null)
    null = series.isna().to_numpy(dtype=np.bool_)
    if pd.api.types.is_bool_dtype(series.dtype):
        return _make("boolean", series.to_numpy(dtype=np.bool_, na_value=False), null)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return _make("number", series.to_numpy(dtype=np.float64, na_value=0.0), null)
    if isinstance(series.dtype, pd.StringDtype):
        # Every present value of a string dtype is a str: no need to look at each one (a
        # request view's category column of a 400,000-row spine took 1.4 s that way).
        kind: Kind = "string" if not null.all() else "null"
        return _make(kind, series.to_numpy(dtype=object), null)
    if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        present = series[~null]
        kinds = {_scalar_kind(value) for value in present}
        if not kinds:
            return _make("null", None, null)
        if len(kinds) == 1 and None not in kinds:
            found = kinds.pop()
            assert found is not None
            return _make(found, series.to_numpy(dtype=object), null)
    raise FeatureError(f"{what} holds {series.dtype} values: expected numbers, strings or booleans")


def vector_to_series(vector: Vector, *, index: pd.Index | None = None) -> pd.Series:
    """Turn a vector into a pandas column: float64 (NaN for null), ``boolean`` or ``str``.

    Raises:
        FeatureError: the vector holds times, which are no feature's value.
    """
    _check_not_time(vector)
    if vector.kind == "number":
        return pd.Series(np.where(vector.null, np.nan, vector.values), index=index)
    if vector.kind == "boolean":
        data = pd.array(vector.values, dtype="boolean")
        data[vector.null] = pd.NA
        return pd.Series(data, index=index)
    if vector.kind == "string":
        objects = vector.values.copy()
        objects[vector.null] = None
        return pd.Series(objects, index=index, dtype="str")
    return pd.Series(np.full(len(vector), np.nan), index=index)


def scalar_vector(value: Scalar, *, what: str) -> Vector:
    """A length-1 vector of ``value`` (None or NaN is null); ``what`` names it in errors."""
    kind = _scalar_kind(value)
    if kind is None:
        raise FeatureError(f"{what} is {value!r}: expected a number, string, boolean or None")
    null = np.array([kind == "null"])
    return _make(kind, [value], null)


def evaluate_scalar(expression: Expression, values: Mapping[str, Scalar]) -> Scalar:
    """Evaluate ``expression`` on one row of scalar ``values`` (None or NaN is null).

    >>> from tether.features._expressions import parse_expression
    >>> evaluate_scalar(parse_expression("a / b", what="x"), {"a": 3.0, "b": 0})  # is None
    """
    columns = {
        name: scalar_vector(value, what=f"value of {name!r}") for name, value in values.items()
    }
    return first_value(evaluate(expression, columns, length=1))


def first_value(vector: Vector) -> Scalar:
    """The first value of ``vector`` as a plain Python scalar (None when null).

    Raises:
        FeatureError: the vector holds times, which are no feature's value.
    """
    _check_not_time(vector)
    if vector.null[0]:
        return None
    item: Scalar = vector.values[0].item() if vector.kind != "string" else vector.values[0]
    return item


def _check_not_time(vector: Vector) -> Vector:
    if vector.kind == "time":
        raise FeatureError(
            "an expression gives times: expected a number, string or boolean; take a part "
            "of the time with hour(t) or day_of_week(t)"
        )
    return vector


def evaluate(expression: Expression, columns: Mapping[str, Vector], *, length: int) -> Vector:
    """Evaluate ``expression`` over columns of ``length`` rows.

    Raises:
        FeatureError: a name is missing from ``columns``, or an operator meets a kind it does
            not take (e.g. a string in arithmetic).
    """
    return _Evaluator(expression, columns, length).run(expression)


class _Evaluator:
    def __init__(self, root: Expression, columns: Mapping[str, Vector], length: int) -> None:
        self.text = canonical_text(root)
        self.columns = columns
        self.length = length

    def fail(self, problem: str) -> FeatureError:
        return FeatureError(f"expression {self.text}: {problem}")

    def run(self, node: Expression) -> Vector:
        match node:
            case Constant(value):
                return self.constant(value)
            case Name(name):
                if name not in self.columns:
                    raise self.fail(f"no column named {name!r}; have {sorted(self.columns)}")
                return self.columns[name]
            case Arithmetic(op, left, right):
                return self.arithmetic(op, self.run(left), self.run(right))
            case Negate(operand):
                number = self.expect(self.run(operand), "number", "-")
                return Vector("number", -number.values, number.null)
            case Compare(op, left, right):
                return self.compare(op, self.run(left), self.run(right))
            case Logical(op, operands):
                return self.logical(op, [self.run(operand) for operand in operands])
            case Not(operand):
                truth = self.expect(self.run(operand), "boolean", "not")
                return Vector("boolean", ~truth.values & ~truth.null, truth.null)
            case IsNull(operand, negated):
                null = self.run(operand).null
                return Vector("boolean", ~null if negated else null.copy(), np.zeros_like(null))
            case InList(operand, members, negated):
                return self.membership(self.run(operand), members, negated)
            case Call(function, args):
                return self.call(function, [self.run(arg) for arg in args])
        raise AssertionError(f"unhandled expression node {node!r}")

    def constant(self, value: Scalar) -> Vector:
        kind = _scalar_kind(value)
        assert kind is not None
        null = np.full(self.length, kind == "null")
        return _make(kind, [value] * self.length, null)

    def expect(self, value: Vector, kind: Kind, operator: str) -> Vector:
        if value.kind == "null":
            return _make(kind, [_PLACEHOLDER[kind]] * len(value), value.null)
        if value.kind != kind:
            raise self.fail(f"{operator!r} takes {kind} values, got {value.kind}")
        return value

    def same_kind(self, values: list[Vector], operator: str) -> Kind:
        kinds = {value.kind for value in values} - {"null"}
        if len(kinds) > 1:
            raise self.fail(f"{operator!r} cannot mix {' and '.join(sorted(kinds))} values")
        return kinds.pop() if kinds else "null"

    def arithmetic(self, op: str, left: Vector, right: Vector) -> Vector:
        a = self.expect(left, "number", op)
        b = self.expect(right, "number", op)
        null = a.null | b.null
        with np.errstate(all="ignore"):
            if op == "+":
                values = a.values + b.values
            elif op == "-":
                values = a.values - b.values
            elif op == "*":
                values = a.values * b.values
            else:
                null = null | (b.values == 0.0)
                values = a.values / np.where(b.values == 0.0, 1.0, b.values)
        return _make("number", values, null)

    def compare(self, op: str, left: Vector, right: Vector) -> Vector:
        kind = self.same_kind([left, right], op)
        null = left.null | right.null
        if kind == "null":
            return _make("boolean", np.zeros(len(null), np.bool_), null)
        if kind == "boolean" and op not in ("==", "!="):
            raise self.fail(f"{op!r} orders numbers or strings, got {kind}")
        a = self.expect(left, kind, op).values
        b = self.expect(right, kind, op).values
        return _make("boolean", np.asarray(_COMPARISONS[op](a, b), dtype=np.bool_), null)

    def logical(self, op: str, operands: list[Vector]) -> Vector:
        checked = [self.expect(operand, "boolean", op) for operand in operands]
        known_true = [value.values & ~value.null for value in checked]
        known_false = [~value.values & ~value.null for value in checked]
        if op == "and":
            decided_false = np.logical_or.reduce(known_false)
            values = np.logical_and.reduce(known_true)
            return Vector("boolean", values, ~decided_false & ~values)
        decided_true = np.logical_or.reduce(known_true)
        all_false = np.logical_and.reduce(known_false)
        return Vector("boolean", decided_true, ~decided_true & ~all_false)

    def membership(self, operand: Vector, members: tuple[Scalar, ...], negated: bool) -> Vector:
        member_kind = self.same_kind([self.constant(m) for m in members], "in")
        if operand.kind == "null":
            return Vector("boolean", np.zeros(len(operand), np.bool_), operand.null)
        if operand.kind != member_kind:
            raise self.fail(f"'in' compares {operand.kind} values with {member_kind} constants")
        found = np.isin(operand.values, np.array(members, dtype=operand.values.dtype))
        values = ~found if negated else found
        return _make("boolean", values & ~operand.null, operand.null)

    def call(self, function: str, args: list[Vector]) -> Vector:
        if function == "abs":
            value = self.expect(args[0], "number", "abs")
            return Vector("number", np.abs(value.values), value.null)
        if function in ("hour", "day_of_week", "number"):
            return self.convert(function, args[0])
        kind = self.same_kind(args, function)
        if function == "coalesce":
            return self.coalesce(kind, args)
        if kind not in ("number", "string", "null"):
            raise self.fail(f"{function!r} takes numbers or strings, got {kind}")
        return self.extreme(function, kind, args)

    def convert(self, function: str, value: Vector) -> Vector:
        """``hour`` and ``day_of_week`` of times (numpy's // and % round down, as the SQL
        rendering does by hand), and ``number`` of booleans or numbers."""
        if function == "number":
            if value.kind == "number":
                return value
            truth = self.expect(value, "boolean", "number")
            return _make("number", truth.values.astype(np.float64), truth.null)
        micros = self.expect(value, "time", function).values
        if function == "hour":
            part = (micros // MICROS_PER_HOUR) % 24
        else:
            part = (micros // MICROS_PER_DAY + EPOCH_WEEKDAY) % 7
        return _make("number", part.astype(np.float64), value.null)

    def coalesce(self, kind: Kind, args: list[Vector]) -> Vector:
        if kind == "null":
            return args[0]
        values = np.array([_PLACEHOLDER[kind]] * self.length, dtype=_DTYPE[kind])
        null = np.ones(self.length, np.bool_)
        for arg in args:
            take = null & ~arg.null
            values[take] = arg.values[take]
            null &= arg.null
        return Vector(kind, values, null)

    def extreme(self, function: str, kind: Kind, args: list[Vector]) -> Vector:
        # Like SQL LEAST/GREATEST on DuckDB and Spark: nulls are skipped.
        if kind == "null":
            return args[0]
        args = [self.expect(arg, kind, function) for arg in args]
        best = self.coalesce(kind, args)
        values = best.values.copy()
        for arg in args:
            present = ~arg.null
            better = arg.values < values if function == "min" else arg.values > values
            take = present & np.asarray(better, dtype=np.bool_)
            values[take] = arg.values[take]
        return Vector(kind, values, best.null)
