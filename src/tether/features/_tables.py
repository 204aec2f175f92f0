"""Tables a user hands tether as files (a spine, pushed events, served vectors): Parquet or CSV.

Parquet carries its column types; a CSV file is text, so its time columns are parsed as
ISO-8601 (:func:`~tether.features.parse_iso_times`: offsets honoured, naive times left for the
caller's policy, a bad cell named by file, column and row). Other columns keep pandas'
inference, except that a time column is never guessed to be a number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from tether.errors import FeatureError
from tether.features._timestamps import parse_iso_times

__all__ = ["read_table"]


def read_table(
    path: str | os.PathLike[str], *, what: str, time_columns: Iterable[str]
) -> pd.DataFrame:
    """Read a Parquet or CSV file (by its suffix), parsing the CSV's ``time_columns``.

    ``what`` names the table in messages (``"The spine"``); time columns the file does not
    have are left for the caller to report, with its own context.

    >>> read_table("spine.csv", what="The spine", time_columns=["event_time"])  # doctest: +SKIP

    Raises:
        FeatureError: the file does not exist or cannot be read, or a time cell is not an
            ISO-8601 time (see :func:`~tether.features.parse_iso_times`).
    """
    file = Path(path)
    if not file.is_file():
        raise FeatureError(f"{what} {file} does not exist; expected a Parquet or CSV file.")
    csv = file.suffix.lower() == ".csv"
    try:
        if not csv:
            return pd.read_parquet(file)
        header = pd.read_csv(file, nrows=0).columns
        times = [column for column in header if column in set(time_columns)]
        frame = pd.read_csv(file, dtype={column: "string" for column in times})
    except (ValueError, OSError) as exc:  # pandas' ParserError and pyarrow's errors included
        kind = "CSV" if csv else "Parquet (a name ending in .csv is read as CSV)"
        raise FeatureError(f"{what} {file} cannot be read as {kind}: {exc}") from exc
    for column in times:
        frame[column] = parse_iso_times(frame[column], what=f"column {column!r} of {file}")
    return frame
