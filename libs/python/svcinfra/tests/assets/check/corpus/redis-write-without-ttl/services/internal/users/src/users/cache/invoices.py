"""Raw Redis writes: without a TTL, and with one."""

from __future__ import annotations

import redis as sync_redis
import redis.asyncio
from redis.asyncio import Redis as AsyncRedis


class InvoiceStore:
    """Invoices in Redis, written by hand."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def save(self, invoice_id: str, blob: bytes) -> None:
        await self.client.set(f"billing:invoice:{invoice_id}", blob)  # expect: RD-2

    async def save_unbounded(self, invoice_id: str, blob: bytes) -> None:
        await self.client.set(f"billing:invoice:{invoice_id}", blob, ex=None)  # expect: RD-2

    async def count_view(self, invoice_id: str) -> None:
        await self.client.incr(f"billing:views:{invoice_id}")  # expect: RD-2

    async def save_many(self, ids: list[str]) -> None:
        async with self.client.pipeline() as pipe:
            for invoice_id in ids:
                pipe.set(f"billing:invoice:{invoice_id}", b"")  # expect: RD-2
            await pipe.execute()

    async def save_expiring(self, invoice_id: str, blob: bytes) -> None:
        await self.client.set(f"billing:invoice:{invoice_id}", blob, 300)  # ok: positional ex

    async def count_expiring(self, invoice_id: str) -> None:
        await self.client.incr(f"billing:views:{invoice_id}")  # ok: expired below
        await self.client.expire(f"billing:views:{invoice_id}", 3600)


def totals(url: str, day: str) -> None:
    r = sync_redis.Redis.from_url(url)
    r.hset(f"billing:totals:{day}", "sum", 1)  # expect: RD-2


async def remember(conn: AsyncRedis, key: str, value: bytes) -> None:
    await conn.setex(key, 60, value)  # ok: SETEX carries the TTL
    await conn.set(key, value, px=500)  # ok: px
