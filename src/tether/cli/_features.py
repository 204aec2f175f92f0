"""``tether features list|build|materialize|push|get|skew``: the project's feature store."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tether._uris import mask_uri
from tether.cli import _render
from tether.cli._app import EXIT_FAILED_CHECK, app, open_project
from tether.cli._predictions import parquet_out, parse_moment, parse_since
from tether.errors import ConfigError, FeatureError

if TYPE_CHECKING:
    from tether.features import (
        FeatureStore,
        NaiveTimestamps,
        RequestFeature,
        SkewReport,
        WriteReport,
    )
    from tether.project import Project
    from tether.serving import ServedVectors

# tether.features (pandas, DuckDB, PyArrow: about a second) is imported inside the commands.

DEFAULT_SKEW_LIMIT = 10_000
"""Predictions the skew audit reads from the log by default (as ``PredictionReader``)."""

features_app = typer.Typer(help="Feature definitions, training sets, the online store, skew.")
app.add_typer(features_app, name="features")


@features_app.command("list")
def list_command(ctx: typer.Context) -> _render.Report:
    """List the feature views, their features and the definitions' version."""
    from tether.features import Aggregation

    store = open_project(ctx).feature_store
    rows: list[dict[str, Any]] = []
    for view in store.views:
        for feature in view.features:
            kind = (
                f"{feature.function}({feature.column or '*'}) over {feature.window}"
                if isinstance(feature, Aggregation)
                else f"= {feature.expression}"
            )
            rows.append({"view": view.name, "feature": feature.name, "definition": kind})
    for request_view in store.request_views:
        for request_feature in request_view.features:
            rows.append({"view": request_view.name, "feature": request_feature.name,
                         "definition": _request_definition(request_feature)})  # fmt: skip
    lines = [f"  {row['view']}.{row['feature']}: {row['definition']}" for row in rows]
    return _render.Report(
        {"version": store.version, "features": rows},
        [f"feature definitions version {store.version}", *lines],
    )


def _request_definition(feature: RequestFeature) -> str:
    from tether.features import Encoding, RequestColumn

    if isinstance(feature, RequestColumn):
        return "the request's own value"
    if isinstance(feature, Encoding):
        words = len(feature.vocabulary)
        return f"code of {feature.column} among {words} words, else {feature.unknown}"
    return f"= {feature.expression}"


@features_app.command("build")
def build_command(
    ctx: typer.Context,
    spine: Path = typer.Option(..., help="Parquet or CSV: entity keys, a time, any labels."),
    out: Path = typer.Option(
        ..., help="Where to write the training set (FILE.parquet).", callback=parquet_out
    ),
    timestamp: str = typer.Option("event_time", help="The spine's time column."),
) -> _render.Report:
    """Build a point-in-time training set for a spine."""
    from tether.features import read_table

    project = open_project(ctx)
    settings, store = project.settings, project.feature_store
    naive: NaiveTimestamps = "utc" if settings.features.naive_timestamps == "utc" else "reject"
    with _render.steps("building the training set") as progress:
        progress("reading the spine")
        rows = read_table(spine, what="The spine", time_columns=[timestamp])
        frame = store.build_training_set(
            rows, timestamp=timestamp, naive_timestamps=naive, progress=progress
        )
        progress("writing", len(frame))
        frame.to_parquet(out)
    features = len(store.feature_names)
    return _render.Report(
        {"rows": len(frame), "features": features, "out": str(out)},
        [f"{len(frame)} rows with {features} features written to {out}"],
    )


@features_app.command("materialize")
def materialize_command(
    ctx: typer.Context,
    incremental: bool = typer.Option(
        False, "--incremental", help="Only rows created since the last materialization."
    ),
) -> _render.Report:
    """Load the sources into the online store (all rows, or only new ones)."""
    online = open_project(ctx).online_store
    with _render.steps("materializing") as progress:
        report = online.materialize(incremental=incremental, progress=progress)
    summary = f"{_count(report.rows, 'source row')} read, {report.new} new event versions"
    where = f"stored in {mask_uri(online.store.url)}"
    return _render.Report(_write_data(report), [f"{summary} {where} ({_per_view(report, 'row')})"])


@features_app.command("push")
def push_command(
    ctx: typer.Context,
    events: Path = typer.Argument(..., help="Parquet or CSV of new events (source columns)."),
) -> _render.Report:
    """Push new events into the online store as they happen."""
    from tether.features import read_table

    online = open_project(ctx).online_store
    times = {column for view in online.views for column in view.source.time_columns}
    report = online.push(read_table(events, what="The events file", time_columns=times))
    views = _count(len(report.views), "view")
    pushed = f"{_count(report.rows, 'event')} pushed into {views} ({_per_view(report)})"
    return _render.Report(_write_data(report), [pushed])


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _per_view(report: WriteReport, rows_noun: str = "") -> str:
    """``customer_tx: 2 rows, 1 new; device_tx: ...``: what each view got."""
    parts = []
    for view in report.views:
        counts = [_count(view.rows, rows_noun)] if rows_noun else []
        counts.append(f"{view.new} new" if view.new else "nothing new")
        if view.skipped:
            counts.append(f"{view.skipped} skipped (a null key, id or time)")
        parts.append(f"{view.view}: {', '.join(counts)}")
    return "; ".join(parts)


def _write_data(report: WriteReport) -> dict[str, Any]:
    views = [dataclasses.asdict(view) for view in report.views]
    return {"rows": report.rows, "new": report.new, "views": views}


def _entity(text: str, keys: Sequence[str]) -> dict[str, object]:
    if "=" not in text:
        if len(keys) != 1:
            form = ",".join(f"{key}=VALUE" for key in keys)
            raise ConfigError(
                f"Key {text!r}: the features need the keys {', '.join(keys)}; give them as "
                f"{form} (e.g. tether features get {form.replace('VALUE', '...')})."
            )
        return {keys[0]: text}
    pairs = (pair.partition("=") for pair in text.split(","))
    return {key: value for key, _, value in pairs}


