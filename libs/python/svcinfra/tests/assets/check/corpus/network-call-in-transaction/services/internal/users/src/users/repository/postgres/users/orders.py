"""Orders."""

from __future__ import annotations

import aiohttp
import httpx
from redis.asyncio import Redis

from svcinfra.postgres import Database


class Orders:
    def __init__(self, db: Database, cache: Redis, api: httpx.AsyncClient) -> None:
        self.db = db
        self.cache = cache
        self.api = api
        self.http = aiohttp.ClientSession()

    async def _invalidate(self, oid: str) -> None:
        await self.cache.delete(f"shop:order:{oid}")

    async def _charge(self, oid: str) -> None:
        await self._call_psp(oid)

    async def _call_psp(self, oid: str) -> None:
        await self.api.post(f"/charge/{oid}")

    async def place(self, oid: str) -> None:
        async with self.db.transaction():
            await self._invalidate(oid)  # expect: PG-12
            await self._charge(oid)  # expect: PG-12
            await self.api.get(f"/stock/{oid}")  # expect: PG-12
            async with self.http.get("https://psp.example/ping") as resp:  # expect: PG-12
                await resp.read()
            await self.cache.set(f"shop:order:{oid}", b"1", ex=5)  # expect: PG-12

    async def ok(self, oid: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("orders__insert", oid)  # ok: the database
            await tx.fetch("orders__lines", oid)  # ok: the database
        await self._charge(oid)  # ok: after
        async with self.db.transaction() as tx:
            row = await tx.one("orders__get", oid)  # ok: the database
            _ = row
