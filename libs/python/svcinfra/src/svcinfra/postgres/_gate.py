"""A first-come, first-served gate in front of the pool, so that waiting is fair (PG-5).

asyncpg's pool hands a released connection to whichever task asks next, and a woken waiter that
lost the race goes to the back of the queue: under contention a few requests wait far longer than
the rest (p99 25x p50 measured). The gate holds one permit per pooled connection and hands a
released permit directly to the oldest waiter, so nobody can overtake.

Every waiter has the same timeout, so deadlines grow along the line: one timer, armed while
somebody waits, expires waiters from the head instead of a timer per waiter.
"""

from __future__ import annotations

import asyncio
from collections import deque


class FairGate:
    """Permits handed out strictly in arrival order; `try_enter` is the no-wait fast path."""

    __slots__ = ("_sweeper", "_waiters", "free", "timeout")

    def __init__(self, permits: int, *, timeout: float) -> None:
        self.free = permits
        self.timeout = timeout
        self._waiters: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> int:
        """How many tasks wait for a permit."""
        return sum(1 for _, waiter in self._waiters if not waiter.done())

    def try_enter(self) -> bool:
        """Take a permit when one is free and nobody waits; never suspends."""
        if self.free and not self._waiters:
            self.free -= 1
            return True
        return False

    async def enter(self) -> None:
        """Wait in line for a permit (after `try_enter` said no).

        Raises:
            TimeoutError: no permit came within `timeout` seconds (give or take a tenth).
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append((loop.time() + self.timeout, waiter))
        if self._sweeper is None:
            self._sweeper = loop.call_later(self.timeout / 10, self._sweep, loop)
        try:
            await waiter
        except BaseException:
            if not waiter.cancelled() and waiter.done() and waiter.exception() is None:
                # The permit arrived as the wait was cut short: pass it on, not lose it.
                self.leave()
            else:
                waiter.cancel()
            raise

    def leave(self) -> None:
        """Give a permit back: to the oldest waiter if there is one."""
        waiters = self._waiters
        while waiters:
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now, waiters = loop.time(), self._waiters
        while waiters and (waiters[0][0] <= now or waiters[0][1].done()):
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_exception(TimeoutError())
        self._sweeper = loop.call_later(self.timeout / 10, self._sweep, loop) if waiters else None
