"""`Coalescer`: concurrent single-item calls answered by one batched statement (a group commit).

On a small machine a round trip to PostgreSQL costs more CPU than the statement itself: the
socket write wakes the server, its answer wakes us. When many tasks each need the same kind of
statement for one item (an inbox check, an intent insert), one statement over an array of
items does the work of all of them. `Coalescer` gathers the calls:

* a call made while no group is running is sent at the end of the current event-loop pass,
  together with every call made in that pass (no added wait when idle);
* at most `concurrency` groups run at once, each on its own connection; calls made while all
  of them run wait for the first to end and go together as the next group, so the groups
  grow with the load by themselves, the way a database's group commit does;
* a group holds at most `max_size` items; more run as further groups.

The group runs in a task the coalescer owns, so a caller's cancellation (a handler timeout)
never cancels a statement other callers wait for; the cancelled caller's answer is dropped.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Run `run(items)` for the items of concurrent `await coalescer(item)` calls.

    `run` gets the items in call order and returns one result per item, in the same order. A
    result that is an exception instance is raised to that item's caller alone; an exception
    `run` raises is raised to every caller of its group.

        exists = Coalescer(lambda ids: seen_many(ids), max_size=64)
        if await exists(message_id): ...
    """

    def __init__(
        self,
        run: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_size: int,
        concurrency: int = 1,
    ) -> None:
        """Create a coalescer over `run`: groups of at most `max_size`, `concurrency` at once."""
        if max_size < 1 or concurrency < 1:
            raise ValueError("max_size and concurrency must be at least 1")
        self._run = run
        self._max_size = max_size
        self._concurrency = concurrency
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        """Return `item`'s result from the group it joins."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._tasks) < self._concurrency and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start)
        return await future

    async def close(self) -> None:
        """Wait for the groups in flight and those already waiting (on stop)."""
        while self._tasks or self._pending:
            self._start()
            if self._tasks:
                await asyncio.wait(self._tasks)

    def _start(self) -> None:
        self._scheduled = False
        while self._pending and len(self._tasks) < self._concurrency:
            group = self._pending[: self._max_size]
            del self._pending[: self._max_size]
            task = asyncio.get_running_loop().create_task(self._settle(group))
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._pending:
            self._start()

    async def _settle(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = _checked(await self._run([item for item, _ in group]), len(group))
        except asyncio.CancelledError:  # the loop is going away: no caller is left waiting
            for _, future in group:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001  (every caller of the group is told)
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(group, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _checked(results: Sequence[R | BaseException], size: int) -> Sequence[R | BaseException]:
    if len(results) != size:
        raise RuntimeError(f"{len(results)} results for a group of {size} items")
    return results
