"""The small expression language of filters and transformations: parse once, render anywhere.

An expression is a restricted Python expression, parsed with :mod:`ast` into a tree of the
node classes below and nothing else (no attribute access, no subscripts, no lambdas, no calls
but seven). The same tree is

* evaluated by :mod:`tether.features._evaluate` (vectorised on numpy, and on scalars by the
  very same code on length-1 arrays), which runs every transformation, offline and online;
* rendered to a SQLGlot expression by :func:`to_sql`, which is how an aggregation's filter
  reaches DuckDB and Spark; the reference implementation evaluates filters in Python, and a
  test checks that both agree;
* written back as canonical text by :func:`canonical_text`, which the definition version
  digests, so ``a+b`` and ``(a + b)`` are the same definition.

The grammar::

    number, 'string', True, False, None       constants
    name                                      a feature, request column or source column
    -x   x + y   x - y   x * y   x / y        arithmetic on numbers; x / 0 is null
    x == y  x != y  x < y  x <= y  x > y  x >= y   (chains like a < b < c allowed)
    x in ('a', 'b')   x not in (1, 2)         membership in a list of constants
    x is None   x is not None
    not x   x and y   x or y                  three-valued (SQL) logic
    abs(x)  min(x, y, ...)  max(x, y, ...)  coalesce(x, y, ...)
    hour(t)  day_of_week(t)                   parts of a time, in UTC (0-23; Monday 0-6)
    number(x)                                 a boolean as 1.0 or 0.0 (a number as itself)

Times are values of their own kind (a request's event time, a time column of a source): they
compare with each other and feed ``hour`` and ``day_of_week``, computed from microseconds
since the epoch with floor division, so the Python evaluator, DuckDB and Spark agree without a
session time zone or calendar (a time before 1970 has its hour too).

Nulls follow SQL: arithmetic and comparisons with a null give null, ``and``/``or`` use
three-valued logic, ``min``/``max`` skip nulls (like SQL ``LEAST``/``GREATEST``), and a filter
that evaluates to null excludes the row.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

from sqlglot import exp

from tether.errors import FeatureError

__all__ = [
    "Arithmetic",
    "Call",
    "Compare",
    "Constant",
    "Expression",
    "InList",
    "IsNull",
    "Logical",
    "Name",
    "Negate",
    "Not",
    "Scalar",
    "canonical_text",
    "parse_expression",
    "referenced_names",
    "sql_bigint",
    "to_sql",
]

Scalar: TypeAlias = bool | int | float | str | None
"""A value an expression constant, an empty policy or a null fill may take."""

ArithmeticOp = Literal["+", "-", "*", "/"]
CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
FunctionName = Literal["abs", "min", "max", "coalesce", "hour", "day_of_week", "number"]


@dataclass(frozen=True)
class Constant:
    """A literal value."""

    value: Scalar


@dataclass(frozen=True)
class Name:
    """A reference to a column (feature, request column or source column) by name."""

    name: str


@dataclass(frozen=True)
class Arithmetic:
    """``left op right`` on numbers."""

    op: ArithmeticOp
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Negate:
    """``-operand`` on a number."""

    operand: Expression


@dataclass(frozen=True)
class Compare:
    """``left op right``; ordering works on numbers and strings, equality on any kind."""

    op: CompareOp
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Logical:
    """``and`` / ``or`` over two or more boolean operands (three-valued logic)."""

    op: Literal["and", "or"]
    operands: tuple[Expression, ...]


@dataclass(frozen=True)
class Not:
    """``not operand`` (three-valued: ``not null`` is null)."""

    operand: Expression


@dataclass(frozen=True)
class IsNull:
    """``operand is None`` (or ``is not None`` when ``negated``); never null itself."""

    operand: Expression
    negated: bool


@dataclass(frozen=True)
class InList:
    """``operand in (constants)`` (or ``not in`` when ``negated``)."""

    operand: Expression
    values: tuple[Scalar, ...]
    negated: bool


@dataclass(frozen=True)
class Call:
    """One of the functions: ``abs``, ``min``, ``max``, ``coalesce``, ``hour``,
    ``day_of_week``, ``number``."""

    function: FunctionName
    args: tuple[Expression, ...]


Expression: TypeAlias = (
    Constant | Name | Arithmetic | Negate | Compare | Logical | Not | IsNull | InList | Call
)
"""A node of a parsed expression tree."""

_ARITHMETIC: dict[type[ast.operator], ArithmeticOp] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}
_COMPARE: dict[type[ast.cmpop], CompareOp] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_FUNCTIONS: dict[str, int] = {
    "abs": 1,
    "min": 2,
    "max": 2,
    "coalesce": 2,
    "hour": 1,
    "day_of_week": 1,
    "number": 1,
}
"""Each function and its least number of arguments."""
_UNARY = frozenset({"abs", "hour", "day_of_week", "number"})
"""The functions that take exactly one argument."""
MICROS_PER_HOUR = 3_600_000_000
MICROS_PER_DAY = 86_400_000_000
EPOCH_WEEKDAY = 3
"""1970-01-01 was a Thursday: ``day_of_week`` counts Monday as 0, as Python's ``weekday``."""


