"""The circuit breaker's state machine and the rate limiter's pause, on a fake clock (EX-3)."""

from __future__ import annotations

import asyncio

import pytest

from svcinfra.httpclient import CircuitState
from svcinfra.httpclient._breaker import CircuitBreaker, Outcome
from svcinfra.httpclient._limiter import RateLimiter


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="transitions")
def _transitions() -> list[tuple[CircuitState, CircuitState]]:
    return []


@pytest.fixture(name="breaker")
def _breaker(
    clock: FakeClock,
    transitions: list[tuple[CircuitState, CircuitState]],
) -> CircuitBreaker:
    return CircuitBreaker(
        threshold=3,
        reset_timeout=10.0,
        clock=clock,
        on_change=lambda old, new: transitions.append((old, new)),
    )


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record(breaker.admit(), Outcome.FAILED)


def test_opens_after_threshold_failures_in_a_row(breaker: CircuitBreaker) -> None:
    """Two failures keep it closed; the third in a row opens it."""
    _fail(breaker, 2)
    assert breaker.state == CircuitState.CLOSED
    _fail(breaker, 1)
    assert breaker.state == CircuitState.OPEN


def test_success_resets_the_count(breaker: CircuitBreaker) -> None:
    """A healthy answer between failures resets the consecutive count."""
    _fail(breaker, 2)
    breaker.record(breaker.admit(), Outcome.HEALTHY)
    _fail(breaker, 2)
    assert breaker.state == CircuitState.CLOSED


def test_neutral_outcomes_do_not_count(breaker: CircuitBreaker) -> None:
    """429s and abandoned attempts neither open the circuit nor reset the count."""
    _fail(breaker, 2)
    for _ in range(5):
        breaker.record(breaker.admit(), Outcome.NEUTRAL)
    assert breaker.state == CircuitState.CLOSED
    _fail(breaker, 1)
    assert breaker.state == CircuitState.OPEN


def test_open_refuses_with_time_left(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """While open, attempts are refused with the seconds left until a probe."""
    _fail(breaker, 3)
    clock.now += 4
    admission = breaker.admit()
    assert not admission.allowed
    assert pytest.approx(admission.retry_after) == 6.0


def test_half_open_lets_one_probe_through(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """After the reset timeout one probe is admitted and the others are refused meanwhile."""
    _fail(breaker, 3)
    clock.now += 10
    assert breaker.state == CircuitState.HALF_OPEN
    probe = breaker.admit()
    other = breaker.admit()
    assert (probe.allowed, probe.probe) == (True, True)
    assert not other.allowed
    assert other.probe_out


@pytest.mark.parametrize(
    ("outcome", "then"),
    [
        (Outcome.HEALTHY, (True, False)),  # closed: every waiter goes through
        (Outcome.FAILED, (False, False)),  # open again: refused, no longer waiting on a probe
        (Outcome.NEUTRAL, (True, True)),  # no verdict: the first waiter becomes the next probe
    ],
    ids=["healthy", "failed", "neutral"],
)
async def test_waiters_get_the_probes_verdict(
    breaker: CircuitBreaker, clock: FakeClock, outcome: Outcome, then: tuple[bool, bool]
) -> None:
    """Calls refused while the probe is out await its verdict, then ask again (issue 17)."""
    _fail(breaker, 3)
    clock.now += 10
    probe = breaker.admit()
    waiters = [asyncio.create_task(breaker.verdict()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)  # the probe is still out
    breaker.record(probe, outcome)
    await asyncio.gather(*waiters)
    first = breaker.admit()
    assert (first.allowed, first.probe) == then
    assert breaker.admit().probe_out is (outcome is Outcome.NEUTRAL)


async def test_no_probe_out_no_wait(breaker: CircuitBreaker) -> None:
    """Closed, or open with no probe: `verdict()` returns at once."""
    await asyncio.wait_for(breaker.verdict(), 1)
    _fail(breaker, 3)
    await asyncio.wait_for(breaker.verdict(), 1)


def test_healthy_probe_closes(
    breaker: CircuitBreaker,
    clock: FakeClock,
    transitions: list[tuple[CircuitState, CircuitState]],
) -> None:
    """A healthy probe closes the circuit; every transition is reported."""
    _fail(breaker, 3)
    clock.now += 10
    breaker.record(breaker.admit(), Outcome.HEALTHY)
    assert breaker.state == CircuitState.CLOSED
    assert transitions == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]


def test_failed_probe_reopens_for_another_timeout(
    breaker: CircuitBreaker,
    clock: FakeClock,
) -> None:
    """A failed probe opens the circuit again, for a full reset timeout from then."""
    _fail(breaker, 3)
    clock.now += 10
    breaker.record(breaker.admit(), Outcome.FAILED)
    assert breaker.state == CircuitState.OPEN
    assert pytest.approx(breaker.admit().retry_after) == 10.0


def test_neutral_probe_frees_the_slot(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """A probe that says nothing (429, abandoned) leaves the circuit half-open for another."""
    _fail(breaker, 3)
    clock.now += 10
    breaker.record(breaker.admit(), Outcome.NEUTRAL)
    assert breaker.state == CircuitState.HALF_OPEN
    assert breaker.admit().probe


def test_late_result_of_an_old_attempt_is_not_the_probe(
    breaker: CircuitBreaker,
    clock: FakeClock,
) -> None:
    """An attempt admitted while closed that fails late does not release the probe slot."""
    early = breaker.admit()
    _fail(breaker, 3)
    clock.now += 10
    probe = breaker.admit()
    breaker.record(early, Outcome.FAILED)
    assert not breaker.admit().allowed
    breaker.record(probe, Outcome.HEALTHY)
    assert breaker.state == CircuitState.CLOSED


@pytest.mark.parametrize(
    ("threshold", "reset_timeout"),
    [(0, 1.0), (1, 0.0)],
    ids=["threshold", "timeout"],
)
def test_breaker_rejects_nonsense(threshold: int, reset_timeout: float) -> None:
    """A threshold below 1 or a non-positive reset timeout is refused."""
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=threshold, reset_timeout=reset_timeout)


def test_limiter_pause_longest_wins(clock: FakeClock) -> None:
    """A pause holds requests back; a shorter one does not cut a longer one short."""
    limiter = RateLimiter(rate=None, period=1.0, clock=clock)
    assert limiter.paused_for == 0.0
    limiter.pause(5)
    limiter.pause(2)
    assert limiter.paused_for == 5.0
    clock.now += 5
    assert limiter.paused_for == 0.0


async def test_limiter_acquire_waits_out_a_pause() -> None:
    """`acquire` sleeps through a pause and says how long it waited."""
    limiter = RateLimiter(rate=None, period=1.0)
    limiter.pause(0.05)
    waited = await limiter.acquire()
    assert 0.045 <= waited < 1.0


async def test_limiter_rate_spaces_requests() -> None:
    """Beyond the burst, the configured rate makes requests wait."""
    limiter = RateLimiter(rate=2, period=0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(4):
        await limiter.acquire()
    assert 0.08 <= loop.time() - started < 2.0


@pytest.mark.parametrize(("rate", "period"), [(0.0, 1.0), (1.0, 0.0)], ids=["rate", "period"])
def test_limiter_rejects_nonsense(rate: float, period: float) -> None:
    """A non-positive rate or period is refused."""
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(rate=rate, period=period)
