"""The ports of the users domain, as Protocols its adapters implement (ARCH-1).

Reads go through `UserReader`. A change and the event announcing it go through one
`UnitOfWork`: both are stored in one transaction or neither is (the outbox, MQ-3). The profile
cache is an optimisation the use cases may bypass: it fails open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager
    from datetime import datetime
    from uuid import UUID

    from users.domain.entity import NewUser, SearchQuery, User, UserChanges

T = TypeVar("T")


class UserReader(Protocol):
    """Reads users from the source of truth."""

    async def get(self, user_id: UUID) -> User:
        """Return the user.

        Raises:
            NotFound: no such user.
            Unavailable: the store cannot be reached.
        """
        ...

    async def get_by_username(self, username: str) -> User:
        """Return the user with this (normalized) username.

        Raises:
            NotFound: no such user.
            Unavailable: the store cannot be reached.
        """
        ...

    async def search(self, query: SearchQuery, *, fetch: int) -> list[User]:
        """Return up to `fetch` users matching `query`, in its order, after its cursor.

        Raises:
            Unavailable: the store cannot be reached.
        """
        ...


class UserWriter(Protocol):
    """Changes users, inside a unit of work."""

    async def create(self, new: NewUser) -> User:
        """Store a new user.

        Raises:
            Conflict: the email or username is taken.
            InvalidField: the store refused a value.
        """
        ...

    async def update(self, user_id: UUID, changes: UserChanges) -> User:
        """Apply `changes` and return the user as it is now.

        Raises:
            NotFound: no such user.
            Conflict: the new email or username is taken.
        """
        ...

    async def delete(self, user_id: UUID) -> None:
        """Delete the user.

        Raises:
            NotFound: no such user.
        """
        ...


class UserEvents(Protocol):
    """Records the events of a change, inside the unit of work that makes the change."""

    async def registered(self, user: User) -> None:
        """Announce a registration (user.registered.v1)."""
        ...

    async def updated(self, user: User) -> None:
        """Announce a change (user.updated.v1)."""
        ...

    async def deleted(self, user_id: UUID, deleted_at: datetime) -> None:
        """Announce a deletion (user.deleted.v1)."""
        ...


class UnitOfWork(Protocol):
    """The writers of one transaction: it commits when the block ends, or rolls back."""

    @property
    def users(self) -> UserWriter:
        """The users of this transaction."""
        ...

    @property
    def events(self) -> UserEvents:
        """The events of this transaction."""
        ...


class Transactions(Protocol):
    """Opens units of work."""

    def begin(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Start a unit of work; leaving the block commits it, an exception rolls it back.

        Raises:
            Unavailable: the store cannot be reached (on entry or at commit).
        """
        ...


class ProfileCache(Protocol):
    """A read-through cache of users by id; never the source of truth, it fails open."""

    async def get_or_load(self, user_id: UUID, load: Callable[[], Awaitable[User]]) -> User:
        """Return the cached user, or `load()` it and cache it."""
        ...

    async def get_or_load_as(
        self, user_id: UUID, load: Callable[[], Awaitable[User]], render: Callable[[User], T]
    ) -> T:
        """`render(user)` of the user `get_or_load` returns.

        `render` must be a pure function of the user returning something immutable (a response
        body): the cache may keep its result with the cached user and return it again, for as
        long as (never longer than) it would return that user.
        """
        ...

    def invalidating(self, user_id: UUID) -> AbstractAsyncContextManager[None]:
        """Drop the cached user when the block ends (after its transaction committed)."""
        ...
