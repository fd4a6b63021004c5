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
    """A consecutive-failure circuit breaker in front of Redis.

    After `failures` failed operations in a row it opens: callers skip Redis (a read is a miss,
    a write is dropped) for `cooldown` seconds, so a dead or hung Redis adds no latency, not even
    a socket timeout. Then one probe goes through (half-open): success closes the breaker,
    failure opens it for another `cooldown`. A probe that never reports (its caller was
    cancelled) is replaced after `cooldown`.
    """

    __slots__ = (
        "_clock",
        "_failures",
        "_label",
        "_opened_at",
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
        self._opened_at = 0.0
        self._probe_at = 0.0
        self._clock = clock
        self._label = label
        BREAKER_STATE.labels(label).set(0)

    def allow(self) -> bool:
        """Tell whether an operation may go to Redis now."""
        if self.state is BreakerState.CLOSED:
            return True
        now = self._clock()
        if self.state is BreakerState.OPEN:
            if now - self._opened_at < self.cooldown:
                return False
            self._set(BreakerState.HALF_OPEN)
            self._probe_at = now
            return True
        if now - self._probe_at >= self.cooldown:
            self._probe_at = now
            return True
        return False

    def rejecting(self) -> bool:
        """Tell, without changing state, whether the breaker is open and still cooling down."""
        return self.state is BreakerState.OPEN and self._clock() - self._opened_at < self.cooldown

    def success(self) -> None:
        """Record an operation that reached Redis and got an answer."""
        self._failures = 0
        if self.state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)
            _log.info("cache recovered", client=self._label, rule="RD-1")

    def failure(self) -> bool:
        """Record a failed operation; return True when this failure opened the breaker."""
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self._failures >= self.failures
        ):
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
        return False

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