def parse_expression(text: str, *, what: str) -> Expression:
    """Parse ``text`` into an expression tree; ``what`` names it in errors.

    >>> parse_expression("amount / amount_mean_30d", what="transformation 'ratio'")
    Arithmetic(op='/', left=Name(name='amount'), right=Name(name='amount_mean_30d'))

    Raises:
        FeatureError: the text is not valid Python, or uses something outside the grammar.
    """
    if not isinstance(text, str) or not text.strip():
        raise FeatureError(f"{what} is {text!r}: expected a non-empty expression string")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FeatureError(f"{what} {text!r} does not parse: {exc.msg}") from exc
    return _Parser(text, what).node(tree.body)


class _Parser:
    """Turns a Python AST into an :data:`Expression`, refusing everything outside the grammar."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what

    def fail(self, node: ast.AST, expected: str) -> FeatureError:
        source = ast.get_source_segment(self.text.strip(), node) or type(node).__name__
        return FeatureError(f"{self.what} {self.text!r}: {source!r} is not allowed; {expected}")

    def node(self, node: ast.expr) -> Expression:
        if isinstance(node, ast.Constant):
            return Constant(self.constant(node))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            op = _ARITHMETIC[type(node.op)]
            return Arithmetic(op, self.node(node.left), self.node(node.right))
        if isinstance(node, ast.BoolOp):
            joiner: Literal["and", "or"] = "and" if isinstance(node.op, ast.And) else "or"
            return Logical(joiner, tuple(self.node(value) for value in node.values))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(
            node,
            "expected constants, names, + - * /, comparisons, and/or/not, "
            "in (...), is None, abs, min, max, coalesce, hour, day_of_week or number",
        )

    def constant(self, node: ast.Constant) -> Scalar:
        value = node.value
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        raise self.fail(node, "expected a finite number, a string, True, False or None")

    def name(self, node: ast.Name) -> Name:
        if node.id.startswith("__"):
            raise self.fail(node, "names starting with '__' are reserved for tether")
        if node.id in _FUNCTIONS:
            raise self.fail(node, f"{node.id} is a function: call it, e.g. {node.id}(x, y)")
        return Name(node.id)

    def unary(self, node: ast.UnaryOp) -> Expression:
        operand = self.node(node.operand)
        if isinstance(node.op, ast.Not):
            return Not(operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.USub):
            value = operand.value if isinstance(operand, Constant) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return Constant(-value)  # fold -3 into a constant, as Python writes it
            return Negate(operand)
        raise self.fail(node, "expected -x, +x or not x")

    def compare(self, node: ast.Compare) -> Expression:
        parts: list[Expression] = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            parts.append(self.comparison(op, left, right))
            left = right
        return parts[0] if len(parts) == 1 else Logical("and", tuple(parts))

    def comparison(self, op: ast.cmpop, left: ast.expr, right: ast.expr) -> Expression:
        if type(op) in _COMPARE:
            return Compare(_COMPARE[type(op)], self.node(left), self.node(right))
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise self.fail(right, "'is' and 'is not' compare with None only")
            return IsNull(self.node(left), negated=isinstance(op, ast.IsNot))
        if isinstance(op, ast.In | ast.NotIn):
            return InList(self.node(left), self.members(right), isinstance(op, ast.NotIn))
        raise self.fail(right, "expected ==, !=, <, <=, >, >=, in, not in, is or is not")

    def members(self, node: ast.expr) -> tuple[Scalar, ...]:
        expected = "'in' takes a non-empty tuple or list of constants other than None"
        if not isinstance(node, ast.Tuple | ast.List | ast.Set) or not node.elts:
            raise self.fail(node, expected)
        values: list[Scalar] = []
        for element in node.elts:
            value = self.node(element)
            if not isinstance(value, Constant) or value.value is None:
                raise self.fail(element, expected)
            values.append(value.value)
        return tuple(values)

    def call(self, node: ast.Call) -> Call:
        function = node.func.id if isinstance(node.func, ast.Name) else None
        if function not in _FUNCTIONS or node.keywords:
            raise self.fail(
                node,
                "the functions are abs(x), min(x, y, ...), max(x, y, ...), "
                "coalesce(x, y, ...), hour(t), day_of_week(t) and number(x), without keyword "
                "arguments",
            )
        least = _FUNCTIONS[function]
        count = len(node.args)
        unary = function in _UNARY
        if count < least or (unary and count != 1):
            raise self.fail(
                node,
                f"{function} takes {'exactly' if unary else 'at least'} "
                f"{least} argument{'s' if least > 1 else ''}",
            )
        name: FunctionName = function  # type: ignore[assignment]  # narrowed by the membership test
        return Call(name, tuple(self.node(arg) for arg in node.args))


def children(expression: Expression) -> Iterator[Expression]:
    """Yield the direct sub-expressions of ``expression``."""
    if isinstance(expression, Arithmetic | Compare):
        yield expression.left
        yield expression.right
    elif isinstance(expression, Negate | Not | IsNull | InList):
        yield expression.operand
    elif isinstance(expression, Logical):
        yield from expression.operands
    elif isinstance(expression, Call):
        yield from expression.args


def referenced_names(expression: Expression) -> tuple[str, ...]:
    """Return the column names ``expression`` reads, each once, in order of first use."""
    if isinstance(expression, Name):
        return (expression.name,)
    names: dict[str, None] = {}
    for child in children(expression):
        names.update(dict.fromkeys(referenced_names(child)))
    return tuple(names)


def canonical_text(expression: Expression) -> str:
    """Write ``expression`` as fully parenthesised Python that parses back to the same tree."""
    match expression:
        case Constant(value):
            return repr(value)
        case Name(name):
            return name
        case Arithmetic(op, left, right) | Compare(op, left, right):
            return f"({canonical_text(left)} {op} {canonical_text(right)})"
        case Negate(operand):
            return f"(-{canonical_text(operand)})"
        case Logical(op, operands):
            return "(" + f" {op} ".join(canonical_text(o) for o in operands) + ")"
        case Not(operand):
            return f"(not {canonical_text(operand)})"
        case IsNull(operand, negated):
            return f"({canonical_text(operand)} is {'not ' if negated else ''}None)"
        case InList(operand, values, negated):
            members = ", ".join(repr(value) for value in values)
            return f"({canonical_text(operand)} {'not in' if negated else 'in'} ({members},))"
        case Call(function, args):
            return f"{function}({', '.join(canonical_text(arg) for arg in args)})"
    raise AssertionError(f"unhandled expression node {expression!r}")


def sql_constant(value: Scalar) -> exp.Expr:
    """Render a constant as a SQL literal."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        literal = exp.Literal.number(repr(value))
        return exp.Neg(this=exp.Literal.number(repr(-value))) if value < 0 else literal
    return exp.Literal.string(value)


