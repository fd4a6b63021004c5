"""Breaker and degraded log: a failing Redis is skipped for a while and logged rarely (RD-1)."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from svcinfra.cache import Breaker, BreakerState
from svcinfra.cache._breaker import DegradedLog


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="clock")
def _clock() -> Clock:
    return Clock()


def breaker(clock: Clock, failures: int = 3) -> Breaker:
    return Breaker(failures=failures, cooldown=5.0, label="unit", clock=clock)


def test_opens_after_consecutive_failures(clock: Clock) -> None:
    """Three failures in a row open it; until then every call may go to Redis."""
    b = breaker(clock)

    assert [b.failure() for _ in range(3)] == [False, False, True]
    assert b.state is BreakerState.OPEN
    assert not b.allow()


def test_a_success_resets_the_count(clock: Clock) -> None:
    """Failures that are not consecutive never open it."""
    b = breaker(clock)

    for _ in range(10):
        b.failure()
        b.failure()
        b.success()

    assert b.state is BreakerState.CLOSED


def test_one_probe_after_cooldown_then_closes_on_success(clock: Clock) -> None:
    """After the cooldown exactly one caller probes; its success closes the breaker."""
    b = breaker(clock, failures=1)
    b.failure()
    clock.now += 5.0

    assert b.allow()
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow()
    b.success()
    assert b.state is BreakerState.CLOSED
    assert b.allow()


def test_failed_probe_reopens_for_another_cooldown(clock: Clock) -> None:
    """A failed probe opens the breaker again, without needing the full failure count."""
    b = breaker(clock, failures=3)
    for _ in range(3):
        b.failure()
    clock.now += 5.0
    assert b.allow()

    assert b.failure()
    assert b.state is BreakerState.OPEN
    clock.now += 4.9
    assert not b.allow()


def test_lost_probe_is_replaced_after_cooldown(clock: Clock) -> None:
    """A probe whose caller never reported (cancelled) does not wedge the breaker half-open."""
    b = breaker(clock, failures=1)
    b.failure()
    clock.now += 5.0
    assert b.allow()
    clock.now += 5.0

    assert b.allow()


def test_degraded_log_once_per_interval(clock: Clock) -> None:
    """A hundred errors in one interval make one line; the next line reports how many."""
    log = DegradedLog(interval=30.0, clock=clock)

    with capture_logs() as logs:
        logged = [log.error(client="c", operation="mget", exc=TimeoutError()) for _ in range(100)]
        clock.now += 30.0
        log.error(client="c", operation="set", exc=ConnectionError("secret-ish detail"))

    assert logged.count(True) == 1
    assert len(logs) == 2
    assert logs[0]["errors_since_last_log"] == 1
    assert logs[1]["errors_since_last_log"] == 100
    assert logs[1]["error"] == "ConnectionError"
    assert "secret-ish detail" not in str(logs)
