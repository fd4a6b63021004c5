"""The profile cache on the real Redis: hits, invalidation after commit, and Redis outages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from users.app import Wiring, build_service
from users.cache.redis.profiles import from_profile, to_profile
from users.domain.entity import User
from users.generated.user_profile_pb2 import UserProfile

from svcinfra.cache import create_cache_client
from svcinfra.config import RedisSettings
from svcinfra.testing import FaultProxy, metric_value

if TYPE_CHECKING:
    from users.domain.service import UsersService

    from svcinfra.cache import CacheClient
    from svcinfra.postgres import Database

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def lookups(wiring: Wiring, result: str) -> float:
    return metric_value(
        "svcinfra_cache_lookups_total", namespace=wiring.namespace.name, result=result
    )


async def register(service: UsersService) -> User:
    return await service.register(email="ada@example.com", username="ada", display_name="Ada")


async def stored(cache_client: CacheClient, key: str) -> bytes | None:
    return await cache_client.redis.get(key)  # type: ignore[no-any-return]


async def test_a_repeated_get_is_served_from_the_cache(
    service: UsersService, wiring: Wiring, cache_client: CacheClient
) -> None:
    user = await register(service)
    first = await service.get(user.id)  # a miss: loaded from Postgres, stored
    misses, hits = lookups(wiring, "miss"), lookups(wiring, "hit")

    second = await service.get(user.id)

    assert misses >= 1
    assert first == second == user
    assert lookups(wiring, "hit") == hits + 1
    assert lookups(wiring, "miss") == misses
    raw = await stored(cache_client, wiring.namespace.key(str(user.id)))
    assert raw is not None
    profile = UserProfile()
    profile.ParseFromString(raw)  # a Go reader of users.v1.UserProfile reads the same bytes
    assert profile.username == "ada"


async def test_update_and_delete_drop_the_entry_after_commit(
    service: UsersService, wiring: Wiring, cache_client: CacheClient
) -> None:
    user = await register(service)
    key = wiring.namespace.key(str(user.id))
    await service.get(user.id)
    assert await stored(cache_client, key) is not None

    changed = await service.update(user.id, display_name="Countess")

    assert await stored(cache_client, key) is None
    assert await service.get(user.id) == changed
    assert await stored(cache_client, key) is not None

    await service.delete(user.id)

    assert await stored(cache_client, key) is None


def test_a_profile_round_trips_through_protobuf() -> None:
    at = datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=UTC)
    user = User(uuid4(), "ada@example.com", "ada", "Ada 🚀", at, at)

    assert from_profile(to_profile(user)) == user


async def test_with_redis_down_the_service_answers_from_postgres(
    db: Database, wiring: Wiring
) -> None:
    """RD-1: the cache fails open; reads and writes go on against the source of truth."""
    async with FaultProxy("127.0.0.1", 6379) as proxy:
        settings = RedisSettings.model_validate({"host": "127.0.0.1", "port": proxy.port})
        client = create_cache_client(settings)
        try:
            service = build_service(db, client, wiring)
            user = await register(service)
            assert await service.get(user.id) == user
            errors = lookups(wiring, "error") + lookups(wiring, "skipped")

            await proxy.refuse()
            proxy.reset_all()
            changed = await service.update(user.id, display_name="Offline")
            got = await service.get(user.id)

            assert got == changed
            assert got.display_name == "Offline"
            assert lookups(wiring, "error") + lookups(wiring, "skipped") > errors
        finally:
            await client.aclose()


async def test_a_change_through_one_replica_reaches_the_others_near_cache(
    db: Database, wiring: Wiring, redis_settings: RedisSettings
) -> None:
    """The profile cache keeps hot profiles in the process; another replica's update drops them."""
    reader_client, writer_client = (
        create_cache_client(redis_settings),
        create_cache_client(redis_settings),
    )
    try:
        reader, writer = (
            build_service(db, reader_client, wiring),
            build_service(db, writer_client, wiring),
        )
        user = await register(writer)
        near_hits = 0.0
        for _ in range(200):  # the first reads load and fill; then the near layer serves
            assert await reader.get(user.id) == user
            near_hits = metric_value(
                "svcinfra_cache_near_total", namespace=wiring.namespace.name, event="hit"
            )
            if near_hits:
                break
            await asyncio.sleep(0.01)
        assert near_hits > 0

        changed = await writer.update(user.id, display_name="Countess")

        for _ in range(500):  # 5 s, against a TTL of 300 s: only the invalidation can do it
            if await reader.get(user.id) == changed:
                break
            await asyncio.sleep(0.01)
        assert await reader.get(user.id) == changed
    finally:
        await reader_client.aclose()
        await writer_client.aclose()
