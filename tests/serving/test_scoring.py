"""What a model is handed: an array in its fitted column order, or a frame it checks itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from tether.serving import ServedModel
from tether.serving._scoring import score

COLUMNS = ("amount", "hour", "country_risk")


@pytest.fixture(scope="module")
def fitted() -> tuple[HistGradientBoostingClassifier, pd.DataFrame]:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=list(COLUMNS))
    labels = (frame["amount"] + frame["hour"] > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(frame, labels)
    return model, frame


def test_in_the_fitted_order_the_scores_equal_the_models_own_on_its_frame(
    fitted: tuple[HistGradientBoostingClassifier, pd.DataFrame],
) -> None:
    model, frame = fitted
    served = ServedModel("fraud", "1", model, COLUMNS, sha256="sha-1")
    rows = frame.head(20)
    vectors = [{name: float(row[name]) for name in COLUMNS} for _, row in rows.iterrows()]
    assert score(served, vectors).outputs == list(model.predict_proba(rows)[:, 1])


def test_in_another_order_the_model_gets_a_frame_and_refuses_it(
    fitted: tuple[HistGradientBoostingClassifier, pd.DataFrame],
) -> None:
    # Never an array in the wrong order: the frame lets scikit-learn name the mismatch.
    model, frame = fitted
    served = ServedModel("fraud", "1", model, tuple(reversed(COLUMNS)), sha256="sha-1")
    vector = {name: float(frame[name].iloc[0]) for name in COLUMNS}
    with pytest.raises(ValueError, match="feature names"):
        score(served, [vector])
