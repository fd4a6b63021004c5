"""`Acks`: the acks of one consuming channel, sent once per event-loop pass (one frame for many).

An ack is one frame and one socket write; with a prefetch of 100 the handlers of a pass often
finish together. `Acks` collects the delivery tags acked in one pass and sends them in one
`basic.ack multiple` for the tags below the lowest one still unsettled, and singly for the rest.
A `multiple` ack settles every outstanding tag up to its own, so it is only sent up to a tag
below which nothing is in flight: a message still being handled, retried or requeued is never
acked by it.

Only the send is deferred, never the decision: a message is handed to `ack` after its
transaction committed. An ack lost with the connection (not yet written when it closed) leaves
the message unacked; the broker redelivers it and the inbox makes the repeat a no-op, as for an
ack lost on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import aiormq.exceptions
import structlog

if TYPE_CHECKING:
    from aiormq.abc import AbstractChannel

_log = structlog.get_logger("svcinfra.messaging")
_CHANNEL_DOWN = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
)


class Acks:
    """The unsettled deliveries of one channel, and the acks waiting for the next send.

    `delivered(tag)` when a delivery is taken up; then exactly one of `ack(tag)` (deferred,
    batched) or `settled(tag)` (after the caller acked, nacked or rejected the message itself).
    """

    __slots__ = ("_channel", "_flushing", "_prefetch", "_ready", "_unsettled")

    def __init__(self, channel: AbstractChannel, *, prefetch: int | None = None) -> None:
        self._channel = channel
        self._prefetch = prefetch
        self._unsettled: set[int] = set()
        self._ready: list[int] = []
        self._flushing: asyncio.Task[None] | None = None

    def delivered(self, tag: int | None) -> None:
        """Note a delivery being handled: no `multiple` ack goes past it until it is settled."""
        if tag is not None:
            self._unsettled.add(tag)

    def settled(self, tag: int | None) -> None:
        """Note a delivery its handler settled itself (after the ack, nack or reject went)."""
        if tag is not None:
            self._unsettled.discard(tag)

    def unsettled(self, tag: int | None) -> bool:
        """Whether `tag` is neither settled nor handed to `ack` yet."""
        return tag in self._unsettled

    def ack(self, tag: int | None) -> None:
        """Ack `tag` in the next send (at the end of this event-loop pass)."""
        if tag is None:
            return
        self._unsettled.discard(tag)
        self._ready.append(tag)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._ready:
                ready, self._ready = self._ready, []
                for tag, multiple in self.frames(ready):
                    await self._channel.basic_ack(tag, multiple=multiple, wait=False)
        except _CHANNEL_DOWN as exc:
            # The channel is closing: the broker requeues what it did not get an ack for.
            _log.warning("amqp acks not sent; the broker redelivers", error=repr(exc))
        finally:
            if self._flushing is asyncio.current_task():
                self._flushing = None

    def frames(self, ready: list[int]) -> list[tuple[int, bool]]:
        """Return the `(tag, multiple)` acks that settle `ready`, given what is unsettled now."""
        ready.sort()
        floor = min(self._unsettled, default=None)
        below = ready if floor is None else [tag for tag in ready if tag < floor]
        frames = [(below[-1], len(below) > 1)] if below else []
        frames += [(tag, False) for tag in ready[len(below) :]]
        return frames

    async def close(self, *, timeout: float = 2.0) -> None:  # noqa: ASYNC109  (a drain bound)
        """Send what is waiting and make sure the broker has it, for at most `timeout` seconds.

        The acks go without a reply (`basic.ack`), and a connection closed right after may
        drop frames still queued in the driver; so the channel's `basic.qos` is sent again
        (same prefetch, a round trip): its `qos-ok` comes after the broker processed every
        ack before it. Without a `prefetch` given, only the send is awaited.
        """
        flushing = self._flushing
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, *_CHANNEL_DOWN):
            async with asyncio.timeout(timeout):
                if flushing is not None:
                    await asyncio.shield(flushing)
                if self._prefetch is not None:
                    await self._channel.basic_qos(prefetch_count=self._prefetch)
        self.cancel()

    def cancel(self) -> None:
        """Give up sending (the channel is gone: the broker requeues what was not acked)."""
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        self._ready.clear()
