"""Shopping carts in Redis."""

from __future__ import annotations

import json as js
import marshal
import msgpack
from redis.asyncio import from_url


class Carts:
    def __init__(self, url: str) -> None:
        self.r = from_url(url)

    async def save(self, cid: str, cart: dict) -> None:
        payload = js.dumps(cart).encode()  # expect: RD-4
        await self.r.set(f"shop:cart:{cid}", payload, ex=60)

    async def load(self, cid: str) -> dict:
        blob = await self.r.get(f"shop:cart:{cid}")
        return js.loads(blob) if blob else {}  # expect: RD-4

    async def save_mp(self, cid: str, cart: dict) -> None:
        await self.r.set(f"shop:cart:{cid}", msgpack.packb(cart), ex=60)  # expect: RD-4

    async def save_marshal(self, cid: str, cart: dict) -> None:
        await self.r.setex(f"shop:cart:{cid}", 60, marshal.dumps(cart))  # expect: RD-4

    async def load_mp(self, cid: str) -> dict:
        return msgpack.unpackb(await self.r.get(f"shop:cart:{cid}"))  # expect: RD-4

    def describe(self, cart: dict) -> str:
        return js.dumps(cart, indent=2)  # ok: for a log

    async def ok_bytes(self, cid: str, raw: bytes) -> None:
        await self.r.set(f"shop:cart:{cid}", raw, ex=60)  # ok: bytes from protobuf upstream

    async def ok_count(self, cid: str) -> int:
        return int(await self.r.get(f"shop:count:{cid}") or 0)  # ok: an int
