"""`Cache[M]`: protobuf values under `<domain>:<entity>:<id>` keys, with a mandatory TTL.

Rules: RD-1 (fail open), RD-2 (TTL), RD-3 (keys), RD-4 (protobuf), RD-5 (stampede), RD-7 (metrics).
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, overload

import structlog
from google.protobuf.message import DecodeError, Message
from opentelemetry import trace

from ._batch import Failed
from ._codec import Decoded, ProtobufCodec
from ._errors import CacheError, TTLError
from ._metrics import (
    DECODE_ERRORS,
    EARLY_REFRESHES,
    ERRORS,
    LOADER_SECONDS,
    LOCK_WAIT_SECONDS,
    LOCKS,
    LOOKUPS,
    SHARED_CALLS,
)
from ._near import NearCache, NearLayer
from ._singleflight import SingleFlight
from ._ttl import DEFAULT_JITTER, TTLPolicy, check_ttl, is_number

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from ._client import CacheClient
    from ._keys import KeyNamespace

__all__ = ["Cache"]

M = TypeVar("M", bound=Message)
V = TypeVar("V")
Id = str | int

_log = structlog.get_logger("svcinfra.cache")
_tracer = trace.get_tracer("svcinfra.cache")
_POLL_FIRST, _POLL_MAX = 0.005, 0.05


class Cache(Generic[M]):
    """A read-through cache of one protobuf message type under one key namespace.

    Redis is not the source of truth (RD-1): when it is down, slow or returns bytes that do not
    decode, reads are misses and `get_or_load` returns what the loader returns; nothing here
    raises because of Redis. Only misuse raises (`KeyFormatError`, `TTLError`, `CodecError`).

    Args:
        client: the shared `CacheClient`.
        namespace: the `<domain>:<entity>` of every key (RD-3).
        message_type: the generated protobuf class of the values (RD-4).
        ttl: default seconds a value lives; required, positive, at most `client.max_ttl` (RD-2).
        jitter: each write's TTL is drawn from `ttl * (1 +- jitter)` (default 0.1).
        lock: on a miss, take a short lease in Redis so that one process across all replicas
            loads while the others wait and re-read (RD-5); off: each process loads once.
        lock_lease: seconds the lease lasts; a watchdog extends it while a loader runs, so it
            only runs out when the holder dies.
        lock_wait: seconds a waiter polls before it loads by itself (default 1.5 x lease).
        negative_ttl: cache "not found" (a loader returning None) for this many seconds.
        early_refresh: XFetch beta (1.0 is the paper's optimum): hot keys are reloaded in the
            background shortly before they expire, with a probability that grows as expiry
            nears and with the measured load time stored in the value. None: off.
        near: keep hot values in the process too (docs/cache.md); not on Redis Cluster.

    On Redis Cluster (`client.cluster`) the fill lock and negative entry keys carry a hash tag
    of the value key, so that the fill script's keys share one slot (docs/redis-cluster.md).

    Raises:
        CacheError: `near` with a Redis Cluster client (the near cache needs one tracking
            connection per node, which it does not have).
    """

    def __init__(
        self,
        client: CacheClient,
        namespace: KeyNamespace,
        message_type: type[M],
        *,
        ttl: float,
        jitter: float = DEFAULT_JITTER,
        lock: bool = True,
        lock_lease: float = 2.0,
        lock_wait: float | None = None,
        negative_ttl: float | None = None,
        early_refresh: float | None = None,
        near: NearCache | None = None,
    ) -> None:
        self.namespace = namespace
        self.codec = ProtobufCodec(message_type)
        self.policy = TTLPolicy(ttl=ttl, max_ttl=client.max_ttl, jitter=jitter)
        self._client = client
        self._lock = lock
        self._lease_ms = round(check_ttl(lock_lease, max_ttl=600, what="lock_lease") * 1000)
        self._lock_wait = check_ttl(
            1.5 * lock_lease if lock_wait is None else lock_wait,
            max_ttl=600,
            what="lock_wait",
        )
        self._negative = (
            None
            if negative_ttl is None
            else TTLPolicy(ttl=negative_ttl, max_ttl=self.policy.ttl, jitter=jitter)
        )
        if early_refresh is not None and not (
            is_number(early_refresh) and 0 < early_refresh <= 10  # noqa: PLR2004
        ):
            raise TTLError(f"early_refresh (XFetch beta) must be in (0, 10], got {early_refresh!r}")
        self._beta = early_refresh
        self._flights: SingleFlight[M | None] = SingleFlight(spawn=client.spawn)
        # Keys deleted while a load or refresh of theirs ran: that flight must not write its
        # value. A key leaves with the last of its flights, so the set is bounded by them.
        self._dirty: set[str] = set()
        name = namespace.name
        self._hit, self._miss, self._negative_hit, self._error, self._skipped = (
            LOOKUPS.labels(name, result)
            for result in ("hit", "miss", "negative_hit", "error", "skipped")
        )
        self._shared = SHARED_CALLS.labels(name)
        self._loader_seconds = LOADER_SECONDS.labels(name)
        if near is not None and client.cluster:
            raise CacheError(
                f"cache {namespace.name}: the near cache is not supported on Redis Cluster "
                "(REDIS_CLUSTER_NODES): its invalidations come from CLIENT TRACKING on one "
                "connection, and a cluster would need one per node; build it without near="
            )
        self.near: NearLayer | None = None if near is None else NearLayer(client, namespace, near)
        client.register(namespace)

    def _lock_key(self, id_: Id) -> str:
        # On a cluster, in the value key's slot: the fill script writes both (issue 20).
        return self.namespace.lock_key(id_, same_slot=self._client.cluster)

    def _absent_key(self, id_: Id) -> str:
        return self.namespace.absent_key(id_, same_slot=self._client.cluster)

    def __repr__(self) -> str:
        return (
            f"Cache({self.namespace.name}, {self.codec.message_type.DESCRIPTOR.full_name}, "
            f"ttl={self.policy.ttl:g})"
        )

    async def get(self, id_: Id) -> M | None:
        """Return the cached value of `id_`, or None on a miss (or when Redis is unavailable)."""
        entry = await self._read(self.namespace.key(id_))
        return entry.message if isinstance(entry, Decoded) else None

    async def get_many(self, ids: Iterable[Id]) -> dict[Id, M]:
        """Return the cached values of `ids` that are present, read with one MGET."""
        wanted = list(ids)
        keys = [self.namespace.key(id_) for id_ in wanted]
        found: dict[Id, M] = {}
        if self.near is not None:  # hits from the near layer; the rest from Redis (not kept)
            rest: list[Id] = []
            for id_, key in zip(wanted, keys, strict=True):
                kept = self.near.get(key)
                entry = None if kept is None else self._near_hit(key, kept, count=True)
                if entry is None:
                    rest.append(id_)
                else:
                    found[id_] = entry.message
            wanted, keys = rest, [self.namespace.key(id_) for id_ in rest]
        if not keys:
            return found
        raw = await self._client.mget(keys, namespace=self.namespace.name)
        if isinstance(raw, Failed):
            self._count_failed(raw, len(keys))
            return found
        corrupt: list[str] = []
        for id_, key, data in zip(wanted, keys, raw, strict=True):
            entry = None if data is None else self._decode(data, corrupt, key)
            if entry is None:
                self._miss.inc()
            else:
                self._hit.inc()
                found[id_] = entry.message
        if corrupt:
            await self._client.delete(corrupt, namespace=self.namespace.name)
        return found

    async def set(self, id_: Id, value: M, *, ttl: float | None = None) -> bool:
        """Store `value` for `id_` with a jittered TTL; return False if Redis was unavailable."""
        key = self.namespace.key(id_)
        ttl_ms = self.policy.pick_ms(ttl)
        data = self._encode(value, ttl_ms, 0.0)
        absent = self._absent_key(id_) if self._negative else None
        if self.near is not None:
            self.near.invalidate(key)
        result = await self._client.set(
            key, data, ttl_ms, namespace=self.namespace.name, drop=absent
        )
        if self.near is not None:
            self.near.invalidate(key)  # read-your-writes before the push arrives
        return result is True

    async def delete(self, *ids: Id) -> bool:
        """Delete the values of `ids` (with their negative entries and fill leases).

        Deleting the lease too means a fill that started before this delete cannot land after
        it (see `invalidate_after`). Returns False if Redis was unavailable.
        """
        keys: list[str] = []
        for id_ in ids:
            key = self.namespace.key(id_)
            keys += [key, self._lock_key(id_), self._absent_key(id_)]
            if key in self._flights or _refresh_flight(key) in self._flights:
                self._dirty.add(key)
        if not keys:
            return True
        near = self.near
        if near is not None:
            for key in keys[::3]:
                near.invalidate(key)
        result = await self._client.delete(keys, namespace=self.namespace.name)
        if near is not None:
            for key in keys[::3]:
                near.invalidate(key)  # read-your-writes before the push arrives
        return not isinstance(result, Failed)

    @overload
    async def get_or_load(
        self, id_: Id, loader: Callable[[], Awaitable[M]], *, ttl: float | None = None
    ) -> M: ...
    @overload
    async def get_or_load(
        self, id_: Id, loader: Callable[[], Awaitable[M | None]], *, ttl: float | None = None
    ) -> M | None: ...
    async def get_or_load(
        self, id_: Id, loader: Callable[[], Awaitable[M | None]], *, ttl: float | None = None
    ) -> M | None:
        """Return the cached value of `id_`, or load it once, store it and return it (RD-5).

        Concurrent callers in this process share one loader call and its result or error
        (singleflight); with `lock`, callers in other processes wait for the one holding the
        lease and re-read. `loader` returns the value from the source of truth, or None for
        "not found" (cached only with `negative_ttl`). When Redis is unavailable the loader's
        result is returned all the same (RD-1).
        """
        key = self.namespace.key(id_)
        if ttl is not None:
            check_ttl(ttl, max_ttl=self.policy.max_ttl)
        if self._negative is None:
            entry = await self._read(key)
        else:
            entry, absent = await self._read_pair(key, self._absent_key(id_))
            if absent:
                self._negative_hit.inc()
                return None
        if isinstance(entry, Decoded):
            if self._beta is not None and self._due(entry):
                self._refresh_early(id_, key, loader, ttl)
            return entry.message
        value, shared = await self._flights.do(key, lambda: self._load(id_, key, loader, ttl))
        if shared:
            self._shared.inc()
        return value

    def near_view(self, id_: Id, view: Callable[[M], V], *, tag: object = None) -> V | None:
        """`view(value of id_)` when the near layer serves `id_` now, memoised with its entry.

        The hot path of a read whose answer is derived from the value alone (an API's response
        body): a hit on the near layer computes `view` once per kept entry and returns that same
        object until the entry is dropped (invalidated by any replica's write, expired at its
        Redis TTL, evicted, flushed), so it is exactly as fresh as the near layer itself. None
        (and nothing counted) when the near layer is off or not live, or does not keep `id_`:
        then read as usual (`get_or_load`) and apply `view` yourself.

        Args:
            id_: the id, as for `get_or_load`.
            view: a pure function of the value, returning something immutable (`bytes`).
            tag: what identifies the view for the memo, compared by identity (default: `view`
                itself; pass the stable function when `view` is a closure made per call).

        Off (always None) with `early_refresh`: its hits may schedule a reload, which only
        `get_or_load` does.
        """
        near = self.near
        if near is None or self._beta is not None:
            return None
        key = self.namespace.key(id_)

        def make(data: bytes) -> V:
            return view(self.codec.decode(data).message)

        try:
            value = near.view(key, view if tag is None else tag, make)
        except DecodeError:  # cannot happen (the same bytes decoded when kept): a miss
            near.invalidate(key)
            return None
        if value is not None:
            self._hit.inc()
        return value

    async def _read(self, key: str, *, count: bool = True) -> Decoded[M] | Failed | None:
        """Read and decode one key through the batcher; count the lookup unless `count` is off."""
        near = self.near
        if near is None:
            data = await self._client.read(key)
            return await self._lookup(key, data, count=count)
        kept = near.get(key)
        if kept is not None:
            return self._near_hit(key, kept, count=count)
        ticket = near.begin(key)
        if ticket is None:
            data = await self._client.read(key)
            return await self._lookup(key, data, count=count)
        keep: bytes | None = None
        pttl_ms = -2
        try:
            read = await self._client.read_with_ttl(key)
            if isinstance(read, Failed):
                return await self._lookup(key, read, count=count)
            data, pttl_ms = read
            entry = await self._lookup(key, data, count=count)
            if isinstance(entry, Decoded):
                keep = data
            return entry
        finally:
            near.end(key, ticket, keep, pttl_ms)

    def _near_hit(self, key: str, data: bytes, *, count: bool) -> Decoded[M] | None:
        try:
            entry = self.codec.decode(data)
        except DecodeError:  # cannot happen (the same bytes decoded when kept): a miss
            if self.near is not None:
                self.near.invalidate(key)
            return None
        if count:
            self._hit.inc()
        return entry

    async def _read_pair(
        self, key: str, absent_key: str, *, count: bool = True
    ) -> tuple[Decoded[M] | Failed | None, bool]:
        if self.near is not None:
            kept = self.near.get(key)
            hit = None if kept is None else self._near_hit(key, kept, count=count)
            if hit is not None:
                return hit, False
            # The value through the near layer, the negative entry from Redis, concurrently.
            value_task = asyncio.ensure_future(self._read(key, count=False))
            absent = await self._client.read(absent_key)
            entry = await value_task
            if entry is None and isinstance(absent, bytes):
                return None, True
            if count and isinstance(entry, Decoded):
                self._hit.inc()
            elif count and entry is None:
                self._miss.inc()
            return entry, False
        value_future, absent_future = self._client.read(key), self._client.read(absent_key)
        data, absent = await value_future, await absent_future
        if data is None and isinstance(absent, bytes):
            return None, True
        return await self._lookup(key, data, count=count), False

    async def _lookup(
        self, key: str, data: bytes | Failed | None, *, count: bool = True
    ) -> Decoded[M] | Failed | None:
        """Decode what Redis returned; count a hit or a miss once per caller lookup.

        The re-reads of one `get_or_load` (the double-check under the lease, the polls while
        another process loads) pass `count=False`: the caller's lookup was counted already, so
        misses equal loader calls and hits equal answers served from Redis.
        """
        if data is None:
            if count:
                self._miss.inc()
            return None
        if isinstance(data, Failed):
            self._count_failed(data, 1)
            return data
        corrupt: list[str] = []
        entry = self._decode(data, corrupt, key)
        if entry is None:
            if count:
                self._miss.inc()
            await self._client.delete(corrupt, namespace=self.namespace.name)
            return None
        if count:
            self._hit.inc()
        return entry

    def _decode(self, data: bytes, corrupt: list[str], key: str) -> Decoded[M] | None:
        try:
            return self.codec.decode(data)
        except DecodeError as exc:
            DECODE_ERRORS.labels(self.namespace.name).inc()
            _log.warning(
                "cache value did not decode: deleted, served as a miss",
                namespace=self.namespace.name,
                message_type=self.codec.message_type.DESCRIPTOR.full_name,
                error=str(exc)[:200],
                rule="RD-4",
            )
            corrupt.append(key)
            return None

    def _count_failed(self, failed: Failed, count: int) -> None:
        if failed.skipped:
            self._skipped.inc(count)
        else:
            self._error.inc(count)
            ERRORS.labels(self.namespace.name, "get").inc(count)

    def _encode(self, value: M, ttl_ms: int, recompute_s: float) -> bytes:
        if self._beta is None:
            return self.codec.encode(value)
        expires_at_ms = int(time.time() * 1000) + ttl_ms
        return self.codec.encode(value, expires_at_ms=expires_at_ms, recompute_s=recompute_s)

    def _due(self, entry: Decoded[M]) -> bool:
        """XFetch: refresh when now - delta * beta * ln(rand) reaches the logical expiry."""
        if entry.recompute_s <= 0 or self._beta is None:
            return False
        gap_s = -entry.recompute_s * self._beta * math.log(1.0 - random.random())  # noqa: S311
        return time.time() * 1000 + gap_s * 1000 >= entry.expires_at_ms

    async def _call_loader(
        self, loader: Callable[[], Awaitable[M | None]]
    ) -> tuple[M | None, float]:
        started = time.perf_counter()
        with _tracer.start_as_current_span(
            "cache.load",
            kind=trace.SpanKind.INTERNAL,
            attributes={"svcinfra.cache.namespace": self.namespace.name},
        ):
            value = await loader()
        elapsed = time.perf_counter() - started
        self._loader_seconds.observe(elapsed)
        return value, elapsed

    async def _load(
        self, id_: Id, key: str, loader: Callable[[], Awaitable[M | None]], ttl: float | None
    ) -> M | None:
        if _refresh_flight(key) not in self._flights:
            self._dirty.discard(key)
        try:
            if self._lock:
                return await self._load_locked(id_, key, loader, ttl)
            return await self._load_unlocked(key, id_, loader, ttl)
        finally:
            # The mark is for the flights that were running at the delete: gone with the last
            # of them, so the set holds at most the keys being loaded now.
            if _refresh_flight(key) not in self._flights:
                self._dirty.discard(key)

    async def _load_unlocked(
        self, key: str, id_: Id, loader: Callable[[], Awaitable[M | None]], ttl: float | None
    ) -> M | None:
        value, elapsed = await self._call_loader(loader)
        if key in self._dirty:
            return value  # deleted while loading: the value may predate the delete
        if value is None:
            if self._negative is not None:
                await self._client.set(
                    self._absent_key(id_),
                    b"",
                    self._negative.pick_ms(),
                    namespace=self.namespace.name,
                )
            return None
        ttl_ms = self.policy.pick_ms(ttl)
        data = self._encode(value, ttl_ms, elapsed)
        await self._client.set(key, data, ttl_ms, namespace=self.namespace.name)
        return value

    async def _load_locked(
        self, id_: Id, key: str, loader: Callable[[], Awaitable[M | None]], ttl: float | None
    ) -> M | None:
        name = self.namespace.name
        lock_key = self._lock_key(id_)
        token = secrets.token_hex(16)
        started = time.monotonic()
        contended = False
        while True:
            got = await self._client.lock(lock_key, token, self._lease_ms, namespace=name)
            if isinstance(got, Failed):
                return await self._load_unlocked(key, id_, loader, ttl)
            if got:
                LOCKS.labels(name, "acquired").inc()
                if contended:
                    LOCK_WAIT_SECONDS.labels(name).observe(time.monotonic() - started)
                return await self._fill_locked(
                    id_, key, lock_key=lock_key, token=token, loader=loader, ttl=ttl
                )
            if not contended:
                contended = True
                LOCKS.labels(name, "contended").inc()
            outcome, value = await self._wait_for_holder(id_, key, started + self._lock_wait)
            if outcome == "filled":
                LOCK_WAIT_SECONDS.labels(name).observe(time.monotonic() - started)
                return value
            if outcome != "free":
                if outcome == "timeout":
                    LOCKS.labels(name, "timeout").inc()
                    LOCK_WAIT_SECONDS.labels(name).observe(time.monotonic() - started)
                return await self._load_unlocked(key, id_, loader, ttl)

    async def _wait_for_holder(
        self, id_: Id, key: str, deadline: float
    ) -> tuple[Literal["filled", "free", "timeout", "failed"], M | None]:
        """Poll until the lease holder fills `key`, the lease is gone, or `deadline` passes.

        Polls hold no connection between reads, and the reads of all waiters of this process
        share one MGET per tick (waiting must not exhaust the pool).
        """
        absent_key, lock_key = self._absent_key(id_), self._lock_key(id_)
        delay = _POLL_FIRST
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, _POLL_MAX)
            value_f = self._client.read(key)
            absent_f, lock_f = self._client.read(absent_key), self._client.read(lock_key)
            data, absent, holder = await value_f, await absent_f, await lock_f
            if isinstance(data, Failed):
                return "failed", None
            if data is None and self._negative is not None and isinstance(absent, bytes):
                self._negative_hit.inc()
                return "filled", None
            if data is not None:
                entry = await self._lookup(key, data, count=False)
                if isinstance(entry, Decoded):
                    return "filled", entry.message
            if holder is None:
                return "free", None  # the holder finished without a value, or died
        return "timeout", None

    async def _fill_locked(
        self,
        id_: Id,
        key: str,
        *,
        lock_key: str,
        token: str,
        loader: Callable[[], Awaitable[M | None]],
        ttl: float | None,
    ) -> M | None:
        name = self.namespace.name
        absent_key = self._absent_key(id_)
        # Double-checked: another process may have filled between our miss and our lease.
        if self._negative is None:
            entry, absent = await self._read(key, count=False), False
        else:
            entry, absent = await self._read_pair(key, absent_key, count=False)
        if absent or isinstance(entry, Decoded):
            await self._client.unlock(lock_key, token, namespace=name)
            return entry.message if isinstance(entry, Decoded) else None
        watchdog = self._client.spawn(self._keep_lease(lock_key, token))
        try:
            value, elapsed = await self._call_loader(loader)
        except BaseException:
            watchdog.cancel()
            await self._client.unlock(lock_key, token, namespace=name)
            raise
        watchdog.cancel()
        if key in self._dirty or (value is None and self._negative is None):
            await self._client.unlock(lock_key, token, namespace=name)
            return value
        if value is None:
            target, drop, data = absent_key, key, b""
            ttl_ms = self._negative.pick_ms() if self._negative else 1
        else:
            ttl_ms = self.policy.pick_ms(ttl)
            target, drop, data = key, absent_key, self._encode(value, ttl_ms, elapsed)
        filled = await self._client.fill(
            target, data, ttl_ms, lock_key=lock_key, token=token, drop=drop, namespace=name
        )
        if filled is False:
            LOCKS.labels(name, "lost").inc()  # invalidated or expired meanwhile: do not write
        return value

    async def _keep_lease(self, lock_key: str, token: str) -> None:
        period = self._lease_ms / 3000
        while True:
            await asyncio.sleep(period)
            kept = await self._client.extend(
                lock_key, token, self._lease_ms, namespace=self.namespace.name
            )
            if kept is False:
                return

    def _refresh_early(
        self, id_: Id, key: str, loader: Callable[[], Awaitable[M | None]], ttl: float | None
    ) -> None:
        flight = _refresh_flight(key)
        if flight in self._flights:
            return
        EARLY_REFRESHES.labels(self.namespace.name).inc()
        self._flights.start(flight, lambda: self._refresh(id_, key, loader, ttl))

    async def _refresh(
        self, id_: Id, key: str, loader: Callable[[], Awaitable[M | None]], ttl: float | None
    ) -> M | None:
        if key not in self._flights:
            self._dirty.discard(key)
        try:
            return await self._refresh_once(id_, key, loader, ttl)
        finally:
            if key not in self._flights:
                self._dirty.discard(key)  # see `_load`

    async def _refresh_once(
        self, id_: Id, key: str, loader: Callable[[], Awaitable[M | None]], ttl: float | None
    ) -> M | None:
        try:
            if not self._lock:
                return await self._load_unlocked(key, id_, loader, ttl)
            lock_key, token = self._lock_key(id_), secrets.token_hex(16)
            got = await self._client.lock(
                lock_key, token, self._lease_ms, namespace=self.namespace.name
            )
            if got is not True:
                return None  # another process refreshes it, or Redis is unavailable
            try:
                value, elapsed = await self._call_loader(loader)
            except BaseException:
                await self._client.unlock(lock_key, token, namespace=self.namespace.name)
                raise
            if value is None or key in self._dirty:
                await self._client.unlock(lock_key, token, namespace=self.namespace.name)
                return value
            ttl_ms = self.policy.pick_ms(ttl)
            await self._client.fill(
                key,
                self._encode(value, ttl_ms, elapsed),
                ttl_ms,
                lock_key=lock_key,
                token=token,
                drop=self._absent_key(id_),
                namespace=self.namespace.name,
            )
        except Exception as exc:  # noqa: BLE001  (a background refresh must not crash anything)
            _log.warning(
                "cache early refresh failed; the cached value stays until it expires",
                namespace=self.namespace.name,
                error=type(exc).__name__,
            )
            return None
        return value


def _refresh_flight(key: str) -> str:
    return f"refresh\0{key}"
