"""`RateLimiter`: a client-side request rate per adapter, paused by a 429 or an empty quota."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from aiolimiter import AsyncLimiter

if TYPE_CHECKING:
    from collections.abc import Callable


class RateLimiter:
    """Spaces an adapter's requests and holds them all back while the API asks us to wait.

    Two things gate a request:

    * the configured rate (`rate` requests per `period` seconds, a leaky bucket from
      aiolimiter that allows bursts of up to `rate`), when there is one;
    * a pause: after a 429, or a response saying the quota is used up until a reset time,
      every request of the adapter waits until then, not only the one that was refused; that
      is how a 429 slows the whole adapter down rather than one call.
    """

    __slots__ = ("_bucket", "_clock", "_resume_at")

    def __init__(
        self,
        *,
        rate: float | None,
        period: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (rate is not None and rate <= 0) or period <= 0:
            raise ValueError("rate and period must be positive")
        # aiolimiter binds to the running loop on first use, so building it here does no I/O.
        self._bucket = AsyncLimiter(rate, period) if rate is not None else None
        self._clock = clock
        self._resume_at = 0.0

    @property
    def limited(self) -> bool:
        """Whether a rate is configured (without one, only a pause holds requests back)."""
        return self._bucket is not None

    @property
    def paused_for(self) -> float:
        """Seconds left before requests may go again (0 when not paused)."""
        return max(0.0, self._resume_at - self._clock())

    def pause(self, seconds: float) -> None:
        """Hold every request back for `seconds` from now (a longer pause already set wins)."""
        self._resume_at = max(self._resume_at, self._clock() + max(0.0, seconds))

    async def acquire(self) -> float:
        """Wait until a request may be sent; return how many seconds that took."""
        started = self._clock()
        # Re-checked after each sleep: another response may have extended the pause meanwhile.
        while (left := self.paused_for) > 0:  # noqa: ASYNC110  (sleeps the whole pause, no polling)
            await asyncio.sleep(left)
        if self._bucket is not None:
            await self._bucket.acquire()
        return self._clock() - started
