"""Definitions to SQL: one SQLGlot tree per feature view, rendered for DuckDB or Spark.

Why a SQLGlot expression tree (and not SQL text in one dialect, transpiled): the query is
*generated* from definitions, so building it from nodes means identifiers are always quoted
correctly (a column named ``select`` or ``amount (usd)`` cannot break or inject into the
query), filters arrive as already-parsed trees (:func:`~tether.features._expressions.to_sql`),
and the dialect differences that matter here are SQLGlot's job, checked by the parity test:
``ARG_MAX(x, {'t': ..})`` in DuckDB is ``MAX_BY(x, STRUCT(.. AS t))`` in Spark, ``EPOCH_US``
is ``UNIX_MICROS``, and ``NULLS FIRST`` is written or left out per dialect default.

Why times are BIGINT microseconds: windows are fixed durations, so comparing integers is
exact and identical on both engines, with no session time zone, calendar interval (a DuckDB
``INTERVAL 1 DAY`` on TIMESTAMPTZ follows daylight saving) or ANSI-mode cast involved.

The query, for a table of points (distinct spine (key, t) pairs, each with an id)::

    WITH __tether_repeated_ids AS (                 -- ids seen more than once
      SELECT event id FROM source WHERE usable GROUP BY event id HAVING COUNT(*) > 1),
    __tether_events AS (                            -- usable rows, each with the time its
      SELECT keys, event id, event_us, created_us,  -- next version (if any) supersedes it
             NULL AS superseded_us, {t: event_us, id: event id} AS last_order, input columns
      FROM source WHERE usable AND event id NOT IN repeated ids
      UNION ALL
      SELECT ..., LEAD(created_us) OVER (PARTITION BY event id ORDER BY created_us,
                  event_us, tie-break columns NULLS FIRST), ...
      FROM source WHERE usable AND event id IN repeated ids)
    SELECT p.point, <one conditional aggregate per feature>
    FROM __tether_events e RIGHT JOIN (each point twice: bucket = t DIV <longest window>,
                                       and bucket - 1) p
      ON e.keys = p.keys AND e.bucket = p.bucket
         AND e.event_us < p.t AND e.event_us >= p.t - <longest window>
         AND e.created_us < p.t AND (e.superseded_us IS NULL OR e.superseded_us >= p.t)
    GROUP BY p.point

("usable": keys, id and times are not null; an event's bucket is ``event_us DIV <longest
window>``.) The bucket equality lets the hash join compare a point with the events of two
windows rather than of the entity's whole history (on the benchmark's 2-day TTL over 90 days,
about 18% less CPU for the whole build). The join is written events-then-points so that the
points, fewer than the events, are the side the engine builds its hash table on (the DuckDB
engine keeps that order: :mod:`tether.features._duckdb`).

A version is the event as known at t exactly when it was created before t and the next
version was not, so the join keeps one version per event and point: the as-of deduplication
needs no per-point ranking, and a correction that moves an event's time is handled exactly.
Without a created time every row is known from the beginning (``created_us`` is a constant
before any timestamp) and only the last version of each event is ever used. Each feature is
then a conditional aggregate (``CASE WHEN`` inside ``COUNT``/``SUM``/... rather than
``FILTER``, which Spark does not take together with ``DISTINCT``), so one pass over the joined
rows computes every window.
"""

from __future__ import annotations

from sqlglot import exp

from tether.features._definitions import Aggregation, FeatureView
from tether.features._expressions import sql_bigint, sql_constant, to_sql

__all__ = [
    "EVENTS_CTE",
    "POINT_ID",
    "POINT_TIME",
    "compile_view",
    "point_key",
]

