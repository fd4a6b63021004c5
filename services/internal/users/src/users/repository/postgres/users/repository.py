"""The users table behind the UserReader and UserWriter ports (PG-9).

Every statement is a named `.sql` file beside this module (PG-10); rows map by column name
into the domain's `User` (PG-8); database errors become domain errors here, once (PG-7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from users.domain.entity import User
from users.domain.errors import NotFound

from ._errors import domain_errors

if TYPE_CHECKING:
    from uuid import UUID

    from svcinfra.postgres import Database, Queries, Transaction
    from users.domain.entity import NewUser, SearchQuery, UserChanges


class PostgresUserReader:
    """Reads users outside any transaction, each query on a pooled connection."""

    def __init__(self, db: Database, queries: Queries) -> None:
        self._db = db
        self._get = queries.query("users__get_by_id")
        self._get_by_username = queries.query("users__get_by_username")
        self._search = queries.template("users__search")

    async def get(self, user_id: UUID) -> User:
        """Return the user (see `UserReader.get`)."""
        with domain_errors():
            return await self._db.one(self._get, user_id, row=User)

    async def get_by_username(self, username: str) -> User:
        """Return the user with this username (see `UserReader.get_by_username`)."""
        with domain_errors():
            return await self._db.one(self._get_by_username, username, row=User)

    async def search(self, query: SearchQuery, *, fetch: int) -> list[User]:
        """Return up to `fetch` matching users (see `UserReader.search`)."""
        after = query.after
        prefix = query.username_prefix
        statement, args = self._search.render(
            sort=query.order.key.value,
            direction="desc" if query.order.descending else "asc",
            order=f"{query.order.key.value}_{'desc' if query.order.descending else 'asc'}",
            email=query.email,
            username_prefix=prefix,
            username_prefix_end=None if prefix is None else _successor(prefix),
            created_after=query.created_after,
            created_before=query.created_before,
            after_id=None if after is None else after.id,
            after_key=None if after is None else after.key,
            limit=fetch,
        )
        with domain_errors():
            return await self._db.many(statement, *args, row=User)


class PostgresUserWriter:
    """Changes users inside the caller's transaction."""

    def __init__(self, tx: Transaction, queries: Queries) -> None:
        self._tx = tx
        self._queries = queries

    async def create(self, new: NewUser) -> User:
        """Insert a user (see `UserWriter.create`)."""
        query = self._queries.query("users__create")
        with domain_errors():
            return await self._tx.one(query, new.email, new.username, new.display_name, row=User)

    async def update(self, user_id: UUID, changes: UserChanges) -> User:
        """Apply a partial update (see `UserWriter.update`)."""
        query = self._queries.query("users__update")
        with domain_errors():
            return await self._tx.one(
                query, user_id, changes.email, changes.username, changes.display_name, row=User
            )

    async def delete(self, user_id: UUID) -> None:
        """Delete a user (see `UserWriter.delete`)."""
        with domain_errors():
            deleted = await self._tx.execrows(self._queries.query("users__delete"), user_id)
        if deleted == 0:
            raise NotFound("user not found")


def _successor(prefix: str) -> str:
    """The smallest string above every string that starts with `prefix` (byte order, C)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
