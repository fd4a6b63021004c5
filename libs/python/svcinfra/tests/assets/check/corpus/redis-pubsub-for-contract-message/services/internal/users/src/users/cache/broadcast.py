"""Change notices over Redis pub/sub."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio

DELETED = "user.deleted.v1"


class Broadcast:
    def __init__(self, bus: redis.asyncio.Redis) -> None:
        self.bus = bus

    async def registered(self, payload: bytes) -> None:
        await self.bus.publish("user.registered.v1", payload)  # expect: RD-6

    async def deleted(self, payload: bytes) -> None:
        await self.bus.publish(DELETED, payload)  # expect: RD-6

    async def changed(self, payload: bytes) -> None:
        await self.bus.publish(channel="user.email-changed.v1", message=payload)  # expect: RD-6

    async def in_pipeline(self, payload: bytes) -> None:
        async with self.bus.pipeline() as pipe:
            pipe.publish("user.registered.v1", payload)  # expect: RD-6
            await pipe.execute()

    async def spublish(self, payload: bytes) -> None:
        await self.bus.spublish("user.deleted.v1", payload)  # expect: RD-6

    async def presence(self, payload: bytes) -> None:
        await self.bus.publish("users:presence", payload)  # ok: a best-effort channel
        await self.bus.publish("cache-invalidate", payload)  # ok: not a contract message
        await self.bus.publish("user.typing.v1", payload)  # ok: not a contract message
