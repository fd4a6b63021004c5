"""The ProfileCache port on Redis: `user:profile:<id>` holds a `users.v1.UserProfile` (RD-3, RD-4).

`svcinfra.cache` makes it fail open (RD-1): with Redis down, slow or holding foreign bytes, a
read is a miss and the user comes from PostgreSQL. Updates and deletes drop the entry once
their transaction has committed (`invalidate_after`), so a reader never re-caches the old row.

Hot profiles are also kept in the process (`NearCache`, issue 19): a hit costs no round trip,
and Redis's client tracking drops a kept profile when any replica changes or deletes it.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Final, TypeVar
from uuid import UUID

from svcinfra.cache import Cache, KeyNamespace, NearCache, invalidate_after
from users.domain.entity import User
from users.generated.user_profile_pb2 import UserProfile

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

    from svcinfra.cache import CacheClient

T = TypeVar("T")

NAMESPACE: Final = KeyNamespace("user", "profile")
TTL_SECONDS: Final = 300.0
# About 10k profiles of a few hundred bytes: a few MB per replica.
NEAR: Final = NearCache(max_entries=10_000)


class RedisProfileCache:
    """Users by id in Redis, as protobuf, with a TTL (RD-2) and stampede protection (RD-5).

    Args:
        client: the service's cache client (the composition root closes it).
        namespace: the key family; tests pass a unique one.
        ttl: seconds an entry lives (jittered by the library).
        near: the in-process layer's options (None: every read goes to Redis). Left out on
            Redis Cluster (`REDIS_CLUSTER_NODES`), where the library has no near cache
            (docs/redis-cluster.md).
    """

    def __init__(
        self,
        client: CacheClient,
        *,
        namespace: KeyNamespace = NAMESPACE,
        ttl: float = TTL_SECONDS,
        near: NearCache | None = NEAR,
    ) -> None:
        near = None if client.cluster else near
        self.cache: Cache[UserProfile] = Cache(client, namespace, UserProfile, ttl=ttl, near=near)

    async def get_or_load(self, user_id: UUID, load: Callable[[], Awaitable[User]]) -> User:
        """Return the cached user, or load, cache and return it (see `ProfileCache`)."""

        async def load_profile() -> UserProfile:
            return to_profile(await load())

        return from_profile(await self.cache.get_or_load(str(user_id), load_profile))

    async def get_or_load_as(
        self, user_id: UUID, load: Callable[[], Awaitable[User]], render: Callable[[User], T]
    ) -> T:
        """`render` of the user (see `ProfileCache.get_or_load_as`).

        A near-cache hit returns the rendering memoised with the kept profile: no decoding, no
        domain object, no rendering, once per kept entry (issue 19). It is dropped with the
        entry, so it is exactly as fresh as the near layer and never outlives the Redis TTL.
        """
        kept = self.cache.near_view(
            str(user_id), lambda profile: render(from_profile(profile)), tag=render
        )
        if kept is not None:
            return kept
        return render(await self.get_or_load(user_id, load))

    def invalidating(self, user_id: UUID) -> AbstractAsyncContextManager[None]:
        """Drop the entry when the block ends (see `ProfileCache.invalidating`)."""
        return invalidate_after(self.cache, str(user_id))


def to_profile(user: User) -> UserProfile:
    """The cached form of a user."""
    profile = UserProfile(
        id=str(user.id),
        email=user.email,
        username=user.username,
        display_name=user.display_name,
    )
    profile.created_at.FromDatetime(user.created_at)
    profile.updated_at.FromDatetime(user.updated_at)
    return profile


def from_profile(profile: UserProfile) -> User:
    """The user a cached profile holds; times come back in UTC."""
    return User(
        id=UUID(profile.id),
        email=profile.email,
        username=profile.username,
        display_name=profile.display_name,
        created_at=profile.created_at.ToDatetime(tzinfo=UTC),
        updated_at=profile.updated_at.ToDatetime(tzinfo=UTC),
    )
