"""Reports."""

from __future__ import annotations

import asyncpg


class Reports:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def totals(self) -> tuple[int, int]:
        async with self._pool.acquire() as conn:
            rec = await conn.fetchrow("reports__totals")
        return rec[0], rec[1]  # expect: PG-8

    async def pairs(self) -> list[tuple[int, str]]:
        async with self._pool.acquire() as conn:
            return [(r[0], r[1]) for r in await conn.fetch("reports__pairs")]  # expect: PG-8

    async def first(self) -> str:
        result = await self._pool.fetch("reports__pairs")
        top = result[0]
        return top[1]  # expect: PG-8

    async def unpack(self) -> int:
        conn = await asyncpg.connect("postgresql://")
        users, orders = await conn.fetchrow("reports__totals")  # expect: PG-8
        return users + orders

    async def by_col(self) -> str:
        conn = await asyncpg.connect("postgresql://")
        return (await conn.fetch("reports__pairs"))[-1][0]  # expect: PG-8

    async def ok_names(self) -> list[str]:
        rows = await self._pool.fetch("reports__pairs")
        return [r["name"] for r in rows]  # ok: by name

    async def ok_first(self) -> asyncpg.Record:
        rows = await self._pool.fetch("reports__pairs")
        return rows[0]  # ok: first row

    def ok_args(self, *args: int) -> int:
        return args[0]  # ok: not a row
