"""`InvalidationNotices`: "this id changed" hints over Redis Pub/Sub, at most once (RD-6)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from ._batch import Failed

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ._cache import Id
    from ._client import CacheClient
    from ._keys import KeyNamespace

__all__ = ["InvalidationNotices"]

_log = structlog.get_logger("svcinfra.cache")
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0


class InvalidationNotices:
    """Non-critical notices that ids of a namespace changed, e.g. to drop in-process copies.

    Redis Pub/Sub delivers **at most once**: nothing is stored, a subscriber that is not
    connected at the moment of `publish` never sees the notice, and a reconnect loses whatever
    was published meanwhile. So this is for hints whose loss costs only staleness bounded by a
    TTL, never for work that must happen: events and tasks go through RabbitMQ (RD-6).
    The channel is `<domain>:<entity>.invalidated` and each message is one id.
    """

    def __init__(self, client: CacheClient, namespace: KeyNamespace) -> None:
        self.namespace = namespace
        self.channel = f"{namespace.name}.invalidated"
        self._client = client

    async def publish(self, id_: Id) -> int | None:
        """Publish that `id_` changed; return how many subscribers got it (None: Redis down)."""
        message = self.namespace.key(id_).split(":", 2)[2]
        result = await self._client.run(
            "publish",
            lambda: self._client.redis.publish(self.channel, message),
            namespace=self.namespace.name,
        )
        return None if isinstance(result, Failed) else int(result)

    async def listen(
        self,
        *,
        on_gap: Callable[[], None] | None = None,
        subscribed: asyncio.Event | None = None,
    ) -> AsyncIterator[str]:
        """Yield the ids published from now on, until the consumer stops iterating.

        When the connection drops it resubscribes with backoff and then calls `on_gap`,
        because notices sent in between are lost (a local cache would clear itself there).
        `subscribed` is set each time the subscription is active.
        """
        delay = _BACKOFF_FIRST
        confirmed = False
        while True:
            if not await self._slot_map_ready():
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            # Subscribe confirmations are kept: redis-py reconnects and resubscribes on its own
            # after a broken connection, and a second confirmation is how the gap shows.
            pubsub = self._client.redis.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "message":
                        yield bytes(message["data"]).decode()
                    elif kind == "subscribe":
                        delay = _BACKOFF_FIRST
                        if confirmed and on_gap is not None:
                            on_gap()
                        confirmed = True
                        if subscribed is not None:
                            subscribed.set()
            except (RedisError, RedisClusterException, OSError) as exc:
                if subscribed is not None:
                    subscribed.clear()
                _log.warning(
                    "cache notices: subscription lost, resubscribing; notices in between are lost",
                    channel=self.channel,
                    error=type(exc).__name__,
                    rule="RD-6",
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # (unannotated)

    async def _slot_map_ready(self) -> bool:
        """Whether the client can subscribe: on a cluster, once it has read the slot map.

        redis-py's cluster pubsub picks its node from the slot map, and a client that has sent
        no command yet has none (a KeyError, not a RedisError).
        """
        redis = self._client.redis
        if not isinstance(redis, RedisCluster):
            return True
        try:
            await redis.initialize()
        except (RedisError, RedisClusterException, OSError) as exc:
            _log.warning(
                "cache notices: no cluster slot map yet, retrying",
                channel=self.channel,
                error=type(exc).__name__,
                rule="RD-6",
            )
            return False
        return True
