"""Hot reload: a new deployment is loaded before the swap; a failed load keeps the old one."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from routing_cases import FakeSource, Recorder, deployment, instance, served

from tether.errors import IntegrityError, RegistryError
from tether.serving._router import Router


def test_refresh_swaps_only_when_the_event_id_changes() -> None:
    source = FakeSource(deployment(served("1"), event_id=1))
    router = Router(source, Recorder())
    assert router.refresh().outcome == "reloaded"
    assert router.refresh().outcome == "unchanged"
    assert source.loads == 1
    source.current = deployment(served("2"), event_id=2)
    result = router.refresh()
    assert (result.outcome, result.event_id) == ("reloaded", 2)
    assert router.predict([instance()]).results[0].version == "2"
    assert router.stats.reloads == 2


def test_a_new_deployment_is_logged_once_when_it_replaces_the_served_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource(deployment(served("1"), event_id=1))
    router = Router(source, Recorder())
    with caplog.at_level(logging.INFO, logger="tether.serving"):
        router.refresh()  # the first: the server's start-up line names it
        router.refresh()  # unchanged: nothing to say
        source.current = deployment(served("2"), event_id=2)
        router.refresh()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1
    assert "now serving" in lines[0] and "champion 2" in lines[0] and "was event 1" in lines[0]


def test_a_failed_load_keeps_serving_the_old_deployment() -> None:
    source = FakeSource(deployment(served("1"), event_id=1))
    router = Router(source, Recorder())
    router.refresh()
    source.current = deployment(served("2"), event_id=2)
    source.failure = IntegrityError("model file of fraud/2 changed")
    result = router.refresh()
    assert (result.outcome, result.event_id) == ("failed", 1)
    assert "IntegrityError: model file of fraud/2 changed" in result.error
    assert router.predict([instance()]).results[0].version == "1"
    assert router.stats.reload_failures == 1
    source.failure = None
    assert router.refresh().outcome == "reloaded"


def test_a_deployment_that_cannot_be_served_is_refused_before_the_swap() -> None:
    source = FakeSource(deployment(served("1"), event_id=1))
    router = Router(source, Recorder())
    router.refresh()
    source.current = deployment(served("2", features=()), event_id=2)
    assert router.refresh().outcome == "failed"
    source.current = deployment(served("3", model=object()), event_id=3)
    assert "no predict method" in router.refresh().error
    source.current = deployment(served("1"), served("4"), share=1.5, event_id=4)
    assert "expected a number in [0, 1]" in router.refresh().error
    assert router.deployment is not None and router.deployment.event_id == 1


def test_the_poller_picks_up_a_new_deployment() -> None:
    source = FakeSource(deployment(served("1"), event_id=1))
    router = Router(source, Recorder(), reload_interval_s=0.01)
    assert router.start().outcome == "reloaded"
    try:
        source.current = deployment(served("2"), event_id=2)
        deadline = time.monotonic() + 10.0
        while router.predict([instance()]).results[0].version != "2":
            assert time.monotonic() < deadline, "the poller never reloaded"
            time.sleep(0.01)
    finally:
        router.close()


def test_switching_aliases_under_traffic_fails_no_request() -> None:
    old = deployment(served("1"), served("2"), share=0.5, event_id=1)
    new = deployment(served("3"), served("4"), share=0.5, event_id=2)
    source = FakeSource(old)
    router = Router(source, Recorder())
    router.refresh()
    units = [f"c{i}" for i in range(16)]
    stop = threading.Event()

    def traffic() -> list[set[str]]:
        seen = []
        while not stop.is_set():
            result = router.predict([instance(unit_id=u) for u in units])  # raises: test fails
            seen.append({answer.version for answer in result.results})
        return seen

    with ThreadPoolExecutor(3) as pool:
        clients = [pool.submit(traffic) for _ in range(3)]
        for current in [new, old, new, old, new]:
            time.sleep(0.02)
            source.current = current
            assert router.refresh().outcome == "reloaded"
        time.sleep(0.02)
        stop.set()
        seen = [versions for client in clients for versions in client.result()]
    assert len(seen) > 5
    # Each response was served by one deployment: never a mix of old and new versions.
    assert all(versions <= {"1", "2"} or versions <= {"3", "4"} for versions in seen)
    assert any(versions <= {"3", "4"} for versions in seen)
    assert {answer.version for answer in router.predict([instance()]).results} == {"3"}


@pytest.mark.parametrize("failure", [RuntimeError("boom"), ModuleNotFoundError("xgboost")])
def test_any_load_failure_is_contained(failure: Exception) -> None:
    source = FakeSource(deployment(served("1"), event_id=1))
    source.failure = failure
    router = Router(source, Recorder())
    assert router.refresh().outcome == "failed"
    assert router.deployment is None


def test_a_repeated_refusal_is_logged_once_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource(deployment(served("1"), event_id=1))
    source.failure = RegistryError("fraud has no champion: deploy one")
    router = Router(source, Recorder())
    with caplog.at_level(logging.DEBUG, logger="tether.serving"):
        for _ in range(3):  # the poller retries every reload interval
            assert router.refresh().outcome == "failed"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info is None  # the message says it all; a traceback adds nothing
    assert "nothing is served yet" in errors[0].getMessage()
    assert router.stats.reload_failures == 3  # every failure still counted
    source.failure = None
    assert router.refresh().outcome == "reloaded"