POINT_ID = "__tether_point"
"""The id column of the points table (one row per distinct spine (key, t))."""
POINT_TIME = "__tether_t_us"
"""The time column of the points table, in microseconds since the epoch (UTC)."""
EVENTS_CTE = "__tether_events"
_REPEATED_CTE = "__tether_repeated_ids"
_EVENT_ID = "__tether_event_id"
_EVENT_US = "__tether_event_us"
_CREATED_US = "__tether_created_us"
_SUPERSEDED_US = "__tether_superseded_us"
_LAST_ORDER = "__tether_last_order"
_BUCKET = "__tether_bucket"
_KNOWN_FROM_THE_BEGINNING = -(2**62)
"""The created time of rows of a source without one: before every representable timestamp."""


def point_key(index: int) -> str:
    """Name the points-table column holding the entity's key number ``index``."""
    return f"__tether_key_{index}"


def _col(name: str, table: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(table))


def _micros(name: str, naive: bool) -> exp.Expr:
    column: exp.Expr = _col(name, "src")
    if naive:
        # The engine runs with a UTC session time zone, so a naive time is read as UTC.
        column = exp.Cast(this=column, to=exp.DataType.build("TIMESTAMP"))
    return exp.UnixMicros(this=column)


def compile_view(
    view: FeatureView, *, source_table: str, points_table: str, naive_columns: frozenset[str]
) -> exp.Select:
    """Build the query computing every aggregation of ``view`` at every point.

    ``source_table`` and ``points_table`` are the names the engine registered the source and
    the points under; ``naive_columns`` are the source's time columns without a time zone.
    The result has :data:`POINT_ID` and one column per aggregation, named like it.
    """
    longest = _longest_window(view)
    repeated, events = _events(view, source_table, naive_columns, longest)
    features = [_feature(view, agg).as_(agg.name, quoted=True) for agg in view.aggregations]
    point = _col(POINT_ID, "p")
    return (
        exp.select(point, *features)
        .from_(exp.to_table(EVENTS_CTE).as_("e"))
        .join(
            _bucketed_points(view, points_table, longest),
            on=_join_condition(view, longest),
            join_type="RIGHT",
        )
        .group_by(point)
        .with_(_REPEATED_CTE, as_=repeated)
        .with_(EVENTS_CTE, as_=events)
    )


def _longest_window(view: FeatureView) -> int:
    return max(agg.window_us for agg in view.aggregations)


def _bucket(time_us: exp.Expr, longest: int) -> exp.Expr:
    """The time's bucket: ``time DIV longest window`` (both engines truncate toward zero).

    An event in ``[t - longest, t)`` is in t's bucket or the one before: buckets are at least
    the longest window wide (the one around zero is twice as wide) and in time order.
    """
    return exp.IntDiv(this=time_us, expression=sql_bigint(longest))


def _bucketed_points(view: FeatureView, points_table: str, longest: int) -> exp.Expr:
    """Each point twice, with its own bucket and the one before, for the join's equality."""
    columns = [POINT_ID, POINT_TIME, *(point_key(i) for i in range(len(view.entity.keys)))]

    def shifted(back: int) -> exp.Select:
        bucket: exp.Expr = _bucket(_col(POINT_TIME, "points"), longest)
        if back:
            bucket = exp.Sub(this=bucket, expression=exp.Literal.number(back))
        return exp.select(
            *(_col(c, "points") for c in columns), bucket.as_(_BUCKET, quoted=True)
        ).from_(exp.to_table(points_table).as_("points"))

    return exp.union(shifted(0), shifted(1), distinct=False).subquery("p")