def _double(node: exp.Expr) -> exp.Expr:
    # Arithmetic runs in float64 in the Python evaluator; casting every operand to DOUBLE in SQL
    # makes the engines do the same IEEE operations (and avoids ANSI integer-overflow errors).
    return exp.Cast(this=node, to=exp.DataType.build("DOUBLE"))


def to_sql(expression: Expression, column: Callable[[str], exp.Expr]) -> exp.Expr:
    """Render ``expression`` as a SQLGlot tree; ``column`` maps a name to its column reference.

    Division renders as ``x / NULLIF(y, 0)`` so that dividing by zero gives null on every
    engine, as it does in the Python evaluator.
    """

    def render(node: Expression) -> exp.Expr:
        return to_sql(node, column)

    match expression:
        case Constant(value):
            return sql_constant(value)
        case Name(name):
            return column(name)
        case Arithmetic(op, left, right):
            return exp.Paren(this=_arithmetic(op, _double(render(left)), _double(render(right))))
        case Negate(operand):
            return exp.Paren(this=exp.Neg(this=_double(render(operand))))
        case Compare(op, left, right):
            return exp.Paren(this=_comparison(op, render(left), render(right)))
        case Logical(op, operands):
            joined = (
                exp.and_(*map(render, operands)) if op == "and" else exp.or_(*map(render, operands))
            )
            return exp.Paren(this=joined)
        case Not(operand):
            return exp.Paren(this=exp.Not(this=render(operand)))
        case IsNull(operand, negated):
            test: exp.Expr = exp.Is(this=render(operand), expression=exp.Null())
            return exp.Paren(this=exp.Not(this=test) if negated else test)
        case InList(operand, values, negated):
            member = exp.In(this=render(operand), expressions=[sql_constant(v) for v in values])
            return exp.Paren(this=exp.Not(this=member) if negated else member)
        case Call(function, args):
            return _call(function, [render(arg) for arg in args])
    raise AssertionError(f"unhandled expression node {expression!r}")


