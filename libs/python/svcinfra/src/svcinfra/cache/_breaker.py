"""`Breaker` and `DegradedLog`: a dead Redis costs no latency and fills no log (RD-1)."""

from __future__ import annotations

import enum
import time
from typing import TYPE_CHECKING

import structlog

from ._metrics import BREAKER_OPENED, BREAKER_STATE

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Breaker", "BreakerState", "DegradedLog"]

_log = structlog.get_logger("svcinfra.cache")


class BreakerState(enum.IntEnum):
    """Where a breaker is; the value is the `svcinfra_cache_breaker_state` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Breaker:
    """A consecutive-failure circuit breaker in front of Redis (RD-1).

        ticket = breaker.admit()
        if ticket is None: ...             # open: skip Redis
        try: result = await call()
        except RedisError: breaker.failure(ticket)
        except BaseException: breaker.abandon(ticket); raise
        else: breaker.success(ticket)

    After `failures` failed operations in a row it opens: callers skip Redis (a read is a miss,
    a write is dropped) for `cooldown` seconds, so a dead or hung Redis adds no latency, not even
    a socket timeout. Then exactly one probe goes through (half-open): its success closes the
    breaker, its failure opens it for another `cooldown`; every other caller skips Redis
    meanwhile. A probe that ends without an answer (its caller was cancelled) frees the slot for
    the next caller; one that never reports at all is replaced after `cooldown`.

    Each admitted call carries a ticket: the breaker's epoch when it was admitted. The epoch
    moves whenever the breaker opens or admits a probe, so the outcome of a call admitted
    before that (a slow call that started while the breaker was closed and answers after it
    opened, or a replaced probe) says nothing about Redis now and is ignored: only the current
    probe closes a half-open breaker. A readiness ping reports nothing to the breaker.
    """

    __slots__ = (
        "_clock",
        "_epoch",
        "_failures",
        "_label",
        "_opened_at",
        "_probe",
        "_probe_at",
        "cooldown",
        "failures",
        "state",
    )

    def __init__(
        self,
        *,
        failures: int,
        cooldown: float,
        label: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._epoch = 0
        self._probe: int | None = None
        self._opened_at = 0.0
        self._probe_at = 0.0
        self._clock = clock
        self._label = label
        BREAKER_STATE.labels(label).set(0)

    def admit(self) -> int | None:
        """Return a ticket when an operation may go to Redis now, None when it must skip it."""
        if self.state is BreakerState.CLOSED:
            return self._epoch
        now = self._clock()
        if self.state is BreakerState.OPEN:
            if now - self._opened_at < self.cooldown:
                return None
            self._set(BreakerState.HALF_OPEN)
        elif self._probe is not None and now - self._probe_at < self.cooldown:
            return None  # the probe is out: one at a time
        self._epoch += 1
        self._probe = self._epoch
        self._probe_at = now
        return self._epoch

    def rejecting(self) -> bool:
        """Tell, without changing state, whether the breaker is open and still cooling down."""
        return self.state is BreakerState.OPEN and self._clock() - self._opened_at < self.cooldown

    def success(self, ticket: int) -> None:
        """Record that the call admitted with `ticket` reached Redis and got an answer."""
        if ticket != self._epoch:
            return  # admitted before the breaker opened or before the current probe
        self._failures = 0
        if self.state is BreakerState.HALF_OPEN:
            self._probe = None
            self._set(BreakerState.CLOSED)
            _log.info("cache recovered", client=self._label, rule="RD-1")

    def failure(self, ticket: int) -> bool:
        """Record a failed call; return True when this failure opened the breaker."""
        if ticket != self._epoch:
            return False
        self._failures += 1
        if self.state is BreakerState.CLOSED and self._failures < self.failures:
            return False
        self._epoch += 1  # what is still in flight says nothing about the next cooldown
        self._probe = None
        self._opened_at = self._clock()
        self._set(BreakerState.OPEN)
        BREAKER_OPENED.labels(self._label).inc()
        _log.warning(
            "cache breaker open: skipping Redis",
            client=self._label,
            cooldown_s=self.cooldown,
            rule="RD-1",
        )
        return True

    def abandon(self, ticket: int) -> None:
        """Record a call that ended without an answer (cancelled): a probe's slot is freed."""
        if self.state is BreakerState.HALF_OPEN and ticket == self._probe:
            self._probe = None

    def _set(self, state: BreakerState) -> None:
        self.state = state
        BREAKER_STATE.labels(self._label).set(int(state))


class DegradedLog:
    """Logs 'cache degraded' at most once per `interval`, with how many errors it stands for."""

    __slots__ = ("_clock", "_last", "_suppressed", "interval")

    def __init__(self, *, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None
        self._suppressed = 0

    def error(self, *, client: str, operation: str, exc: BaseException) -> bool:
        """Count one absorbed error; log it if the interval has passed. Return True if logged."""
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            self._suppressed += 1
            return False
        _log.warning(
            "cache degraded: Redis error absorbed, serving from the source of truth",
            client=client,
            operation=operation,
            error=type(exc).__name__,
            errors_since_last_log=self._suppressed + 1,
            rule="RD-1",
        )
        self._last = now
        self._suppressed = 0
        return True
