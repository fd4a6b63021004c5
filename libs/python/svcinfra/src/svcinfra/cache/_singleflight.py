"""`SingleFlight`: concurrent callers of one key share one call (RD-5, in-process)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

__all__ = ["SingleFlight"]

R = TypeVar("R")


class SingleFlight(Generic[R]):
    """At most one call in flight per key; everyone asking meanwhile gets its result or error.

    The call runs in its own task, and callers wait on it through `asyncio.shield`: cancelling
    one caller (a client disconnect, a timeout) never cancels the call the others wait for, and
    the call finishes (and fills the cache) even if every caller gave up. Like Go's
    `singleflight.Group`, nothing is kept once the call is done: this is not a cache.
    """

    __slots__ = ("_calls", "_spawn")

    def __init__(
        self,
        *,
        spawn: Callable[[Coroutine[Any, Any, R]], asyncio.Task[R]] | None = None,
    ) -> None:
        self._calls: dict[str, asyncio.Task[R]] = {}
        self._spawn = spawn

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, key: object) -> bool:
        return key in self._calls

    def start(
        self, key: str, call: Callable[[], Coroutine[Any, Any, R]]
    ) -> tuple[asyncio.Task[R], bool]:
        """Return the task in flight for `key`, starting `call()` if there is none.

        The boolean is True when the task was already running (the caller shares it).
        """
        task = self._calls.get(key)
        if task is not None:
            return task, True
        coro = call()
        task = self._spawn(coro) if self._spawn else asyncio.get_running_loop().create_task(coro)
        self._calls[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return task, False

    async def do(self, key: str, call: Callable[[], Coroutine[Any, Any, R]]) -> tuple[R, bool]:
        """Await the call for `key` (starting it if needed); return (result, shared)."""
        task, shared = self.start(key, call)
        return await asyncio.shield(task), shared

    def _forget(self, key: str, task: asyncio.Task[R]) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
        if not task.cancelled():
            # Mark the error as retrieved: if every caller was cancelled, nobody else will.
            task.exception()
