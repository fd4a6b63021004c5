"""svcinfra.cache on the real Redis: TTLs, key format, protobuf, decode errors, invalidation."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import cache_values_pb2 as pb
import pytest
from prometheus_client import REGISTRY, generate_latest

from svcinfra.cache import (
    Cache,
    CacheClient,
    InvalidationNotices,
    KeyFormatError,
    KeyNamespace,
    TTLError,
    create_cache_client,
    invalidate_after,
)
from svcinfra.config import RedisSettings
from svcinfra.testing import metric_value, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.redis

PROTO_DIR = Path(__file__).parents[1] / "assets" / "proto"
KEY_FORMAT = re.compile(r"[^:\s]+:[^:\s]+:\S+")


@pytest.fixture(name="client")
async def _client(redis_server: str, redis_namespace: str) -> AsyncIterator[CacheClient]:
    url = urlsplit(redis_server)
    settings = RedisSettings(host=url.hostname or "127.0.0.1", port=url.port or 6379)
    client = create_cache_client(settings, name=redis_namespace)
    yield client
    keys = [key async for key in client.redis.scan_iter(match=f"{redis_namespace}*", count=1000)]
    if keys:
        await client.redis.delete(*keys)
    await client.aclose()


@pytest.fixture(name="ns")
def _ns(redis_namespace: str) -> KeyNamespace:
    return KeyNamespace(redis_namespace, "profile")


def profile(id_: int, name: str = "Ann") -> object:
    return pb.UserProfile(id=id_, name=name, email=f"{name.lower()}@example.com")


class Loader:
    """A loader over a dict 'database' that counts its calls."""

    def __init__(self, rows: dict[int, object] | None = None, *, delay: float = 0.0) -> None:
        self.rows = rows if rows is not None else {}
        self.calls = 0
        self.delay = delay
        self.gate = asyncio.Event()
        self.gate.set()

    def __call__(self, id_: int):
        async def load() -> object:
            self.calls += 1
            await self.gate.wait()
            await asyncio.sleep(self.delay)
            return self.rows.get(id_)

        return load


async def test_set_get_round_trip_stores_plain_protobuf_with_jittered_ttl(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """A value is stored as SerializeToString() under <domain>:<entity>:<id>, TTL within +-10%."""
    cache = Cache(client, ns, pb.UserProfile, ttl=100)

    assert await cache.set(7, profile(7))

    assert await cache.get(7) == profile(7)
    assert await client.redis.get(f"{ns.name}:7") == profile(7).SerializeToString()
    assert 89_000 <= await client.redis.pttl(f"{ns.name}:7") <= 110_000


async def test_per_call_ttl_override(client: CacheClient, ns: KeyNamespace) -> None:
    """A per-call TTL replaces the default for that write only."""
    cache = Cache(client, ns, pb.UserProfile, ttl=1000)

    await cache.set(1, profile(1), ttl=10)
    await cache.get_or_load(2, Loader({2: profile(2)})(2), ttl=20)

    assert await client.redis.pttl(f"{ns.name}:1") <= 11_000
    assert 17_000 <= await client.redis.pttl(f"{ns.name}:2") <= 22_000


@pytest.mark.parametrize(
    "ttl", [None, 0, -5, 8 * 86_400], ids=["none", "zero", "negative", "above-max"]
)
async def test_cache_cannot_exist_without_a_valid_ttl(
    client: CacheClient, ns: KeyNamespace, ttl: object
) -> None:
    """Construction fails fast without a TTL in (0, max_ttl] (RD-2)."""
    with pytest.raises(TTLError, match="RD-2"):
        Cache(client, ns, pb.UserProfile, ttl=ttl)  # type: ignore[arg-type]


async def test_bad_id_is_raised_not_sent(client: CacheClient, ns: KeyNamespace) -> None:
    """An id with whitespace is a programming error: raised before any Redis call."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)

    with pytest.raises(KeyFormatError):
        await cache.get("a b")


async def test_get_many_is_one_mget(client: CacheClient, ns: KeyNamespace) -> None:
    """Fifty ids are read with one MGET; only the present ones come back."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    for i in range(0, 50, 2):
        await cache.set(i, profile(i))
    before = metric_value("svcinfra_cache_operation_seconds_count", operation="mget")

    found = await cache.get_many(range(50))

    assert metric_value("svcinfra_cache_operation_seconds_count", operation="mget") - before == 1
    assert sorted(found) == list(range(0, 50, 2))
    assert found[4] == profile(4)
    assert metric_value("svcinfra_cache_lookups_total", namespace=ns.name, result="miss") == 25


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(b'{"id": 1, "name": "Ann"}', id="json"),
        pytest.param(b"\x12\x10Ann", id="truncated"),
        pytest.param(b"", id="empty-string-is-a-valid-empty-message"),
    ],
)
async def test_corrupt_value_is_a_miss_deleted_and_counted(
    client: CacheClient, ns: KeyNamespace, stored: bytes
) -> None:
    """Bytes that do not decode are a miss: the key is deleted and counted, never raised."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    await client.redis.set(f"{ns.name}:1", stored, px=60_000)

    got = await cache.get(1)

    if stored == b"":
        assert got == pb.UserProfile()  # protobuf cannot tell an empty message from no bytes
        return
    assert got is None
    assert await client.redis.exists(f"{ns.name}:1") == 0
    assert metric_value("svcinfra_cache_decode_errors_total", namespace=ns.name) == 1


