"""Reading the prediction log's aggregate frames (its ``confusion`` and ``labelled_sample``
columns) into performance counts gives what the DataFrame path gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tether.errors import MonitoringError
from tether.monitoring import (
    cells_from_frame,
    realized,
    realized_from_counts,
    score_table_from_sample,
)

THRESHOLD = 0.7


def predictions(rows: int = 2_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(rows)
    label = (rng.random(rows) < score**2).astype(float)
    return pd.DataFrame({"score": score, "label": label, "amount": rng.lognormal(3, 1, rows)})


def confusion_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The log's ``confusion`` columns, computed by pandas: cell, rows, amount:sum/sumsq/count."""
    flagged, positive = frame["score"] >= THRESHOLD, frame["label"] == 1
    cell = np.select(
        [positive & flagged, ~positive & flagged, positive & ~flagged], ["tp", "fp", "fn"], "tn"
    )
    grouped = frame.assign(cell=cell, sq=frame["amount"] ** 2).groupby("cell")
    out = grouped.agg(rows=("score", "size"), s=("amount", "sum"), q=("sq", "sum"))
    out = out.rename(columns={"s": "amount:sum", "q": "amount:sumsq"}).reset_index()
    return out.assign(**{"amount:count": out["rows"]})


def test_the_logs_frames_give_the_dataframe_paths_metrics() -> None:
    frame = predictions()
    cells = cells_from_frame(confusion_frame(frame), ["amount"])
    table = score_table_from_sample(frame)
    expected = realized(frame, threshold=THRESHOLD, fields=["amount"])
    for name in ("tp", "fp", "fn", "tn"):
        got, want = cells.cell(name), expected.cells.cell(name)
        assert got.count == want.count
        assert got.sums["amount"] == pytest.approx(want.sums["amount"], rel=1e-12)
        assert got.sumsqs["amount"] == pytest.approx(want.sumsqs["amount"], rel=1e-12)
    from_log = realized_from_counts(cells, table)
    for metric in ("precision", "recall", "f1", "roc_auc", "brier", "ece"):
        assert from_log.metric(metric) == expected.metric(metric), metric


def test_a_cell_the_engine_did_not_return_has_no_rows() -> None:
    frame = predictions()
    confusion = confusion_frame(frame)
    cells = cells_from_frame(confusion.loc[confusion["cell"] != "fn"], ["amount"])
    assert cells.fn.count == 0 and cells.fn.sums == {"amount": 0.0}


def test_a_sampled_score_table_gives_the_samples_auc_with_its_rows() -> None:
    frame = predictions()
    cells = cells_from_frame(confusion_frame(frame))
    sample = frame.sample(500, random_state=0)
    with pytest.raises(MonitoringError, match=r"or fewer, sampled=True"):
        realized_from_counts(cells, score_table_from_sample(sample))
    result = realized_from_counts(cells, score_table_from_sample(sample), sampled=True)
    assert result.roc_auc is not None and result.roc_auc.n == 500
    assert result.precision is not None and result.precision.n == cells.tp.count + cells.fp.count


def test_frames_of_the_wrong_shape_are_named() -> None:
    confusion = confusion_frame(predictions())
    with pytest.raises(MonitoringError, match=r"lacks column\(s\) \['fee:sum', 'fee:sumsq'\]"):
        cells_from_frame(confusion, ["fee"])
    doubled = pd.concat([confusion, confusion])
    with pytest.raises(MonitoringError, match="at most once"):
        cells_from_frame(doubled)
    with pytest.raises(MonitoringError, match="values other than 0 and 1"):
        score_table_from_sample(pd.DataFrame({"score": [0.1], "label": [3.0]}))