def _events(
    view: FeatureView, source_table: str, naive_columns: frozenset[str], longest: int
) -> tuple[exp.Select, exp.Union]:
    """The ids seen more than once, and the usable rows, each with when it is superseded.

    Only events whose id repeats need the ``LEAD`` over their versions; every other row is
    never superseded. Splitting the two keeps the window (a sort of the whole source) off the
    common case, where ids are unique: it was half the query's time on the benchmark.
    """
    source = view.source
    event_us = _micros(source.event_time, source.event_time in naive_columns)
    created = source.created_time
    if created is None:
        created_us = sql_bigint(_KNOWN_FROM_THE_BEGINNING)
    else:
        created_us = _micros(created, created in naive_columns)
    order = [exp.Ordered(this=created_us.copy(), nulls_first=True)]
    order.append(exp.Ordered(this=event_us.copy(), nulls_first=True))
    order += [exp.Ordered(this=_col(c, "src"), nulls_first=True) for c in view.tie_break_columns]
    superseded = exp.Window(
        this=exp.Lead(this=created_us.copy()),
        partition_by=[_col(source.event_id, "src")],
        order=exp.Order(expressions=order),
    )
    keys = [_col(c, "src").as_(point_key(i), quoted=True) for i, c in enumerate(source.key_columns)]
    inputs = {c for agg in view.aggregations for c in agg.source_columns}
    required = [*source.key_columns, source.event_id, *source.time_columns]
    usable = [exp.Not(this=exp.Is(this=_col(c, "src"), expression=exp.Null())) for c in required]
    event_id = _col(source.event_id, "src")
    repeated = (
        exp.select(event_id.copy().as_(_EVENT_ID, quoted=True))
        .from_(exp.to_table(source_table).as_("src"))
        .where(exp.and_(*(condition.copy() for condition in usable)))
        .group_by(event_id.copy())
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    )
    in_repeated = exp.In(
        this=event_id.copy(),
        query=exp.select(_col(_EVENT_ID, _REPEATED_CTE)).from_(_REPEATED_CTE).subquery(),
    )

    def rows(superseded_us: exp.Expr, repeats: exp.Expr) -> exp.Select:
        return (
            exp.select(
                *(key.copy() for key in keys),
                event_id.copy().as_(_EVENT_ID, quoted=True),
                event_us.copy().as_(_EVENT_US, quoted=True),
                _bucket(event_us.copy(), longest).as_(_BUCKET, quoted=True),
                created_us.copy().as_(_CREATED_US, quoted=True),
                superseded_us.as_(_SUPERSEDED_US, quoted=True),
                *order_column,
                *(_col(c, "src").as_(c, quoted=True) for c in sorted(inputs)),
            )
            .from_(exp.to_table(source_table).as_("src"))
            .where(exp.and_(*(condition.copy() for condition in usable), repeats))
        )

    # What `last` orders by, built once per row rather than once per row and feature.
    order_column = []
    if any(agg.function == "last" for agg in view.aggregations):
        last_order = exp.Struct(
            expressions=[
                exp.PropertyEQ(this=exp.to_identifier("t"), expression=event_us.copy()),
                exp.PropertyEQ(this=exp.to_identifier("id"), expression=event_id.copy()),
            ]
        )
        order_column.append(last_order.as_(_LAST_ORDER, quoted=True))
    never_superseded = exp.Cast(this=exp.Null(), to=exp.DataType.build("BIGINT"))
    once = rows(never_superseded, exp.Not(this=in_repeated.copy()))
    versions = rows(superseded, in_repeated)
    return repeated, exp.union(once, versions, distinct=False)


def _since(window_us: int) -> exp.Expr:
    """``e.event_us >= p.t - window``: the event is in the window (false for no event)."""
    start = exp.Sub(this=_col(POINT_TIME, "p"), expression=sql_bigint(window_us))
    return exp.GTE(this=_col(_EVENT_US, "e"), expression=start)


def _join_condition(view: FeatureView, longest: int) -> exp.Expr:
    t = _col(POINT_TIME, "p")
    keys = [
        exp.EQ(this=_col(point_key(i), "e"), expression=_col(point_key(i), "p"))
        for i in range(len(view.entity.keys))
    ]
    keys.append(exp.EQ(this=_col(_BUCKET, "e"), expression=_col(_BUCKET, "p")))
    superseded = _col(_SUPERSEDED_US, "e")
    current = exp.or_(
        exp.Is(this=superseded, expression=exp.Null()),
        exp.GTE(this=superseded.copy(), expression=t),
    )
    return exp.and_(
        *keys,
        exp.LT(this=_col(_EVENT_US, "e"), expression=t.copy()),
        _since(longest),
        exp.LT(this=_col(_CREATED_US, "e"), expression=t.copy()),
        exp.Paren(this=current),
    )


