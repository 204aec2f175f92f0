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
from tether.cli._app import EXIT_FAILED_CHECK, State, app
from tether.cli._predictions import parse_since
from tether.config import Settings, load_settings
from tether.errors import ConfigError, FeatureError
from tether.features import (
    Aggregation,
    FeatureStore,
    FeatureView,
    NaiveTimestamps,
    OnlineFeatureStore,
    SkewReport,
    WriteReport,
    measure_skew,
    read_table,
)
from tether.lineage import feature_store, online_backend, project_views

if TYPE_CHECKING:
    from tether.serving import ServedVectors

DEFAULT_SKEW_LIMIT = 10_000
"""Predictions the skew audit reads from the log by default (as ``PredictionReader``)."""

features_app = typer.Typer(help="Feature definitions, training sets, the online store, skew.")
app.add_typer(features_app, name="features")


def _settings(ctx: typer.Context) -> Settings:
    state: State = ctx.obj
    return load_settings(state.project)


def _online(settings: Settings, views: list[FeatureView]) -> OnlineFeatureStore:
    return OnlineFeatureStore(views, online_backend(settings))


@features_app.command("list")
def list_command(
    ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """List the feature views, their features and the definitions' version."""
    settings = _settings(ctx)
    views = project_views(settings)
    store = feature_store(views, settings.features)
    rows: list[dict[str, Any]] = []
    for view in store.views:
        for feature in view.features:
            kind = (
                f"{feature.function}({feature.column or '*'}) over {feature.window}"
                if isinstance(feature, Aggregation)
                else f"= {feature.expression}"
            )
            rows.append({"view": view.name, "feature": feature.name, "definition": kind})
    if json:
        _render.as_json({"version": store.version, "features": rows})
        return
    _render.text(f"feature definitions version {store.version}")
    for row in rows:
        _render.text(f"  {row['view']}.{row['feature']}: {row['definition']}")


@features_app.command("build")
def build_command(
    ctx: typer.Context,
    spine: Path = typer.Option(..., help="Parquet or CSV: entity keys, a time, any labels."),
    out: Path = typer.Option(..., help="Where to write the training set (Parquet)."),
    timestamp: str = typer.Option("event_time", help="The spine's time column."),
) -> None:
    """Build a point-in-time training set for a spine."""
    settings = _settings(ctx)
    store = feature_store(project_views(settings), settings.features)
    naive: NaiveTimestamps = "utc" if settings.features.naive_timestamps == "utc" else "reject"
    frame = store.build_training_set(
        read_table(spine, what="The spine", time_columns=[timestamp]),
        timestamp=timestamp,
        naive_timestamps=naive,
    )
    frame.to_parquet(out)
    _render.text(f"{len(frame)} rows with {len(store.feature_names)} features written to {out}")


@features_app.command("materialize")
def materialize_command(
    ctx: typer.Context,
    incremental: bool = typer.Option(
        False, "--incremental", help="Only rows created since the last materialization."
    ),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Load the sources into the online store (all rows, or only new ones)."""
    settings = _settings(ctx)
    online = _online(settings, project_views(settings))
    report = online.materialize(incremental=incremental)
    if json:
        _render.as_json(_write_data(report))
        return
    summary = f"{_count(report.rows, 'source row')} read, {report.new} new event versions"
    where = f"stored in {mask_uri(online.store.url)}"
    _render.text(f"{summary} {where} ({_per_view(report, 'row')})")


@features_app.command("push")
def push_command(
    ctx: typer.Context,
    events: Path = typer.Argument(..., help="Parquet or CSV of new events (source columns)."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Push new events into the online store as they happen."""
    settings = _settings(ctx)
    online = _online(settings, project_views(settings))
    times = {column for view in online.views for column in view.source.time_columns}
    report = online.push(read_table(events, what="The events file", time_columns=times))
    if json:
        _render.as_json(_write_data(report))
        return
    views = _count(len(report.views), "view")
    _render.text(f"{_count(report.rows, 'event')} pushed into {views} ({_per_view(report)})")


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
            raise ConfigError(f"Key {text!r}: the entity has keys {keys}; give KEY=VALUE pairs.")
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
    request: list[str] = typer.Option([], help="Request data KEY=NUMBER for transformations."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Get online feature vectors, with each feature's status."""
    settings = _settings(ctx)
    views = project_views(settings)
    online = _online(settings, views)
    entity_keys = [_entity(k, views[0].entity.keys) for k in keys]
    data = {k: float(v) for k, _, v in (r.partition("=") for r in request)}
    moment = datetime.fromisoformat(at) if at else None
    vectors = online.get_online_features(entity_keys, [data] * len(entity_keys), at=moment)
    if json:
        _render.as_json(
            {
                "vectors": [
                    {
                        "entity": dict(v.entity),
                        "values": dict(v.values),
                        "statuses": {k: s.value for k, s in v.statuses.items()},
                    }
                    for v in vectors
                ]
            }
        )
        return
    for vector in vectors:
        rows = {k: f"{v} ({vector.statuses[k].value})" for k, v in vector.values.items()}
        _render.key_values(f"{dict(vector.entity)}", rows)


@features_app.command("skew")
def skew_command(
    ctx: typer.Context,
    served: Path | None = typer.Option(
        None, help="Parquet or CSV of served vectors (keys, time, features); default: the "
        "prediction log's own."
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
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:  # fmt: skip
    """Recompute served vectors offline and report the skew per feature.

    By default the vectors come from the prediction log (entity keys, event time, request
    columns and the values served); --served reads them from a file instead.
    """
    moment = parse_since(since, datetime.now(UTC)) if since else None
    settings = _settings(ctx)
    store = feature_store(project_views(settings), settings.features)
    skipped: dict[str, int] = {}
    if served is not None:
        vectors = read_table(served, what="The served vectors", time_columns=[timestamp])
        source = str(served)
    else:
        from_log = _served_from_log(settings, store, moment, model, version, limit)
        vectors, timestamp, skipped = from_log.frame, from_log.timestamp, dict(from_log.skipped)
        source = f"the prediction log at {mask_uri(settings.serving.predictions_uri)}"
        if vectors.empty:
            raise FeatureError(
                f"{source} has no served vector to recompute ({from_log.read} predictions "
                f"read{_skipped_text(skipped)}); serve some with an entity, or give --served."
            )
    report = measure_skew(
        store, vectors, timestamp=timestamp, tolerance=settings.features.skew_tolerance
    )
    _print_skew(report, source, skipped, settings.features.max_skew_rate, json)


def _served_from_log(
    settings: Settings,
    store: FeatureStore,
    since: datetime | None,
    model: str,
    version: str,
    limit: int,
) -> ServedVectors:
    from tether.serving import PredictionReader  # imports the serving stack: only when run

    keys = sorted({key for view in store.views for key in view.entity.keys})
    with PredictionReader(settings.serving.predictions_uri) as reader:
        return reader.served_vectors(
            keys, hashed=settings.serving.hash_columns, since=since, model=model or None,
            version=version or None, limit=limit,
        )  # fmt: skip


def _skipped_text(skipped: dict[str, int]) -> str:
    from tether.serving import SKIP_REASONS

    return "".join(f"; {n} skipped: {SKIP_REASONS[reason]}" for reason, n in skipped.items())


def _print_skew(
    report: SkewReport, source: str, skipped: dict[str, int], bound: float, json: bool
) -> None:
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
    if json:
        _render.as_json({"source": source, "rows": report.rows, "skipped": skipped,
                         "bound": bound, "features": rows})  # fmt: skip
    else:
        _render.text(f"{report.rows} served vectors from {source}{_skipped_text(skipped)}")
        for row in rows:
            _render.text(
                f"{row['feature']}: {row['rows']} rows, mismatch rate "
                f"{row['mismatch_rate']:.4%}, largest difference {row['max_abs_difference']:.6g}"
            )
    if report.exceeds(bound):
        _render.error(
            f"skew above the bound: worst mismatch rate {report.worst_rate:.4%} > "
            f"features.max_skew_rate {bound:.4%}"
        )
        raise typer.Exit(EXIT_FAILED_CHECK)
