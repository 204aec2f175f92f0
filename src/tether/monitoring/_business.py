"""Business metrics: small arithmetic over the confusion cells' aggregates, named in the config.

The fraud example's ``[monitoring.business]`` table::

    missed_fraud_loss = "fn.amount"              # money lost to fraud let through
    false_alarm_cost  = "5 * fp.count"           # $5 of analyst time per false alarm
    net_value         = "tp.amount - 5 * fp.count"

A name is ``<cell>.<field>``: a cell of :class:`~tether.monitoring.ConfusionCells` (``tp``,
``fp``, ``fn``, ``tn``) and either ``count`` (its rows) or a business field logged with the
feedback (its sum over the cell's rows). The language is parsed with :mod:`ast` and allows
numbers, those names, ``+ - * /``, unary minus and parentheses, nothing else: no calls, no
other attribute, no subscripts; anything else is refused naming the token and its column, so
a config cannot run code.

**Interval.** The window's labelled rows are taken as independent draws from the process, so
each aggregate is a sum of per-row values h_k = [row in cell_k] * field_k, and the covariance
of the aggregates follows from per-row second moments that the cells carry: different cells
are disjoint (E[h_j h_k] = 0), ``count`` with a field of the same cell gives the field's sum,
a field with itself its sum of squares. A metric linear in the aggregates (all three above)
is a sum of per-row values, and its variance is exactly n * Var(per-row value); a metric
with a division is linearised at the point (the delta method), computed by forward-mode
differentiation of the parsed expression. Two different fields of one cell in one metric
would need the cell's cross products, which the log does not aggregate: refused.
The interval is normal: value +- z * sqrt(variance). On sums of a few dozen skewed amounts it
covers a little less than nominal (92.5% for a 95% interval over about 70 lognormal amounts,
measured by simulation in ``tests/monitoring/test_performance_coverage.py``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from scipy import stats

from tether.errors import ConfigError, MonitoringError
from tether.monitoring._performance import CELLS, CONFIDENCE, ConfusionCells, MetricValue

COUNT = "count"
"""The field name that means a cell's rows rather than a sum of a business field."""

_Key = tuple[str, str]  # (cell, field)
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


@dataclass(frozen=True)
class _Dual:
    """A value with its gradient over the aggregates (forward-mode differentiation)."""

    value: float
    grad: Mapping[_Key, float]

    def combine(self, other: _Dual, op: type[ast.operator]) -> _Dual:
        keys = set(self.grad) | set(other.grad)
        a, b = self.value, other.value
        ga = {k: self.grad.get(k, 0.0) for k in keys}
        gb = {k: other.grad.get(k, 0.0) for k in keys}
        if op is ast.Add:
            return _Dual(a + b, {k: ga[k] + gb[k] for k in keys})
        if op is ast.Sub:
            return _Dual(a - b, {k: ga[k] - gb[k] for k in keys})
        if op is ast.Mult:
            return _Dual(a * b, {k: ga[k] * b + a * gb[k] for k in keys})
        if b == 0:
            return _Dual(math.nan, {k: math.nan for k in keys})
        return _Dual(a / b, {k: (ga[k] * b - a * gb[k]) / (b * b) for k in keys})


