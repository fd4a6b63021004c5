"""Sessions kept in Redis."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from redis import Redis


@dataclass
class SessionStore:
    backend: aioredis.Redis

    async def put(self, sid: str, data: bytes) -> None:
        await self.backend.set(name=f"auth:session:{sid}", value=data)  # expect: RD-2

    async def put_nx(self, sid: str, data: bytes) -> bool:
        return bool(await self.backend.setnx(f"auth:session:{sid}", data))  # expect: RD-2

    async def touch_many(self, sids: list[str]) -> None:
        tx = self.backend.pipeline(transaction=True)
        for sid in sids:
            tx.hset(f"auth:meta:{sid}", mapping={"seen": "1"})  # expect: RD-2
        await tx.execute()


def make_client(url: str) -> Redis:
    return Redis.from_url(url)


def bump(url: str, day: str) -> None:
    client = make_client(url)
    client.incrby(f"auth:logins:{day}", 1)  # expect: RD-2


async def add_member(r: aioredis.Redis, group: str, user: str) -> None:
    await r.sadd(f"auth:group:{group}", user)  # expect: RD-2


async def fine(r: aioredis.Redis, sid: str) -> None:
    await r.set(f"auth:session:{sid}", b"", ex=900, nx=True)  # ok: ttl
    await r.sadd(f"auth:group:{sid}", "u")  # ok: expired next
    await r.expire(f"auth:group:{sid}", 60)
    await r.set(f"auth:session:{sid}", b"", keepttl=True)  # ok: keeps the ttl
