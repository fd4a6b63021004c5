"""`DeadlineWatch`: the fast path issue 19 removed, kept here as `fastpaths_bench.py`'s reference.

Many operations' time limits enforced by one event-loop timer.

`asyncio.timeout_at` per operation arms and cancels a timer handle on the event loop's heap every
time, ~10-20 us each, although nearly every operation ends long before its limit. Operations that
share one limit (an adapter's default deadline, EX-2; a publisher's confirm timeout, MQ-5) expire
in the order they started, so one timer, armed for the oldest unfinished operation, serves them
all: an operation registers itself in a queue and marks itself done when it leaves; the timer,
when it fires, skips the finished ones, cancels the overdue ones and is armed again for the next.
An operation whose limit would come before that of one started earlier (a shorter limit of its
own) cannot wait in that queue: it gets its own timer.

Expiry works as in `asyncio.timeout`: the watch cancels the operation's task, and the operation
turns that cancellation, and only that one, into a timeout; a cancellation from outside (the
caller gave up) stays a cancellation. Used by the messaging publisher for its confirm timeouts.
`svcinfra.httpclient` used it too until issue 19 measured it at the service level: an external
API call costs the same CPU with `asyncio.timeout_at` (`bench/fastpaths_bench.py`), so the
client keeps its deadline with asyncio's own timeout.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Watched:
    """One operation's registration: whether it has ended, and whether its limit cancelled it."""

    __slots__ = ("cancelling", "deadline_at", "done", "expired", "task", "timer")

    def __init__(self, task: asyncio.Task[object], deadline_at: float) -> None:
        self.task = task
        self.deadline_at = deadline_at
        self.cancelling = task.cancelling()
        self.done = False
        self.expired = False
        self.timer: asyncio.TimerHandle | None = None

    def expire(self) -> None:
        """Cancel the operation's task: its limit has passed and it is still running."""
        if not self.done and not self.expired:
            self.expired = True
            self.task.cancel()

    def leave(self) -> bool:
        """Mark the operation ended; return whether its limit, not the caller, cancelled it.

        Called from the operation's own task as the `CancelledError` (or a result) leaves the
        watched block, like `asyncio.Timeout.__aexit__`.
        """
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        return self.expired and self.task.uncancel() <= self.cancelling


class DeadlineWatch:
    """Cancels the operations that outlive their limit (one event loop)."""

    __slots__ = ("_loop", "_queue", "_timer")

    def __init__(self) -> None:
        self._queue: deque[Watched] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, deadline_at: float) -> Watched:
        """Watch the current task until `deadline_at` (event loop time); `leave` ends it."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a call must run inside an asyncio task")
        loop = task.get_loop()
        entry = Watched(task, deadline_at)
        queue = self._queue
        while queue and queue[0].done:
            queue.popleft()
        if loop is not self._loop:
            # A new event loop (tests run one per test): the old loop's timer is gone with it.
            self._loop, self._timer = loop, None
            queue.clear()
        if queue and deadline_at < queue[-1].deadline_at:
            entry.timer = loop.call_at(deadline_at, entry.expire)
            return entry
        queue.append(entry)
        if self._timer is None:
            self._timer = loop.call_at(deadline_at, self._fire)
        return entry

    def _fire(self) -> None:
        self._timer = None
        queue = self._queue
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        while queue and (queue[0].done or queue[0].deadline_at <= now):
            queue.popleft().expire()
        if queue:
            self._timer = loop.call_at(queue[0].deadline_at, self._fire)
