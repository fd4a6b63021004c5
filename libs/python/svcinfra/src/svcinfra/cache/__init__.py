"""A Redis cache that follows RD-1 .. RD-7: fail-open, TTL'd, namespaced, protobuf, stampede-safe.

    client = create_cache_client(config.redis)                 # composition root; aclose() it
    profiles = Cache(client, KeyNamespace("user", "profile"), UserProfile, ttl=300)

    profile = await profiles.get_or_load(user_id, lambda: repo.get_profile(user_id))
    async with invalidate_after(profiles, user_id):
        async with pool.transaction() as tx:
            ...

Redis is never the source of truth: when it is down, slow or holds bytes of another type, reads
miss and `get_or_load` returns the loader's result; only misuse raises (see `CacheError`).

Opt-in per cache, a near layer keeps hot values in the process as well, kept correct by Redis
client tracking (RESP3 `CLIENT TRACKING`), so that a hit costs no round trip:

    profiles = Cache(client, ns, UserProfile, ttl=300, near=NearCache(max_entries=10_000))
"""

from ._batch import Failed
from ._breaker import Breaker, BreakerState
from ._cache import Cache
from ._client import CacheClient, create_cache_client
from ._codec import Decoded, ProtobufCodec
from ._errors import CacheError, CodecError, KeyFormatError, TTLError
from ._invalidate import invalidate_after
from ._keys import KeyNamespace, parse_key
from ._near import NearCache
from ._notify import InvalidationNotices
from ._singleflight import SingleFlight
from ._ttl import TTLPolicy

__all__ = [
    "Breaker",
    "BreakerState",
    "Cache",
    "CacheClient",
    "CacheError",
    "CodecError",
    "Decoded",
    "Failed",
    "InvalidationNotices",
    "KeyFormatError",
    "KeyNamespace",
    "NearCache",
    "ProtobufCodec",
    "SingleFlight",
    "TTLError",
    "TTLPolicy",
    "create_cache_client",
    "invalidate_after",
    "parse_key",
]
