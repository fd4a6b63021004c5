"""Search against the real server: filters, every sort order, keyset pages, and the indexes used."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from users.domain.entity import NewUser, SortOrder, User
from users.repository.postgres.users.repository import PostgresUserWriter

from svcinfra.postgres import load_queries

if TYPE_CHECKING:
    from users.domain.service import UsersService

    from svcinfra.postgres import Database
    from svcinfra.testing.pytest_plugin import PostgresDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

QUERIES = load_queries("users")
NAMES = ["ann", "a_b", "ab_c", "abc", "bob", "bo_", "cid", "dee", "eve", "fay", "gus"]


async def seed(db: Database) -> list[User]:
    """Users in two transactions: the first six share one created_at (now() of the transaction)."""
    users = []
    for batch in (NAMES[:6], NAMES[6:]):
        async with db.transaction() as tx:
            writer = PostgresUserWriter(tx, QUERIES)
            users.extend(
                [await writer.create(NewUser(f"{n}@example.com", n, n.title())) for n in batch]
            )
    return users


def expected(users: list[User], order: SortOrder) -> list[User]:
    if order.key.value == "created_at":
        return sorted(users, key=lambda u: (u.created_at, u.id), reverse=order.descending)
    return sorted(users, key=lambda u: (u.username, u.id), reverse=order.descending)


async def every_page(service: UsersService, limit: int, **params: Any) -> list[list[User]]:
    pages, cursor = [], None
    while True:
        page = await service.search(limit=limit, cursor=cursor, **params)
        pages.append(list(page.users))
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor.encode()


@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("limit", [1, 4, 11, 100])
async def test_pages_cover_every_user_once_in_order(
    db: Database, service: UsersService, order: SortOrder, limit: int
) -> None:
    users = await seed(db)

    pages = await every_page(service, limit, sort=order.value)

    assert [u for page in pages for u in page] == expected(users, order)
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit
    assert len(pages) == -(-len(users) // limit)


async def test_ties_on_created_at_are_broken_by_id(db: Database, service: UsersService) -> None:
    users = await seed(db)
    tied = [u for u in users if u.username in NAMES[:6]]
    assert len({u.created_at for u in tied}) == 1

    pages = await every_page(service, 2, sort="created_at")

    assert [u.id for u in pages[0] + pages[1] + pages[2]] == sorted(u.id for u in tied)


async def test_a_prefix_is_a_literal_prefix_underscore_included(
    db: Database, service: UsersService
) -> None:
    await seed(db)

    underscore = await service.search(username_prefix="a_", sort="username")
    letters = await service.search(username_prefix="AB", sort="username")
    trailing = await service.search(username_prefix="bo_", sort="username")

    assert [u.username for u in underscore.users] == ["a_b"]
    assert [u.username for u in letters.users] == ["ab_c", "abc"]
    assert [u.username for u in trailing.users] == ["bo_"]


async def test_filters_combine(db: Database, service: UsersService) -> None:
    users = await seed(db)
    first_batch_time = users[0].created_at
    later = users[6].created_at

    by_email = await service.search(email="EVE@example.com")
    after = await service.search(created_after=later, sort="username", limit=100)
    before = await service.search(created_before=later, limit=100)
    both = await service.search(
        created_after=first_batch_time, created_before=later, username_prefix="a"
    )
    nothing = await service.search(created_after=later + timedelta(days=1))

    assert [u.username for u in by_email.users] == ["eve"]
    assert [u.username for u in after.users] == sorted(NAMES[6:])
    assert {u.username for u in before.users} == set(NAMES[:6])
    assert {u.username for u in both.users} == {"ann", "a_b", "ab_c", "abc"}
    assert nothing.users == ()
    assert nothing.next_cursor is None


async def test_a_cursor_outlives_the_user_it_points_after(
    db: Database, service: UsersService
) -> None:
    await seed(db)
    first = await service.search(sort="username", limit=3)
    assert first.next_cursor is not None
    await service.delete(first.users[-1].id)

    rest = await service.search(sort="username", limit=100, cursor=first.next_cursor.encode())

    names = sorted(NAMES)
    assert [u.username for u in rest.users] == names[3:]


async def explain(dsn: str, db: Database, **params: Any) -> dict[str, Any]:
    """The plan of users__search rendered for `params`, as a generic plan would run it."""
    values: dict[str, Any] = {
        "sort": "created_at",
        "direction": "asc",
        "email": None,
        "username_prefix": None,
        "username_prefix_end": None,
        "created_after": None,
        "created_before": None,
        "after_id": None,
        "after_key": None,
        "limit": 21,
    } | params
    values["order"] = f"{values['sort']}_{values['direction']}"
    query, args = QUERIES.template("users__search").render(**values)
    del db
    con = await asyncpg.connect(dsn)
    try:
        await con.execute("SET plan_cache_mode = force_generic_plan")
        statement = await con.prepare(f"EXPLAIN (FORMAT JSON) {query.sql}")
        plan = await statement.fetchval(*args)
    finally:
        await con.close()
    return json.loads(plan)[0]["Plan"]  # type: ignore[no-any-return]


def indexes(plan: dict[str, Any]) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= indexes(child)
    return found


def scans(plan: dict[str, Any]) -> set[str]:
    found = {plan["Node Type"]}
    for child in plan.get("Plans", []):
        found |= scans(child)
    return found


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, "users_created_at_id_idx"),
        ({"direction": "desc"}, "users_created_at_id_idx"),
        ({"after_id": "00000000-0000-0000-0000-000000000000", "after_key": "2026-01-01T00:00Z"},
         "users_created_at_id_idx"),
        ({"sort": "username"}, "users_username_key"),
        ({"sort": "username", "direction": "desc",
          "after_id": "00000000-0000-0000-0000-000000000000", "after_key": "m"},
         "users_username_key"),
        ({"sort": "username", "username_prefix": "ab", "username_prefix_end": "ac"},
         "users_username_key"),
        ({"email": "ada@example.com"}, "users_email_key"),
    ],
)  # fmt: skip
async def test_the_main_searches_use_their_index(
    migrated: PostgresDatabase, db: Database, params: dict[str, Any], index: str
) -> None:
    """PG-4: each index in the migration serves the queries its comment names."""
    con = await asyncpg.connect(migrated.dsn)
    try:
        await con.execute(
            """INSERT INTO users (email, username, display_name, created_at, updated_at)
               SELECT 'u' || g || '@example.com', 'user' || g, 'U', t, t
               FROM generate_series(1, 5000) AS g,
                    LATERAL (SELECT now() - g * interval '1 minute' AS t) AS s"""
        )
        await con.execute("ANALYZE users")
    finally:
        await con.close()
    if "after_key" in params and params.get("sort") != "username":
        params = params | {"after_key": _time(params["after_key"])}
    if "after_id" in params:
        params = params | {"after_id": _uuid(params["after_id"])}

    plan = await explain(migrated.dsn, db, **params)

    assert index in indexes(plan), json.dumps(plan, indent=1)
    assert "Seq Scan" not in scans(plan)
    if "email" not in params:  # an email matches one row at most: sorting it costs nothing
        assert not {"Sort", "Incremental Sort"} & scans(plan), "the index gives the page's order"


def _time(text: str) -> Any:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(text)


def _uuid(text: str) -> Any:
    import uuid  # noqa: PLC0415

    return uuid.UUID(text)
