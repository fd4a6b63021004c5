"""A legacy repository: rows read by position, and the by-name idioms beside them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    from svcinfra.postgres import Database


async def email_of(conn: asyncpg.Connection, user_id: int) -> str:
    row = await conn.fetchrow("users__get_by_id", user_id)
    return row[1]  # expect: PG-8


async def names(conn: asyncpg.Connection, user_id: int) -> tuple[str, str]:
    record = await conn.fetchrow("users__get_by_id", user_id)
    first, last = record  # expect: PG-8
    return first, last


async def newest_email(pool: asyncpg.Pool) -> str:
    users = await pool.fetch("users__newest")
    return users[0][2]  # expect: PG-8


async def emails(db: Database) -> list[str]:
    out = []
    for _id, email in await db.many("users__all"):  # expect: PG-8
        out.append(email)
    return out


async def count(conn: asyncpg.Connection) -> int:
    return (await conn.fetchrow("users__count"))[0]  # expect: PG-8


def dbapi_email(cursor: Any) -> str:
    found = cursor.fetchone()
    return found[3]  # expect: PG-8


async def first_user(conn: asyncpg.Connection) -> asyncpg.Record | None:
    rows = await conn.fetch("users__newest")
    return rows[0] if rows else None  # ok: the first row of a list, not a column


async def email_by_name(conn: asyncpg.Connection, user_id: int) -> str:
    row = await conn.fetchrow("users__get_by_id", user_id)
    return row["email"]  # ok: by column name


def split(pair: tuple[int, int]) -> int:
    low, high = pair  # ok: a tuple, not a row
    return pair[0] + low + high  # ok: a tuple's element


async def ids(db: Database) -> list[int]:
    return [row["id"] for row in await db.many("users__all")]  # ok: by name in a loop
