"""Raw Redis keys: outside <domain>:<entity>:<id>, and inside it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio


async def keys(client: redis.asyncio.Redis, invoice_id: str, user: str) -> None:
    await client.get("invoice_" + invoice_id)  # expect: RD-3
    await client.get(f"invoice:{invoice_id}")  # expect: RD-3
    await client.delete("billing-invoice-%s" % invoice_id)  # expect: RD-3
    await client.exists("sessions/{}".format(user))  # expect: RD-3
    await client.set("CACHE_VERSION", b"3", ex=60)  # expect: RD-3
    await client.get(f"billing:invoice:{invoice_id}")  # ok: the format
    await client.get("billing:invoice:" + invoice_id)  # ok: concatenated in the format
    await client.delete("billing:session:%s" % user)  # ok: formatted in the format
