"""``tether predictions``: the prediction log, joined to feedback, without opening SQLite.

The log lives in the project's one store, ``[store] url`` (by default
``.tether/tether.db`` in the project, SQLite; a PostgreSQL URL at scale). The command
reads the latest predictions newest first, each with its instance's current feedback, and
prints them as a table, as JSON (``--json``: every column, features and statuses included;
strict JSON, a NaN is null) or writes them to Parquet (``--out FILE.parquet``: JSON-valued
columns as JSON text, so that a column holds one type).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tether._uris import mask_uri
from tether.cli import _render
from tether.cli._app import app, open_project

if TYPE_CHECKING:
    import pandas as pd

JSON_COLUMNS = ("features", "statuses", "entity", "request_data", "output", "label", "business")
"""Columns holding JSON values; Parquet gets them as JSON text."""
TABLE_COLUMNS = ("time", "instance_id", "version", "role", "cohort", "output", "label")
"""What the table shows of each prediction (``--json`` and ``--out`` have every column); the
time is when it was served, in UTC."""
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: an ISO-8601 time with a timezone, or a duration back from ``now``
    (``30m``, ``24h``, ``7d``).

    Raises:
        typer.BadParameter: neither (exit 2, naming the option).
    """
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return parse_moment(text, "--since", ", or a duration back from now (30m, 24h, 7d)")


def parse_moment(text: str, option: str, other: str = "") -> datetime:
    """An option's ISO-8601 time with a timezone (``2026-01-20T09:30:00Z``), in UTC.

    Raises:
        typer.BadParameter: not one, or one without a timezone (exit 2, naming the option).
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        what = "a time without a timezone" if moment is not None else "not a time"
        raise typer.BadParameter(
            f"{text!r} is {what}: expected a time with a timezone (2026-01-20T09:30:00Z or "
            f"+00:00){other}.",
            param_hint=f"'{option}'",
        )
    return moment.astimezone(UTC)


def parquet_out(path: Path) -> Path:
    """``--out``: a path ending in ``.parquet`` (or ``.pq``), the one format written (a ``.csv``
    name would get Parquet bytes, which a CSV reader then fails on far from here).

    Raises:
        typer.BadParameter: another suffix (exit 2, naming the option).
    """
    if path.suffix.lower() not in {".parquet", ".pq"}:
        raise typer.BadParameter(
            f"{str(path)!r}: tether writes Parquet; name the file FILE.parquet.",
            param_hint="'--out'",
        )
    return path


@app.command("predictions")
def predictions_command(
    ctx: typer.Context,
    since: str = typer.Option("", help="Only from this time (ISO-8601 with a timezone) or "
                              "this long ago (30m, 24h, 7d)."),
    model: str = typer.Option("", help="Only this registered model."),
    version: str = typer.Option("", help="Only this model version."),
    cohort: str = typer.Option("", help="Only this cohort (champion or challenger)."),
    limit: int = typer.Option(100, min=1, help="The latest N predictions."),
    out: Path | None = typer.Option(None, "--out", help="Write Parquet to this file.",
                                    callback=lambda p: p and parquet_out(p)),
) -> _render.Report:  # fmt: skip
    """Show the latest predictions, newest first, with their feedback (--json: every column)."""
    moment = parse_since(since, datetime.now(UTC)) if since else None
    url = open_project(ctx).store_url
    from tether.serving import PredictionReader  # imports pandas: only when the command runs

    with PredictionReader(url) as reader:
        frame = reader.recent(
            since=moment, model=model or None, version=version or None,
            cohort=cohort or None, limit=limit,
        )  # fmt: skip
    where = mask_uri(url)
    if out is not None:
        _as_text_json(frame).to_parquet(out, index=False)
        written = {"log": where, "predictions": len(frame), "out": str(out)}
        return _render.Report(written, [f"{len(frame)} predictions from {where} written to {out}"])
    rows = records(frame)
    return _render.Report(
        {"log": where, "predictions": rows},
        [
            _render.Grid(TABLE_COLUMNS, [_cells(row) for row in rows]),
            f"{len(frame)} predictions from {where}, newest first",
        ],
    )


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready mappings (times as ISO-8601, no NaN)."""
    rows: list[dict[str, Any]] = []
    for row in frame.to_dict("records"):
        rows.append({str(name): _plain(value) for name, value in row.items()})
    return rows


def _plain(value: Any) -> object:
    """``value`` as strict JSON holds it: a NaN (no value, as the model received it) is null,
    inside a feature vector too, so that any JSON reader takes the output."""
    import pandas as pd  # already imported by the reader

    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if value is None or pd.isna(value):  # NaN, NaT, pd.NA: no value
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _cells(row: dict[str, Any]) -> list[str]:
    """A person's reading of a row: times to the second, numbers to 4 significant digits
    (``--json`` and ``--out`` keep every digit)."""
    return [_cell(row[column], column) for column in TABLE_COLUMNS]


def _cell(value: object, column: str) -> str:
    if value is None:
        return ""
    if column == "time" and isinstance(value, str):
        return value[:19].replace("T", " ")  # UTC, as every time of the log
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if column in JSON_COLUMNS else str(value)


def _as_text_json(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its JSON-valued columns as JSON text (Parquet columns hold one type)."""
    text = frame.copy()
    for column in JSON_COLUMNS:
        text[column] = [
            None if value is None else json.dumps(_plain(value)) for value in frame[column]
        ]
    return text
