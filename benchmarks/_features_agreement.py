"""Which outputs of the feature-store benchmark agree, with the oracle and with each other.

tether counts only events strictly before t; Feast counts an event at exactly t. So the "last"
outputs are compared on two sets of spine rows: those not on an event time of their entity,
where every contender must agree with the oracle (and so with each other), and those on one,
where tether must match the oracle "before t", Feast the oracle "up to and including t", and
tether and Feast are expected to differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from _features_data import END, LAST_COLUMNS, Oracle, last_name, micros, window_names
from _features_report import PRESENT, Check, agreeing, by_row, check, present

LAST = [last_name(c) for c in LAST_COLUMNS]
Outputs = dict[str, Path]
"""The Parquet output of each contender that ran, by label."""


def _aligned(outputs: Outputs, spine: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        label: by_row(pd.read_parquet(path), spine["row_id"]) for label, path in outputs.items()
    }


def last_checks(outputs: Outputs, tether: str, spine: pd.DataFrame, oracle: Oracle) -> list[Check]:
    """Agreement of the "last within TTL" outputs: off event times, then on them."""
    entity, t_us = spine["entity_id"].to_numpy(), micros(spine["event_timestamp"])
    on_event = oracle.on_event(entity, t_us)
    before = present(oracle.last(entity, t_us, inclusive=False))
    up_to = present(oracle.last(entity, t_us, inclusive=True))
    frames = _aligned(outputs, spine)
    checks = [
        Check(f"{label}: rows returned", len(spine), int(frame[PRESENT].sum()), "all")
        for label, frame in frames.items()
    ]
    off = ~on_event
    checks += [
        check(f"{label} = oracle, t not an event time", frame, before, LAST, off)
        for label, frame in frames.items()
    ]
    others = {label: frame for label, frame in frames.items() if label != tether}
    if tether in frames:
        checks += [
            check(f"tether = {label}, t not an event time", frames[tether], frame, LAST, off)
            for label, frame in others.items()
        ]
    for label, frame in frames.items():
        feast = label.startswith("Feast")
        reference, rule = (up_to, "<= t") if feast else (before, "< t")
        checks.append(
            check(f"{label} = oracle ({rule}), t on an event", frame, reference, LAST, on_event)
        )
    if tether in frames:
        for label, frame in others.items():
            if label.startswith("Feast"):
                same = agreeing(frames[tether][on_event], frame[on_event], LAST)
                checks.append(
                    Check(
                        f"tether = {label}, t on an event (expected to differ)",
                        int(on_event.sum()),
                        int(same.sum()),
                        "none, unless the value before t equals the one at t",
                    )
                )
    return checks


def window_checks(outputs: Outputs, spine: pd.DataFrame, oracle: Oracle) -> list[Check]:
    """Agreement of the windowed outputs with the oracle and with each other."""
    entity, t_us = spine["entity_id"].to_numpy(), micros(spine["event_timestamp"])
    reference = present(oracle.windows(entity, t_us))
    names, every = window_names(), np.ones(len(spine), dtype=bool)
    frames = _aligned(outputs, spine)
    checks = [
        check(f"{label} = oracle", frame, reference, names, every)
        for label, frame in frames.items()
    ]
    if len(frames) == 2:
        (first, a), (second, b) = frames.items()
        checks.append(check(f"{first} = {second}", a, b, names, every))
    return checks


def online_checks(outputs: Outputs, oracle: Oracle) -> list[Check]:
    """Agreement of each online contender's values with the oracle at the end of the data."""
    checks = []
    for label, path in outputs.items():
        output = present(pd.read_parquet(path))
        entity = output["entity_id"].to_numpy()
        at = np.full(len(entity), END.value // 1_000, dtype=np.int64)
        reference = present(oracle.last(entity, at, inclusive=False))
        every = np.ones(len(entity), dtype=bool)
        checks.append(check(f"{label} = oracle at the end", output, reference, LAST, every))
    return checks


def order_kept(outputs: Outputs, spine: pd.DataFrame) -> str:
    """Which outputs came back in the spine's row order."""
    kept = []
    expected = spine["row_id"].to_numpy()
    for label, path in outputs.items():
        row_ids = pd.read_parquet(path, columns=["row_id"])["row_id"].to_numpy()
        same = len(row_ids) == len(expected) and bool((row_ids == expected).all())
        kept.append(f"{label}: {'yes' if same else 'no'}")
    return "; ".join(kept)


def checks_table(checks: Sequence[Check]) -> str:
    """The agreement table."""
    header = "| comparison | rows | rows agreeing | expected |\n| --- | ---: | ---: | --- |"
    return "\n".join([header, *(c.line for c in checks)])
