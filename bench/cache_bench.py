"""Cache benchmark: svcinfra.cache against raw redis-py 8, alternating in one process run.

    .venv/bin/python bench/cache_bench.py [--quick]

Scenarios (Redis on 127.0.0.1:6379, 200-byte protobuf values, one connection pool for both):
  hit       50 concurrent tasks reading warm keys: `get_or_load` vs raw `GET` + `FromString`,
            and vs raw `MGET` batches of the size ours formed in the same run (ours coalesces
            the reads of one event-loop tick into one MGET: the honest reference for that).
            Also the same `get_or_load` with the near cache on (`NearCache`, issue 19): a hit
            served in process, no round trip. CPU per op is this process's (not Redis's).
  stampede  1000 concurrent cold requests of one key, loader takes 50 ms: loader calls and the
            waiters' latency; raw = GET, miss, load, SET (no protection).
  degraded  Redis stopped (FaultProxy refusing), breaker open: latency added on top of the
            loader; raw = GET that fails, then the loader (same pool settings).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import random
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from svcinfra.cache import Cache, CacheClient, KeyNamespace, NearCache, create_cache_client
from svcinfra.config import RedisSettings
from svcinfra.testing import FaultProxy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "libs/python/svcinfra/tests/assets/proto/generated"
TASKS = 50
KEYS = 1000


def load_pb2() -> ModuleType:
    name = "cache_values_pb2"
    spec = importlib.util.spec_from_file_location(name, GENERATED / f"{name}.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {GENERATED / name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


pb = load_pb2()


def value(id_: int) -> object:
    return pb.UserProfile(
        id=id_,
        name=f"user number {id_:06d}",
        email=f"user{id_:06d}@example.com",
        tags=[f"tag-{i:02d}-{'x' * 12}" for i in range(8)],
        created_at_unix=1_700_000_000 + id_,
    )


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run_tasks(
    op: Callable[[int], Awaitable[object]], seconds: float, *, tasks: int = TASKS
) -> tuple[float, list[float]]:
    """Run `tasks` workers calling `op(random key)` for `seconds`; return ops/s and latencies."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        rnd = random.Random(seed)  # noqa: S311  (picks benchmark keys)
        clock = time.perf_counter
        while clock() < stop:
            started = clock()
            await op(rnd.randrange(KEYS))
            latencies.append(clock() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    return len(latencies) / (time.perf_counter() - started), latencies


async def timed_tasks(
    op: Callable[[int], Awaitable[object]], seconds: float
) -> tuple[tuple[float, list[float]], float]:
    """`run_tasks`, and this process's CPU seconds per operation."""
    cpu_started = time.process_time()
    result = await run_tasks(op, seconds)
    return result, (time.process_time() - cpu_started) / max(1, len(result[1]))


async def near_path(client: CacheClient, ns: KeyNamespace) -> Callable[[int], Awaitable[object]]:
    """`get_or_load` of a cache with the near layer on, once its tracking is up."""
    near_cache = Cache(client, ns, pb.UserProfile, ttl=600, near=NearCache(max_entries=KEYS))
    if near_cache.near is None or not await near_cache.near.wait_live(5):
        raise SystemExit("the near cache's tracking connection did not come up")

    async def near(i: int) -> object:
        return await near_cache.get_or_load(i, _never)

    return near


async def bench_hit(
    client: CacheClient, ns: KeyNamespace, rounds: int, seconds: float
) -> list[str]:
    cache = Cache(client, ns, pb.UserProfile, ttl=600)
    for i in range(KEYS):
        await cache.set(i, value(i))
    size = len(value(1).SerializeToString())
    keys = [ns.key(i) for i in range(KEYS)]
    redis = client.redis
    plain = Redis(host="127.0.0.1", port=6379, max_connections=50, socket_timeout=2.0)
    parse = pb.UserProfile.FromString

    async def raw(i: int) -> object:
        return parse(await redis.get(keys[i]))

    async def raw_default_pool(i: int) -> object:
        return parse(await plain.get(keys[i]))

    async def ours(i: int) -> object:
        return await cache.get_or_load(i, _never)

    near = await near_path(client, ns)
    paths = {"raw": raw, "plain": raw_default_pool, "ours": ours, "near": near}
    results: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in [*paths, "mget"]}
    mgets = dict.fromkeys(paths, 0.0)  # MGET round trips each path made
    await run_tasks(raw, seconds / 4)  # warm the pools
    await run_tasks(raw_default_pool, seconds / 4)
    await run_tasks(near, seconds / 4)  # fill the near layer
    for _ in range(rounds):
        for name, op in paths.items():
            before = _mget_count()
            result, cpu_per_op = await timed_tasks(op, seconds)
            mgets[name] += _mget_count() - before
            cpu[name].append(cpu_per_op)
            results[name].append(result)
    ours_reads = sum(len(r[1]) for r in results["ours"])
    batch = max(1, round(ours_reads / max(1.0, mgets["ours"])))
    results["mget"] = []
    for _ in range(rounds):  # same keys in flight as 50 tasks of ours: 50 / batch MGET callers
        cpu_started = time.process_time()
        result = await run_mget(redis, keys, parse, batch, seconds)
        cpu["mget"].append((time.process_time() - cpu_started) / max(1, len(result[1])))
        results["mget"].append(result)
    await plain.aclose()
    rows = []
    base = statistics.median(r[0] for r in results["raw"])
    labels = (
        ("raw", "raw GET + FromString, same pool"),
        ("plain", "raw GET + FromString, redis-py default pool"),
        ("ours", "Cache.get_or_load (hit)"),
        ("near", "Cache.get_or_load, near cache on (hit in process)"),
        (
            "mget",
            f"raw MGET of {batch} keys + FromString, same pool, {max(1, TASKS // batch)} tasks",
        ),
    )
    for name, label in labels:
        rate = statistics.median(r[0] for r in results[name])
        lat = [x for r in results[name] for x in r[1]]
        rows.append(
            f"| hit, {TASKS} tasks, {size} B | {label} | {rate:,.0f} | {pct(lat, 0.5):.2f} | "
            f"{pct(lat, 0.99):.2f} | {rate / base:.2f}, "
            f"cpu {statistics.median(cpu[name]) * 1e6:.1f} us/op |"
        )
    return rows


