"""`CacheClient`: redis-py wrapped to fail open (RD-1), batch reads and report its pool (RD-7)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

import structlog
from redis.asyncio import BlockingConnectionPool, Connection, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisClusterException, RedisError

from ._batch import FAILED, SKIPPED, Failed, ReadBatcher, Result
from ._breaker import Breaker, DegradedLog
from ._metrics import DB_KEYS, ERRORS, KEYS, OPERATION_SECONDS, POOLS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence

    from svcinfra.config import RedisSettings, TlsClient

    from ._keys import KeyNamespace

__all__ = ["CacheClient", "create_cache_client"]

R = TypeVar("R")
_log = structlog.get_logger("svcinfra.cache")
# What a Redis call may raise when Redis (or a cluster node) is down, slow or moving: redis-py's
# cluster errors such as `SlotNotCoveredError` are not `RedisError`s.
_REDIS_ERRORS = (RedisError, RedisClusterException, OSError)

# Compare-and-delete: release a lock only if it still holds our token (never a blind DEL).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Compare-and-extend: the watchdog keeps a slow loader's lease alive while the token is ours.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# Fill under the lock: write only while the lease is ours, then drop the lock and the opposite
# entry (value vs negative) in the same step. `Cache.delete` removes the lock too, so a fill
# started before an invalidation can no longer land after it.
_FILL = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""
# The near cache's read: each key's value and remaining TTL, taken at the same instant (a
# script runs atomically), in one round trip. A missing key reads as false (nil) and -2.
_MGET_PTTL = """
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('GET', key)
  out[2 * i] = redis.call('PTTL', key)
