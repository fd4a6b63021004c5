"""Raw driver calls with built statements."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

    from svcinfra.postgres import Query


async def drop(conn: asyncpg.Connection, table: str) -> None:
    await conn.execute(f"TRUNCATE {table}")  # expect: PG-6


async def rows(conn: asyncpg.Connection, where: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM users WHERE " + where)  # expect: PG-6


async def one(conn: asyncpg.Connection, column: str) -> object:
    return await conn.fetchval("SELECT max({}) FROM users".format(column))  # expect: PG-6


async def many(conn: asyncpg.Connection, values: list[tuple[int]]) -> None:
    await conn.executemany("INSERT INTO t VALUES (%s)" % "$1", values)  # expect: PG-6


async def row(conn: asyncpg.Connection, kind: str) -> object:
    return await conn.fetchrow(" ".join(["SELECT", kind, "FROM users"]))  # expect: PG-6


async def fine(conn: asyncpg.Connection, query: Query, user_id: int) -> object:
    return await conn.fetchrow(query.sql, user_id)  # ok: a loaded query


async def fine_args(conn: asyncpg.Connection, query: Query, name: str) -> object:
    return await conn.fetch(query.sql, f"%{name}%")  # ok: a built value, not a statement


async def fine_exec(conn: asyncpg.Connection, query: Query) -> None:
    await conn.execute(query.sql)  # ok: a loaded query