def _mget_count() -> float:
    """How many MGET round trips the cache has made (its operation histogram's count)."""
    value = REGISTRY.get_sample_value(
        "svcinfra_cache_operation_seconds_count", {"operation": "mget"}
    )
    return value or 0.0


async def run_mget(
    redis: Redis,
    keys: list[str],
    parse: Callable[[bytes], object],
    batch: int,
    seconds: float,
) -> tuple[float, list[float]]:
    """Raw MGETs of `batch` random keys from `TASKS // batch` tasks; keys read per second.

    Every key read counts as one operation and gets its MGET's latency, as ours' reads do.
    """
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311  (a benchmark's key choice)
        while time.perf_counter() < deadline:
            chosen = [keys[rng.randrange(KEYS)] for _ in range(batch)]
            started = time.perf_counter()
            values = await redis.mget(chosen)
            for raw_value in values:
                parse(raw_value)
            latencies.extend([time.perf_counter() - started] * batch)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(max(1, TASKS // batch))))
    return len(latencies) / (time.perf_counter() - started), latencies


async def _never() -> object:
    raise AssertionError("the hit benchmark must not load")


async def bench_stampede(client: CacheClient, ns: KeyNamespace) -> list[str]:
    rows = []
    for label, protected in (("raw GET/load/SET", False), ("Cache.get_or_load", True)):
        await client.redis.delete(ns.key("hot"), ns.lock_key("hot"))
        calls, lat = await stampede_round(client, ns, protected=protected)
        rows.append(
            f"| stampede, 1000 cold, 50 ms loader | {label} | loader calls: {calls} | "
            f"{pct(lat, 0.5):.2f} | {pct(lat, 0.99):.2f} | |"
        )
    await client.redis.delete(ns.key("hot"))
    return rows


async def stampede_round(
    client: CacheClient, ns: KeyNamespace, *, protected: bool
) -> tuple[int, list[float]]:
    """Send 1000 concurrent requests for one cold key; return loader calls and latencies."""
    calls = 0
    key = ns.key("hot")
    cache = Cache(client, ns, pb.UserProfile, ttl=600)

    async def loader() -> object:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return value(1)

    async def raw() -> object:
        data = await client.redis.get(key)
        if data is not None:
            return pb.UserProfile.FromString(data)
        loaded = await loader()
        await client.redis.set(key, loaded.SerializeToString(), px=600_000)
        return loaded

    async def ours() -> object:
        return await cache.get_or_load("hot", loader)

    async def timed() -> float:
        started = time.perf_counter()
        await (ours() if protected else raw())
        return time.perf_counter() - started

    lat = await asyncio.gather(*(timed() for _ in range(1000)))
    return calls, list(lat)


async def bench_degraded(ns: KeyNamespace, seconds: float) -> list[str]:
    async with FaultProxy("127.0.0.1", 6379) as proxy:
        client = create_cache_client(
            RedisSettings(host=proxy.host, port=proxy.port, breaker_cooldown=3600),
            name="bench-degraded",
        )
        cache = Cache(client, ns, pb.UserProfile, ttl=600)
        await proxy.refuse()

        async def loader_only(i: int) -> object:
            return await _load(i)

        async def raw(i: int) -> object:
            try:
                data = await client.redis.get(ns.key(i))
            except Exception:  # noqa: BLE001  (what a naive fallback does)
                return await _load(i)
            return pb.UserProfile.FromString(data)

        async def ours(i: int) -> object:
            return await cache.get_or_load(i, lambda: _load(i))

        for _ in range(10):  # open the breaker
            await ours(0)
        if client.breaker.state.name != "OPEN":
            raise SystemExit("the breaker did not open with Redis refused")
        rows = []
        for tasks in (1, TASKS):
            _, base = await run_tasks(loader_only, seconds, tasks=tasks)
            base_p50, base_p99 = pct(base, 0.5), pct(base, 0.99)
            rows.append(
                f"| degraded, Redis down, {tasks} task(s) | loader alone (baseline) | | "
                f"{base_p50:.3f} | {base_p99:.3f} | |"
            )
            for label, op in (
                ("raw GET (refused) + loader", raw),
                ("Cache.get_or_load, breaker open", ours),
            ):
                rate, lat = await run_tasks(op, seconds, tasks=tasks)
                rows.append(
                    f"| degraded, Redis down, {tasks} task(s) | {label} | {rate:,.0f} | "
                    f"{pct(lat, 0.5):.3f} | {pct(lat, 0.99):.3f} | "
                    f"p99 +{pct(lat, 0.99) - base_p99:.3f} ms over loader |"
                )
        await client.aclose()
    return rows


async def _load(i: int) -> object:
    await asyncio.sleep(0)
    return value(i)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short round per scenario")
    args = parser.parse_args()
    rounds, seconds = (1, 1.0) if args.quick else (3, 3.0)
    domain = f"bench{secrets.token_hex(4)}"
    ns = KeyNamespace(domain, "profile")
    client = create_cache_client(
        RedisSettings(host="127.0.0.1", socket_timeout=2.0, pool_timeout=10.0), name="bench"
    )
    try:
        rows = await bench_hit(client, ns, rounds, seconds)
        rows += await bench_stampede(client, ns)
        rows += await bench_degraded(KeyNamespace(domain, "down"), seconds / 2)
    finally:
        keys = [k async for k in client.redis.scan_iter(match=f"{domain}*", count=1000)]
        if keys:
            await client.redis.delete(*keys)
        await client.aclose()
    print(
        f"redis-py {_version('redis')}, protobuf {_version('protobuf')}, "
        f"{rounds} round(s) x {seconds:g} s, alternating"
    )
    print("| scenario | path | ops/s | p50 ms | p99 ms | ratio / note |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row)


def _version(name: str) -> str:
    from importlib.metadata import version  # noqa: PLC0415  (only for the header)

    return version(name)


if __name__ == "__main__":
    asyncio.run(main())
