"""`invalidate_after`: delete cache entries once the database transaction around them is over.

The order matters. Deleting *before* the commit leaves a window in which a reader misses, loads
the old row from the database (the transaction is not committed yet) and caches it again, so the
stale value lives for a whole TTL. Deleting *after* the commit closes that window:

    async with invalidate_after(profiles, user_id):
        async with pool.transaction() as tx:        # commits (or rolls back) first
            await users.rename(tx, user_id, name)
    # here the transaction is over and the key is gone

What it cannot close on its own: a reader that read the old row *before* the commit and writes
it to the cache *after* the delete (a slow load racing the update). `svcinfra.cache` narrows it:

* a load in this process that was in flight during the delete does not write its result;
* a load under the fill lock writes with a compare-and-set on its lease, and `Cache.delete`
  removes the lease, so a lock holder in another process cannot write after the delete either;
* what remains is a load without the lease in another process (lock off, lock wait timed out,
  or Redis failing mid-way); `redelete_after` deletes a second time after that many seconds
  ("delayed double delete"), which covers loads shorter than the delay. Beyond that, the TTL
  bounds how long a stale value can live (RD-1, RD-2): choose it with that in mind.

If Redis is unavailable at delete time the entry stays until its TTL: the cache is not the
source of truth, and this is logged as degraded and counted, not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._cache import Cache, Id

__all__ = ["invalidate_after"]


@contextlib.asynccontextmanager
async def invalidate_after(
    cache: Cache[Any],
    *ids: Id,
    redelete_after: float | None = None,
) -> AsyncIterator[None]:
    """Delete `ids` from `cache` when the block exits, whether it committed or raised.

    Ids are validated on entry, so a bad id fails before the transaction runs. Deleting after a
    rollback costs one miss and keeps the helper usable where a commit is not observable.

    Raises:
        KeyFormatError: an id cannot form a key (RD-3), raised before the block runs.
    """
    for id_ in ids:
        cache.namespace.key(id_)
    try:
        yield
    finally:
        await cache.delete(*ids)
        if redelete_after is not None:
            cache._client.spawn(_delete_later(cache, ids, redelete_after))  # noqa: SLF001  (same package)


async def _delete_later(cache: Cache[Any], ids: tuple[Id, ...], delay: float) -> None:
    await asyncio.sleep(delay)
    await cache.delete(*ids)
