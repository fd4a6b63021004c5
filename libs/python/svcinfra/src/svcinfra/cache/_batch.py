"""Auto-pipelining: the reads of one event-loop tick travel as one MGET.

redis-py spends tens of microseconds of CPU per command (pool checkout, encoding, parsing,
bookkeeping), and on a small machine the client's CPU, not Redis, is the limit. Go's rueidis and
Node's ioredis batch concurrent commands automatically; this does the same for reads: every `get`
scheduled in one tick joins a single MGET, sent in a task owned by nobody, so one caller's
cancellation never cancels a read that others wait for.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

__all__ = ["FAILED", "Failed", "ReadBatcher"]

V = TypeVar("V")


class Failed:
    """The result of a read that did not reach Redis (error or breaker open)."""

    __slots__ = ("skipped",)

    def __init__(self, *, skipped: bool) -> None:
        self.skipped = skipped

    def __repr__(self) -> str:
        return "SKIPPED" if self.skipped else "FAILED"


FAILED: Final = Failed(skipped=False)
SKIPPED: Final = Failed(skipped=True)

Result = bytes | None | Failed


class ReadBatcher(Generic[V]):
    """Coalesce concurrent single-key reads into MGETs of at most `max_batch` keys.

    `V` is what one key reads as: its bytes (None when absent) for a plain MGET, or its bytes and
    remaining TTL for the near cache's reads.
    """

    def __init__(
        self,
        mget: Callable[[Sequence[str]], Awaitable[list[V] | Failed]],
        *,
        max_batch: int,
    ) -> None:
        self._mget = mget
        self._max_batch = max_batch
        self._pending: dict[str, list[asyncio.Future[V | Failed]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, key: str) -> asyncio.Future[V | Failed]:
        """Return a future of what `key` reads as, read with the next MGET."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | Failed] = loop.create_future()
        waiters = self._pending.get(key)
        if waiters is None:
            self._pending[key] = [future]
        else:
            waiters.append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    async def aclose(self) -> None:
        """Cancel the batches in flight; their waiters get FAILED."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        keys = list(pending)
        for start in range(0, len(keys), self._max_batch):
            chunk = keys[start : start + self._max_batch]
            task = asyncio.get_running_loop().create_task(self._send(chunk, pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(
        self, keys: list[str], pending: dict[str, list[asyncio.Future[V | Failed]]]
    ) -> None:
        values: list[V] | Failed = FAILED
        try:
            values = await self._mget(keys)
        finally:
            # Runs on cancellation too, so that no waiter is left hanging.
            if isinstance(values, Failed):
                for key in keys:
                    _resolve(pending[key], values)
            else:
                for key, value in zip(keys, values, strict=True):
                    _resolve(pending[key], value)


def _resolve(futures: list[asyncio.Future[V | Failed]], value: V | Failed) -> None:
    for future in futures:
        if not future.done():
            future.set_result(value)
