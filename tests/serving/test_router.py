"""The router: outputs, cohorts, logging, validation, online features and challenger fallback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from routing_cases import (
    FEATURES,
    ROW,
    Exploding,
    FakeLookup,
    FakeSource,
    Gated,
    Recorder,
    deployment,
    instance,
    served,
)
from sklearn.linear_model import LinearRegression

from tether.errors import (
    BatchTooLargeError,
    FeatureError,
    InvalidInstanceError,
    NotReadyError,
    PredictionLogFullError,
    StoreUnavailableError,
)
from tether.serving._assignment import assign_cohort
from tether.serving._deployment import Deployment
from tether.serving._router import Router

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_router(current: Deployment, recorder: Recorder | None = None, **options: object) -> Router:
    router = Router(
        FakeSource(current),
        recorder or Recorder(),
        clock=lambda: NOW,
        **options,  # type: ignore[arg-type]
    )
    router.refresh()
    return router


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def champion_only(recorder: Recorder) -> Iterator[Router]:
    router = make_router(deployment(served("1")), recorder)
    yield router
    router.close()


def expected_probability(version: str, row: dict[str, float]) -> float:
    model = served(version).model
    frame = pd.DataFrame([row], columns=list(FEATURES))
    return float(model.predict_proba(frame)[0, 1])


def test_champion_answers_with_the_probability_of_the_positive_class(
    champion_only: Router,
) -> None:
    result = champion_only.predict([instance()])
    [answer] = result.results
    assert answer.output == pytest.approx(expected_probability("1", ROW))
    assert (answer.version, answer.cohort, answer.fallback) == ("1", "champion", False)
    assert result.model == "fraud" and len(result.request_id) == 32


def test_a_regressor_answers_with_its_prediction(recorder: Recorder) -> None:
    frame = pd.DataFrame(np.eye(3), columns=list(FEATURES))
    regressor = LinearRegression().fit(frame, [1.0, 2.0, 3.0])
    router = make_router(deployment(served("1", regressor)), recorder)
    [answer] = router.predict([instance()]).results
    assert answer.output == pytest.approx(float(regressor.predict(pd.DataFrame([ROW]))[0]))


def test_instance_ids_are_kept_or_generated(champion_only: Router) -> None:
    results = champion_only.predict([instance(instance_id="tx-1"), instance()]).results
    assert results[0].instance_id == "tx-1"
    assert len(results[1].instance_id) == 32 and results[1].instance_id != "tx-1"


def test_every_prediction_is_logged_with_role_cohort_and_features(
    champion_only: Router, recorder: Recorder
) -> None:
    event = NOW - timedelta(hours=1)
    result = champion_only.predict(
        [instance(instance_id="tx-1", unit_id="c1", event_time=event), instance()],
        request_id="req-1",
    )
    first, second = recorder.predictions
    assert (first.request_id, first.instance_id, first.role, first.cohort) == (
        "req-1", "tx-1", "champion", "champion",
    )  # fmt: skip
    assert first.features == ROW and first.output == result.results[0].output
    assert (first.unit_id, first.event_time, first.time) == ("c1", event, NOW)
    assert second.event_time == NOW  # no event time: the request's time
    assert first.model == "fraud" and first.version == "1" and first.latency_ms >= 0


def test_cohorts_follow_the_sticky_assignment(recorder: Recorder) -> None:
    current = deployment(served("1"), served("2"), share=0.3, event_id=7)
    router = make_router(current, recorder)
    units = [f"c{i}" for i in range(200)]
    results = router.predict([instance(unit_id=u) for u in units]).results
    for unit, answer in zip(units, results, strict=True):
        cohort = assign_cohort("7", unit, 0.3)
        assert answer.cohort == cohort
        assert answer.version == ("2" if cohort == "challenger" else "1")
    again = router.predict([instance(unit_id=u) for u in units]).results
    assert [a.cohort for a in again] == [a.cohort for a in results]
    assert {p.role for p in recorder.predictions} == {"champion", "challenger"}
    assert 20 < sum(a.cohort == "challenger" for a in results) < 100


def test_instances_without_unit_go_to_the_champion(recorder: Recorder) -> None:
    router = make_router(deployment(served("1"), served("2"), share=1.0), recorder)
    results = router.predict([instance(), instance(unit_id="c1")]).results
    assert [(a.cohort, a.version) for a in results] == [
        ("champion", "1"), ("challenger", "2"),
    ]  # fmt: skip


def test_a_challenger_that_raises_falls_back_to_the_champion(recorder: Recorder) -> None:
    router = make_router(deployment(served("1"), served("2", Exploding()), share=1.0), recorder)
    results = router.predict([instance(unit_id="c1"), instance(unit_id="c2")]).results
    for answer in results:
        assert (answer.version, answer.cohort, answer.fallback) == ("1", "challenger", True)
        assert answer.output == pytest.approx(expected_probability("1", ROW))
    assert router.stats.fallbacks == 2
    assert [(p.role, p.cohort, p.version) for p in recorder.predictions] == [
        ("champion", "challenger", "1"), ("champion", "challenger", "1"),
    ]  # fmt: skip


def test_a_challenger_slower_than_its_timeout_falls_back(recorder: Recorder) -> None:
    slow = Gated(served("2").model)
    router = make_router(
        deployment(served("1"), served("2", slow), share=1.0),
        recorder,
        challenger_timeout_s=0.05,
    )
    try:
        [answer] = router.predict([instance(unit_id="c1")]).results
        assert (answer.version, answer.fallback) == ("1", True)
        assert router.stats.fallbacks == 1
    finally:
        slow.gate.set()
        router.close()


def test_champion_and_challenger_cohorts_are_answered_in_one_request(recorder: Recorder) -> None:
    router = make_router(deployment(served("1"), served("2"), share=0.5, event_id=3), recorder)
    units = [f"u{i}" for i in range(40)]
    results = router.predict([instance(unit_id=u) for u in units]).results
    versions = {a.version for a in results}
    assert versions == {"1", "2"} and not any(a.fallback for a in results)


def test_no_deployment_means_not_ready(recorder: Recorder) -> None:
    source = FakeSource(deployment(served("1")))
    source.failure = RuntimeError("registry down")
    router = Router(source, recorder)
    assert router.refresh().outcome == "failed"
    with pytest.raises(NotReadyError, match="No deployment is loaded"):
        router.predict([instance()])


@pytest.mark.parametrize(
    ("features", "field", "message"),
    [
        ({"a": 1.0, "b": 2.0}, "instances[0].features.c", r"lacks \['c'\]"),
        ({**ROW, "d": 1.0}, "instances[0].features.d", "no served model takes"),
        ({**ROW, "a": float("nan")}, "instances[0].features.a", "expected a finite number"),
        ({**ROW, "a": float("inf")}, "instances[0].features.a", "expected a finite number"),
        ({**ROW, "b": "1.5"}, "instances[0].features.b", "expected a finite number"),
        ({**ROW, "b": True}, "instances[0].features.b", "expected a finite number"),
        ({**ROW, "c": None}, "instances[0].features.c", "expected a finite number"),
        ({**ROW, "c": 10**400}, "instances[0].features.c", "expected a finite number"),
    ],
)
def test_invalid_features_name_the_field(
    champion_only: Router, features: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(InvalidInstanceError, match=message) as caught:
        champion_only.predict([instance(features=features)])
    assert caught.value.field == field


def test_a_challenger_feature_is_required_of_every_instance(recorder: Recorder) -> None:
    challenger = served("2", features=("a", "b", "c", "d"))
    challenger_model = challenger.model
    frame = pd.DataFrame(np.eye(4), columns=["a", "b", "c", "d"])
    challenger_model.fit(frame, [0, 1, 0, 1])
    router = make_router(deployment(served("1"), challenger, share=0.0001), recorder)
    with pytest.raises(InvalidInstanceError, match=r"lacks \['d'\]"):
        router.predict([instance()])  # even though this instance goes to the champion
    [answer] = router.predict([instance(features={**ROW, "d": 1.0})]).results
    assert answer.version == "1"


def test_naive_event_time_repeated_ids_and_empty_batches_are_refused(
    champion_only: Router,
) -> None:
    with pytest.raises(InvalidInstanceError, match="naive time") as caught:
        champion_only.predict([instance(event_time=datetime(2024, 1, 1))])
    assert caught.value.field == "instances[0].event_time"
    with pytest.raises(InvalidInstanceError, match="repeats instances") as caught:
        champion_only.predict([instance(instance_id="x"), instance(instance_id="x")])
    assert caught.value.field == "instances[1].instance_id"
    with pytest.raises(InvalidInstanceError, match="at least one"):
        champion_only.predict([])


def test_a_batch_larger_than_max_instances_is_refused(recorder: Recorder) -> None:
    router = make_router(deployment(served("1")), recorder, max_instances=3)
    router.predict([instance() for _ in range(3)])
    with pytest.raises(BatchTooLargeError, match="at most 3"):
        router.predict([instance() for _ in range(4)])


def test_entity_features_come_from_the_lookup_as_of_the_event_time(recorder: Recorder) -> None:
    lookup = FakeLookup({"c1": {"b": -1.0, "c": 2.0, "unused": "x"}})
    router = make_router(deployment(served("1")), recorder, features=lookup)
    event = NOW - timedelta(days=1)
    request = instance(features={"a": 0.5, "amount": 12.0}, entity={"customer_id": "c1"},
                       event_time=event)  # fmt: skip
    [answer] = router.predict([request]).results
    assert answer.output == pytest.approx(expected_probability("1", ROW))
    assert lookup.calls == [([{"customer_id": "c1"}], [{"a": 0.5, "amount": 12.0}])]
    assert lookup.times == [event]
    assert recorder.predictions[0].features == ROW


def test_a_value_contradicting_the_online_store_is_refused(recorder: Recorder) -> None:
    lookup = FakeLookup({"c1": {"b": -1.0, "c": 2.0}})
    router = make_router(deployment(served("1")), recorder, features=lookup)
    same = instance(features=dict(ROW), entity={"customer_id": "c1"})
    router.predict([same])  # equal values are not a conflict
    with pytest.raises(InvalidInstanceError, match="online store computes") as caught:
        router.predict([instance(features={**ROW, "c": 3.0}, entity={"customer_id": "c1"})])
    assert caught.value.field == "instances[0].features.c"


def test_missing_online_features_are_named(recorder: Recorder) -> None:
    router = make_router(deployment(served("1")), recorder, features=FakeLookup({}))
    with pytest.raises(InvalidInstanceError, match="or the entity's online features"):
        router.predict([instance(features={"a": 1.0}, entity={"customer_id": "nobody"})])


def test_an_entity_without_a_lookup_is_refused(champion_only: Router) -> None:
    with pytest.raises(InvalidInstanceError, match="no online feature store"):
        champion_only.predict([instance(entity={"customer_id": "c1"})])


def test_store_outages_and_lookup_errors_propagate(recorder: Recorder) -> None:
    lookup = FakeLookup({"c1": {"b": 1.0, "c": 1.0}})
    router = make_router(deployment(served("1")), recorder, features=lookup)
    lookup.down = True
    with pytest.raises(StoreUnavailableError):
        router.predict([instance(features={"a": 1.0}, entity={"customer_id": "c1"})])
    assert recorder.predictions == []
    assert issubclass(StoreUnavailableError, FeatureError)


def test_null_online_features_reach_the_model_as_nan(recorder: Recorder) -> None:
    class Probe:
        classes_ = np.array([0, 1])

        def predict(self, inputs: np.ndarray) -> np.ndarray:
            return np.zeros(len(inputs))

        def predict_proba(self, inputs: np.ndarray) -> np.ndarray:
            self.seen = inputs
            return np.array([[0.25, 0.75]] * len(inputs))

    probe = Probe()
    lookup = FakeLookup({"c1": {"b": None, "c": 2.0}})
    router = make_router(deployment(served("1", probe)), recorder, features=lookup)
    [answer] = router.predict([instance(features={"a": 1}, entity={"customer_id": "c1"})]).results
    assert answer.output == 0.75
    assert np.isnan(probe.seen[0, 1]) and probe.seen[0, 2] == 2.0
    assert recorder.predictions[0].features == {"a": 1.0, "b": None, "c": 2.0}


def test_a_full_prediction_log_is_counted_and_never_answered_as_served() -> None:
    router = make_router(deployment(served("1")), Recorder(accept=False))
    with pytest.raises(PredictionLogFullError, match="2 of 2 predictions"):
        router.predict([instance(), instance()])
    assert router.stats.predictions_dropped == 2
