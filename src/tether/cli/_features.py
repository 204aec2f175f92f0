"""``tether features list|build|materialize|push|get|skew``: the project's feature store."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from tether._uris import mask_uri
from tether.cli import _render
from tether.cli._app import EXIT_FAILED_CHECK, State, app
from tether.config import Settings, load_settings
from tether.errors import ConfigError
from tether.features import (
    Aggregation,
    Definition,
    Encoding,
    NaiveTimestamps,
    OnlineFeatureStore,
    RequestColumn,
    RequestFeature,
    WriteReport,
    measure_skew,
    read_table,
)
from tether.lineage import feature_store, online_backend, project_views

features_app = typer.Typer(help="Feature definitions, training sets, the online store, skew.")
app.add_typer(features_app, name="features")


def _settings(ctx: typer.Context) -> Settings:
    state: State = ctx.obj
    return load_settings(state.project)


def _online(settings: Settings, views: Sequence[Definition]) -> OnlineFeatureStore:
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
    for request_view in store.request_views:
        for request_feature in request_view.features:
            rows.append({"view": request_view.name, "feature": request_feature.name,
                         "definition": _request_definition(request_feature)})  # fmt: skip
    if json:
        _render.as_json({"version": store.version, "features": rows})
        return
    _render.text(f"feature definitions version {store.version}")
    for row in rows:
        _render.text(f"  {row['view']}.{row['feature']}: {row['definition']}")


def _request_definition(feature: RequestFeature) -> str:
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
    request: list[str] = typer.Option(
        [], help="Request data KEY=VALUE (a number or text) for request features."
    ),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Get online feature vectors, with each feature's status."""
    settings = _settings(ctx)
    views = project_views(settings)
    online = _online(settings, views)
    entity_keys = [_entity(k, online.views[0].entity.keys) for k in keys]
    data = {k: _request_value(v) for k, _, v in (r.partition("=") for r in request)}
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


def _request_value(text: str) -> float | str:
    """A number when it reads as one, else the text (a category, a country)."""
    try:
        return float(text)
    except ValueError:
        return text


@features_app.command("skew")
def skew_command(
    ctx: typer.Context,
    served: Path = typer.Option(
        ..., help="Parquet or CSV of served vectors: keys, time, features."
    ),
    timestamp: str = typer.Option("request_time", help="The time each vector was served at."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recompute served vectors offline and report the skew per feature."""
    settings = _settings(ctx)
    store = feature_store(project_views(settings), settings.features)
    report = measure_skew(
        store,
        read_table(served, what="The served vectors", time_columns=[timestamp]),
        timestamp=timestamp,
        tolerance=settings.features.skew_tolerance,
    )
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
    bound = settings.features.max_skew_rate
    if json:
        _render.as_json({"rows": report.rows, "bound": bound, "features": rows})
    else:
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