@dataclass(frozen=True)
class BusinessMetric:
    """A named business metric and its expression (parsed and checked on construction).

    Example:
        >>> BusinessMetric("net_value", "tp.amount - 5 * fp.count").names
        (('fp', 'count'), ('tp', 'amount'))
    """

    name: str
    expression: str
    _tree: ast.expr = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Parse the expression, refusing any token outside the language."""
        try:
            tree = ast.parse(self.expression, mode="eval").body
        except SyntaxError as exc:
            raise ConfigError(
                f"business metric {self.name!r}: {self.expression!r} is not an expression "
                f"({exc.msg} at column {exc.offset})"
            ) from exc
        _check(self.name, tree)
        object.__setattr__(self, "_tree", tree)

    @property
    def names(self) -> tuple[_Key, ...]:
        """The ``(cell, field)`` aggregates the expression reads, sorted."""
        return tuple(
            sorted({_key(node) for node in ast.walk(self._tree) if isinstance(node, ast.Attribute)})
        )

    @property
    def linear(self) -> bool:
        """Whether the expression is linear in the aggregates (no product or quotient of two)."""
        return _is_linear(self._tree)

    def evaluate(self, cells: ConfusionCells, confidence: float = CONFIDENCE) -> MetricValue | None:
        """The metric on a window's cells with its interval (module docstring); ``None`` on a
        window without labelled rows or where the metric divides by zero."""
        rows = cells.labelled
        if rows == 0:
            return None
        for cell, name in self.names:
            if name != COUNT and name not in cells.cell(cell).sums:
                raise MonitoringError(
                    f"business metric {self.name!r} reads {cell}.{name}, but the cells carry "
                    f"fields {sorted(cells.cell(cell).sums)}; log {name!r} with the feedback"
                )
        dual = _evaluate(self._tree, cells)
        if not math.isfinite(dual.value):
            return None
        variance = _variance(self.name, dual.grad, cells)
        se = math.sqrt(max(variance, 0.0))
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        method = "per-row variance" if self.linear else "delta method"
        return MetricValue(
            self.name, dual.value, dual.value - z * se, dual.value + z * se, rows, method
        )


def business_metrics(table: Mapping[str, str]) -> tuple[BusinessMetric, ...]:
    """The business metrics of a config table ``{name: expression}``, in its order."""
    return tuple(BusinessMetric(name, expression) for name, expression in table.items())


def _check(metric: str, node: ast.expr) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        _check(metric, node.left)
        _check(metric, node.right)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(metric, node.operand)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.value.id not in CELLS:
            raise ConfigError(
                f"business metric {metric!r}: {node.value.id!r} at column {node.col_offset + 1} "
                f"is not a confusion cell; expected one of {CELLS}"
            )
    else:
        token = ast.unparse(node)
        raise ConfigError(
            f"business metric {metric!r}: {token!r} at column {node.col_offset + 1} is not "
            f"allowed; expected numbers, <cell>.<field> names and + - * / only"
        )


def _key(node: ast.Attribute) -> _Key:
    assert isinstance(node.value, ast.Name)  # _check has made sure
    return node.value.id, node.attr


def _is_linear(node: ast.expr) -> bool:
    def constant(n: ast.expr) -> bool:
        return not any(isinstance(sub, ast.Attribute) for sub in ast.walk(n))

    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add | ast.Sub):
            return _is_linear(node.left) and _is_linear(node.right)
        if isinstance(node.op, ast.Mult):
            return (constant(node.left) and _is_linear(node.right)) or (
                constant(node.right) and _is_linear(node.left)
            )
        return constant(node.right) and _is_linear(node.left)
    if isinstance(node, ast.UnaryOp):
        return _is_linear(node.operand)
    return True


def _evaluate(node: ast.expr, cells: ConfusionCells) -> _Dual:
    if isinstance(node, ast.BinOp):
        return _evaluate(node.left, cells).combine(_evaluate(node.right, cells), type(node.op))
    if isinstance(node, ast.UnaryOp):
        inner = _evaluate(node.operand, cells)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return _Dual(sign * inner.value, {k: sign * g for k, g in inner.grad.items()})
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)  # _check has made sure
        return _Dual(float(node.value), {})
    assert isinstance(node, ast.Attribute)
    cell_name, name = _key(node)
    cell = cells.cell(cell_name)
    value = float(cell.count) if name == COUNT else cell.sums[name]
    return _Dual(value, {(cell_name, name): 1.0})


def _variance(metric: str, grad: Mapping[_Key, float], cells: ConfusionCells) -> float:
    """g' Cov(A) g, with Cov(A_j, A_k) = n (E[h_j h_k] - E[h_j] E[h_k]) over the window's rows."""
    rows = cells.labelled
    keys = [k for k, g in grad.items() if g != 0.0]

    def total(key: _Key) -> float:
        cell = cells.cell(key[0])
        return float(cell.count) if key[1] == COUNT else cell.sums[key[1]]

    def second(a: _Key, b: _Key) -> float:
        if a[0] != b[0]:
            return 0.0  # disjoint cells: a row is in one cell only
        cell = cells.cell(a[0])
        if a[1] == b[1]:
            return float(cell.count) if a[1] == COUNT else cell.sumsqs[a[1]]
        if COUNT in (a[1], b[1]):
            return cell.sums[b[1] if a[1] == COUNT else a[1]]
        raise MonitoringError(
            f"business metric {metric!r} combines {a[0]}.{a[1]} and {b[0]}.{b[1]}: its "
            f"interval needs their cross products, which the log does not aggregate"
        )

    variance = 0.0
    for a in keys:
        for b in keys:
            cov = second(a, b) - total(a) * total(b) / rows
            variance += grad[a] * grad[b] * cov
    return variance