def _arithmetic(op: ArithmeticOp, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    if op == "+":
        return exp.Add(this=left, expression=right)
    if op == "-":
        return exp.Sub(this=left, expression=right)
    if op == "*":
        return exp.Mul(this=left, expression=right)
    zero = exp.Cast(this=exp.Literal.number(0), to=exp.DataType.build("DOUBLE"))
    return exp.Div(this=left, expression=exp.Nullif(this=right, expression=zero))


def _comparison(op: CompareOp, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    classes: dict[CompareOp, type[exp.Binary]] = {
        "==": exp.EQ,
        "!=": exp.NEQ,
        "<": exp.LT,
        "<=": exp.LTE,
        ">": exp.GT,
        ">=": exp.GTE,
    }
    return classes[op](this=left, expression=right)


def _floor_mod(value: exp.Expr, divisor: int) -> exp.Expr:
    """``value`` modulo ``divisor`` in ``[0, divisor)``: SQL ``%`` keeps the dividend's sign."""
    step = exp.Mod(this=value, expression=sql_bigint(divisor))
    shifted = exp.Add(this=exp.Paren(this=step), expression=sql_bigint(divisor))
    return exp.Paren(this=exp.Mod(this=exp.Paren(this=shifted), expression=sql_bigint(divisor)))


def _floor_div(value: exp.Expr, divisor: int) -> exp.Expr:
    """``value`` divided by ``divisor`` rounded down (SQL integer division truncates)."""
    whole = exp.Sub(this=value, expression=_floor_mod(value.copy(), divisor))
    return exp.Paren(this=exp.IntDiv(this=exp.Paren(this=whole), expression=sql_bigint(divisor)))


def sql_bigint(value: int) -> exp.Expr:
    """Render an integer as a SQL ``BIGINT`` (both engines then use 64-bit integer arithmetic)."""
    return exp.Cast(this=exp.Literal.number(value), to=exp.DataType.build("BIGINT"))


def _time_part(function: FunctionName, time: exp.Expr) -> exp.Expr:
    """``hour`` or ``day_of_week`` of a time, from its microseconds (no session time zone)."""
    micros = exp.UnixMicros(this=time)
    if function == "hour":
        return _floor_mod(_floor_div(micros, MICROS_PER_HOUR), 24)
    days = exp.Add(this=_floor_div(micros, MICROS_PER_DAY), expression=sql_bigint(EPOCH_WEEKDAY))
    return _floor_mod(exp.Paren(this=days), 7)


def _call(function: FunctionName, args: list[exp.Expr]) -> exp.Expr:
    first, rest = args[0], args[1:]
    if function == "abs":
        return exp.Abs(this=_double(first))
    if function in ("hour", "day_of_week"):
        return _time_part(function, first)
    if function == "number":
        return _double(first)
    # ignore_nulls: skip nulls like DuckDB's and Spark's own LEAST/GREATEST (SQLGlot would
    # otherwise emulate BigQuery's null-if-any-null in DuckDB).
    if function == "min":
        return exp.Least(this=first, expressions=rest, ignore_nulls=True)
    if function == "max":
        return exp.Greatest(this=first, expressions=rest, ignore_nulls=True)
    return exp.Coalesce(this=first, expressions=rest)
