"""The HTTP surface beyond one endpoint: times, content types, tokens, timeouts, bounded parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_cases import one, running_app


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00"]
)
def test_a_feedback_time_outside_the_stores_range_is_422_naming_field_and_range(
    tmp_path: Path, moment: str
) -> None:
    with running_app(tmp_path) as client:
        assert client.post("/v1/predict", json=one(instance_id="tx-1")).status_code == 200
        body = {"instance_id": "tx-1", "label": 1, "time": moment}
        response = client.post("/v1/feedback", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "time"
        assert "1678-01-01T00:00:00Z (inclusive) to 2262-01-01T00:00:00Z" in response.text
