"""Stampede protection on the real Redis: singleflight in-process, a lease across them (RD-5)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import cache_values_pb2 as pb
import pytest

from svcinfra.cache import Cache, CacheClient, KeyNamespace, create_cache_client
from svcinfra.config import RedisSettings
from svcinfra.testing import metric_value, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.redis

GENERATED = Path(__file__).parents[1] / "assets" / "proto" / "generated"

# One "replica": waits for the go key, then sends `callers` concurrent get_or_load of one cold key.
# mode "hold": the loader never returns (the test SIGKILLs the process while it holds the lease).
CHILD = """
import asyncio, os, sys
sys.path.insert(0, sys.argv[1])
import cache_values_pb2 as pb
from svcinfra.cache import Cache, KeyNamespace, create_cache_client
from svcinfra.config import RedisSettings
from svcinfra.testing import until, metric_value

gen, domain, mode = sys.argv[1:4]
callers, lease = int(sys.argv[4]), float(sys.argv[5])

async def main():
    settings = RedisSettings(host="127.0.0.1", socket_timeout=2.0)
    client = create_cache_client(settings, name=f"child{os.getpid()}")
    ns = KeyNamespace(domain, "profile")
    cache = Cache(client, ns, pb.UserProfile, ttl=60, lock_lease=lease, lock_wait=10)

    async def loader():
        await client.redis.incr(f"{domain}:calls:1")
        await client.redis.pexpire(f"{domain}:calls:1", 60000)
        print("loading", flush=True)
        await asyncio.sleep(3600 if mode == "hold" else 0.3)
        return pb.UserProfile(id=1, name=f"from {os.getpid()}")

    print("ready", flush=True)
    while not await client.redis.exists(f"{domain}:go:1"):
        await asyncio.sleep(0.002)
    results = await asyncio.gather(*(cache.get_or_load(1, loader) for _ in range(callers)))
    print("done", len({r.name for r in results}), len(results), flush=True)
    await client.aclose()

asyncio.run(main())
"""


@pytest.fixture(name="client")
async def _client(redis_server: str, redis_namespace: str) -> AsyncIterator[CacheClient]:
    url = urlsplit(redis_server)
    settings = RedisSettings(host=url.hostname or "127.0.0.1", port=url.port, socket_timeout=2.0)
    client = create_cache_client(settings, name=redis_namespace)
    yield client
    keys = [key async for key in client.redis.scan_iter(match=f"{redis_namespace}*", count=1000)]
    if keys:
        await client.redis.delete(*keys)
    await client.aclose()


@pytest.fixture(name="ns")
def _ns(redis_namespace: str) -> KeyNamespace:
    return KeyNamespace(redis_namespace, "profile")


class Loader:
    """Counts calls; returns a profile after `delay`, or raises `error`."""

    def __init__(self, *, delay: float = 0.05, error: Exception | None = None) -> None:
        self.calls = 0
        self.delay = delay
        self.error = error

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return pb.UserProfile(id=1, name="Ann")


@pytest.mark.parametrize("lock", [True, False], ids=["lock", "no-lock"])
async def test_thousand_cold_requests_in_one_process_make_one_load(
    client: CacheClient, ns: KeyNamespace, *, lock: bool
) -> None:
    """1000 concurrent get_or_load of a cold key call the loader once and all get its value."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60, lock=lock)
    loader = Loader()

    results = await asyncio.gather(*(cache.get_or_load(1, loader) for _ in range(1000)))

    assert loader.calls == 1
    assert all(result == pb.UserProfile(id=1, name="Ann") for result in results)
    assert metric_value("svcinfra_cache_singleflight_shared_total", namespace=ns.name) == 999
    assert await cache.get(1) == pb.UserProfile(id=1, name="Ann")


