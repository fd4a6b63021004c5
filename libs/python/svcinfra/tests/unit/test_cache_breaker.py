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


def fail(b: Breaker) -> bool:
    """One call admitted and failed; True when it opened the breaker."""
    ticket = b.admit()
    assert ticket is not None
    return b.failure(ticket)


def test_opens_after_consecutive_failures(clock: Clock) -> None:
    """Three failures in a row open it; until then every call may go to Redis."""
    b = breaker(clock)

    assert [fail(b) for _ in range(3)] == [False, False, True]
    assert b.state is BreakerState.OPEN
    assert b.admit() is None


def test_a_success_resets_the_count(clock: Clock) -> None:
    """Failures that are not consecutive never open it."""
    b = breaker(clock)

    for _ in range(10):
        fail(b)
        fail(b)
        ticket = b.admit()
        assert ticket is not None
        b.success(ticket)

    assert b.state is BreakerState.CLOSED


def test_one_probe_after_cooldown_then_closes_on_success(clock: Clock) -> None:
    """After the cooldown exactly one caller probes; its success closes the breaker."""
    b = breaker(clock, failures=1)
    fail(b)
    clock.now += 5.0

    probe = b.admit()
    assert probe is not None
    assert b.state is BreakerState.HALF_OPEN
    assert [b.admit() for _ in range(100)] == [None] * 100
    b.success(probe)
    assert b.state is BreakerState.CLOSED
    assert b.admit() is not None


def test_failed_probe_reopens_for_another_cooldown(clock: Clock) -> None:
    """A failed probe opens the breaker again, without needing the full failure count."""
    b = breaker(clock, failures=3)
    for _ in range(3):
        fail(b)
    clock.now += 5.0
    probe = b.admit()
    assert probe is not None

    assert b.failure(probe)
    assert b.state is BreakerState.OPEN
    clock.now += 4.9
    assert b.admit() is None


def test_lost_probe_is_replaced_after_cooldown(clock: Clock) -> None:
    """A probe whose caller never reported does not wedge the breaker half-open."""
    b = breaker(clock, failures=1)
    fail(b)
    clock.now += 5.0
    lost = b.admit()
    assert lost is not None
    clock.now += 5.0

    replacement = b.admit()
    assert replacement is not None
    b.success(lost)  # the replaced probe answers late: it is not the probe any more
    assert b.state is BreakerState.HALF_OPEN
    b.success(replacement)
    assert b.state is BreakerState.CLOSED


def test_an_abandoned_probe_frees_the_slot_at_once(clock: Clock) -> None:
    """A cancelled probe reported nothing: the next caller probes without another cooldown."""
    b = breaker(clock, failures=1)
    fail(b)
    clock.now += 5.0
    probe = b.admit()
    assert probe is not None
    assert b.admit() is None

    b.abandon(probe)
    second = b.admit()

    assert second is not None
    assert b.admit() is None
    assert b.state is BreakerState.HALF_OPEN


def test_a_late_success_of_a_call_from_before_the_opening_does_not_close_it(
    clock: Clock,
) -> None:
    """A slow call admitted while closed answers after the breaker opened: ignored (RD-1)."""
    b = breaker(clock, failures=2)
    slow = b.admit()
    assert slow is not None
    fail(b)
    fail(b)
    assert b.state is BreakerState.OPEN

    b.success(slow)
    assert b.state is BreakerState.OPEN
    clock.now += 5.0
    probe = b.admit()
    assert probe is not None
    b.success(slow)  # still not the probe
    assert b.state is BreakerState.HALF_OPEN
    assert b.admit() is None
    b.success(probe)
    assert b.state is BreakerState.CLOSED


def test_a_late_failure_from_before_the_opening_does_not_reopen_it(clock: Clock) -> None:
    """After recovery, a failure of a call admitted in the previous closed period is ignored."""
    b = breaker(clock, failures=1)
    slow = b.admit()
    assert slow is not None
    fail(b)
    clock.now += 5.0
    probe = b.admit()
    assert probe is not None
    b.success(probe)

    assert not b.failure(slow)
    assert b.state is BreakerState.CLOSED


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