end
return out
"""


class CacheClient:
    """The Redis connection that caches share, built to fail open (RD-1).

    Every operation goes through a breaker: a Redis error or timeout is counted, logged as
    degraded at most once per `degraded_log_interval`, and answered with a `Failed` marker instead
    of an exception; after `breaker_failures` failures in a row Redis is skipped for
    `breaker_cooldown` seconds. Reads of one event-loop tick are coalesced into one MGET.

    Build it with `create_cache_client(settings)` in the composition root and `aclose()` it on
    shutdown. `redis` is the underlying redis-py client, for what the cache does not cover: a
    `RedisCluster` in cluster mode (`REDIS_CLUSTER_NODES`, issue 20), where every multi-key
    command is split by hash slot (no `CROSSSLOT`): batched reads are one MGET per slot, sent
    as one pipeline per node.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        *,
        name: str = "cache",
        max_ttl: float = 7 * 86_400,
        breaker_failures: int = 5,
        breaker_cooldown: float = 5.0,
        degraded_log_interval: float = 30.0,
        max_batch: int = 512,
        clock: Callable[[], float] = time.monotonic,
        sentinel: Sentinel | None = None,
    ) -> None:
        self.redis = redis
        self._sentinel = sentinel  # closed with the client: its own connections to the sentinels
        self.name = name
        self.max_ttl = float(max_ttl)
        self.breaker = Breaker(
            failures=breaker_failures,
            cooldown=breaker_cooldown,
            label=name,
            clock=clock,
        )
        self._degraded = DegradedLog(interval=degraded_log_interval, clock=clock)
        self._batcher: ReadBatcher[bytes | None] = ReadBatcher(
            self._mget_batch, max_batch=max_batch
        )
        self._ttl_batcher: ReadBatcher[tuple[bytes | None, int]] = ReadBatcher(
            self._mget_pttl_batch, max_batch=max_batch
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._namespaces: set[KeyNamespace] = set()
        self._release = redis.register_script(_RELEASE)
        self._extend = redis.register_script(_EXTEND)
        self._fill = redis.register_script(_FILL)
        self._mget_pttl = redis.register_script(_MGET_PTTL)
        self._timers = {
            op: OPERATION_SECONDS.labels(op)
            for op in ("mget", "set", "delete", "lock", "unlock", "extend", "fill", "scan")
        }
        POOLS.sources.add(self)

    @property
    def cluster(self) -> bool:
        """Whether this client talks to a Redis Cluster (`REDIS_CLUSTER_NODES`, issue 20)."""
        return isinstance(self.redis, RedisCluster)

    def __repr__(self) -> str:
        return f"CacheClient(name={self.name!r}, breaker={self.breaker.state.name.lower()})"

    async def run(
        self,
        operation: str,
        call: Callable[[], Awaitable[R]],
        *,
        namespace: str | None = None,
    ) -> R | Failed:
        """Run one Redis call through the breaker; return `FAILED`/`SKIPPED` instead of raising."""
        ticket = self.breaker.admit()
        if ticket is None:
            return SKIPPED
        started = time.perf_counter()
        try:
            result = await call()
        except _REDIS_ERRORS as exc:
            self._failed(operation, exc, namespace, ticket)
            return FAILED
        except BaseException:
            self.breaker.abandon(ticket)  # cancelled: no answer either way
            raise
        self.breaker.success(ticket)
        timer = self._timers.get(operation) or OPERATION_SECONDS.labels(operation)
        timer.observe(time.perf_counter() - started)
        return result

    def _failed(
        self, operation: str, exc: BaseException, namespace: str | None, ticket: int
    ) -> None:
        if namespace is not None:
            ERRORS.labels(namespace, operation).inc()
        if _pool_exhausted(exc):
            # A burst that outruns the pool says nothing about Redis's health: absorbed, but it
            # must not open the breaker and turn a local spike into seconds of misses.
            self.breaker.abandon(ticket)
        else:
            self.breaker.failure(ticket)
        self._degraded.error(client=self.name, operation=operation, exc=exc)

    def read(self, key: str) -> asyncio.Future[Result]:
        """Return a future of `key`'s bytes, read with the other reads of this tick (one MGET)."""
        if self.breaker.rejecting():
            # Redis is being skipped: answer now, without a batch, a task or a loop iteration.
            skipped: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
            skipped.set_result(SKIPPED)
            return skipped
        return self._batcher.get(key)

    def read_with_ttl(self, key: str) -> asyncio.Future[tuple[bytes | None, int] | Failed]:
        """Like `read`, with the key's remaining TTL in ms (-2: absent, -1: none), batched too.

        The near cache reads this way: an entry it keeps must not outlive its Redis TTL.
        """
        if self.breaker.rejecting():
            skipped: asyncio.Future[tuple[bytes | None, int] | Failed]
            skipped = asyncio.get_running_loop().create_future()
            skipped.set_result(SKIPPED)
            return skipped
        return self._ttl_batcher.get(key)

    async def _mget_pttl_batch(
        self, keys: Sequence[str]
    ) -> list[tuple[bytes | None, int]] | Failed:
        return await self.run("mget", functools.partial(self._raw_mget_pttl, keys))

    async def _raw_mget_pttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, int]]:
        flat = cast("list[Any]", await self._mget_pttl(keys=list(keys)))
        return [(flat[i], int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def mget(self, keys: Sequence[str], *, namespace: str) -> list[bytes | None] | Failed:
        """Read `keys` with one MGET."""
        return await self.run("mget", functools.partial(self._raw_mget, keys), namespace=namespace)

    async def _mget_batch(self, keys: Sequence[str]) -> list[bytes | None] | Failed:
        # Errors of a batch are counted by each cache that waited on it, by namespace.
        return await self.run("mget", functools.partial(self._raw_mget, keys))

    async def _raw_mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if isinstance(self.redis, RedisCluster):
            # One MGET per hash slot, the MGETs of one node in one pipeline, the answers put
            # back in the keys' order: never a CROSSSLOT.
            return cast("list[bytes | None]", await self.redis.mget_nonatomic(keys))
        return cast("list[bytes | None]", await self.redis.mget(keys))

    async def set(
        self,
        key: str,
        value: bytes,
        ttl_ms: int,
        *,
        namespace: str,
        drop: str | None = None,
    ) -> bool | Failed:
        """SET `key` with PX `ttl_ms`; also DEL `drop` in the same round trip when given."""
        if drop is None:

            async def one() -> bool:
                return bool(await self.redis.set(key, value, px=ttl_ms))

            return await self.run("set", one, namespace=namespace)

        async def both() -> bool:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(key, value, px=ttl_ms)
                pipe.delete(drop)
                result = await pipe.execute()
            return bool(result[0])

        return await self.run("set", both, namespace=namespace)

    async def delete(self, keys: Sequence[str], *, namespace: str) -> int | Failed:
        """DEL `keys`; return how many existed (on a cluster: one DEL per hash slot)."""
        return await self.run("delete", lambda: self.redis.delete(*keys), namespace=namespace)

    async def lock(self, key: str, token: str, lease_ms: int, *, namespace: str) -> bool | Failed:
        """Try `SET key token NX PX lease_ms`: True if this caller now holds the lease."""

        async def call() -> bool:
            return bool(await self.redis.set(key, token, nx=True, px=lease_ms))

        return await self.run("lock", call, namespace=namespace)

    async def unlock(self, key: str, token: str, *, namespace: str) -> bool | Failed:
        """Release a lease only if `token` still holds it (compare-and-delete)."""
        result = await self.run(
            "unlock",
            lambda: self._release(keys=[key], args=[token]),
            namespace=namespace,
        )
        return result if isinstance(result, Failed) else bool(result)

    async def extend(self, key: str, token: str, lease_ms: int, *, namespace: str) -> bool | Failed:
        """Push a lease's expiry to `lease_ms` from now, only if `token` still holds it."""
        result = await self.run(
            "extend",
            lambda: self._extend(keys=[key], args=[token, lease_ms]),
            namespace=namespace,
        )
        return result if isinstance(result, Failed) else bool(result)

    async def fill(
        self,
        key: str,
        value: bytes,
        ttl_ms: int,
        *,
        lock_key: str,
        token: str,
        drop: str,
        namespace: str,
    ) -> bool | Failed:
        """Write `key` and release the lease atomically, only if `token` still holds it."""
        result = await self.run(
            "fill",
            lambda: self._fill(keys=[key, lock_key, drop], args=[token, value, ttl_ms]),
            namespace=namespace,
        )
        return result if isinstance(result, Failed) else bool(result)

    async def ping(self, *, timeout: float = 0.5) -> bool:  # noqa: ASYNC109  (a probe's budget)
        """Tell whether Redis answers a PING within `timeout` seconds (a readiness check).

        Redis is not the source of truth (RD-1): a service whose cache is down still serves, so
        report this as a degraded dependency rather than failing readiness on it. The answer is
        not reported to the breaker: only its half-open probe closes it (a PING on a fresh
        connection says little about the commands that failed).
        """
        try:
            async with asyncio.timeout(timeout):
                await self.redis.ping()
        except _REDIS_ERRORS:
            return False
        return True

    def pool_stats(self) -> tuple[int, int, int]:
        """Return (in use, idle, max) connections of the pool (on a cluster: of every node's)."""
        if isinstance(self.redis, RedisCluster):
            nodes = list(self.redis.get_nodes())
            # redis-py keeps each node's connections in these private attributes.
            total = sum(len(getattr(node, "_connections", ())) for node in nodes)
            free = sum(len(getattr(node, "_free", ())) for node in nodes)
            return total - free, free, sum(node.max_connections for node in nodes)
        pool = self.redis.connection_pool
        # redis-py has no public pool gauges; these private lists are what it keeps itself.
        in_use = len(getattr(pool, "_in_use_connections", ()))
        idle = len(getattr(pool, "_available_connections", ()))
        return in_use, idle, int(getattr(pool, "max_connections", 0))

    def register(self, namespace: KeyNamespace) -> None:
        """Remember a namespace whose keys `sample_key_counts` counts."""
        self._namespaces.add(namespace)

    async def sample_key_counts(
        self,
        namespaces: Iterable[KeyNamespace] | None = None,
        *,
        scan_count: int = 1000,
        limit: int = 1_000_000,
    ) -> dict[str, int]:
        """Count keys per namespace with SCAN, and the database's keys with INFO keyspace.

        SCAN is O(keys in the database): run this rarely (minutes), off the request path. Counts
        stop at `limit` per namespace. Sets `svcinfra_cache_keys` and `svcinfra_cache_db_keys`.
        """
        counts: dict[str, int] = {}
        for namespace in sorted(
            self._namespaces if namespaces is None else namespaces,
            key=lambda ns: ns.name,
        ):
            counted = await self.run(
                "scan",
                functools.partial(self._count, namespace.pattern, scan_count, limit),
                namespace=namespace.name,
            )
            if not isinstance(counted, Failed):
                counts[namespace.name] = counted
                KEYS.labels(namespace.name).set(counted)
        info = await self.run("info", self._keyspace)
        if not isinstance(info, Failed):
            for db, keys in info.items():
                DB_KEYS.labels(self.name, db).set(keys)
        return counts

    async def _keyspace(self) -> dict[str, int]:
        """Keys per database (`db0`), summed over the masters on a cluster."""
        if isinstance(self.redis, RedisCluster):
            answers = await self.redis.info("keyspace", target_nodes=RedisCluster.PRIMARIES)
            per_node = [v for v in answers.values() if isinstance(v, dict)]
        else:
            per_node = [await self.redis.info("keyspace")]
        totals: dict[str, int] = {}
        for keyspace in per_node:
            for db, stats in keyspace.items():
                if isinstance(stats, dict):
                    totals[str(db)] = totals.get(str(db), 0) + int(stats.get("keys", 0))
        return totals

    async def _count(self, pattern: str, scan_count: int, limit: int) -> int:
        count = 0
        async for _ in self.redis.scan_iter(match=pattern, count=scan_count):
            count += 1
            if count >= limit:
                break
        return count

    async def run_sampler(self, *, interval: float = 300.0) -> None:
        """Sample key counts every `interval` seconds until cancelled (run it as a task)."""
        while True:
            await self.sample_key_counts()
            await asyncio.sleep(interval)

    def spawn(self, coro: Coroutine[Any, Any, R]) -> asyncio.Task[R]:
        """Run `coro` in a task that the client keeps and cancels on `aclose`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Cancel background work and close the pool."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._batcher.aclose()
        await self._ttl_batcher.aclose()
        await self.redis.aclose()
        if self._sentinel is not None:
            await self._sentinel.aclose()
        POOLS.sources.discard(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _pool_exhausted(exc: BaseException) -> bool:
    # BlockingConnectionPool raises a plain ConnectionError, chained from the wait's timeout;
    # a cluster node's pool, which does not wait, raises MaxConnectionsError.
    if isinstance(exc, MaxConnectionsError):
        return True
    return (
        isinstance(exc, RedisConnectionError)
        and isinstance(exc.__cause__, TimeoutError)
        and "No connection available" in str(exc)
    )


class TlsConnection(Connection):
    """A redis-py connection over TLS with svcinfra's context (`rediss`, issue 17).

    redis-py's own `SSLConnection` builds its context from keywords and checks the certificate
    against the host it connects to; this one takes the context `RedisSettings.tls_client()`
    built (CA, client certificate, `REDIS_TLS_SERVER_NAME`), and its connection errors name the
    setting to fix when the handshake fails.
    """

    def __init__(self, *, tls: TlsClient, **kwargs: Any) -> None:  # noqa: ANN401  (redis-py's keywords)
        """Take redis-py's connection keywords and the TLS client of the settings."""
        self._tls = tls
        self._answered = False  # whether the server has answered on this connection yet
        super().__init__(**kwargs)

    def _connection_arguments(self) -> Any:  # noqa: ANN401  (redis-py's mapping)
        kwargs = dict(super()._connection_arguments())
        kwargs["ssl"] = self._tls.context
        return kwargs

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401  (redis-py's signature)
        """Read as redis-py does; a TLS alert on the first read names the setting to fix.

        With TLS 1.3 the server checks the client certificate after the handshake, so its
        refusal (`certificate required`, `unknown ca`) arrives on the first read.
        """
        try:
            answer = await super().read_response(*args, **kwargs)
        except RedisConnectionError as exc:
            why = self._tls.explain(exc)
            if why is None and not self._answered and _was_reset(exc):
                # the alert can lose the race with the server's reset: say what it most likely was
                names = self._tls.names
                why = (
                    "the server reset the TLS connection at its first answer, as a server that "
                    f"requires a client certificate does without one: check {names.cert_file} "
                    f"and {names.key_file}"
                )
            if why is None:
                raise
            raise RedisConnectionError(
                f"Error reading from {self.host}:{self.port}. {why}."
            ) from exc
        self._answered = True
        return answer

    def _error_message(self, exception: BaseException) -> str:
        why = self._tls.explain(exception)
        if why is None:
            return str(super()._error_message(exception))
        return f"Error connecting to {self.host}:{self.port}. {why}."


def _was_reset(exc: BaseException) -> bool:
    """Whether the connection was reset by the server (anywhere in the exception's causes)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionResetError) or "Connection reset by peer" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def create_cache_client(
    settings: RedisSettings,
    *,
    name: str = "cache",
    max_batch: int = 512,
) -> CacheClient:
    """Build a `CacheClient` from `RedisSettings`, with every redis-py default made explicit.

    redis-py 8 changed its defaults (5 s socket timeouts, ten retries with backoff, keepalive,
    100 connections). A cache wants the opposite of patience: short socket timeouts
    (`socket_timeout`, `connect_timeout`), a small wait for a pooled connection (`pool_timeout`),
    and retries only after a broken connection (a pooled socket the server closed), never after a
    timeout, since a retried timeout doubles the latency the breaker is there to cap.
    No I/O happens here: connections open on first use. With `REDIS_TLS` the connections are
    `TlsConnection`s (`rediss`, issue 17). With `REDIS_SENTINELS` the pool asks the sentinels
    where the master is (redis-py's `Sentinel.master_for`, issue 20); see `_sentinel_master`.
    With `REDIS_CLUSTER_NODES` the client is redis-py's `RedisCluster`; see `_cluster`.

    Raises:
        ConfigError: a TLS file of the settings cannot be read.
    """
    tls = settings.tls_client()
    tls_options: dict[str, Any] = (
        {} if tls is None else {"connection_class": TlsConnection, "tls": tls}
    )
    options: dict[str, Any] = dict(
        db=settings.db,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        socket_keepalive=True,
        max_connections=settings.max_connections,
        timeout=settings.pool_timeout,
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.005, cap=0.05),
            settings.retries,
            supported_errors=(RedisConnectionError,),
        ),
        # A dead pooled connection is found by the retry above; a PING before idle commands
        # would add a round trip for nothing.
        health_check_interval=0,
        client_name=name,
        decode_responses=False,
        **tls_options,
    )
    sentinel = None
    redis: Redis | RedisCluster
    if settings.cluster_nodes is not None:
        redis = _cluster(settings, options)
    elif settings.sentinels is None:
        redis = Redis.from_pool(
            BlockingConnectionPool(host=settings.host, port=settings.port, **options)
        )
    else:
        redis, sentinel = _sentinel_master(settings, options)
    return CacheClient(
        redis,
        sentinel=sentinel,
        name=name,
        max_ttl=settings.max_ttl,
        breaker_failures=settings.breaker_failures,
        breaker_cooldown=settings.breaker_cooldown,
        degraded_log_interval=settings.degraded_log_interval,
        max_batch=max_batch,
    )


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's sentinel pool with the blocking pool's bounded wait (`REDIS_POOL_TIMEOUT`).

    `SentinelConnectionPool` finds the master and drops connections to a demoted one;
    `BlockingConnectionPool` makes a burst wait `pool_timeout` for a connection instead of
    failing at once, as the single-host pool does.
    """


def _sentinel_master(settings: RedisSettings, options: dict[str, Any]) -> tuple[Redis, Sentinel]:
    """The master of `REDIS_SENTINEL_MASTER` through redis-py's `Sentinel` (issue 20).

    redis-py does the failover: each new connection asks the sentinels for the master's address
    (`MasterNotFoundError`, a `ConnectionError`, while they have none: the breaker fails open as
    in a single-node outage), and a connection still open to a demoted master turns its
    `READONLY` answer into a `ConnectionError` and reconnects. The sentinels are asked with the
    same short timeouts as the data nodes.
    """
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # (unannotated)
        settings.sentinel_addresses(),
        sentinel_kwargs={
            "socket_timeout": settings.socket_timeout,
            "socket_connect_timeout": settings.connect_timeout,
            "client_name": options["client_name"],
        },
    )
    redis = sentinel.master_for(
        cast("str", settings.sentinel_master),
        connection_pool_class=_BlockingSentinelPool,
        **options,
    )
    return redis, sentinel


def _cluster(settings: RedisSettings, options: dict[str, Any]) -> RedisCluster:
    """redis-py's `RedisCluster` over `REDIS_CLUSTER_NODES` (issue 20), with the same timeouts.

    The nodes listed are where the client starts: it reads the slot map from the first that
    answers and finds the others there. `REDIS_MAX_CONNECTIONS` is per node, and a node's pool
    does not wait for a free connection (`MaxConnectionsError`, absorbed like a full pool). A
    node that fails (connection error or timeout) or a cluster that answers `CLUSTERDOWN` makes
    the client re-read the slot map and retry up to `REDIS_RETRIES` times, so a promoted
    replica is found; what still fails goes to the breaker, as in a single-node outage (RD-1).
    A pipeline (batched reads, multi-slot DEL) that fails that way makes redis-py close every
    connection of the client before its retry (docs/redis-cluster.md).
    """
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in settings.cluster_addresses()],
        username=options["username"],
        password=options["password"],
        socket_timeout=options["socket_timeout"],
        socket_connect_timeout=options["socket_connect_timeout"],
        socket_keepalive=True,
        max_connections=options["max_connections"],
        retry=Retry(ExponentialWithJitterBackoff(base=0.005, cap=0.05), settings.retries),
        health_check_interval=0,
        client_name=options["client_name"],
        decode_responses=False,
    )