async def test_loader_error_is_shared_and_the_lease_released(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """Every caller gets the one loader error; the lease is released at once, not left to expire."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60, lock_lease=30)
    error = LookupError("database unavailable")
    loader = Loader(error=error)

    results = await asyncio.gather(
        *(cache.get_or_load(1, loader) for _ in range(100)), return_exceptions=True
    )

    assert loader.calls == 1
    assert all(result is error for result in results)
    assert await client.redis.exists(f"{ns.name}:1", ns.lock_key(1)) == 0


async def test_cancelling_one_waiter_leaves_the_others(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """The caller that started the load is cancelled; the load completes and serves the rest."""
    cache = Cache(client, ns, pb.UserProfile, ttl=60)
    loader = Loader(delay=0.2)
    first = asyncio.create_task(cache.get_or_load(1, loader))
    await until(lambda: loader.calls)
    others = [asyncio.create_task(cache.get_or_load(1, loader)) for _ in range(20)]
    await asyncio.sleep(0.01)

    first.cancel()
    results = await asyncio.gather(*others)

    assert first.cancelled()
    assert loader.calls == 1
    assert all(result.name == "Ann" for result in results)
    assert await cache.get(1) == pb.UserProfile(id=1, name="Ann")


async def start_children(
    domain: str, count: int, callers: int, mode: str, lease: float
) -> list[asyncio.subprocess.Process]:
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            str(GENERATED),
            domain,
            mode,
            str(callers),
            str(lease),
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        for _ in range(count)
    ]
    for child in children:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 60) == b"ready\n"
    return children


async def test_four_processes_of_250_callers_make_one_load(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """4 processes x 250 concurrent cold requests, started together: exactly one loader call."""
    children = await start_children(ns.domain, 4, 250, "count", 5.0)
    await client.redis.set(f"{ns.domain}:go:1", b"1", px=60_000)

    outputs = [await asyncio.wait_for(child.communicate(), 60) for child in children]

    assert [child.returncode for child in children] == [0, 0, 0, 0]
    lines = [out.decode().split() for out, _ in outputs]
    assert sum(line.count("loading") for line in lines) == 1
    assert all(
        line[-3:] == ["done", "1", "250"] for line in lines
    )  # each process: 250 results, one value
    assert await client.redis.get(f"{ns.domain}:calls:1") == b"1"


async def test_lock_holder_killed_then_another_process_loads_after_the_lease(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """The holder is SIGKILLed mid-load; its lease (kept by its watchdog) runs out and we load."""
    (holder,) = await start_children(ns.domain, 1, 1, "hold", 0.5)
    await client.redis.set(f"{ns.domain}:go:1", b"1", px=60_000)
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"loading\n"
    cache = Cache(client, ns, pb.UserProfile, ttl=60, lock_lease=0.5, lock_wait=10)
    loader = Loader()
    waiter = asyncio.create_task(cache.get_or_load(1, loader))
    await asyncio.sleep(1.2)  # more than two leases: only the holder's watchdog keeps it
    assert await client.redis.exists(ns.lock_key(1)) == 1
    assert not waiter.done()

    holder.send_signal(signal.SIGKILL)
    await holder.wait()
    result = await asyncio.wait_for(waiter, 10)

    assert holder.returncode == -signal.SIGKILL
    assert result == pb.UserProfile(id=1, name="Ann")
    assert loader.calls == 1
    assert await client.redis.get(f"{ns.domain}:calls:1") == b"1"
    assert metric_value("svcinfra_cache_lock_total", namespace=ns.name, outcome="contended") == 1
    assert metric_value("svcinfra_cache_lock_total", namespace=ns.name, outcome="acquired") == 1


class Gate:
    """A loader that blocks until opened, returning `result`."""

    def __init__(self, result: object) -> None:
        self.calls = 0
        self.open = asyncio.Event()
        self.result = result

    async def __call__(self) -> object:
        self.calls += 1
        await self.open.wait()
        return self.result


async def test_waiter_elsewhere_gets_the_holders_not_found(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """A second instance (as another process) waits on the lease and reads the negative entry."""
    holder = Cache(client, ns, pb.UserProfile, ttl=60, negative_ttl=5)
    elsewhere = Cache(client, ns, pb.UserProfile, ttl=60, negative_ttl=5)
    holding, waiting = Gate(None), Gate(pb.UserProfile(id=1))
    first = asyncio.create_task(holder.get_or_load(1, holding))
    await until(lambda: holding.calls)
    second = asyncio.create_task(elsewhere.get_or_load(1, waiting))
    await until(
        lambda: metric_value("svcinfra_cache_lock_total", namespace=ns.name, outcome="contended")
    )

    holding.open.set()

    assert await first is None
    assert await second is None
    assert waiting.calls == 0


async def test_waiter_loads_itself_after_the_bounded_wait(
    client: CacheClient, ns: KeyNamespace
) -> None:
    """A waiter whose holder takes longer than lock_wait stops waiting and loads by itself."""
    holder = Cache(client, ns, pb.UserProfile, ttl=60, lock_lease=5)
    impatient = Cache(client, ns, pb.UserProfile, ttl=60, lock_wait=0.1)
    slow, quick = Gate(pb.UserProfile(id=1, name="slow")), Gate(pb.UserProfile(id=1, name="own"))
    quick.open.set()
    first = asyncio.create_task(holder.get_or_load(1, slow))
    await until(lambda: slow.calls)

    assert (await impatient.get_or_load(1, quick)).name == "own"
    assert metric_value("svcinfra_cache_lock_total", namespace=ns.name, outcome="timeout") == 1
    slow.open.set()
    assert (await first).name == "slow"
