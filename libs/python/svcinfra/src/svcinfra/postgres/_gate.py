"""A first-come, first-served gate in front of the pool, so that waiting is fair (PG-5).

asyncpg's pool hands a released connection to whichever task asks next, and a woken waiter that
lost the race goes to the back of the queue: under contention a few requests wait far longer than
the rest (p99 25x p50 measured). The gate holds one permit per pooled connection and hands a
released permit directly to the oldest waiter, so nobody can overtake.

A permit can travel with the thing it guards: `hand_over(item)` gives the oldest waiter the
permit *and* the item (a clean connection), so that it skips the pool's release and acquire.

Every waiter has the same timeout, so deadlines grow along the line: one timer, armed while
somebody waits, expires waiters from the head instead of a timer per waiter.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class FairGate:
    """Permits handed out strictly in arrival order; `try_enter` is the no-wait fast path.

    A waiter's future resolves to None for a bare permit, or to the item handed over with it.
    """

    __slots__ = ("_sweeper", "_waiters", "free", "timeout")

    def __init__(self, permits: int, *, timeout: float) -> None:
        self.free = permits
        self.timeout = timeout
        self._waiters: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> int:
        """How many tasks wait for a permit."""
        return sum(1 for _, waiter in self._waiters if not waiter.done())

    def anyone_waiting(self) -> bool:
        """Whether somebody may be in line (cheap: waiters that gave up may still count)."""
        return bool(self._waiters)

    def try_enter(self) -> bool:
        """Take a permit when one is free and nobody waits; never suspends."""
        if self.free and not self._waiters:
            self.free -= 1
            return True
        return False

    async def enter(self) -> None:
        """Wait in line for a bare permit (after `try_enter` said no).

        For gates whose permits never travel with an item: a caller that may be handed one
        awaits `join()` itself and deals with `abandon`'s result.

        Raises:
            TimeoutError: no permit came within `timeout` seconds (give or take a tenth).
        """
        waiter = self.join()
        try:
            await waiter
        except BaseException:
            self.abandon(waiter)
            raise

    def join(self) -> asyncio.Future[Any]:
        """Get in line (after `try_enter` said no) and return the future to await.

        It resolves to None (a permit) or to an item handed over with the permit, or fails with
        `TimeoutError` after `timeout` seconds. A caller whose wait ends any other way must call
        `abandon(waiter)`. `enter` is the same as one coroutine; the query path awaits the
        future itself, one frame less.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        self._waiters.append((loop.time() + self.timeout, waiter))
        if self._sweeper is None:
            self._sweeper = loop.call_later(self.timeout / 10, self._sweep, loop)
        return waiter

    def abandon(self, waiter: asyncio.Future[Any]) -> Any:  # noqa: ANN401  (the handed item)
        """The wait on `waiter` was cut short: leave the line, or pass on a permit it got.

        Returns the item handed over with the permit, if one was: the caller owns it (and the
        permit) and must pass both on. A bare permit is passed on here.
        """
        if not waiter.cancelled() and waiter.done() and waiter.exception() is None:
            # The permit arrived as the wait was cut short: pass it on, not lose it.
            handed = waiter.result()
            if handed is None:
                self.leave()
            return handed
        waiter.cancel()
        return None

    def hand_over(self, item: object) -> bool:
        """Give the permit held and `item` to the oldest waiter; False when nobody waits.

        On False the caller keeps both: it gives `item` back where it came from and then calls
        `leave()`.
        """
        waiters = self._waiters
        while waiters:
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False

    def leave(self, item: object = None) -> None:
        """Give a permit back: to the oldest waiter if there is one (with `item`, if given).

        With an `item` somebody must be waiting; `hand_over` is the way to try.
        """
        waiters = self._waiters
        while waiters:
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        self.free += 1

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now, waiters = loop.time(), self._waiters
        while waiters and (waiters[0][0] <= now or waiters[0][1].done()):
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_exception(TimeoutError())
        self._sweeper = loop.call_later(self.timeout / 10, self._sweep, loop) if waiters else None
