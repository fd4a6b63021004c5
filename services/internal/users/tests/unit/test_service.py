"""The use cases over in-memory fakes of their ports: what is stored, announced and dropped."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import pytest
from users.domain.entity import Cursor, NewUser, SearchQuery, SortOrder, User, UserChanges
from users.domain.errors import Conflict, InvalidField, NotFound
from users.domain.service import UsersService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

T = TypeVar("T")


@dataclass
class Store:
    """The source of truth, with a journal of what happened in which order."""

    users: dict[uuid.UUID, User] = field(default_factory=dict)
    events: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    journal: list[str] = field(default_factory=list)
    fail_events: bool = False


class Writer:
    def __init__(self, staged: dict[uuid.UUID, User]) -> None:
        self.staged = staged

    async def create(self, new: NewUser) -> User:
        if any(u.email == new.email for u in self.staged.values()):
            raise Conflict("email")
        user = User(uuid.uuid4(), new.email, new.username, new.display_name, T0, T0)
        self.staged[user.id] = user
        return user

    async def update(self, user_id: uuid.UUID, changes: UserChanges) -> User:
        if user_id not in self.staged:
            raise NotFound("user not found")
        old = self.staged[user_id]
        user = replace(
            old,
            email=changes.email or old.email,
            username=changes.username or old.username,
            display_name=changes.display_name or old.display_name,
            updated_at=T0 + timedelta(seconds=1),
        )
        self.staged[user_id] = user
        return user

    async def delete(self, user_id: uuid.UUID) -> None:
        if self.staged.pop(user_id, None) is None:
            raise NotFound("user not found")


class Events:
    def __init__(self, store: Store, staged: list[tuple[str, uuid.UUID]]) -> None:
        self.store = store
        self.staged = staged

    async def _add(self, name: str, user_id: uuid.UUID) -> None:
        if self.store.fail_events:
            raise RuntimeError("the outbox refused the event")
        self.staged.append((name, user_id))

    async def registered(self, user: User) -> None:
        await self._add("user.registered.v1", user.id)

    async def updated(self, user: User) -> None:
        await self._add("user.updated.v1", user.id)

    async def deleted(self, user_id: uuid.UUID, deleted_at: datetime) -> None:
        assert deleted_at.tzinfo is not None
        await self._add("user.deleted.v1", user_id)


@dataclass
class Work:
    users: Writer
    events: Events


class Transactions:
    """A unit of work that applies its staged users and events only when the block succeeds."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Work]:
        users = dict(self.store.users)
        events: list[tuple[str, uuid.UUID]] = []
        try:
            yield Work(Writer(users), Events(self.store, events))
        except BaseException:
            self.store.journal.append("rollback")
            raise
        self.store.users = users
        self.store.events += events
        self.store.journal.append("commit")


class Reader:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.fetches: list[int] = []

    async def get(self, user_id: uuid.UUID) -> User:
        self.store.journal.append("load")
        try:
            return self.store.users[user_id]
        except KeyError:
            raise NotFound("user not found") from None

    async def get_by_username(self, username: str) -> User:
        for user in self.store.users.values():
            if user.username == username:
                return user
        raise NotFound("user not found")

    async def search(self, query: SearchQuery, *, fetch: int) -> list[User]:
        self.fetches.append(fetch)
        ordered = sorted(self.store.users.values(), key=lambda u: (u.username, u.id))
        if query.after is not None:
            after = (query.after.key, query.after.id)
            ordered = [u for u in ordered if (u.username, u.id) > after]
        return ordered[:fetch]


class Cache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.values: dict[uuid.UUID, User] = {}

    async def get_or_load(self, user_id: uuid.UUID, load: Callable[[], Awaitable[User]]) -> User:
        if user_id not in self.values:
            self.values[user_id] = await load()
        return self.values[user_id]

    async def get_or_load_as(
        self, user_id: uuid.UUID, load: Callable[[], Awaitable[User]], render: Callable[[User], T]
    ) -> T:
        return render(await self.get_or_load(user_id, load))

    @asynccontextmanager
    async def invalidating(self, user_id: uuid.UUID) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.values.pop(user_id, None)
            self.store.journal.append("invalidate")


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def service(store: Store) -> UsersService:
    return UsersService(Reader(store), Transactions(store), Cache(store))


