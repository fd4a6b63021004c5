"""The Postgres repository against the real server: rows, constraints and every error mapping."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
import pytest
from users.domain.entity import NewUser, UserChanges, parse_search
from users.domain.errors import Conflict, InvalidField, NotFound, Unavailable
from users.repository.postgres.users.repository import PostgresUserReader, PostgresUserWriter

from svcinfra.postgres import Database, load_queries
from svcinfra.testing import FaultProxy

if TYPE_CHECKING:
    from users.domain.entity import User

    from svcinfra.testing.pytest_plugin import PostgresDatabase

pytestmark = pytest.mark.postgres

QUERIES = load_queries("users")


def new(name: str = "ada", **change: str) -> NewUser:
    """A registration that skips the domain's checks, so the database's own are what is tested."""
    values = {"email": f"{name}@example.com", "username": name, "display_name": name.title()}
    return NewUser(**(values | change))


async def create(db: Database, registration: NewUser) -> User:
    async with db.transaction() as tx:
        return await PostgresUserWriter(tx, QUERIES).create(registration)


async def test_a_created_user_reads_back_with_utc_times(db: Database) -> None:
    user = await create(db, new())
    reader = PostgresUserReader(db, QUERIES)

    assert await reader.get(user.id) == user
    assert await reader.get_by_username("ada") == user
    assert user.created_at.utcoffset() is not None
    assert user.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert user.updated_at == user.created_at


async def test_a_missing_user_is_not_found(db: Database) -> None:
    reader = PostgresUserReader(db, QUERIES)

    with pytest.raises(NotFound):
        await reader.get(uuid.uuid4())
    with pytest.raises(NotFound):
        await reader.get_by_username("nobody")


@pytest.mark.parametrize(
    ("taken", "field"),
    [({"username": "other"}, "email"), ({"email": "other@example.com"}, "username")],
)
async def test_a_taken_unique_value_is_a_conflict_naming_its_field(
    db: Database, taken: dict[str, str], field: str
) -> None:
    await create(db, new())

    with pytest.raises(Conflict) as caught:
        await create(db, new(**taken))

    assert caught.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "Ada"}, "username"),
        ({"username": "ab"}, "username"),
        ({"username": "a-b-c"}, "username"),
        ({"email": "Ada@example.com"}, "email"),
        ({"email": "no-at-sign"}, "email"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "x" * 101}, "display_name"),
        ({"display_name": "tab\there"}, "display_name"),
    ],
)
async def test_the_database_enforces_the_domain_rules_itself(
    db: Database, change: dict[str, str], field: str
) -> None:
    """PG-1: a writer that skipped the domain's checks still cannot store a broken user."""
    with pytest.raises(InvalidField) as caught:
        await create(db, new(**change))

    assert caught.value.field == field
    assert await PostgresUserReader(db, QUERIES).search(parse_search(), fetch=10) == []


async def test_update_changes_only_the_given_fields_and_moves_updated_at(db: Database) -> None:
    user = await create(db, new())
    async with db.transaction() as tx:
        changed = await PostgresUserWriter(tx, QUERIES).update(
            user.id, UserChanges(display_name="Countess")
        )

    assert (changed.email, changed.username) == (user.email, user.username)
    assert changed.display_name == "Countess"
    assert changed.created_at == user.created_at
    assert changed.updated_at > user.updated_at


async def test_updating_to_a_taken_username_is_a_conflict(db: Database) -> None:
    await create(db, new("bob"))
    user = await create(db, new())

    with pytest.raises(Conflict) as caught:
        async with db.transaction() as tx:
            await PostgresUserWriter(tx, QUERIES).update(user.id, UserChanges(username="bob"))

    assert caught.value.field == "username"


async def test_updating_or_deleting_a_missing_user_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound):
        async with db.transaction() as tx:
            await PostgresUserWriter(tx, QUERIES).update(uuid.uuid4(), UserChanges(email="a@b.cd"))
    with pytest.raises(NotFound):
        async with db.transaction() as tx:
            await PostgresUserWriter(tx, QUERIES).delete(uuid.uuid4())


async def test_a_deleted_user_is_gone(db: Database) -> None:
    user = await create(db, new())
    async with db.transaction() as tx:
        await PostgresUserWriter(tx, QUERIES).delete(user.id)

    with pytest.raises(NotFound):
        await PostgresUserReader(db, QUERIES).get(user.id)


async def test_a_server_that_went_away_is_unavailable_then_recovers(
    migrated: PostgresDatabase,
) -> None:
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        db = await Database.connect(migrated.settings(port=proxy.port, connect_timeout=1.0))
        try:
            user = await create(db, new())
            reader = PostgresUserReader(db, QUERIES)
            await proxy.refuse()
            proxy.reset_all()

            with pytest.raises(Unavailable) as caught:
                await reader.get(user.id)
            assert caught.value.retry_after >= 1

            await proxy.accept()
            assert await reader.get(user.id) == user
        finally:
            await db.close()


async def test_a_statement_timeout_is_unavailable(migrated: PostgresDatabase) -> None:
    """A row locked past statement_timeout: the server cancels, the caller may retry later."""
    db = await Database.connect(migrated.settings(statement_timeout=0.2))
    locker = await asyncpg.connect(migrated.dsn)
    try:
        user = await create(db, new())
        tx = locker.transaction()
        await tx.start()
        await locker.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user.id)

        with pytest.raises(Unavailable, match="statement timeout"):
            async with db.transaction() as work:
                await PostgresUserWriter(work, QUERIES).update(
                    user.id, UserChanges(display_name="Locked")
                )
        await tx.rollback()
    finally:
        await locker.close()
        await db.close()


async def test_time_filters_at_the_edges_of_the_calendar_filter_as_they_say(db: Database) -> None:
    """A valid date-time whose UTC instant lies before year 1 or after 9999 (the API fuzzer's
    `0001-01-01T00:00:09+08:32`) filters like any other instant, not a 422 from the driver."""
    ada = await create(db, new("ada"))
    reader = PostgresUserReader(db, QUERIES)
    early = datetime.fromisoformat("0001-01-01T00:00:09+08:32")
    late = datetime.fromisoformat("9999-12-31T23:59:59-08:00")

    assert [u.id for u in await reader.search(parse_search(created_after=early), fetch=10)] == [
        ada.id
    ]
    assert [u.id for u in await reader.search(parse_search(created_before=late), fetch=10)] == [
        ada.id
    ]
    assert await reader.search(parse_search(created_before=early), fetch=10) == []
    assert await reader.search(parse_search(created_after=late), fetch=10) == []