def _contributes(agg: Aggregation) -> exp.Expr:
    """The condition under which a joined row is an input of ``agg``."""
    conditions = [_since(agg.window_us)]
    if agg.filter_expression is not None:
        conditions.append(to_sql(agg.filter_expression, lambda name: _col(name, "e")))
    if agg.column is not None and agg.null_fill is None:
        conditions.append(exp.Not(this=exp.Is(this=_col(agg.column, "e"), expression=exp.Null())))
    return exp.and_(*conditions)


def _when(condition: exp.Expr, value: exp.Expr) -> exp.Expr:
    return exp.Case(ifs=[exp.If(this=condition, true=value)])


def _input(agg: Aggregation) -> exp.Expr:
    assert agg.column is not None
    column = _col(agg.column, "e")
    if agg.null_fill is None:
        return column
    return exp.Coalesce(this=column, expressions=[sql_constant(agg.null_fill)])


def _raw_aggregate(agg: Aggregation) -> exp.Expr:
    """The aggregate over contributing rows; null (or 0 for counts) when none contributes."""
    contributes = _contributes(agg)
    if agg.function == "count":
        return exp.Count(this=_when(contributes, exp.Literal.number(1)))
    if agg.function == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[_when(contributes, _input(agg))]))
    if agg.function == "since_last":
        assert agg.unit_us is not None
        # t - newest event time, as the least t - event time: p.t is no grouping column.
        age = exp.Sub(this=_col(POINT_TIME, "p"), expression=_col(_EVENT_US, "e"))
        elapsed = exp.Min(this=_when(contributes, age))
        return exp.Div(
            this=exp.Cast(this=elapsed, to=exp.DataType.build("DOUBLE")),
            expression=exp.Cast(this=sql_bigint(agg.unit_us), to=exp.DataType.build("DOUBLE")),
        )
    if agg.function == "last":
        # Ties at one event time go to the greatest event id; after the join there is one
        # version per event, so (event time, event id) picks exactly one row.
        order = _col(_LAST_ORDER, "e")
        return exp.ArgMax(this=_input(agg), expression=_when(contributes, order))
    value = _input(agg)
    if agg.function in ("sum", "mean"):
        value = exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))
    classes: dict[str, type[exp.AggFunc]] = {
        "sum": exp.Sum,
        "mean": exp.Avg,
        "min": exp.Min,
        "max": exp.Max,
    }
    return classes[agg.function](this=_when(contributes, value))


def _feature(view: FeatureView, agg: Aggregation) -> exp.Expr:
    """The aggregate with the empty policy and the view's TTL applied."""
    raw = _raw_aggregate(agg)
    empty = sql_constant(agg.empty_value)
    if agg.function in ("count", "count_distinct"):
        value: exp.Expr = raw
        if agg.empty_value != 0:
            is_zero = exp.EQ(this=raw.copy(), expression=exp.Literal.number(0))
            value = exp.Case(ifs=[exp.If(this=is_zero, true=empty)], default=raw)
    else:
        value = raw if agg.empty_value is None else exp.Coalesce(this=raw, expressions=[empty])
    if view.ttl_us is None or view.ttl_us >= agg.window_us:
        return value
    # Within the window but older than the TTL: fresh only if some input is at most ttl old.
    fresh_inputs = exp.Count(
        this=_when(exp.and_(_contributes(agg), _since(view.ttl_us)), exp.Literal.number(1))
    )
    fresh = exp.GT(this=fresh_inputs, expression=exp.Literal.number(0))
    return exp.Case(ifs=[exp.If(this=fresh, true=value)], default=empty.copy())
