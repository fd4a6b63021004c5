"""The near cache: a bounded in-process layer in front of Redis, kept correct by client tracking.

A hit on a hot key costs no network round trip. What keeps it correct is Redis itself: a
dedicated RESP3 connection per near cache runs `CLIENT TRACKING ON BCAST PREFIX <domain>:<entity>:`,
so Redis pushes the name of every key of the namespace that changes (written, deleted,
expired, evicted, by any client) and a `null` on FLUSHDB / FLUSHALL. redis-py 8.1's asyncio
client has no client-side caching of its own (only the sync client has `cache_config`), so the
tracking is done here, on a redis-py `Connection` of the pool's class and settings (TLS, ACL
user, password) with `protocol=3`.

The rules that make it safe (RD-1: Redis stays the only shared copy, this is a copy of it):

* Nothing is served from the near layer unless the tracking connection is up and has answered
  within `max_silence` seconds (a PING every `heartbeat` seconds). A connection that dies, is
  killed, or stays silent longer is closed and the whole layer is flushed; a reconnect starts
  empty. A Redis restart (its `run_id` changes) flushes it too, as does a FLUSHDB's `null`.
* An entry is filled only from a read that started while tracking was up, finished in the same
  tracking session, and saw no invalidation of its key while it was in flight (the
  invalidation of a write that lands between the read and the fill must not be lost).
* An entry never outlives its Redis TTL: the read takes the value and its PTTL atomically, and
  the entry's deadline is the read's *start* plus that PTTL, less 2 ms and 0.1% (Redis's clock
  is in whole, per-command milliseconds; `max_age` can cap it further).
* The layer holds at most `max_entries` entries, least recently used evicted first.
* Writes and deletes through this process drop the entry at once (read-your-writes); other
  processes' writes arrive as invalidations, within the p99 window the tests measure.

Values are kept as the bytes Redis returned (only bytes that decoded) and decoded again on every
hit, so a caller that mutates the message it got cannot change what the next caller gets.

A kept entry can also hold one *view* of its value (`view`: e.g. the HTTP body an API renders
from it), computed on the first hit that asks for it and memoised inside the entry itself: it is
dropped with the entry (invalidated, expired, evicted, flushed, refilled), so it is never staler
than the entry, and never outlives its Redis TTL. A view must be a pure function of the bytes
and immutable (`bytes`, a frozen object): every later hit gets the very same object.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from ._errors import CacheError
from ._metrics import NEAR_EVENTS, NEAR_TRACKING
from ._ttl import is_number

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Connection

    from ._client import CacheClient
    from ._keys import KeyNamespace

__all__ = ["NearCache", "NearLayer"]

V = TypeVar("V")

_log = structlog.get_logger("svcinfra.cache")
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 2.0
_MAX_ENTRIES_LIMIT: Final = 10_000_000
_TTL_MARGIN_MS, _TTL_MARGIN_RATE = 2, 0.001  # 2 ms, plus 0.1% for the two clocks' rates


class TrackingLostError(Exception):
    """The tracking connection stopped answering (its heartbeat went unanswered)."""


@dataclass(frozen=True, slots=True)
class NearCache:
    """Options of a cache's near layer: `Cache(..., near=NearCache(max_entries=10_000))`.

    Args:
        max_entries: entries kept in this process; the least recently used go first.
        max_age: seconds an entry may live here at most (None: up to its Redis TTL, always the
            upper bound).
        heartbeat: seconds between PINGs on the tracking connection.
        max_silence: seconds without any answer on the tracking connection after which the
            layer stops serving, flushes and reconnects (a stalled network, a hung server).
    """

    max_entries: int = 10_000
    max_age: float | None = None
    heartbeat: float = 0.5
    max_silence: float = 1.5

    def __post_init__(self) -> None:
        if not _whole(self.max_entries) or not 0 < self.max_entries <= _MAX_ENTRIES_LIMIT:
            raise CacheError(
                f"near cache max_entries must be an int in 1..{_MAX_ENTRIES_LIMIT}, "
                f"got {self.max_entries!r}"
            )
        for what, value in (
            ("max_age", self.max_age),
            ("heartbeat", self.heartbeat),
            ("max_silence", self.max_silence),
        ):
            if value is not None and not (is_number(value) and math.isfinite(value) and value > 0):
                raise CacheError(f"near cache {what} must be a positive number, got {value!r}")
        if self.max_silence <= self.heartbeat:
            raise CacheError(
                f"near cache max_silence ({self.max_silence:g} s) must exceed heartbeat "
                f"({self.heartbeat:g} s): every silence would flush the layer"
            )


class _Entry:
    """A kept value: its bytes, its deadline here, and at most one memoised view of it."""

    __slots__ = ("data", "deadline", "view", "view_tag")

    def __init__(self, data: bytes, deadline: float) -> None:
        self.data = data
        self.deadline = deadline
        self.view_tag: object = None  # what computed `view` (None: no view yet)
        self.view: object = None


@dataclass(frozen=True, slots=True)
class _Ticket:
    """A near-miss read in flight: the tracking session it started in, and when."""

    session: int
    started: float


class NearLayer:
    """The near layer of one `Cache`: LRU entries and the tracking connection that guards them.

    `Cache` calls `get` before Redis, `begin` / `end` around its reads from Redis, and
    `invalidate` after its own writes. Everything runs on the event loop: no locks.
    """

    def __init__(self, client: CacheClient, namespace: KeyNamespace, options: NearCache) -> None:
        self.options = options
        self.prefix = f"{namespace.name}:"
        self.connection_id: int | None = None  # CLIENT ID of the tracking connection, when up
        self.run_id: str | None = None  # of the Redis server last connected to
        self._client = client
        self._name = namespace.name
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, int] = {}
        self._poisoned: set[str] = set()
        # A new session starts at every connect and every flush; tickets of older ones never fill.
        self._session = 0
        self._fresh_until = 0.0  # monotonic deadline of the last answer's freshness; 0: down
        self._task: asyncio.Task[None] | None = None
        self._up_event = asyncio.Event()
        self._ever_up = False
        self._warned = False  # an outage before the first session was logged
        self._unanswered_since: float | None = None  # when the pending PING was sent
        self._hit, self._fill, self._invalidated, self._evicted, self._expired, self._flush = (
            NEAR_EVENTS.labels(self._name, event)
            for event in ("hit", "fill", "invalidated", "evicted", "expired", "flush")
        )
        self._tracking = NEAR_TRACKING.labels(self._name)
        self._tracking.set(0)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def deadline(self, key: str) -> float | None:
        """When `key`'s entry expires here (`time.monotonic()`), or None if it is not kept."""
        entry = self._entries.get(key)
        return None if entry is None else entry.deadline

    @property
    def live(self) -> bool:
        """Whether invalidations are being received now (the layer serves only then)."""
        return time.monotonic() < self._fresh_until

    def start(self) -> None:
        """Start tracking (idempotent; needs a running loop). `get` starts it on first use."""
        if self._task is None or self._task.done():
            self._task = self._client.spawn(self._track())

    async def wait_live(self, timeout: float) -> bool:  # noqa: ASYNC109  (a bounded wait)
        """Start tracking and wait until it is up; False if it is not within `timeout` s."""
        self.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self.live:
                    self._up_event.clear()
                    await self._up_event.wait()
        return self.live

    def get(self, key: str) -> bytes | None:
        """The bytes kept for `key`, or None (absent, expired, or the layer is not live)."""
        entry = self._serving(key)
        if entry is None:
            return None
        self._hit.inc()
        return entry.data

    def view(self, key: str, tag: object, make: Callable[[bytes], V]) -> V | None:
        """`make(bytes kept for key)`, memoised in the entry under `tag`; None as `get`.

        The first hit with a `tag` (compared by identity) computes the view; later hits with the
        same tag get the same object until the entry goes (then the next fill starts without
        one). One view per entry: a hit with another tag replaces it. What `make` raises
        propagates and nothing is memoised; the hit is counted only when a view is returned.
        """
        entry = self._serving(key)
        if entry is None:
            return None
        if entry.view_tag is not tag:  # `make` is synchronous: nothing can drop the entry meanwhile
            entry.view, entry.view_tag = make(entry.data), tag
        self._hit.inc()
        return cast("V", entry.view)

    def _serving(self, key: str) -> _Entry | None:
        """The live, unexpired entry of `key` (now the most recently used), or None."""
        now = time.monotonic()
        if now >= self._fresh_until:
            if self._task is None:
                self.start()
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.deadline:
            del self._entries[key]
            self._expired.inc()
            return None
        self._entries.move_to_end(key)
        return entry

    def begin(self, key: str) -> _Ticket | None:
        """Mark a read of `key` from Redis as started; None: it cannot fill (not live)."""
        now = time.monotonic()
        if now >= self._fresh_until:
            return None
        self._inflight[key] = self._inflight.get(key, 0) + 1
        return _Ticket(self._session, now)

    def end(self, key: str, ticket: _Ticket, data: bytes | None, pttl_ms: int) -> None:
        """Finish a read begun with `begin`; keep `data` if nothing may have changed meanwhile.

        `data` None (absent, failed, did not decode, cancelled) only ends the read.
        """
        left = self._inflight.get(key, 1) - 1
        poisoned = key in self._poisoned
        if left > 0:
            self._inflight[key] = left
        else:
            self._inflight.pop(key, None)
            self._poisoned.discard(key)
        if (
            data is None
            or poisoned
            or pttl_ms <= 0  # absent (-2) or without a TTL (-1): not kept (RD-2)
            or ticket.session != self._session
            or time.monotonic() >= self._fresh_until
        ):
            return
        # Redis counts the TTL on its own millisecond clock (truncated, snapshotted per command)
        # and this process on its monotonic one: end a little early, never late.
        life_ms = pttl_ms - _TTL_MARGIN_MS - pttl_ms * _TTL_MARGIN_RATE
        if life_ms <= 0:
            return
        deadline = ticket.started + life_ms / 1000
        if self.options.max_age is not None:
            deadline = min(deadline, ticket.started + self.options.max_age)
        self._entries[key] = _Entry(data, deadline)
        self._entries.move_to_end(key)
        self._fill.inc()
        if len(self._entries) > self.options.max_entries:
            self._entries.popitem(last=False)
            self._evicted.inc()

    def invalidate(self, key: str) -> None:
        """Drop `key`, and keep reads of it now in flight from filling it."""
        if self._entries.pop(key, None) is not None:
            self._invalidated.inc()
        if key in self._inflight:
            self._poisoned.add(key)

    def flush(self) -> int:
        """Drop every entry and void every read in flight; return how many entries were kept."""
        dropped = len(self._entries)
        self._entries.clear()
        self._session += 1
        self._flush.inc()
        return dropped

    # -- the tracking connection ------------------------------------------------------------

    def _connection(self) -> Connection:
        redis = self._client.redis
        if isinstance(redis, RedisCluster):  # refused by `Cache` (one tracking connection)
            raise TypeError("the near cache does not run on Redis Cluster")
        pool = redis.connection_pool
        kwargs: dict[str, Any] = dict(pool.connection_kwargs)
        kwargs.update(
            protocol=3,
            client_name=f"{self._client.name}.near.{self._name}",
            socket_timeout=self.options.max_silence,
            retry=Retry(NoBackoff(), 0),  # one attempt: the loop below reconnects
        )
        return cast("Connection", pool.connection_class(**kwargs))

    async def _track(self) -> None:
        delay = _BACKOFF_FIRST
        while True:
            connection = self._connection()
            try:
                await self._session_on(connection)
            except asyncio.CancelledError:
                self._down(None)
                raise
            except (RedisError, OSError, TrackingLostError) as exc:
                self._down(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
            except Exception as exc:  # noqa: BLE001  (never stop tracking: the layer would stay off)
                self._down(exc)
                await asyncio.sleep(_BACKOFF_MAX)
            finally:
                with contextlib.suppress(Exception):
                    await connection.disconnect()

    async def _session_on(self, connection: Connection) -> None:
        timeout = self.options.max_silence
        # redis-py's RESP3 parser hands invalidation pushes to this hook (typed on its base class)
        parser = cast("Any", connection._parser)  # noqa: SLF001
        parser.set_invalidation_push_handler(self._on_push)
        await connection.connect()  # type: ignore[no-untyped-call]  # (unannotated)
        await connection.send_command("CLIENT", "ID")
        connection_id = int(await _answer(connection, timeout))
        await connection.send_command("INFO", "server")
        run_id = _run_id(await _answer(connection, timeout))
        await connection.send_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", self.prefix)
        await _answer(connection, timeout)
        if self.run_id is not None and run_id != self.run_id:
            _log.warning(
                "near cache: Redis restarted (run_id changed); the near layer starts empty",
                namespace=self._name,
            )
        self.run_id, self.connection_id = run_id, connection_id
        self._up()
        reader = asyncio.ensure_future(self._read(connection))
        beat = asyncio.ensure_future(self._beat(connection))
        try:
            done, _ = await asyncio.wait({reader, beat}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in (reader, beat):
                task.cancel()
            await asyncio.gather(reader, beat, return_exceptions=True)

    async def _read(self, connection: Connection) -> None:
        """Read pushes and PONGs until the connection fails; every answer refreshes freshness."""
        while True:
            answer = await connection.read_response(timeout=math.inf, push_request=True)
            if isinstance(answer, ResponseError):
                raise answer
            self._fresh_until = time.monotonic() + self.options.max_silence
            if answer is not None:  # a command's answer (PONG), not a push (handled: None)
                self._unanswered_since = None

    async def _beat(self, connection: Connection) -> None:
        """PING every `heartbeat` s; a PING unanswered for `max_silence` s ends the session.

        Counted from when the PING was sent, so an event loop that was blocked (a long GC, a
        starved CPU) does not pass for a silent server.
        """
        self._unanswered_since = None
        while True:
            await asyncio.sleep(self.options.heartbeat)
            now = time.monotonic()
            if self._unanswered_since is not None:
                if now - self._unanswered_since >= self.options.max_silence:
                    raise TrackingLostError(
                        f"a PING on the tracking connection went unanswered for "
                        f"{self.options.max_silence:g} s"
                    )
                continue
            self._unanswered_since = now
            await connection.send_command("PING")

    async def _on_push(self, push: list[Any]) -> None:
        """An invalidation push: `[b"invalidate", [keys]]`, or `[b"invalidate", None]` (flush)."""
        keys = push[1] if len(push) > 1 else None
        if keys is None:
            self.flush()
            return
        for raw in keys:
            key = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)
            self.invalidate(key)

    def _up(self) -> None:
        self._entries.clear()
        self._session += 1
        self._fresh_until = time.monotonic() + self.options.max_silence
        self._tracking.set(1)
        if self._ever_up:
            _log.info("near cache: tracking restored", namespace=self._name)
        self._ever_up = True
        self._up_event.set()

    def _down(self, exc: BaseException | None) -> None:
        was_up = self._fresh_until > 0
        self._fresh_until = 0.0
        self.connection_id = None
        self._tracking.set(0)
        dropped = self.flush() if was_up else 0
        # Logged once per outage: when a live session ends, or when the first attempt fails.
        if exc is not None and (was_up or not self._warned):
            self._warned = True
            _log.warning(
                "near cache: tracking lost; the near layer is flushed and bypassed until it "
                "reconnects (reads go to Redis)",
                namespace=self._name,
                dropped=dropped,
                error=f"{type(exc).__name__}: {str(exc)[:200]}",
            )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def _answer(connection: Connection, within: float) -> Any:  # noqa: ANN401  (a RESP3 reply)
    answer = await connection.read_response(timeout=within, push_request=False)
    if isinstance(answer, ResponseError):
        raise answer
    return answer


def _run_id(info: object) -> str:
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("run_id:"):
            return line.split(":", 1)[1].strip()
    return ""