async def test_foreign_value_is_replaced_by_the_loader(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """Another service's Invoice under our key: get_or_load loads, overwrites it, counts it."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    await client.redis.set(
        f"{ns.name}:3", pb.Invoice(id=3, amount_cents=9).SerializeToString(), px=60_000
    )
    loader = Loader({3: profile(3)})

    assert await cache.get_or_load(3, loader(3)) == profile(3)
    assert loader.calls == 1
    assert await cache.get(3) == profile(3)
    assert metric_value("svcinfra_cache_decode_errors_total", namespace=ns.name) == 1


@pytest.mark.parametrize("lock", [False, True], ids=["unlocked", "locked"])
async def test_one_cold_lookup_counts_one_miss_and_the_next_one_hit(
    client: CacheClient, ns: KeyNamespace, *, lock: bool
) -> None:
    """Misses equal loader calls: the re-read under the lease is not a second lookup."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60, lock=lock)
    loader = Loader({4: profile(4)})

    await cache.get_or_load(4, loader(4))
    await cache.get_or_load(4, loader(4))

    assert loader.calls == 1
    assert metric_value("svcinfra_cache_lookups_total", namespace=ns.name, result="miss") == 1
    assert metric_value("svcinfra_cache_lookups_total", namespace=ns.name, result="hit") == 1


async def test_negative_caching_has_its_own_short_ttl(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """A 'not found' is remembered for negative_ttl; a later set() replaces it."""
    cache = Cache(client, ns, pb.UserProfile, ttl=600, negative_ttl=5)
    loader = Loader({})

    assert await cache.get_or_load(9, loader(9)) is None
    assert await cache.get_or_load(9, loader(9)) is None
    assert loader.calls == 1
    assert 0 < await client.redis.pttl(f"{ns.name}.absent:9") <= 5_500
    assert (
        metric_value("svcinfra_cache_lookups_total", namespace=ns.name, result="negative_hit") == 1
    )

    await cache.set(9, profile(9))
    assert await client.redis.exists(f"{ns.name}.absent:9") == 0
    assert await cache.get_or_load(9, loader(9)) == profile(9)
    assert loader.calls == 1


async def test_not_found_is_not_cached_without_negative_ttl(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """Without negative caching every miss of a missing row asks the loader again."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    loader = Loader({})

    await cache.get_or_load(9, loader(9))
    await cache.get_or_load(9, loader(9))

    assert loader.calls == 2
    assert (
        await client.redis.exists(f"{ns.name}:9", f"{ns.name}.absent:9", f"{ns.name}.lock:9") == 0
    )


async def test_xfetch_refreshes_a_hot_key_before_it_expires(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """With recompute time near the remaining TTL, a read starts one background reload early."""
    cache = Cache(client, ns, pb.UserProfile, ttl=0.6, jitter=0, early_refresh=10)
    rows = {1: profile(1, "Old")}
    loader = Loader(rows, delay=0.1)
    assert await cache.get_or_load(1, loader(1)) == profile(1, "Old")
    rows[1] = profile(1, "New")
    await asyncio.sleep(0.2)

    for _ in range(100):
        await cache.get_or_load(1, loader(1))
        if loader.calls == 2:
            break
        await asyncio.sleep(0.002)
    await until(lambda: not len(cache._flights))

    assert loader.calls == 2
    assert await cache.get(1) == profile(1, "New")
    assert metric_value("svcinfra_cache_early_refreshes_total", namespace=ns.name) == 1


async def test_xfetch_value_keeps_the_message_readable(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """With early refresh on, the stored bytes still parse as the plain message in any runtime."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60, early_refresh=1)
    await cache.get_or_load(5, Loader({5: profile(5)})(5))

    raw = await client.redis.get(f"{ns.name}:5")

    assert pb.UserProfile.FromString(raw).name == "Ann"


async def test_invalidate_after_deletes_when_the_block_ends(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """Keys are still present inside the block (the transaction) and gone right after it."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    await cache.set(1, profile(1))

    async with invalidate_after(cache, 1):
        assert await client.redis.exists(f"{ns.name}:1") == 1

    assert await client.redis.exists(f"{ns.name}:1") == 0


async def test_invalidate_after_checks_ids_before_the_block(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """A bad id fails before the transaction body runs."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    ran = False

    with pytest.raises(KeyFormatError):
        async with invalidate_after(cache, "bad id"):
            ran = True

    assert not ran


@pytest.mark.parametrize("lock", [True, False], ids=["locked", "unlocked"])
async def test_load_in_flight_during_delete_does_not_write_stale(
    client: CacheClient, ns: KeyNamespace, *, lock: bool
) -> None:
    """A load that read the old row before a delete returns it but does not cache it."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60, lock=lock)
    loader = Loader({1: profile(1, "Old")})
    loader.gate.clear()
    reader = asyncio.create_task(cache.get_or_load(1, loader(1)))
    await until(lambda: loader.calls)

    await cache.delete(1)
    loader.gate.set()

    assert await reader == profile(1, "Old")
    assert await client.redis.exists(f"{ns.name}:1", f"{ns.name}.lock:1") == 0


async def test_delete_from_another_process_voids_the_lock_holders_fill(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """The holder's compare-and-set fill fails once another instance's delete removed its lease."""
    holder = Cache(client, ns, pb.UserProfile, ttl=60)
    other_process = Cache(client, ns, pb.UserProfile, ttl=60)
    loader = Loader({1: profile(1, "Old")})
    loader.gate.clear()
    reader = asyncio.create_task(holder.get_or_load(1, loader(1)))
    await until(lambda: loader.calls)

    await other_process.delete(1)
    loader.gate.set()

    assert await reader == profile(1, "Old")
    assert await client.redis.exists(f"{ns.name}:1") == 0
    assert metric_value("svcinfra_cache_lock_total", namespace=ns.name, outcome="lost") == 1


async def test_redelete_after_removes_a_late_stale_write(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """A stale write that lands after the first delete is removed by the delayed second delete."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    async with invalidate_after(cache, 1, redelete_after=0.2):
        pass
    await client.redis.set(f"{ns.name}:1", profile(1, "Stale").SerializeToString(), px=60_000)

    for _ in range(200):
        if not await client.redis.exists(f"{ns.name}:1"):
            break
        await asyncio.sleep(0.01)

    assert await client.redis.exists(f"{ns.name}:1") == 0


async def test_mixed_workload_leaves_only_keys_with_ttl_in_format(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """After a mixed workload, SCAN finds no key without a TTL and none off the key format."""
    profiles = Cache(client, ns, pb.UserProfile, ttl=60, negative_ttl=5, early_refresh=1)
    invoices = Cache(client, KeyNamespace(ns.domain, "invoice"), pb.Invoice, ttl=30, lock=False)
    rows = {i: profile(i) for i in range(0, 200, 3)}
    loader = Loader(rows, delay=0.001)
    await asyncio.gather(*(profiles.get_or_load(i % 120, loader(i % 120)) for i in range(400)))
    await asyncio.gather(*(invoices.set(i, pb.Invoice(id=i)) for i in range(50)))
    await profiles.get_many(range(300))
    await profiles.delete(*range(30))
    async with invalidate_after(invoices, 1, 2, 3):
        await invoices.get(1)
    holder = asyncio.create_task(
        profiles.get_or_load(500, Loader({500: profile(500)}, delay=0.2)(500))
    )
    await asyncio.sleep(0.05)

    keys = [key async for key in client.redis.scan_iter(match=f"{ns.domain}*", count=1000)]
    ttls = [await client.redis.pttl(key) for key in keys]
    await holder

    assert len(keys) > 100
    assert all(ttl > 0 for ttl in ttls), [k for k, t in zip(keys, ttls, strict=True) if t <= 0]
    assert all(KEY_FORMAT.fullmatch(key.decode()) for key in keys)
    assert any(b".lock:" in key for key in keys)
    assert any(b".absent:" in key for key in keys)


async def test_notices_reach_subscribers_at_most_once(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """A subscriber gets the published id; a notice sent before it subscribed is lost (RD-6)."""
    notices = InvalidationNotices(client, ns)
    assert await notices.publish(1) == 0  # nobody listens: gone for good

    subscribed = asyncio.Event()
    received: list[str] = []

    async def listen() -> None:
        async for id_ in notices.listen(subscribed=subscribed):
            received.append(id_)
            return

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(subscribed.wait(), 5)
    assert await notices.publish(2) == 1
    await asyncio.wait_for(listener, 5)

    assert received == ["2"]


async def test_ping_and_key_count_sampling(client: CacheClient, ns: KeyNamespace) -> None:
    """The readiness ping answers, and the sampled key count per namespace lands in its gauge."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    for i in range(12):
        await cache.set(i, profile(i))

    assert await client.ping(timeout=1.0)
    counts = await client.sample_key_counts()

    assert counts[ns.name] == 12
    assert metric_value("svcinfra_cache_keys", namespace=ns.name) == 12


async def test_pool_gauges_are_exported(client: CacheClient, ns: KeyNamespace) -> None:
    """Pool size and in-use connections appear in the Prometheus output, labelled by client."""
    await Cache(client, ns, pb.UserProfile, ttl=60).get(1)

    text = generate_latest(REGISTRY).decode()

    assert f'svcinfra_cache_pool_connections{{client="{client.name}",state="idle"}} 1.0' in text
    assert f'svcinfra_cache_pool_max_connections{{client="{client.name}"}} 50.0' in text
    assert f":{ns.entity}:" not in text.replace(f'namespace="{ns.name}"', "")  # no keys in labels