@features_app.command("get")
def get_command(
    ctx: typer.Context,
    keys: list[str] = typer.Argument(
        ..., metavar="KEY...", help="Entity keys: VALUE, or KEY=VALUE[,KEY=VALUE]."
    ),
    at: str = typer.Option("", help="Request time, ISO-8601 UTC (default: now)."),
    request: list[str] = typer.Option(
        [], help="Request data KEY=VALUE (a number or text) for request features."
    ),
) -> _render.Report:
    """Get online feature vectors, with each feature's status."""
    online = open_project(ctx).online_store
    # Every view's keys: a payment's features may need its customer and its device.
    needed = tuple(dict.fromkeys(key for view in online.views for key in view.entity.keys))
    entity_keys = [_entity(k, needed) for k in keys]
    data = {k: _request_value(v) for k, _, v in (r.partition("=") for r in request)}
    moment = parse_moment(at, "--at") if at else None
    vectors = online.get_online_features(entity_keys, [data] * len(entity_keys), at=moment)
    found = [
        {
            "entity": dict(v.entity),
            "values": dict(v.values),
            "statuses": {k: s.value for k, s in v.statuses.items()},
        }
        for v in vectors
    ]
    tables: list[_render.Block] = [
        _render.Table(
            ", ".join(f"{key}={value}" for key, value in vector.entity.items()),
            {k: f"{v} ({vector.statuses[k].value})" for k, v in vector.values.items()},
        )
        for vector in vectors
    ]
    return _render.Report({"vectors": found}, tables)


def _request_value(text: str) -> float | str:
    """A number when it reads as one, else the text (a category, a country)."""
    try:
        return float(text)
    except ValueError:
        return text


@features_app.command("skew")
def skew_command(
    ctx: typer.Context,
    served: Path | None = typer.Option(
        None,
        help="Parquet or CSV of served vectors (keys, time, features); default: the "
        "prediction log's own.",
    ),
    timestamp: str = typer.Option(
        "request_time", help="With --served: the time each vector was served at."
    ),
    since: str = typer.Option(
        "", help="From the log: only from this time (ISO-8601) or this long ago (24h, 7d)."
    ),
    model: str = typer.Option("", help="From the log: only this registered model."),
    version: str = typer.Option("", help="From the log: only this model version."),
    limit: int = typer.Option(
        DEFAULT_SKEW_LIMIT, min=1, help="From the log: the latest N predictions."
    ),
) -> _render.Report:
    """Recompute served vectors offline and report the skew per feature.

    By default the vectors come from the prediction log (entity keys, event time, request
    columns and the values served); --served reads them from a file instead.
    """
    from tether.features import measure_skew, read_table

    moment = parse_since(since, datetime.now(UTC)) if since else None
    project = open_project(ctx)
    settings, store = project.settings, project.feature_store
    skipped: dict[str, int] = {}
    if served is not None:
        vectors = read_table(served, what="The served vectors", time_columns=[timestamp])
        source = str(served)
    else:
        from_log = _served_from_log(project, store, moment, model, version, limit)
        vectors, timestamp, skipped = from_log.frame, from_log.timestamp, dict(from_log.skipped)
        source = f"the prediction log at {mask_uri(project.store_url)}"
        if vectors.empty:
            raise FeatureError(
                f"{source} has no served vector to recompute ({from_log.read} predictions "
                f"read{_skipped_text(skipped)}); serve some with an entity, or give --served."
            )
    report = measure_skew(
        store, vectors, timestamp=timestamp, tolerance=settings.features.skew_tolerance
    )
    return _skew_report(report, source, skipped, settings.features.max_skew_rate)


def _served_from_log(
    project: Project,
    store: FeatureStore,
    since: datetime | None,
    model: str,
    version: str,
    limit: int,
) -> ServedVectors:
    from tether.serving import PredictionReader  # imports the serving stack: only when run

    keys = sorted({key for view in store.views for key in view.entity.keys})
    with PredictionReader(project.store_url) as reader:
        return reader.served_vectors(
            keys, hashed=project.settings.serving.hash_columns, since=since, model=model or None,
            version=version or None, limit=limit,
        )  # fmt: skip


def _skipped_text(skipped: dict[str, int]) -> str:
    from tether.serving import SKIP_REASONS

    return "".join(f"; {n} skipped: {SKIP_REASONS[reason]}" for reason, n in skipped.items())


def _skew_report(
    report: SkewReport, source: str, skipped: dict[str, int], bound: float
) -> _render.Report:
    rows = [
        {
            "feature": f.feature,
            "rows": f.rows,
            "mismatch_rate": f.mismatch_rate,
            "max_abs_difference": f.max_abs_difference,
            "examples": list(f.examples),
        }
        for f in report.features
    ]
    data = {"source": source, "rows": report.rows, "skipped": skipped, "bound": bound,
            "features": rows}  # fmt: skip
    view: list[_render.Block] = [
        f"{report.rows} served vectors from {source}{_skipped_text(skipped)}",
        *(
            f"{row['feature']}: {row['rows']} rows, mismatch rate "
            f"{row['mismatch_rate']:.4%}, largest difference {row['max_abs_difference']:.6g}"
            for row in rows
        ),
    ]
    if not report.exceeds(bound):
        return _render.Report(data, view)
    above = (
        f"skew above the bound: worst mismatch rate {report.worst_rate:.4%} > "
        f"features.max_skew_rate {bound:.4%}"
    )
    return _render.Report(data, view, errors=[above], exit_code=EXIT_FAILED_CHECK)