async def register(service: UsersService, name: str = "ada") -> User:
    return await service.register(
        email=f"{name}@example.com", username=name, display_name=name.title()
    )


async def test_registration_stores_the_user_and_its_event_in_one_unit(
    service: UsersService, store: Store
) -> None:
    user = await register(service)

    assert store.users == {user.id: user}
    assert store.events == [("user.registered.v1", user.id)]
    assert store.journal == ["commit"]


async def test_an_event_that_cannot_be_recorded_undoes_the_registration(
    service: UsersService, store: Store
) -> None:
    store.fail_events = True

    with pytest.raises(RuntimeError):
        await register(service)

    assert store.users == {}
    assert store.events == []
    assert store.journal == ["rollback"]


async def test_invalid_input_never_opens_a_unit_of_work(
    service: UsersService, store: Store
) -> None:
    with pytest.raises(InvalidField, match="username"):
        await service.register(email="ada@example.com", username="a!", display_name="Ada")

    assert store.journal == []


async def test_an_update_drops_the_cached_profile_after_its_commit(
    service: UsersService, store: Store
) -> None:
    user = await register(service)
    await service.get(user.id)  # cached now
    store.journal.clear()

    changed = await service.update(user.id, display_name="Countess")

    assert store.journal == ["commit", "invalidate"]
    assert store.events[-1] == ("user.updated.v1", user.id)
    assert (await service.get(user.id)) == changed
    assert store.journal == ["commit", "invalidate", "load"]


async def test_reads_after_the_first_come_from_the_cache(
    service: UsersService, store: Store
) -> None:
    user = await register(service)

    assert await service.get(user.id) == user
    assert await service.get(user.id) == user
    assert store.journal.count("load") == 1


async def test_deleting_a_missing_user_announces_nothing(
    service: UsersService, store: Store
) -> None:
    with pytest.raises(NotFound):
        await service.delete(uuid.uuid4())

    assert store.events == []
    assert store.journal == ["rollback", "invalidate"]


async def test_a_deletion_is_announced_and_the_user_is_gone(
    service: UsersService, store: Store
) -> None:
    user = await register(service)

    await service.delete(user.id)

    assert store.events[-1] == ("user.deleted.v1", user.id)
    with pytest.raises(NotFound):
        await service.get(user.id)


async def test_a_search_asks_for_one_more_row_to_know_a_next_page_exists(
    service: UsersService, store: Store
) -> None:
    reader = Reader(store)
    service = UsersService(reader, Transactions(store), Cache(store))
    for name in ("ann", "bob", "cid"):
        await register(service, name)

    first = await service.search(sort="username", limit=2)
    assert first.next_cursor is not None
    last = await service.search(sort="username", limit=2, cursor=first.next_cursor.encode())

    assert [u.username for u in first.users] == ["ann", "bob"]
    assert [u.username for u in last.users] == ["cid"]
    assert last.next_cursor is None
    assert reader.fetches == [3, 3]
    assert first.next_cursor == Cursor.after(first.users[-1], SortOrder.USERNAME)


async def test_lookup_by_username_is_case_insensitive(service: UsersService) -> None:
    user = await register(service)

    assert await service.get_by_username("ADA") == user


@pytest.mark.parametrize("username", ["a\x00b", "ab", "ada-l", "' OR 1=1 --", "a" * 33])
async def test_a_string_that_cannot_be_a_username_is_not_found_without_a_query(
    store: Store, username: str
) -> None:
    """A NUL, for one, would reach PostgreSQL, which refuses it in text: 404, not a 422."""

    class Untouchable(Reader):
        async def get_by_username(self, username: str) -> User:
            raise AssertionError(f"queried for {username!r}")

    service = UsersService(Untouchable(store), Transactions(store), Cache(store))
    with pytest.raises(NotFound):
        await service.get_by_username(username)
