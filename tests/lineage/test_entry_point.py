"""The entry point contract: loading, isolation between copies, and checking what it returns."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from tether.config import ThresholdSettings
from tether.errors import ProjectError
from tether.lineage._context import load_entry_point, project_imports
from tether.lineage._evaluate import evaluate, split_result


def _copy(root: Path, value: int) -> Path:
    root.mkdir()
    (root / "helper.py").write_text(f"VALUE = {value}\n")
    (root / "train.py").write_text("import helper\n\ndef train(ctx):\n    return helper.VALUE\n")
    return root


def test_two_copies_of_a_project_never_see_each_others_modules(tmp_path: Path) -> None:
    first, second = _copy(tmp_path / "a", 1), _copy(tmp_path / "b", 2)
    for source, expected in ((first, 1), (second, 2), (first, 1)):
        with project_imports(source):
            assert load_entry_point(source, "train:train")(None) == expected  # type: ignore[arg-type]
    assert "helper" not in sys.modules


@pytest.mark.parametrize(
    ("entry_point", "message"),
    [("missing:train", "no missing.py"), ("train:fit", "defines no function 'fit'")],
)
def test_a_wrong_entry_point_says_what_was_expected(
    tmp_path: Path, entry_point: str, message: str
) -> None:
    source = _copy(tmp_path / "p", 1)
    with project_imports(source), pytest.raises(ProjectError, match=message):
        load_entry_point(source, entry_point)


def test_an_import_error_in_the_project_is_reported(tmp_path: Path) -> None:
    source = tmp_path / "p"
    source.mkdir()
    (source / "train.py").write_text("import not_a_module_anywhere\n")
    with project_imports(source), pytest.raises(ProjectError, match="ModuleNotFoundError"):
        load_entry_point(source, "train:train")


FRAME = pd.DataFrame({"x": np.arange(20.0), "y": [0, 1] * 10})


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ("model", "expected a tuple"),
        ((LogisticRegression(), [1, 2]), "expected a pandas DataFrame"),
        ((LogisticRegression(), FRAME.drop(columns=["y"])), "no label column 'y'"),
        ((LogisticRegression(), FRAME.head(0)), "has no rows"),
        ((object(), FRAME), "expected a fitted scikit-learn estimator"),
    ],
)
def test_a_wrong_return_value_is_named(result: object, message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        split_result(result, "train:train", "y")


def test_classifier_metrics_match_scikit_learn() -> None:
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    model = LogisticRegression().fit(FRAME[["x"]], FRAME["y"])
    metrics, decision = evaluate(model, FRAME, "y")
    proba = model.predict_proba(FRAME[["x"]])[:, 1]
    expected = roc_auc_score(FRAME["y"], proba)
    assert metrics["roc_auc"] == pytest.approx(expected)
    assert metrics["eval_rows"] == 20
    # No [train.threshold]: decided at 0.5, and measured there.
    assert decision is not None and decision.threshold == metrics["threshold"] == 0.5
    decided = proba >= 0.5
    assert metrics["precision_at_threshold"] == precision_score(FRAME["y"], decided)
    assert metrics["recall_at_threshold"] == recall_score(FRAME["y"], decided)
    assert metrics["decision_rate"] == decided.mean()


def test_regressor_metrics_are_errors() -> None:
    model = LinearRegression().fit(FRAME[["x"]], FRAME["x"] * 2)
    metrics, decision = evaluate(model, FRAME.assign(y=FRAME["x"] * 2), "y")
    assert decision is None  # a regressor decides nothing
    assert metrics["rmse"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["r2"] == pytest.approx(1.0)


def test_a_held_out_frame_of_one_class_still_decides_at_a_fixed_threshold() -> None:
    model = LogisticRegression().fit(FRAME[["x"]], FRAME["y"])
    negatives = FRAME[FRAME["y"] == 0]
    metrics, decision = evaluate(model, negatives, "y")
    assert "roc_auc" not in metrics  # undefined on one class
    assert decision is not None and decision.threshold == 0.5 and decision.positives == 0
    with pytest.raises(ProjectError, match="no positive rows"):
        evaluate(model, negatives, "y", ThresholdSettings("recall", target=0.85))
