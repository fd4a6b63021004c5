"""The use cases: register, read, change, delete and search users.

Every change and its event are written in one unit of work (the outbox, MQ-3); the profile
cache is dropped only once that work has committed. Nothing here knows which database, cache or
broker sits behind the ports (ARCH-1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from users.domain.entity import Cursor, NewUser, Page, UserChanges, parse_search
from users.domain.entity.user import USERNAME_PATTERN
from users.domain.errors import NotFound

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

    from users.domain.entity import User
    from users.domain.repository import ProfileCache, Transactions, UserReader

T = TypeVar("T")


class UsersService:
    """The users use cases over their ports.

    Args:
        reader: reads users from the source of truth.
        transactions: opens the units of work that change users and record events.
        cache: the profile cache in front of `reader.get`.
        clock: the current time, UTC (deletions are stamped with it).
    """

    def __init__(
        self,
        reader: UserReader,
        transactions: Transactions,
        cache: ProfileCache,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._reader = reader
        self._transactions = transactions
        self._cache = cache
        self._clock = clock

    async def register(self, *, email: str, username: str, display_name: str) -> User:
        """Register a user and announce it (user.registered.v1).

        Raises:
            InvalidField: a field breaks its rule.
            Conflict: the email or username is taken.
            Unavailable: the store cannot be reached.
        """
        new = NewUser.parse(email=email, username=username, display_name=display_name)
        async with self._transactions.begin() as work:
            user = await work.users.create(new)
            await work.events.registered(user)
        return user

    async def get(self, user_id: UUID) -> User:
        """Return the user, from the profile cache when it holds it.

        Raises:
            NotFound: no such user.
            Unavailable: the store cannot be reached and the cache does not hold the user.
        """
        return await self._cache.get_or_load(user_id, lambda: self._reader.get(user_id))

    async def get_as(self, user_id: UUID, render: Callable[[User], T]) -> T:
        """`render(user)` of the user `get` returns: what an adapter answers with (a body).

        `render` must be a pure function of the user returning something immutable; the
        profile cache may keep its result with the cached user, as long as it keeps the user.

        Raises:
            NotFound: no such user.
            Unavailable: the store cannot be reached and the cache does not hold the user.
        """
        return await self._cache.get_or_load_as(user_id, lambda: self._reader.get(user_id), render)

    async def get_by_username(self, username: str) -> User:
        """Return the user with this username (case-insensitive).

        Raises:
            NotFound: no such user (also for a string that cannot be a username).
            Unavailable: the store cannot be reached.
        """
        username = username.lower()
        # Not a query for what cannot be a username: a NUL, for one, is refused by PostgreSQL
        # in text, which would come back as an invalid value instead of 404.
        if not USERNAME_PATTERN.fullmatch(username):
            raise NotFound("user not found")
        return await self._reader.get_by_username(username)

    async def update(
        self,
        user_id: UUID,
        *,
        email: str | None = None,
        username: str | None = None,
        display_name: str | None = None,
    ) -> User:
        """Change some fields of a user and announce it (user.updated.v1).

        Raises:
            InvalidField: no field given, or a field breaks its rule.
            NotFound: no such user.
            Conflict: the new email or username is taken.
            Unavailable: the store cannot be reached.
        """
        changes = UserChanges.parse(email=email, username=username, display_name=display_name)
        async with self._cache.invalidating(user_id), self._transactions.begin() as work:
            user = await work.users.update(user_id, changes)
            await work.events.updated(user)
        return user

    async def delete(self, user_id: UUID) -> None:
        """Delete a user and announce it (user.deleted.v1).

        Raises:
            NotFound: no such user.
            Unavailable: the store cannot be reached.
        """
        async with self._cache.invalidating(user_id), self._transactions.begin() as work:
            await work.users.delete(user_id)
            await work.events.deleted(user_id, self._clock())

    async def search(
        self,
        *,
        username_prefix: str | None = None,
        email: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        sort: str = "created_at",
        limit: int = 20,
        cursor: str | None = None,
    ) -> Page:
        """Return one page of users matching the filters, and the cursor of the next page.

        Raises:
            InvalidField: a parameter breaks its rule (an unknown sort, a foreign cursor).
            Unavailable: the store cannot be reached.
        """
        query = parse_search(
            username_prefix=username_prefix,
            email=email,
            created_after=created_after,
            created_before=created_before,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        found = await self._reader.search(query, fetch=query.limit + 1)
        users = tuple(found[: query.limit])
        more = len(found) > query.limit
        return Page(users, Cursor.after(users[-1], query.order) if more else None)
